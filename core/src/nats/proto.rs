//! The NATS client protocol's wire format: the server's operations
//! decoded from a byte stream cut anywhere, and the client's encoded.
//!
//! Every operation is a control line ended by CRLF (`INFO {json}`,
//! `MSG subject sid [reply] size`, `HMSG subject sid [reply] hsize size`,
//! `PING`, `PONG`, `+OK`, `-ERR 'text'`); `MSG` and `HMSG` are followed by
//! their payload and a CRLF. Operation names are case-insensitive.

use crate::Fault;

/// Longest control line accepted (the op and its arguments, CRLF excluded).
pub const MAX_CONTROL_LINE: usize = 4096;
/// Largest payload accepted before the server's `INFO` says otherwise
/// (NATS's own default `max_payload`).
pub const DEFAULT_MAX_PAYLOAD: usize = 1024 * 1024;

/// What the server says about itself in `INFO` (the fields commlab uses).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ServerInfo {
    /// The server's unique id.
    pub server_id: String,
    /// Its name (`server_name`), if given.
    pub server_name: Option<String>,
    /// Its version.
    pub version: Option<String>,
    /// Largest payload it accepts (and sends).
    pub max_payload: usize,
    /// Whether it supports headers (`HMSG`).
    pub headers: bool,
    /// Protocol level; 1 and up understand `echo:false`.
    pub proto: u64,
}

/// One operation from the server.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ServerOp {
    /// `INFO`: who the server is, sent first (and again on cluster changes).
    Info(ServerInfo),
    /// `MSG` (or `HMSG`, whose headers are in `headers`): a message on a
    /// subscription.
    Msg(Message),
    /// `PING`: answer with `PONG`.
    Ping,
    /// `PONG`: the answer to our `PING`.
    Pong,
    /// `+OK` (verbose mode only).
    Ok,
    /// `-ERR`: the server's complaint, its quotes removed.
    Err(String),
}

impl ServerOp {
    /// The operation's name on the wire (`INFO`, `MSG`...).
    pub fn name(&self) -> &'static str {
        match self {
            Self::Info(_) => "INFO",
            Self::Msg(m) if m.headers.is_some() => "HMSG",
            Self::Msg(_) => "MSG",
            Self::Ping => "PING",
            Self::Pong => "PONG",
            Self::Ok => "+OK",
            Self::Err(_) => "-ERR",
        }
    }
}

/// A message delivered on a subscription.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Message {
    /// The subject it was published on.
    pub subject: String,
    /// The subscription it came through.
    pub sid: u64,
    /// Where to answer, if the publisher asked for a reply.
    pub reply: Option<String>,
    /// Raw header block (`NATS/1.0` ...), for `HMSG`.
    pub headers: Option<Vec<u8>>,
    /// The payload.
    pub payload: Vec<u8>,
}

/// The server's bytes do not follow the protocol, or break a limit.
/// Fatal: the decoder stops, and the link must be dropped.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ProtoError {
    /// A control line longer than [`MAX_CONTROL_LINE`].
    #[error("a control line longer than {MAX_CONTROL_LINE} bytes")]
    LineTooLong,
    /// An unknown operation or malformed arguments.
    #[error("malformed operation: {0}")]
    Malformed(String),
    /// `INFO` whose JSON does not parse or lacks `server_id`.
    #[error("bad INFO: {0}")]
    BadInfo(String),
    /// A payload over the server's own `max_payload`.
    #[error("a {size}-byte payload, over the limit of {max}")]
    PayloadTooLarge {
        /// The size announced.
        size: usize,
        /// The limit in force.
        max: usize,
    },
    /// The payload was not followed by CRLF.
    #[error("a payload not ended by CRLF")]
    MissingCrlf,
}

impl ProtoError {
    /// Who is at fault: the broker (or whatever answered in its place).
    pub fn fault(&self) -> Fault {
        match self {
            Self::LineTooLong | Self::PayloadTooLarge { .. } => Fault::Limit,
            _ => Fault::PeerData,
        }
    }
}

/// A `MSG`/`HMSG` whose payload is still coming.
#[derive(Debug)]
struct Pending {
    subject: String,
    sid: u64,
    reply: Option<String>,
    header_len: Option<usize>,
    total: usize,
}

