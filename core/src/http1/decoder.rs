//! The request decoder: bytes in, complete requests (or one typed error) out.
//!
//! States: `Head` (collecting the head, parsed by `httparse` once its blank
//! line is seen, so bytes arriving one at a time are scanned once) →
//! `Body` (Content-Length) or `Chunked` (size line → data → CRLF, …, a zero
//! size, trailers) → a [`Request`] → `Head` again for a pipelined request.
//! Any error is final: the decoder stays `Failed` and returns it again.

use super::{
    HttpError, Request, Status, MAX_BODY, MAX_CHUNK_LINE, MAX_HEAD, MAX_HEADERS, SPARE_BODY,
};

/// Size limits of a [`RequestDecoder`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Largest head, in bytes (431 past it).
    pub max_head: usize,
    /// Largest body, in bytes (413 past it).
    pub max_body: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            max_head: MAX_HEAD,
            max_body: MAX_BODY,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Chunk {
    Size,
    Data(usize),
    DataEnd,
    Trailer(usize),
}

#[derive(Debug)]
enum State {
    Head,
    Body { req: Request, remaining: usize },
    Chunked { req: Request, chunk: Chunk },
    Failed(HttpError),
}

/// Decodes a stream of pipelined HTTP/1.x requests.
///
/// Guarantees: at most `max_head` bytes of an unfinished head and one
/// chunk-size line are buffered beyond the last [`feed`](Self::feed); bodies
/// never exceed `max_body`; every error carries the status to answer with.
#[derive(Debug)]
pub struct RequestDecoder {
    spare: Option<Request>,
    buf: Vec<u8>,
    start: usize,
    scanned: usize,
    state: State,
    limits: Limits,
    expect_continue: bool,
}

impl Default for RequestDecoder {
    fn default() -> Self {
        Self::new(Limits::default())
    }
}

fn err(status: Status, message: impl Into<String>) -> HttpError {
    HttpError::new(status, message)
}

/// How many leading bytes of a request [`RequestDecoder`] looks at to
/// refuse one that is not HTTP at all before its head is complete.
const START_BYTES: usize = 8;

/// Whether `b` may appear in a token (RFC 9110 `tchar`), so in a method.
fn is_tchar(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b)
}

/// The `400` for a request that starts with byte `b`, which no method can.
fn not_http(b: u8) -> HttpError {
    let why = if b == 0x16 {
        "a TLS handshake (first byte 0x16) on a plaintext HTTP port: use http://, or start the server with TLS".to_owned()
    } else {
        format!("not an HTTP request (first byte 0x{b:02x} cannot start a method)")
    };
    err(Status::BAD_REQUEST, why)
}

impl RequestDecoder {
    /// A decoder with the given limits.
    pub fn new(limits: Limits) -> Self {
        Self {
            spare: None,
            buf: Vec::new(),
            start: 0,
            scanned: 0,
            state: State::Head,
            limits,
            expect_continue: false,
        }
    }

    /// Appends received bytes.
    pub fn feed(&mut self, bytes: &[u8]) {
        if matches!(self.state, State::Failed(_)) {
            return;
        }
        if self.start > 0 && self.start >= self.buf.len() / 2 {
            self.buf.drain(..self.start);
            self.scanned = self.scanned.saturating_sub(self.start);
            self.start = 0;
        }
        self.buf.extend_from_slice(bytes);
    }

    /// Takes the bytes received after the last complete request (for a
    /// connection that switches protocol after its upgrade request).
    pub fn take_rest(&mut self) -> Vec<u8> {
        let rest = self.buf.split_off(self.start);
        self.buf.clear();
        self.start = 0;
        self.scanned = 0;
        rest
    }

    /// Whether a request has begun and is not complete yet.
    pub fn in_progress(&self) -> bool {
        !matches!(self.state, State::Head) || self.start < self.buf.len()
    }

    /// Bytes of body received so far while a request's head is parsed and
    /// its body is not complete; `None` otherwise (a head still coming,
    /// or nothing in progress).
    pub fn body_received(&self) -> Option<usize> {
        match &self.state {
            State::Body { req, .. } | State::Chunked { req, .. } => Some(req.body.len()),
            State::Head | State::Failed(_) => None,
        }
    }

