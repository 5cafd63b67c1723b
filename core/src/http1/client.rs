//! The client side of HTTP/1.1, for load tools: requests out, responses in
//! (heads parsed by `httparse`, bodies by Content-Length).

use std::collections::VecDeque;
use std::time::Instant;

use super::{HttpError, Status, MAX_BODY, MAX_HEAD, MAX_HEADERS};
use crate::{OutputQueue, Session};

/// A response.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HttpResponse {
    /// The status code.
    pub status: u16,
    /// Headers in order.
    pub headers: Vec<(String, String)>,
    /// The body.
    pub body: Vec<u8>,
}

/// What an [`HttpClient`] reports.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum HttpClientEvent {
    /// A response arrived (in request order).
    Response(HttpResponse),
    /// The server sent something that is not a usable response; the session is closed.
    Error(HttpError),
    /// The connection closed.
    Closed,
}

/// A keep-alive HTTP/1.1 client session: each [`request`](Self::request)
/// queues a request; responses come back as events, in order.
///
/// Guarantees: heads at most [`MAX_HEAD`], bodies at most [`MAX_BODY`];
/// responses must carry Content-Length (chunked responses are reported as
/// an error, which the servers of this project never send).
#[derive(Debug, Default)]
pub struct HttpClient {
    buf: Vec<u8>,
    out: OutputQueue,
    events: VecDeque<HttpClientEvent>,
    in_flight: usize,
    closed: bool,
    scratch: Vec<u8>,
}

fn err(message: &str) -> HttpError {
    HttpError::new(Status::BAD_REQUEST, message)
}

impl HttpClient {
    /// A fresh session.
    pub fn new() -> Self {
        Self::default()
    }

    /// Queues a request.
    pub fn request(&mut self, method: &str, target: &str, content_type: Option<&str>, body: &[u8]) {
        use std::io::Write as _;
        self.scratch.clear();
        let _ = write!(
            self.scratch,
            "{method} {target} HTTP/1.1\r\nHost: commlab\r\n"
        );
        if let Some(ct) = content_type {
            let _ = write!(self.scratch, "Content-Type: {ct}\r\n");
        }
        if !body.is_empty() || method == "POST" {
            let _ = write!(self.scratch, "Content-Length: {}\r\n", body.len());
        }
        self.scratch.extend_from_slice(b"\r\n");
        self.scratch.extend_from_slice(body);
        self.out.push(&self.scratch);
        self.in_flight += 1;
    }

    /// Requests sent and not yet answered.
    pub fn in_flight(&self) -> usize {
        self.in_flight
    }

    fn fail(&mut self, e: HttpError) {
        self.events.push_back(HttpClientEvent::Error(e));
        self.closed = true;
        self.buf.clear();
    }

    fn parse(&mut self) {
        while !self.closed {
            let mut headers = [httparse::EMPTY_HEADER; MAX_HEADERS];
            let mut resp = httparse::Response::new(&mut headers);
            let head_len = match resp.parse(&self.buf) {
                Ok(httparse::Status::Complete(n)) => n,
                Ok(httparse::Status::Partial) => {
                    if self.buf.len() > MAX_HEAD {
                        self.fail(err("response head too large"));
                    }
                    return;
                }
                Err(e) => {
                    self.fail(err(&format!("malformed response: {e}")));
                    return;
                }
            };
            let status = resp.code.unwrap_or(0);
            let headers: Vec<(String, String)> = resp
                .headers
                .iter()
                .map(|h| {
                    (
                        h.name.to_owned(),
                        String::from_utf8_lossy(h.value).into_owned(),
                    )
                })
                .collect();
            let find = |name: &str| {
                headers
                    .iter()
                    .find(|(n, _)| n.eq_ignore_ascii_case(name))
                    .map(|(_, v)| v.trim().to_owned())
            };
            if find("transfer-encoding").is_some() {
                self.fail(err("chunked responses are not supported by this client"));
                return;
            }
            let length = match find("content-length").map(|v| v.parse::<usize>()) {
                Some(Ok(n)) if n <= MAX_BODY => n,
                Some(Ok(_)) => {
                    self.fail(err("response body too large"));
                    return;
                }
                Some(Err(_)) => {
                    self.fail(err("bad Content-Length in the response"));
                    return;
                }
                None if status == 100 || status == 204 || status == 304 => 0,
                None => {
                    self.fail(err("a response without Content-Length"));
                    return;
                }
            };
            if self.buf.len() < head_len + length {
                return;
            }
            let body = self.buf[head_len..head_len + length].to_vec();
            self.buf.drain(..head_len + length);
            if status == 100 {
                continue;
            }
            self.in_flight = self.in_flight.saturating_sub(1);
            self.events
                .push_back(HttpClientEvent::Response(HttpResponse {
                    status,
                    headers,
                    body,
                }));
        }
    }
}

impl Session for HttpClient {
    type Event = HttpClientEvent;

    fn handle_input(&mut self, _now: Instant, bytes: &[u8]) {
        if !self.closed {
            self.buf.extend_from_slice(bytes);
            self.parse();
        }
    }

    fn handle_eof(&mut self, _now: Instant) {
        if !self.closed {
            self.closed = true;
            self.events.push_back(HttpClientEvent::Closed);
        }
    }

    crate::service::queue_outputs!();

    fn is_closed(&self) -> bool {
        self.closed && self.events.is_empty()
    }
}
