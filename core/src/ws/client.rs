//! The client side of the WebSocket exercise as a sans-IO session (for
//! `commlab ws client` and the load tool): the upgrade request, the check
//! of the 101 answer, then frames by tungstenite's `WebSocketContext` in
//! the client role (pings are answered on the way).

use std::collections::VecDeque;
use std::io;
use std::time::Instant;

use base64::Engine as _;
use tungstenite::protocol::{Role, WebSocketContext};
use tungstenite::Message;

use super::mem::MemStream;
use super::MAX_MESSAGE;
use crate::http1::MAX_HEAD;
use crate::{OutputQueue, Session};

/// What a [`WsClientSession`] reports.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum WsClientEvent {
    /// The server accepted the upgrade.
    Open,
    /// A text message.
    Text(String),
    /// A binary message.
    Binary(Vec<u8>),
    /// The session is over (with the close code, if one came).
    Closed(Option<u16>),
    /// The server broke the protocol; the session is over.
    Error(String),
}

enum State {
    Handshake {
        buf: Vec<u8>,
        accept: String,
    },
    Open {
        ctx: Box<WebSocketContext>,
        io: MemStream,
    },
    Closed,
}

/// A WebSocket client session on `path`.
pub struct WsClientSession {
    state: State,
    out: OutputQueue,
    events: VecDeque<WsClientEvent>,
    pending: Vec<String>,
}

impl std::fmt::Debug for WsClientSession {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("WsClientSession")
    }
}

impl WsClientSession {
    /// A session that asks `host` to upgrade `path`. `key` is the 16 random
    /// bytes of `Sec-WebSocket-Key` (core has no randomness: the caller
    /// chooses them).
    pub fn new(host: &str, path: &str, key: [u8; 16]) -> Self {
        let key = base64::engine::general_purpose::STANDARD.encode(key);
        let accept = tungstenite::handshake::derive_accept_key(key.as_bytes());
        let mut out = OutputQueue::default();
        out.push(
            format!(
                "GET {path} HTTP/1.1\r\nHost: {host}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Key: {key}\r\n\r\n"
            )
            .as_bytes(),
        );
        Self {
            state: State::Handshake {
                buf: Vec::new(),
                accept,
            },
            out,
            events: VecDeque::new(),
            pending: Vec::new(),
        }
    }

    /// Sends a text message (queued until the upgrade is accepted).
    pub fn send_text(&mut self, text: &str) {
        match &mut self.state {
            State::Open { ctx, io } => {
                let _ = ctx.write(io, Message::text(text.to_owned()));
                let _ = ctx.flush(io);
                let bytes = std::mem::take(&mut io.output);
                self.out.push(&bytes);
            }
            State::Handshake { .. } => self.pending.push(text.to_owned()),
            State::Closed => {}
        }
    }

    /// Starts a polite close: a close frame (1000) goes out and the
    /// session ends when the server answers it (or the connection ends).
    pub fn close(&mut self) {
        match &mut self.state {
            State::Open { ctx, io } => {
                let _ = ctx.close(io, None);
                let _ = ctx.flush(io);
                let bytes = std::mem::take(&mut io.output);
                self.out.push(&bytes);
            }
            State::Handshake { .. } => {
                self.state = State::Closed;
                self.events.push_back(WsClientEvent::Closed(None));
            }
            State::Closed => {}
        }
    }

    fn fail(&mut self, why: String) {
        self.state = State::Closed;
        self.events.push_back(WsClientEvent::Error(why));
    }

    fn handshake(&mut self) {
        let State::Handshake { buf, accept } = &mut self.state else {
            return;
        };
        let Some(end) = buf.windows(4).position(|w| w == b"\r\n\r\n") else {
            if buf.len() > MAX_HEAD {
                self.fail("the upgrade answer is too large".into());
            }
            return;
        };
        let mut headers = [httparse::EMPTY_HEADER; 32];
        let mut resp = httparse::Response::new(&mut headers);
        let ok = match resp.parse(&buf[..end + 4]) {
            Ok(httparse::Status::Complete(_)) => {
                resp.code == Some(101)
                    && resp.headers.iter().any(|h| {
                        h.name.eq_ignore_ascii_case("sec-websocket-accept")
                            && h.value == accept.as_bytes()
                    })
            }
            _ => false,
        };
        if !ok {
            let line =
                String::from_utf8_lossy(buf.split(|&b| b == b'\n').next().unwrap_or_default())
                    .trim()
                    .to_owned();
            self.fail(format!("the server refused the upgrade: {line}"));
            return;
        }
        let rest = buf.split_off(end + 4);
        let config = tungstenite::protocol::WebSocketConfig::default()
            .max_message_size(Some(MAX_MESSAGE))
            .max_frame_size(Some(MAX_MESSAGE))
            .read_buffer_size(super::READ_BUFFER);
        self.state = State::Open {
            ctx: Box::new(WebSocketContext::new(Role::Client, Some(config))),
            io: MemStream {
                input: rest,
                ..MemStream::default()
            },
        };
        self.events.push_back(WsClientEvent::Open);
        for text in std::mem::take(&mut self.pending) {
            self.send_text(&text);
        }
        self.read_frames();
    }

    fn read_frames(&mut self) {
        loop {
            let State::Open { ctx, io } = &mut self.state else {
                return;
            };
            match ctx.read(io) {
                Ok(Message::Text(t)) => self
                    .events
                    .push_back(WsClientEvent::Text(t.as_str().to_owned())),
                Ok(Message::Binary(b)) => self.events.push_back(WsClientEvent::Binary(b.into())),
                Ok(Message::Close(frame)) => {
                    let _ = ctx.flush(io);
                    let bytes = std::mem::take(&mut io.output);
                    self.out.push(&bytes);
                    self.state = State::Closed;
                    self.events
                        .push_back(WsClientEvent::Closed(frame.map(|f| u16::from(f.code))));
                    return;
                }
                Ok(_) => {}
                Err(tungstenite::Error::Io(e)) if e.kind() == io::ErrorKind::WouldBlock => {
                    let _ = ctx.flush(io);
                    let bytes = std::mem::take(&mut io.output);
                    self.out.push(&bytes);
                    return;
                }
                Err(tungstenite::Error::ConnectionClosed | tungstenite::Error::AlreadyClosed) => {
                    // The server answered the close this client started.
                    self.state = State::Closed;
                    self.events.push_back(WsClientEvent::Closed(Some(1000)));
                    return;
                }
                Err(e) => {
                    self.fail(e.to_string());
                    return;
                }
            }
        }
    }
}

impl Session for WsClientSession {
    type Event = WsClientEvent;

    fn handle_input(&mut self, _now: Instant, bytes: &[u8]) {
        match &mut self.state {
            State::Handshake { buf, .. } => {
                buf.extend_from_slice(bytes);
                self.handshake();
            }
            State::Open { io, .. } => {
                io.input.extend_from_slice(bytes);
                self.read_frames();
            }
            State::Closed => {}
        }
    }

    fn handle_eof(&mut self, _now: Instant) {
        if !matches!(self.state, State::Closed) {
            self.state = State::Closed;
            self.events.push_back(WsClientEvent::Closed(None));
        }
    }

    crate::service::queue_outputs!();

    fn is_closed(&self) -> bool {
        matches!(self.state, State::Closed) && self.events.is_empty()
    }
}
