//! Routing the HTTP requests of the page server and checking WebSocket
//! upgrades (RFC 6455 section 4.2.1); the accept key comes from tungstenite.

use base64::Engine as _;

use crate::http1::{Request, Response, Status};

/// The WebSocket path of commlab's first pages: a plain `GET` on it is
/// told to upgrade (426) instead of "not found". Upgrades are accepted on
/// any path.
pub const WS_PATH: &str = "/ws";

/// The page, compiled into the binary.
pub const PAGE: &str = include_str!("page.html");

/// What to do with one request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Route {
    /// Answer with this response and stay HTTP.
    Http(Response),
    /// Send these bytes (a 101 answer) and speak WebSocket from now on.
    Upgrade(Vec<u8>),
}

fn has_token(req: &Request, header: &str, token: &str) -> bool {
    req.headers
        .iter()
        .filter(|(n, _)| n.eq_ignore_ascii_case(header))
        .flat_map(|(_, v)| v.split(','))
        .any(|t| t.trim().eq_ignore_ascii_case(token))
}

fn bad(status: Status, text: &str) -> Route {
    Route::Http(Response {
        close: true,
        ..Response::text(status, text)
    })
}

/// Whether a request asks for a WebSocket (`Upgrade: websocket`).
pub fn wants_websocket(req: &Request) -> bool {
    has_token(req, "upgrade", "websocket")
}

/// Routes a request: a WebSocket upgrade on any path (as Python's
/// `websockets` accepts one; the class's programs use `/`, commlab's page
/// `/`, older pages [`WS_PATH`]), `GET /` the page, else an error.
pub fn route(req: &Request) -> Route {
    if wants_websocket(req) {
        return upgrade(req);
    }
    let path = req.path();
    let get = matches!(req.method.as_str(), "GET" | "HEAD");
    match path {
        "/" | "/index.html" if get => Route::Http(Response::with_body(
            Status::OK,
            "text/html; charset=utf-8",
            PAGE.as_bytes().to_vec(),
        )),
        "/" | "/index.html" | WS_PATH if !get => Route::Http(
            Response::text(
                Status::METHOD_NOT_ALLOWED,
                &format!("{path} takes GET, not {}", req.method),
            )
            .header("Allow", "GET"),
        ),
        WS_PATH => upgrade(req),
        _ => Route::Http(Response::text(
            Status::NOT_FOUND,
            &format!(
                "nothing at {path}: the page is at /, and a WebSocket upgrade is accepted on any path"
            ),
        )),
    }
}

fn upgrade(req: &Request) -> Route {
    if req.method != "GET" || req.version != 1 {
        return bad(
            Status::BAD_REQUEST,
            "a WebSocket upgrade is a GET over HTTP/1.1",
        );
    }
    if !has_token(req, "upgrade", "websocket") {
        return Route::Http(Response {
            close: true,
            ..Response::text(
                Status(426),
                "this endpoint speaks WebSocket: send Upgrade: websocket",
            )
            .header("Upgrade", "websocket")
            .header("Connection", "Upgrade")
        });
    }
    if !has_token(req, "connection", "upgrade") {
        return bad(
            Status::BAD_REQUEST,
            "a WebSocket upgrade needs Connection: Upgrade",
        );
    }
    if req.header("sec-websocket-version").map(str::trim) != Some("13") {
        return Route::Http(Response {
            close: true,
            ..Response::text(Status(426), "only WebSocket version 13 is supported")
                .header("Sec-WebSocket-Version", "13")
        });
    }
    let Some(key) = req.header("sec-websocket-key").map(str::trim) else {
        return bad(Status::BAD_REQUEST, "missing Sec-WebSocket-Key");
    };
    let valid = base64::engine::general_purpose::STANDARD
        .decode(key)
        .is_ok_and(|k| k.len() == 16);
    if !valid {
        return bad(
            Status::BAD_REQUEST,
            "Sec-WebSocket-Key must be 16 bytes in base64",
        );
    }
    let accept = tungstenite::handshake::derive_accept_key(key.as_bytes());
    Route::Upgrade(
        format!(
            "HTTP/1.1 101 Switching Protocols\r\nServer: commlab\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: {accept}\r\n\r\n"
        )
        .into_bytes(),
    )
}