/// Decodes the server's operations from bytes split at any point.
#[derive(Debug)]
pub struct OpDecoder {
    buf: crate::read_buf::ReadBuf,
    pending: Option<Pending>,
    max_payload: usize,
    failed: Option<ProtoError>,
}

impl Default for OpDecoder {
    fn default() -> Self {
        Self {
            buf: crate::read_buf::ReadBuf::default(),
            pending: None,
            max_payload: DEFAULT_MAX_PAYLOAD,
            failed: None,
        }
    }
}

fn malformed(line: &[u8]) -> ProtoError {
    let shown: String = String::from_utf8_lossy(line).chars().take(80).collect();
    ProtoError::Malformed(shown)
}

fn number(field: &str, line: &[u8]) -> Result<usize, ProtoError> {
    field.parse().map_err(|_| malformed(line))
}

fn parse_info(json: &str) -> Result<ServerInfo, ProtoError> {
    let v: serde_json::Value =
        serde_json::from_str(json).map_err(|e| ProtoError::BadInfo(e.to_string()))?;
    let text = |k: &str| v.get(k).and_then(|x| x.as_str()).map(str::to_owned);
    let server_id = text("server_id")
        .filter(|s| !s.is_empty())
        .ok_or_else(|| ProtoError::BadInfo("no server_id".into()))?;
    let max_payload = match v.get("max_payload") {
        None => DEFAULT_MAX_PAYLOAD,
        Some(m) => m
            .as_u64()
            .and_then(|m| usize::try_from(m).ok())
            .filter(|m| *m > 0)
            .ok_or_else(|| ProtoError::BadInfo("max_payload is not a positive integer".into()))?,
    };
    Ok(ServerInfo {
        server_id,
        server_name: text("server_name"),
        version: text("version"),
        max_payload,
        headers: v.get("headers").and_then(serde_json::Value::as_bool) == Some(true),
        proto: v
            .get("proto")
            .and_then(serde_json::Value::as_u64)
            .unwrap_or(0),
    })
}

impl OpDecoder {
    /// An empty decoder, payloads bounded by [`DEFAULT_MAX_PAYLOAD`] until
    /// an `INFO` says otherwise.
    pub fn new() -> Self {
        Self::default()
    }

    /// Appends received bytes.
    pub fn feed(&mut self, bytes: &[u8]) {
        if self.failed.is_some() {
            return;
        }
        self.buf.feed(bytes);
    }

    /// Bytes received and not yet decoded.
    pub fn pending(&self) -> usize {
        self.buf.len()
    }

    /// The next complete operation, `Ok(None)` when more bytes are needed.
    pub fn next_op(&mut self) -> Result<Option<ServerOp>, ProtoError> {
        if let Some(e) = &self.failed {
            return Err(e.clone());
        }
        let result = self.decode();
        if let Err(e) = &result {
            self.failed = Some(e.clone());
            self.buf.release();
        }
        result
    }

    fn decode(&mut self) -> Result<Option<ServerOp>, ProtoError> {
        if let Some(p) = &self.pending {
            let avail = self.buf.avail();
            if avail.len() < p.total + 2 {
                return Ok(None);
            }
            if &avail[p.total..p.total + 2] != b"\r\n" {
                return Err(ProtoError::MissingCrlf);
            }
            let body = &avail[..p.total];
            let (headers, payload) = match p.header_len {
                Some(h) => (Some(body[..h].to_vec()), body[h..].to_vec()),
                None => (None, body.to_vec()),
            };
            self.buf.consume(p.total + 2);
            let Some(p) = self.pending.take() else {
                return Ok(None);
            };
            return Ok(Some(ServerOp::Msg(Message {
                subject: p.subject,
                sid: p.sid,
                reply: p.reply,
                headers,
                payload,
            })));
        }
        let avail = self.buf.avail();
        let Some(end) = avail.iter().position(|&b| b == b'\n') else {
            if avail.len() > MAX_CONTROL_LINE + 1 {
                return Err(ProtoError::LineTooLong);
            }
            return Ok(None);
        };
        if end > MAX_CONTROL_LINE + 1 {
            return Err(ProtoError::LineTooLong);
        }
        let raw = &avail[..end];
        let line = raw.strip_suffix(b"\r").unwrap_or(raw).to_vec();
        self.buf.consume(end + 1);
        self.control(&line)
    }

