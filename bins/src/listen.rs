//! Listening sockets: the host and port a server command was given, or
//! both loopbacks for the class's default host and `localhost`.

use std::net::{Ipv4Addr, Ipv6Addr, SocketAddr, TcpListener, ToSocketAddrs as _};

use anyhow::Context as _;

/// Pending connections the kernel may queue for `accept` (the system caps
/// it at `net.core.somaxconn`); std's default of 128 drops bursts of
/// thousands of clients into slow SYN retries.
pub const LISTEN_BACKLOG: i32 = 4096;

/// How many times a free port picked on 127.0.0.1 (`--port 0`) is tried
/// again when `::1` already has that port taken.
pub const DUAL_PORT_TRIES: usize = 8;

/// The sockets one server listens on, the first one first (its address is
/// the one the server announces first and the one a single-address caller
/// gets), and how many connections the server may hold at once.
#[derive(Debug)]
pub struct Listeners {
    list: Vec<TcpListener>,
    max_connections: Option<usize>,
    /// Bound with `SO_REUSEPORT`: each event loop may open its own.
    reuse_port: bool,
}

impl From<TcpListener> for Listeners {
    fn from(listener: TcpListener) -> Self {
        Self::new(vec![listener])
    }
}

impl Listeners {
    fn new(list: Vec<TcpListener>) -> Self {
        Self {
            list,
            max_connections: None,
            reuse_port: false,
        }
    }

    /// Whether they were bound with `SO_REUSEPORT` (`--accept reuseport`),
    /// so that each event loop may listen on the same addresses.
    pub fn reuse_port(&self) -> bool {
        self.reuse_port
    }

    /// The same, the server holding at most `max` connections at once
    /// (`None`: its engine's default).
    pub fn with_max_connections(mut self, max: Option<usize>) -> Self {
        self.max_connections = max;
        self
    }

    /// The most connections the server may hold at once, if set.
    pub fn max_connections(&self) -> Option<usize> {
        self.max_connections
    }

    /// The listening sockets, the first one first.
    pub fn into_vec(self) -> Vec<TcpListener> {
        self.list
    }

    /// Their addresses (an address the system cannot tell is left out).
    pub fn addrs(&self) -> Vec<SocketAddr> {
        self.list
            .iter()
            .filter_map(|l| l.local_addr().ok())
            .collect()
    }
}

/// Whether `host` names both loopbacks: `localhost`, which Windows resolves
/// to `::1` first and Python's clients then try address by address.
pub fn is_localhost(host: &str) -> bool {
    host.eq_ignore_ascii_case("localhost")
}

/// Listens on `host:port` with a clear error message; `localhost` listens
/// on 127.0.0.1 and ::1 ([`bind_loopbacks`]).
pub fn bind(host: &str, port: u16) -> anyhow::Result<Listeners> {
    bind_with(host, port, false)
}

/// [`bind`], with `SO_REUSEPORT` set when `reuse_port` (and the system
/// has it: Unix), for a listener per event loop.
pub fn bind_with(host: &str, port: u16, reuse_port: bool) -> anyhow::Result<Listeners> {
    let mut listeners = bind_plain(host, port, reuse_port)?;
    listeners.reuse_port = reuse_port && cfg!(unix);
    Ok(listeners)
}

fn bind_plain(host: &str, port: u16, reuse_port: bool) -> anyhow::Result<Listeners> {
    if is_localhost(host) {
        return bind_loopbacks_with(port, reuse_port);
    }
    let why = || cannot_listen(host, port);
    let addr = (host, port)
        .to_socket_addrs()
        .with_context(why)?
        .next()
        .with_context(why)?;
    Ok(bind_addr(addr, reuse_port).with_context(why)?.into())
}

/// Listens on `127.0.0.1:port` and on `[::1]` at the same port, so a
/// client that dials `localhost` is answered on whichever address it tries
/// first. Port 0 picks a port free on both (up to [`DUAL_PORT_TRIES`]
/// times). Where `::1` cannot be had (no IPv6, or the port is taken there)
/// the server listens on 127.0.0.1 alone and says why on stderr.
pub fn bind_loopbacks(port: u16) -> anyhow::Result<Listeners> {
    bind_loopbacks_with(port, false)
}

/// [`bind_loopbacks`], with `SO_REUSEPORT` when `reuse_port` (Unix).
pub fn bind_loopbacks_with(port: u16, reuse_port: bool) -> anyhow::Result<Listeners> {
    let mut listeners = loopbacks(port, reuse_port)?;
    listeners.reuse_port = reuse_port && cfg!(unix);
    Ok(listeners)
}

