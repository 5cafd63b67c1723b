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
#[derive(Debug)]
pub struct HttpClient {
    host: String,
    decoder: ResponseDecoder,
    out: OutputQueue,
    events: VecDeque<HttpClientEvent>,
    in_flight: usize,
    closed: bool,
    scratch: Vec<u8>,
}

fn err(message: &str) -> HttpError {
    HttpError::new(Status::BAD_REQUEST, message)
}

impl Default for HttpClient {
    fn default() -> Self {
        Self::new()
    }
}

impl HttpClient {
    /// A fresh session (its requests name the host `commlab`).
    pub fn new() -> Self {
        Self::for_host("commlab")
    }

    /// A fresh session whose requests carry `Host: HOST`.
    pub fn for_host(host: &str) -> Self {
        Self {
            host: host.to_owned(),
            decoder: ResponseDecoder::default(),
            out: OutputQueue::default(),
            events: VecDeque::new(),
            in_flight: 0,
            closed: false,
            scratch: Vec::new(),
        }
    }

    /// Queues a request.
    pub fn request(&mut self, method: &str, target: &str, content_type: Option<&str>, body: &[u8]) {
        use std::io::Write as _;
        self.scratch.clear();
        let _ = write!(
            self.scratch,
            "{method} {target} HTTP/1.1\r\nHost: {}\r\n",
            self.host
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

    /// Takes response bodies of up to `max_body` bytes (default
    /// [`MAX_BODY`]).
    pub fn with_max_body(mut self, max_body: usize) -> Self {
        self.decoder = ResponseDecoder::with_max_body(max_body);
        self
    }

    /// Requests sent and not yet answered.
    pub fn in_flight(&self) -> usize {
        self.in_flight
    }

    fn fail(&mut self, e: HttpError) {
        self.events.push_back(HttpClientEvent::Error(e));
        self.closed = true;
    }

    fn parse(&mut self) {
        while !self.closed {
            match self.decoder.next_response() {
                Ok(Some(resp)) if resp.status == 100 => {}
                Ok(Some(resp)) => {
                    self.in_flight = self.in_flight.saturating_sub(1);
                    self.events.push_back(HttpClientEvent::Response(resp));
                }
                Ok(None) => return,
                Err(e) => {
                    self.fail(e);
                    return;
                }
            }
        }
    }
}

/// Splits a byte stream into HTTP/1.1 responses (heads by `httparse`,
/// bodies by Content-Length), for the client session and for observers.
///
/// Guarantees: heads at most [`MAX_HEAD`], bodies at most [`MAX_BODY`]
/// (or the limit given); a chunked response or one without a length (other than 1xx, 204 and
/// 304) is an error, after which the decoder stays failed.
#[derive(Debug)]
pub struct ResponseDecoder {
    buf: Vec<u8>,
    failed: bool,
    max_body: usize,
}

impl Default for ResponseDecoder {
    fn default() -> Self {
        Self::with_max_body(MAX_BODY)
    }
}

impl ResponseDecoder {
    /// A decoder that takes bodies of at most `max_body` bytes.
    pub fn with_max_body(max_body: usize) -> Self {
        Self {
            buf: Vec::new(),
            failed: false,
            max_body,
        }
    }

    /// Appends received bytes.
    pub fn feed(&mut self, bytes: &[u8]) {
        if !self.failed {
            self.buf.extend_from_slice(bytes);
        }
    }

    /// Takes the bytes after the last complete response (a connection
    /// that switched protocol after a `101`).
    pub fn take_rest(&mut self) -> Vec<u8> {
        std::mem::take(&mut self.buf)
    }

    /// The next complete response (`1xx` ones included), `Ok(None)` when
    /// more bytes are needed.
    pub fn next_response(&mut self) -> Result<Option<HttpResponse>, HttpError> {
        if self.failed {
            return Err(err("the response stream is broken"));
        }
        let result = self.step();
        if result.is_err() {
            self.failed = true;
            self.buf = Vec::new();
        }
        result
    }

    fn step(&mut self) -> Result<Option<HttpResponse>, HttpError> {
        let mut headers = [httparse::EMPTY_HEADER; MAX_HEADERS];
        let mut resp = httparse::Response::new(&mut headers);
        let head_len = match resp.parse(&self.buf) {
            Ok(httparse::Status::Complete(n)) => n,
            Ok(httparse::Status::Partial) if self.buf.len() > MAX_HEAD => {
                return Err(err("response head too large"))
            }
            Ok(httparse::Status::Partial) => return Ok(None),
            Err(e) => return Err(err(&format!("malformed response: {e}"))),
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
            return Err(err("chunked responses are not supported by this client"));
        }
        let length = match find("content-length").map(|v| v.parse::<usize>()) {
            Some(Ok(n)) if n <= self.max_body => n,
            Some(Ok(_)) => return Err(err("response body too large")),
            Some(Err(_)) => return Err(err("bad Content-Length in the response")),
            None if (100..200).contains(&status) || status == 204 || status == 304 => 0,
            None => return Err(err("a response without Content-Length")),
        };
        if self.buf.len() < head_len + length {
            return Ok(None);
        }
        let body = self.buf[head_len..head_len + length].to_vec();
        self.buf.drain(..head_len + length);
        Ok(Some(HttpResponse {
            status,
            headers,
            body,
        }))
    }
}

impl Session for HttpClient {
    type Event = HttpClientEvent;

    fn handle_input(&mut self, _now: Instant, bytes: &[u8]) {
        if !self.closed {
            self.decoder.feed(bytes);
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
