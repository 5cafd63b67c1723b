//! What every peer shares: `--port N` (0 picks a free one) and the
//! `listening on HOST:PORT` first line `scripts/bench` waits for.

use std::io::Write;

pub mod room;

/// The port from `--port N` (default 0).
pub fn port() -> u16 {
    let args: Vec<String> = std::env::args().collect();
    args.iter()
        .position(|a| a == "--port")
        .and_then(|i| args.get(i + 1))
        .map_or(0, |p| p.parse().expect("--port takes a number"))
}

/// The value after `name` on the command line; panics, naming it, when
/// it is missing (the peers are started by `scripts/bench` only).
pub fn required_arg(name: &str) -> String {
    let args: Vec<String> = std::env::args().collect();
    args.iter()
        .position(|a| a == name)
        .and_then(|i| args.get(i + 1))
        .cloned()
        .unwrap_or_else(|| panic!("{name} VALUE is required"))
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

/// The REST calc's route on axum: `GET /api/{op}/{a}/{b}` with the class's
/// JSON keys (for the plain and the TLS peer).
pub fn calc_router() -> axum::Router {
    axum::Router::new().route("/api/{op}/{a}/{b}", axum::routing::get(calc))
}

async fn calc(
    axum::extract::Path((op, a, b)): axum::extract::Path<(String, String, String)>,
) -> axum::response::Response {
    use axum::http::StatusCode;
    use axum::response::IntoResponse;
    use axum::Json;
    use serde_json::{json, Value};
    let (Ok(a), Ok(b)) = (a.trim().parse::<i64>(), b.trim().parse::<i64>()) else {
        return (StatusCode::BAD_REQUEST, "not integers").into_response();
    };
    let body: Value = match op.as_str() {
        "soma" => a.checked_add(b).map(|v| json!({"A soma: ": v})),
        "sub" => a.checked_sub(b).map(|v| json!({"A subtração:": v})),
        "mult" => a.checked_mul(b).map(|v| json!({"A multiplicação": v})),
        #[allow(clippy::cast_precision_loss)]
        "div" if b != 0 => Some(json!({"A Divisão": a as f64 / b as f64})),
        _ => None,
    }
    .unwrap_or(Value::Null);
    if body.is_null() {
        return (StatusCode::BAD_REQUEST, "bad operation").into_response();
    }
    Json(body).into_response()
}