    /// True once, when a head with `Expect: 100-continue` has been read and
    /// its body has not: the server should answer `100 Continue`.
    pub fn take_expect_continue(&mut self) -> bool {
        std::mem::take(&mut self.expect_continue)
    }

    /// Gives back a request the caller is done with, so the next one reuses
    /// its buffers instead of allocating (bodies over [`SPARE_BODY`] bytes
    /// are not kept).
    pub fn recycle(&mut self, mut req: Request) {
        if req.body.capacity() > SPARE_BODY {
            req.body = Vec::new();
        }
        self.spare = Some(req);
    }

    /// The next complete request, `Ok(None)` when more bytes are needed.
    pub fn next_request(&mut self) -> Result<Option<Request>, HttpError> {
        let result = self.step();
        if let Err(e) = &result {
            self.buf = Vec::new();
            self.start = 0;
            self.scanned = 0;
            self.state = State::Failed(e.clone());
        }
        result
    }

    fn step(&mut self) -> Result<Option<Request>, HttpError> {
        loop {
            match std::mem::replace(&mut self.state, State::Head) {
                State::Failed(e) => return Err(e),
                State::Head => match self.head()? {
                    None => return Ok(None),
                    Some(next) => self.state = next,
                },
                State::Body { mut req, remaining } => {
                    let n = remaining.min(self.buf.len() - self.start);
                    req.body
                        .extend_from_slice(&self.buf[self.start..self.start + n]);
                    self.start += n;
                    self.scanned = self.start;
                    if remaining == n {
                        self.expect_continue = false;
                        return Ok(Some(req));
                    }
                    self.state = State::Body {
                        req,
                        remaining: remaining - n,
                    };
                    return Ok(None);
                }
                State::Chunked { mut req, chunk } => {
                    let before = self.start;
                    match self.chunked(&mut req, chunk)? {
                        None => {
                            self.expect_continue = false;
                            return Ok(Some(req));
                        }
                        Some(next) => {
                            let stalled = next == chunk && self.start == before;
                            self.state = State::Chunked { req, chunk: next };
                            if stalled {
                                return Ok(None);
                            }
                        }
                    }
                }
            }
        }
    }

