//! What every peer shares: `--port N` (0 picks a free one) and the
//! `listening on HOST:PORT` first line `scripts/bench` waits for.

use std::io::Write;

/// The port from `--port N` (default 0).
pub fn port() -> u16 {
    let args: Vec<String> = std::env::args().collect();
    args.iter()
        .position(|a| a == "--port")
        .and_then(|i| args.get(i + 1))
        .map_or(0, |p| p.parse().expect("--port takes a number"))
}

/// How many connections may wait to be accepted (as commlab's servers):
/// tokio's default of 1024 drops SYNs when thousands connect at once.
pub const BACKLOG: u32 = 4096;

/// Binds 127.0.0.1 on the `--port` port and announces it.
pub async fn listen() -> tokio::net::TcpListener {
    let socket = tokio::net::TcpSocket::new_v4().expect("socket");
    socket.set_reuseaddr(true).expect("SO_REUSEADDR");
    socket
        .bind(std::net::SocketAddr::from(([127, 0, 0, 1], port())))
        .expect("bind");
    let listener = socket.listen(BACKLOG).expect("listen");
    let addr = listener.local_addr().expect("local address");
    println!("listening on {addr}");
    std::io::stdout().flush().ok();
    listener
}

/// Accepts forever, each connection with Nagle off, and runs `handle` on it
/// as its own task.
pub async fn serve_each<F, Fut>(listener: tokio::net::TcpListener, mut handle: F)
where
    F: FnMut(tokio::net::TcpStream) -> Fut,
    Fut: std::future::Future<Output = ()> + Send + 'static,
{
    loop {
        let Ok((socket, _)) = listener.accept().await else {
            continue;
        };
        let _ = socket.set_nodelay(true);
        tokio::spawn(handle(socket));
    }
}
