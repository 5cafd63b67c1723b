//! HTTP/1.1 for servers, protocol-neutral: request heads parsed by
//! `httparse`, Content-Length and chunked bodies, keep-alive, pipelining,
//! `Expect: 100-continue`, and every limit a named constant. One
//! connection machine ([`HttpConnection`]) serves the XML-RPC and REST
//! servers ([`HttpServer`]) and the page and WebSocket server, which
//! upgrades connections from it.

mod client;
mod connection;
mod decoder;
mod server;

use std::borrow::Cow;
use std::time::Duration;

pub use client::{HttpClient, HttpClientEvent, HttpResponse, ResponseDecoder};
pub use connection::{Answered, HttpConfig, HttpConnection, Next, Reply};
pub use decoder::{Limits, RequestDecoder};
pub use server::{Handler, HttpDrop, HttpEvent, HttpServer};

use crate::Fault;

/// Largest request head (request line and headers), in bytes.
pub const MAX_HEAD: usize = 16 * 1024;
/// Most headers in one request.
pub const MAX_HEADERS: usize = 64;
/// Default largest request body, in bytes.
pub const MAX_BODY: usize = 4 * 1024 * 1024;
/// Largest body buffer a decoder keeps for the next request after
/// [`RequestDecoder::recycle`] (a bigger one is freed).
pub const SPARE_BODY: usize = 64 * 1024;
/// Longest chunk-size line of a chunked body.
pub const MAX_CHUNK_LINE: usize = 1024;
/// Longest silence in the middle of a request (then `408`).
pub const REQUEST_TIMEOUT: Duration = Duration::from_secs(30);
/// Time a request's head has, from its first byte, to be complete (then
/// `408`), however its bytes trickle in: Apache's `mod_reqtimeout`
/// (`header=20`), nginx's `client_header_timeout` and Go's
/// `ReadHeaderTimeout` do the same against slowloris.
pub const HEAD_TIMEOUT: Duration = Duration::from_secs(20);
/// Time a request's body has after its head before it must keep up
/// [`MIN_BODY_RATE`] (`mod_reqtimeout`'s `body=20`).
pub const BODY_GRACE: Duration = Duration::from_secs(20);
/// Slowest average a body may arrive at, in bytes per second, once
/// [`BODY_GRACE`] has passed (`mod_reqtimeout`'s `MinRate=500`): a body of
/// `n` bytes must be whole by `BODY_GRACE + n / MIN_BODY_RATE` seconds
/// after its head.
pub const MIN_BODY_RATE: u64 = 500;
/// Time an idle keep-alive connection is kept open.
pub const KEEP_ALIVE_TIMEOUT: Duration = Duration::from_secs(60);
/// Unsent response bytes one connection may pile up (pipelining without
/// reading) before it is dropped.
pub const MAX_OUTPUT: usize = 16 * 1024 * 1024;

/// An HTTP status code with its reason phrase.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Status(pub u16);

impl Status {
    /// 100 Continue.
    pub const CONTINUE: Self = Self(100);
    /// 200 OK.
    pub const OK: Self = Self(200);
    /// 400 Bad Request: the request does not parse.
    pub const BAD_REQUEST: Self = Self(400);
    /// 404 Not Found: unknown path.
    pub const NOT_FOUND: Self = Self(404);
    /// 405 Method Not Allowed (sent with `Allow`).
    pub const METHOD_NOT_ALLOWED: Self = Self(405);
    /// 408 Request Timeout: the request was not finished in time.
    pub const REQUEST_TIMEOUT: Self = Self(408);
    /// 411 Length Required: a body without Content-Length or chunked encoding.
    pub const LENGTH_REQUIRED: Self = Self(411);
    /// 413 Content Too Large: the body is over the limit.
    pub const CONTENT_TOO_LARGE: Self = Self(413);
    /// 431 Request Header Fields Too Large.
    pub const HEADERS_TOO_LARGE: Self = Self(431);
    /// 500 Internal Server Error.
    pub const INTERNAL_ERROR: Self = Self(500);
    /// 501 Not Implemented: an unsupported transfer coding.
    pub const NOT_IMPLEMENTED: Self = Self(501);
    /// 505 HTTP Version Not Supported.
    pub const VERSION_NOT_SUPPORTED: Self = Self(505);

