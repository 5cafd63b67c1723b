//! The `commlab` command's library: the wiring of core protocols and the two
//! engines into the class's clients and servers, the terminal UI, and the
//! tour. `main.rs` only parses arguments.

#![forbid(unsafe_code)]
#![warn(missing_docs)]

pub mod chat;
pub mod engine;
pub mod terminal;
pub mod tour;

pub use engine::{Engine, Server};

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

/// Binds a listening socket with a clear error message.
pub fn bind(host: &str, port: u16) -> anyhow::Result<std::net::TcpListener> {
    use anyhow::Context as _;
    std::net::TcpListener::bind((host, port)).with_context(|| {
        format!("cannot listen on {host}:{port} (is another server using the port? --port 0 picks a free one)")
    })
}

/// Prints the first stdout line every server prints, and flushes it.
pub fn announce_listening(addr: std::net::SocketAddr) {
    use std::io::Write as _;
    let mut out = std::io::stdout().lock();
    let _ = writeln!(out, "listening on {addr}");
    let _ = out.flush();
}
