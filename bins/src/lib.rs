//! The `commlab` command's library: the wiring of core protocols and the two
//! engines into the class's clients and servers, the terminal UI, and the
//! tour. `main.rs` only parses arguments.

#![forbid(unsafe_code)]
#![warn(missing_docs)]

pub mod calc;
pub mod chat;
pub mod db;
pub mod engine;
pub mod ft;
pub mod http_client;
pub mod lambda;
pub mod listen;
pub mod load;
pub mod room_link;
pub mod room_shards;
pub mod rpc;
pub mod serve;
pub mod terminal;
pub mod tls;
pub mod tour;
pub mod url;
pub mod ws;

pub use engine::{Engine, Server};
pub use listen::{announce_listening, bind, Listeners, LISTEN_BACKLOG};
pub use serve::{
    print_line, shared_sink, tracer, ConnectArgs, LineSink, ServeArgs, ServerLine, Stop,
};

/// Formats an address as the class's Python server prints it:
/// `('127.0.0.1', 54364)` (IPv6 adds flow info and scope, as Python does).
pub fn python_addr(addr: std::net::SocketAddr) -> String {
    match addr {
        std::net::SocketAddr::V4(a) => format!("('{}', {})", a.ip(), a.port()),
        std::net::SocketAddr::V6(a) => format!(
            "('{}', {}, {}, {})",
            a.ip(),
            a.port(),
            a.flowinfo(),
            a.scope_id()
        ),
    }
}

/// Now as Python's HTTP server logs it (`01/Dec/2026 10:40:00`), in UTC:
/// commlab carries no time-zone database.
pub fn log_time() -> String {
    let secs = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    format_log_time(secs)
}

/// `secs` since the Unix epoch as `DD/Mon/YYYY HH:MM:SS` (UTC).
pub fn format_log_time(secs: u64) -> String {
    const MONTHS: [&str; 12] = [
        "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
    ];
    let days = i64::try_from(secs / 86_400).unwrap_or(0);
    let rem = secs % 86_400;
    // Civil date from days since 1970-01-01 (Howard Hinnant's algorithm).
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    let name = MONTHS[usize::try_from(month - 1).unwrap_or(0)];
    format!(
        "{day:02}/{name}/{year:04} {:02}:{:02}:{:02}",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60
    )
}