    /// The standard reason phrase.
    pub fn reason(self) -> &'static str {
        match self.0 {
            100 => "Continue",
            101 => "Switching Protocols",
            200 => "OK",
            400 => "Bad Request",
            404 => "Not Found",
            405 => "Method Not Allowed",
            408 => "Request Timeout",
            411 => "Length Required",
            413 => "Content Too Large",
            426 => "Upgrade Required",
            431 => "Request Header Fields Too Large",
            500 => "Internal Server Error",
            501 => "Not Implemented",
            505 => "HTTP Version Not Supported",
            _ => "Unknown",
        }
    }
}

impl std::fmt::Display for Status {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} {}", self.0, self.reason())
    }
}

/// A request the peer got wrong, with the status it gets back. After one,
/// the connection is answered and closed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{status}: {message}")]
pub struct HttpError {
    /// The status to answer with.
    pub status: Status,
    /// What was wrong, in words (sent as the body).
    pub message: String,
}

impl HttpError {
    /// An error with `status` and `message`.
    pub fn new(status: Status, message: impl Into<String>) -> Self {
        Self {
            status,
            message: message.into(),
        }
    }

    /// Who is at fault.
    pub fn fault(&self) -> Fault {
        match self.status {
            Status::CONTENT_TOO_LARGE | Status::HEADERS_TOO_LARGE | Status::REQUEST_TIMEOUT => {
                Fault::Limit
            }
            _ => Fault::PeerData,
        }
    }
}

/// A complete request.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Request {
    /// The method, e.g. `POST`.
    pub method: String,
    /// The request target, e.g. `/RPC2`.
    pub target: String,
    /// Minor version: 0 for HTTP/1.0, 1 for HTTP/1.1.
    pub version: u8,
    /// Headers in order, names as sent.
    pub headers: Vec<(String, String)>,
    /// The body (de-chunked).
    pub body: Vec<u8>,
    /// Whether the connection stays open after the response.
    pub keep_alive: bool,
}

impl Request {
    /// The first header named `name` (case-insensitive).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    /// The path part of the target (without `?query`).
    pub fn path(&self) -> &str {
        self.target.split('?').next().unwrap_or_default()
    }

    /// `METHOD TARGET HTTP/1.x`, as access logs print it.
    pub fn request_line(&self) -> String {
        format!("{} {} HTTP/1.{}", self.method, self.target, self.version)
    }
}

/// A response to encode.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Response {
    /// The status.
    pub status: Status,
    /// Extra headers (Content-Length, Connection and Server are added);
    /// fixed names and values are borrowed, not copied per response.
    pub headers: Vec<(Cow<'static, str>, Cow<'static, str>)>,
    /// The body.
    pub body: Vec<u8>,
    /// Close the connection after this response.
    pub close: bool,
}

impl Response {
    /// An empty response with `status`.
    pub fn new(status: Status) -> Self {
        Self {
            status,
            headers: Vec::new(),
            body: Vec::new(),
            close: false,
        }
    }

    /// A response with a body of `content_type`.
    pub fn with_body(status: Status, content_type: &'static str, body: Vec<u8>) -> Self {
        let mut r = Self::new(status);
        r.headers
            .push((Cow::Borrowed("Content-Type"), Cow::Borrowed(content_type)));
        r.body = body;
        r
    }

    /// A plain-text response saying `text`.
    pub fn text(status: Status, text: &str) -> Self {
        let mut body = text.as_bytes().to_vec();
        body.push(b'\n');
        Self::with_body(status, "text/plain; charset=utf-8", body)
    }

    /// Adds a header.
    pub fn header(mut self, name: &'static str, value: impl Into<Cow<'static, str>>) -> Self {
        self.headers.push((Cow::Borrowed(name), value.into()));
        self
    }

    /// Appends the encoded response to `out`. `keep_alive` false adds
    /// `Connection: close`; `head_only` leaves the body out (HEAD requests).
    ///
    /// No `Date` header: core has no clock, and RFC 9110 lets a server
    /// without one leave it out.
    pub fn encode(&self, keep_alive: bool, head_only: bool, out: &mut Vec<u8>) {
        use std::io::Write as _;
        let _ = write!(out, "HTTP/1.1 {}\r\nServer: commlab\r\n", self.status);
        for (name, value) in &self.headers {
            let _ = write!(out, "{name}: {value}\r\n");
        }
        let _ = write!(out, "Content-Length: {}\r\n", self.body.len());
        if !keep_alive {
            out.extend_from_slice(b"Connection: close\r\n");
        }
        out.extend_from_slice(b"\r\n");
        if !head_only {
            out.extend_from_slice(&self.body);
        }
    }
}