fn loopbacks(port: u16, reuse_port: bool) -> anyhow::Result<Listeners> {
    let mut tries = 0;
    loop {
        tries += 1;
        let v4 = bind_addr((Ipv4Addr::LOCALHOST, port).into(), reuse_port)
            .with_context(|| cannot_listen("127.0.0.1", port))?;
        let chosen = v4.local_addr()?.port();
        match bind_addr((Ipv6Addr::LOCALHOST, chosen).into(), reuse_port) {
            Ok(v6) => return Ok(Listeners::new(vec![v4, v6])),
            Err(e) if e.kind() == std::io::ErrorKind::AddrInUse && port == 0 => {
                if tries >= DUAL_PORT_TRIES {
                    eprintln!("[commlab] not listening on [::1]:{chosen} too: {e}");
                    return Ok(v4.into());
                }
            }
            Err(e) => {
                eprintln!(
                    "[commlab] not listening on [::1]:{chosen} too: {e}; clients of localhost that try ::1 first fall back to 127.0.0.1"
                );
                return Ok(v4.into());
            }
        }
    }
}

fn cannot_listen(host: &str, port: u16) -> String {
    format!(
        "cannot listen on {host}:{port} (is another server using the port? --port 0 picks a free one)"
    )
}

/// One listening socket on `addr`, with a deep backlog. On Unix it sets
/// `SO_REUSEADDR`, so a restarted server binds at once over its old
/// connections in TIME-WAIT; not on Windows, where that option would let a
/// second server bind a port a listener already holds (as mio's own
/// `TcpListener::bind` does).
fn bind_addr(addr: SocketAddr, reuse_port: bool) -> std::io::Result<TcpListener> {
    let socket = socket2::Socket::new(
        socket2::Domain::for_address(addr),
        socket2::Type::STREAM,
        Some(socket2::Protocol::TCP),
    )?;
    #[cfg(unix)]
    socket.set_reuse_address(true)?;
    #[cfg(unix)]
    if reuse_port {
        socket.set_reuse_port(true)?;
    }
    #[cfg(not(unix))]
    let _ = reuse_port;
    if addr.is_ipv6() {
        socket.set_only_v6(true)?;
    }
    socket.bind(&addr.into())?;
    socket.listen(LISTEN_BACKLOG)?;
    Ok(socket.into())
}

/// Prints the lines every server prints first, `listening on ADDR` for
/// each address (127.0.0.1's first), and flushes them.
pub fn announce_listening(addrs: &[SocketAddr]) {
    use std::io::Write as _;
    let mut out = std::io::stdout().lock();
    for addr in addrs {
        let _ = writeln!(out, "listening on {addr}");
    }
    let _ = out.flush();
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn localhost_listens_on_both_loopbacks_at_one_port() {
        let listeners = bind("localhost", 0).unwrap();
        let addrs = listeners.addrs();
        assert_eq!(addrs.len(), 2, "{addrs:?}");
        assert_eq!(addrs[0].ip(), Ipv4Addr::LOCALHOST);
        assert_eq!(addrs[1].ip(), Ipv6Addr::LOCALHOST);
        assert_eq!(addrs[0].port(), addrs[1].port());
        for addr in addrs {
            std::net::TcpStream::connect(addr).unwrap();
        }
    }

    #[test]
    fn a_named_address_listens_there_alone() {
        let addrs = bind("127.0.0.1", 0).unwrap().addrs();
        assert_eq!(addrs.len(), 1);
        assert_eq!(addrs[0].ip(), Ipv4Addr::LOCALHOST);
        let addrs = bind("::1", 0).unwrap().addrs();
        assert_eq!(addrs.len(), 1);
        assert_eq!(addrs[0].ip(), Ipv6Addr::LOCALHOST);
    }

    #[test]
    fn a_port_held_by_another_listener_is_refused_with_the_reason() {
        let held = bind("127.0.0.1", 0).unwrap();
        let first = held.addrs()[0];
        let err = bind("127.0.0.1", first.port()).unwrap_err();
        assert!(
            format!("{err:#}").contains("is another server using the port?"),
            "{err:#}"
        );
        // ::1 free at that port: localhost still fails on 127.0.0.1.
        assert!(bind("localhost", first.port()).is_err());
        drop(held);
    }
}