    fn control(&mut self, line: &[u8]) -> Result<Option<ServerOp>, ProtoError> {
        let text = std::str::from_utf8(line).map_err(|_| malformed(line))?;
        let (op, rest) = text
            .split_once([' ', '\t'])
            .map_or((text, ""), |(o, r)| (o, r.trim_start_matches([' ', '\t'])));
        match op.to_ascii_uppercase().as_str() {
            "PING" => Ok(Some(ServerOp::Ping)),
            "PONG" => Ok(Some(ServerOp::Pong)),
            "+OK" => Ok(Some(ServerOp::Ok)),
            "-ERR" => Ok(Some(ServerOp::Err(
                rest.trim().trim_matches('\'').to_owned(),
            ))),
            "INFO" => {
                let info = parse_info(rest)?;
                self.max_payload = info.max_payload;
                Ok(Some(ServerOp::Info(info)))
            }
            "MSG" | "HMSG" => {
                let f: Vec<&str> = rest.split([' ', '\t']).filter(|s| !s.is_empty()).collect();
                let headers = op.eq_ignore_ascii_case("HMSG");
                let (subject, sid, reply, sizes) = match (headers, f.len()) {
                    (false, 3) => (f[0], f[1], None, &f[2..]),
                    (false, 4) => (f[0], f[1], Some(f[2]), &f[3..]),
                    (true, 4) => (f[0], f[1], None, &f[2..]),
                    (true, 5) => (f[0], f[1], Some(f[2]), &f[3..]),
                    _ => return Err(malformed(line)),
                };
                let sid = sid.parse::<u64>().map_err(|_| malformed(line))?;
                let (header_len, total) = match sizes {
                    [t] => (None, number(t, line)?),
                    [h, t] => {
                        let (h, t) = (number(h, line)?, number(t, line)?);
                        if h > t {
                            return Err(malformed(line));
                        }
                        (Some(h), t)
                    }
                    _ => return Err(malformed(line)),
                };
                if total > self.max_payload {
                    return Err(ProtoError::PayloadTooLarge {
                        size: total,
                        max: self.max_payload,
                    });
                }
                self.pending = Some(Pending {
                    subject: subject.to_owned(),
                    sid,
                    reply: reply.map(str::to_owned),
                    header_len,
                    total,
                });
                self.decode()
            }
            _ => Err(malformed(line)),
        }
    }
}

/// Whether `subject` can be sent: tokens of printable non-space ASCII
/// separated by dots, none empty (wildcards `*` and `>` allowed).
pub fn valid_subject(subject: &str) -> bool {
    !subject.is_empty()
        && subject.len() <= MAX_CONTROL_LINE / 2
        && subject
            .split('.')
            .all(|t| !t.is_empty() && t.bytes().all(|b| b.is_ascii_graphic()))
}

/// `CONNECT` with `verbose:false`, `pedantic:false`, `echo:false` and
/// `name`.
pub fn encode_connect(out: &mut Vec<u8>, name: &str) {
    let options = serde_json::json!({
        "verbose": false,
        "pedantic": false,
        "echo": false,
        "name": name,
        "lang": "rust-commlab",
        "version": env!("CARGO_PKG_VERSION"),
        "protocol": 1,
    });
    out.extend_from_slice(format!("CONNECT {options}\r\n").as_bytes());
}

/// `SUB subject sid`.
pub fn encode_sub(out: &mut Vec<u8>, subject: &str, sid: u64) {
    out.extend_from_slice(format!("SUB {subject} {sid}\r\n").as_bytes());
}

/// `UNSUB sid`.
pub fn encode_unsub(out: &mut Vec<u8>, sid: u64) {
    out.extend_from_slice(format!("UNSUB {sid}\r\n").as_bytes());
}

/// `PUB subject [reply] size`, the payload and CRLF.
pub fn encode_pub(out: &mut Vec<u8>, subject: &str, reply: Option<&str>, payload: &[u8]) {
    let head = match reply {
        Some(r) => format!("PUB {subject} {r} {}\r\n", payload.len()),
        None => format!("PUB {subject} {}\r\n", payload.len()),
    };
    out.extend_from_slice(head.as_bytes());
    out.extend_from_slice(payload);
    out.extend_from_slice(b"\r\n");
}
