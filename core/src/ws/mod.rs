//! Exercise 2: one port serving the page over HTTP (`GET /`) and, after an
//! upgrade on any path, the sum protocol over WebSocket, or the class's
//! examples 1 and 2 ([`WsMode`]).
//!
//! The upgrade (routing, checks, accept key) is done here; frames are
//! handled by tungstenite's `WebSocketContext` driven over an in-memory
//! buffer, so both engines share one framing path and core stays free of
//! sockets.

mod client;
mod end;
mod mem;
mod mode;
mod reply;
mod server;
mod sum;
mod upgrade;

use std::time::Duration;

pub use client::{WsClientEvent, WsClientSession};
pub use end::WsEnd;
pub use mode::{greeting, WsMode};
pub use reply::{sum_request, ServerMessage};
pub use server::{WsEvent, WsServer};
pub use sum::{add, answer, error_reply, parse_number, push_message, Number, MAX_NAME};
pub use upgrade::{route, wants_websocket, Route, PAGE, WS_PATH};

/// Largest WebSocket message, in bytes (close 1009 past it).
pub const MAX_MESSAGE: usize = 64 * 1024;
/// Largest WebSocket frame, in bytes.
pub const MAX_FRAME: usize = 64 * 1024;
/// How much tungstenite reads from a connection's buffered input at a time
/// (its default, 128 KiB, is zero-filled before every read and kept per
/// connection: a small message cost a 128 KiB memset, and each connection
/// held 128 KiB). Longer messages are read in several steps.
pub const READ_BUFFER: usize = 4 * 1024;
/// Silence after which the server pings a WebSocket client.
pub const PING_INTERVAL: Duration = Duration::from_secs(30);
/// Silence after which a WebSocket client is closed (1001).
pub const WS_IDLE_TIMEOUT: Duration = Duration::from_secs(90);
/// Unsent bytes one connection may pile up before it is dropped.
pub const MAX_OUTPUT: usize = 1024 * 1024;