    /// Parses a head once its blank line is in; returns the next state, or
    /// `None` (state stays `Head`) when more bytes are needed. A request
    /// without a body comes back as `Body { remaining: 0 }`.
    fn head(&mut self) -> Result<Option<State>, HttpError> {
        let Some(end) = self.find_head_end() else {
            self.check_request_start()?;
            if self.buf.len() - self.start > self.limits.max_head {
                return Err(err(
                    Status::HEADERS_TOO_LARGE,
                    format!("request head over {} bytes", self.limits.max_head),
                ));
            }
            return Ok(None);
        };
        if end - self.start > self.limits.max_head {
            return Err(err(
                Status::HEADERS_TOO_LARGE,
                format!("request head over {} bytes", self.limits.max_head),
            ));
        }
        let mut headers = [httparse::EMPTY_HEADER; MAX_HEADERS];
        let mut parsed = httparse::Request::new(&mut headers);
        match parsed.parse(&self.buf[self.start..end]) {
            Ok(httparse::Status::Complete(_)) => {}
            Ok(httparse::Status::Partial) => {
                return Err(err(Status::BAD_REQUEST, "malformed request head"))
            }
            Err(httparse::Error::TooManyHeaders) => {
                return Err(err(
                    Status::HEADERS_TOO_LARGE,
                    format!("more than {MAX_HEADERS} headers"),
                ))
            }
            Err(httparse::Error::Version) if self.names_http_version(end) => {
                return Err(err(
                    Status::VERSION_NOT_SUPPORTED,
                    "only HTTP/1.0 and HTTP/1.1 are supported",
                ))
            }
            Err(e) => {
                return Err(err(
                    Status::BAD_REQUEST,
                    format!("malformed request head: {e}"),
                ))
            }
        }
        let version = parsed.version.unwrap_or(1);
        // Reuse a recycled request's buffers: no allocation per request once
        // a connection is warm.
        let mut req = self.spare.take().unwrap_or_default();
        req.method.clear();
        req.method.push_str(parsed.method.unwrap_or_default());
        req.target.clear();
        req.target.push_str(parsed.path.unwrap_or_default());
        req.version = version;
        req.headers.truncate(parsed.headers.len());
        for (i, h) in parsed.headers.iter().enumerate() {
            let value = String::from_utf8_lossy(h.value);
            match req.headers.get_mut(i) {
                Some((name, val)) => {
                    name.clear();
                    name.push_str(h.name);
                    val.clear();
                    val.push_str(&value);
                }
                None => req.headers.push((h.name.to_owned(), value.into_owned())),
            }
        }
        req.body.clear();
        req.keep_alive = false;
        self.start = end;
        self.scanned = end;
        let headers = &req.headers;
        let tokens = |name: &'static str| {
            headers
                .iter()
                .filter(move |(n, _)| n.eq_ignore_ascii_case(name))
                .flat_map(|(_, v)| v.split(','))
                .map(str::trim)
                .filter(|t| !t.is_empty())
        };
        let has =
            |name: &'static str, token: &str| tokens(name).any(|t| t.eq_ignore_ascii_case(token));
        let keep_alive = if version == 0 {
            has("connection", "keep-alive")
        } else {
            !has("connection", "close")
        };
        let chunked = tokens("transfer-encoding").next().is_some();
        let expect = has("expect", "100-continue");
        let mut lengths = tokens("content-length");
        let first_length = lengths.next();
        if chunked {
            if first_length.is_some() {
                return Err(err(
                    Status::BAD_REQUEST,
                    "both Transfer-Encoding and Content-Length",
                ));
            }
            if !tokens("transfer-encoding").all(|c| c.eq_ignore_ascii_case("chunked")) {
                let codings: Vec<String> = tokens("transfer-encoding")
                    .map(str::to_ascii_lowercase)
                    .collect();
                return Err(err(
                    Status::NOT_IMPLEMENTED,
                    format!("unsupported transfer coding {:?}", codings.join(", ")),
                ));
            }
            req.keep_alive = keep_alive;
            self.expect_continue = expect && version == 1;
            return Ok(Some(State::Chunked {
                req,
                chunk: Chunk::Size,
            }));
        }
        let length = match first_length {
            None if matches!(req.method.as_str(), "POST" | "PUT" | "PATCH") => {
                return Err(err(
                    Status::LENGTH_REQUIRED,
                    "a body needs Content-Length or chunked Transfer-Encoding",
                ))
            }
            None => 0,
            Some(first) => {
                if lengths.any(|l| l != first) {
                    return Err(err(
                        Status::BAD_REQUEST,
                        "conflicting Content-Length values",
                    ));
                }
                if !first.bytes().all(|b| b.is_ascii_digit()) {
                    return Err(err(Status::BAD_REQUEST, "Content-Length is not a number"));
                }
                match first.parse::<usize>() {
                    Ok(n) if n <= self.limits.max_body => n,
                    _ => {
                        return Err(err(
                            Status::CONTENT_TOO_LARGE,
                            format!("body over the limit of {} bytes", self.limits.max_body),
                        ))
                    }
                }
            }
        };
        self.expect_continue = expect && version == 1 && length > 0;
        req.keep_alive = keep_alive;
        req.body.reserve(length.min(64 * 1024));
        Ok(Some(State::Body {
            req,
            remaining: length,
        }))
    }

    /// Whether the request line ends in `HTTP/...` (a real but unsupported
    /// version, 505) rather than garbage (400).
    fn names_http_version(&self, end: usize) -> bool {
        let head = &self.buf[self.start..end];
        let line = head.split(|&b| b == b'\n').next().unwrap_or_default();
        line.split(|&b| b == b' ')
            .filter(|t| !t.is_empty())
            .nth(2)
            .is_some_and(|v| v.starts_with(b"HTTP/"))
    }

    /// Finds the end of the head (after its blank line), scanning each byte once.
    /// Refuses at once a request whose first byte cannot start a method
    /// (RFC 9112: a method is a token; empty lines may come first), so a
    /// TLS client on this plaintext port gets its answer now, not after a
    /// timeout. Looks at the first [`START_BYTES`] bytes only.
    fn check_request_start(&self) -> Result<(), HttpError> {
        let first = self.buf[self.start..]
            .iter()
            .take(START_BYTES)
            .find(|&&b| b != b'\r' && b != b'\n');
        match first {
            Some(&b) if !is_tchar(b) => Err(not_http(b)),
            _ => Ok(()),
        }
    }

    fn find_head_end(&mut self) -> Option<usize> {
        let from = self.scanned.max(self.start);
        let buf = &self.buf;
        for i in from..buf.len() {
            if buf[i] == b'\n' {
                if buf.get(i + 1) == Some(&b'\n') {
                    return Some(i + 2);
                }
                if buf.get(i + 1) == Some(&b'\r') && buf.get(i + 2) == Some(&b'\n') {
                    return Some(i + 3);
                }
            }
        }
        // Re-check the last two bytes next time: a terminator may straddle.
        self.scanned = buf.len().saturating_sub(2).max(self.start);
        None
    }

    /// Advances a chunked body by one step; `Ok(None)` when the body is complete.
    fn chunked(&mut self, req: &mut Request, chunk: Chunk) -> Result<Option<Chunk>, HttpError> {
        let avail = &self.buf[self.start..];
        match chunk {
            Chunk::Size => {
                let Some(nl) = avail.iter().position(|&b| b == b'\n') else {
                    if avail.len() > MAX_CHUNK_LINE {
                        return Err(err(Status::BAD_REQUEST, "chunk size line too long"));
                    }
                    return Ok(Some(Chunk::Size));
                };
                let line = avail[..nl].strip_suffix(b"\r").unwrap_or(&avail[..nl]);
                let size_part = line.split(|&b| b == b';').next().unwrap_or_default();
                let size_text = std::str::from_utf8(size_part)
                    .map(|s| s.trim_matches([' ', '\t']))
                    .unwrap_or("x");
                let size = if !size_text.is_empty()
                    && size_text.len() <= 16
                    && size_text.bytes().all(|b| b.is_ascii_hexdigit())
                {
                    usize::from_str_radix(size_text, 16).ok()
                } else {
                    None
                };
                let Some(size) = size else {
                    return Err(err(Status::BAD_REQUEST, "bad chunk size"));
                };
                if size > self.limits.max_body.saturating_sub(req.body.len()) {
                    return Err(err(
                        Status::CONTENT_TOO_LARGE,
                        format!("body over the limit of {} bytes", self.limits.max_body),
                    ));
                }
                self.start += nl + 1;
                Ok(Some(if size == 0 {
                    Chunk::Trailer(0)
                } else {
                    Chunk::Data(size)
                }))
            }
            Chunk::Data(remaining) => {
                let n = remaining.min(avail.len());
                req.body.extend_from_slice(&avail[..n]);
                self.start += n;
                Ok(Some(if n == remaining {
                    Chunk::DataEnd
                } else {
                    Chunk::Data(remaining - n)
                }))
            }
            Chunk::DataEnd => match avail {
                [b'\n', ..] => {
                    self.start += 1;
                    Ok(Some(Chunk::Size))
                }
                [b'\r', b'\n', ..] => {
                    self.start += 2;
                    Ok(Some(Chunk::Size))
                }
                [] | [b'\r'] => Ok(Some(Chunk::DataEnd)),
                _ => Err(err(Status::BAD_REQUEST, "chunk data not followed by CRLF")),
            },
            Chunk::Trailer(seen) => {
                let Some(nl) = avail.iter().position(|&b| b == b'\n') else {
                    if seen + avail.len() > self.limits.max_head {
                        return Err(err(Status::HEADERS_TOO_LARGE, "trailers too large"));
                    }
                    return Ok(Some(Chunk::Trailer(seen)));
                };
                let empty = nl == 0 || (nl == 1 && avail[0] == b'\r');
                self.start += nl + 1;
                if empty {
                    return Ok(None);
                }
                if seen + nl + 1 > self.limits.max_head {
                    return Err(err(Status::HEADERS_TOO_LARGE, "trailers too large"));
                }
                Ok(Some(Chunk::Trailer(seen + nl + 1)))
            }
        }
    }
}
