//! The file transfer wire format: typed, length-prefixed frames.
//!
//! Every frame is `type: u8`, `length: u32` (big-endian), then `length`
//! payload bytes. Control frames carry at most [`MAX_CONTROL`] bytes and
//! `DATA` frames at most [`MAX_CHUNK`]. Integers are big-endian; text is
//! UTF-8. See `docs/protocols/file-transfer.md`.

use super::{DigestAlg, DIGEST_LEN, MAX_CHUNK, MAX_CONTROL};
use crate::Fault;

/// One frame.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Frame {
    /// Server greeting: protocol version and the digests it supports.
    Hello {
        /// Protocol version (1).
        version: u8,
        /// The digest the server asks for (SHA-256 when started with `--hash sha256`).
        prefers: DigestAlg,
    },
    /// Client login.
    Login {
        /// User name.
        user: String,
        /// Password (travels unencrypted, as in FTP).
        password: String,
    },
    /// Download `name`; the client's digest preference.
    Get {
        /// Digest the client asks for.
        alg: DigestAlg,
        /// File name.
        name: String,
    },
    /// Upload `size` bytes as `name`; the client's digest preference.
    Put {
        /// Announced size.
        size: u64,
        /// Digest the client asks for.
        alg: DigestAlg,
        /// File name.
        name: String,
    },
    /// List the files.
    List,
    /// Goodbye.
    Quit,
    /// Success, with a code and a message.
    Ok {
        /// Code (200).
        code: u16,
        /// Text.
        message: String,
    },
    /// A transfer starts: the digest to use and (downloads) the size.
    Ready {
        /// The digest both sides use for this transfer.
        alg: DigestAlg,
        /// The file's size (0 for uploads).
        size: u64,
    },
    /// Failure, with a code and a message.
    Err {
        /// Code (see the protocol document).
        code: u16,
        /// Text.
        message: String,
    },
    /// File content.
    Data(Vec<u8>),
    /// End of a transfer: total length and digest of the content.
    End {
        /// Bytes sent.
        total: u64,
        /// Digest algorithm.
        alg: DigestAlg,
        /// The digest.
        digest: [u8; DIGEST_LEN],
    },
    /// One entry of a listing.
    Entry {
        /// Size in bytes.
        size: u64,
        /// File name.
        name: String,
    },
}

impl Frame {
    /// The frame's type as the protocol document names it (`HELLO`,
    /// `LOGIN`, `DATA`...).
    pub fn name(&self) -> &'static str {
        match self {
            Self::Hello { .. } => "HELLO",
            Self::Login { .. } => "LOGIN",
            Self::Get { .. } => "GET",
            Self::Put { .. } => "PUT",
            Self::List => "LIST",
            Self::Quit => "QUIT",
            Self::Ok { .. } => "OK",
            Self::Ready { .. } => "READY",
            Self::Err { .. } => "ERR",
            Self::Data(_) => "DATA",
            Self::End { .. } => "END",
            Self::Entry { .. } => "ENTRY",
        }
    }
}

/// One line per frame, as a person reads it: the type name and its
/// fields, a password as `***`, file content as its length only.
impl std::fmt::Display for Frame {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Hello { version, prefers } => {
                write!(f, "HELLO version {version}, prefers {}", prefers.name())
            }
            Self::Login { user, .. } => write!(f, "LOGIN user: {user}, password: ***"),
            Self::Get { alg, name } => write!(f, "GET {name} ({})", alg.name()),
            Self::Put { size, alg, name } => {
                write!(f, "PUT {name}, {size} bytes ({})", alg.name())
            }
            Self::List => f.write_str("LIST"),
            Self::Quit => f.write_str("QUIT"),
            Self::Ok { code, message } => write!(f, "OK {code} {message}"),
            Self::Ready { alg, size } => write!(f, "READY {size} bytes ({})", alg.name()),
            Self::Err { code, message } => write!(f, "ERR {code} {message}"),
            Self::Data(bytes) => write!(f, "DATA {} bytes", bytes.len()),
            Self::End { total, alg, digest } => {
                write!(
                    f,
                    "END {total} bytes, {} {}",
                    alg.name(),
                    super::hex(digest)
                )
            }
            Self::Entry { size, name } => write!(f, "ENTRY {name}, {size} bytes"),
        }
    }
}

/// Bytes of a frame's header: its type (1) and its length (4).
pub(super) const HEADER: usize = 5;

/// Frame type bytes.
pub(super) mod kind {
    pub(in crate::filexfer) const HELLO: u8 = 0x01;
    pub(in crate::filexfer) const LOGIN: u8 = 0x02;
    pub(in crate::filexfer) const GET: u8 = 0x03;
    pub(in crate::filexfer) const PUT: u8 = 0x04;
    pub(in crate::filexfer) const LIST: u8 = 0x05;
    pub(in crate::filexfer) const QUIT: u8 = 0x06;
    pub(in crate::filexfer) const OK: u8 = 0x10;
    pub(in crate::filexfer) const READY: u8 = 0x11;
    pub(in crate::filexfer) const ERR: u8 = 0x12;
    pub(in crate::filexfer) const DATA: u8 = 0x20;
    pub(in crate::filexfer) const END: u8 = 0x21;
    pub(in crate::filexfer) const ENTRY: u8 = 0x30;
}

/// Why bytes are not a valid frame. Every one is fatal for the connection.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum FrameError {
    /// An unknown frame type.
    #[error("unknown frame type 0x{0:02x}")]
    UnknownType(u8),
    /// A frame longer than its limit.
    #[error("frame 0x{kind:02x} of {len} bytes is over the limit of {limit}")]
    TooLong {
        /// Frame type.
        kind: u8,
        /// Announced length.
        len: u32,
        /// The limit.
        limit: usize,
    },
    /// A payload that does not match its frame type.
    #[error("malformed frame 0x{kind:02x}: {what}")]
    Malformed {
        /// Frame type.
        kind: u8,
        /// What was wrong.
        what: &'static str,
    },
}

impl FrameError {
    /// Who is at fault: the peer, for bytes that are no frame (or one over
    /// its limit).
    pub fn fault(&self) -> Fault {
        match self {
            Self::TooLong { .. } => Fault::Limit,
            Self::UnknownType(_) | Self::Malformed { .. } => Fault::PeerData,
        }
    }
}

pub(super) fn limit(kind: u8) -> Option<usize> {
    match kind {
        kind::DATA => Some(MAX_CHUNK),
        kind::HELLO..=kind::QUIT | kind::OK..=kind::ERR | kind::END | kind::ENTRY => {
            Some(MAX_CONTROL)
        }
        _ => None,
    }
}

fn head(out: &mut Vec<u8>, kind: u8, len: usize) {
    out.push(kind);
    out.extend_from_slice(&u32::try_from(len).unwrap_or(u32::MAX).to_be_bytes());
}

fn text(s: &str, max: usize) -> &str {
    let mut end = s.len().min(max);
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    &s[..end]
}

impl Frame {
    /// Appends the encoded frame to `out`. Texts are cut to fit
    /// [`MAX_CONTROL`]; `Data` must hold at most [`MAX_CHUNK`] bytes (more is
    /// cut, so callers split first).
    pub fn encode(&self, out: &mut Vec<u8>) {
        match self {
            Self::Hello { version, prefers } => {
                head(out, kind::HELLO, 2);
                out.push(*version);
                out.push(prefers.id());
            }
            Self::Login { user, password } => {
                let user = text(user, 255);
                let password = text(password, MAX_CONTROL - 256);
                head(out, kind::LOGIN, 1 + user.len() + password.len());
                out.push(u8::try_from(user.len()).unwrap_or(u8::MAX));
                out.extend_from_slice(user.as_bytes());
                out.extend_from_slice(password.as_bytes());
            }
            Self::Get { alg, name } => {
                let name = text(name, MAX_CONTROL - 1);
                head(out, kind::GET, 1 + name.len());
                out.push(alg.id());
                out.extend_from_slice(name.as_bytes());
            }
            Self::Put { size, alg, name } => {
                let name = text(name, MAX_CONTROL - 9);
                head(out, kind::PUT, 9 + name.len());
                out.extend_from_slice(&size.to_be_bytes());
                out.push(alg.id());
                out.extend_from_slice(name.as_bytes());
            }
            Self::List => head(out, kind::LIST, 0),
            Self::Quit => head(out, kind::QUIT, 0),
            Self::Ok { code, message } | Self::Err { code, message } => {
                let k = if matches!(self, Self::Ok { .. }) {
                    kind::OK
                } else {
                    kind::ERR
                };
                let message = text(message, MAX_CONTROL - 2);
                head(out, k, 2 + message.len());
                out.extend_from_slice(&code.to_be_bytes());
                out.extend_from_slice(message.as_bytes());
            }
            Self::Ready { alg, size } => {
                head(out, kind::READY, 9);
                out.push(alg.id());
                out.extend_from_slice(&size.to_be_bytes());
            }
            Self::Data(bytes) => {
                let bytes = &bytes[..bytes.len().min(MAX_CHUNK)];
                head(out, kind::DATA, bytes.len());
                out.extend_from_slice(bytes);
            }
            Self::End { total, alg, digest } => {
                head(out, kind::END, 9 + DIGEST_LEN);
                out.extend_from_slice(&total.to_be_bytes());
                out.push(alg.id());
                out.extend_from_slice(digest);
            }
            Self::Entry { size, name } => {
                let name = text(name, MAX_CONTROL - 8);
                head(out, kind::ENTRY, 8 + name.len());
                out.extend_from_slice(&size.to_be_bytes());
                out.extend_from_slice(name.as_bytes());
            }
        }
    }

    /// Appends a `DATA` frame for `bytes` without copying them into a `Frame`.
    pub fn encode_data(bytes: &[u8], out: &mut Vec<u8>) {
        let bytes = &bytes[..bytes.len().min(MAX_CHUNK)];
        head(out, kind::DATA, bytes.len());
        out.extend_from_slice(bytes);
    }

    /// Appends all of `bytes` as `DATA` frames of at most [`MAX_CHUNK`]
    /// each: [`data_len`](Self::data_len) bytes.
    pub fn encode_all_data(bytes: &[u8], out: &mut Vec<u8>) {
        for chunk in bytes.chunks(MAX_CHUNK) {
            Self::encode_data(chunk, out);
        }
    }

    /// How many bytes [`encode_all_data`](Self::encode_all_data) writes
    /// for `n` bytes of content.
    pub fn data_len(n: usize) -> usize {
        n + HEADER * n.div_ceil(MAX_CHUNK)
    }

    pub(super) fn decode(k: u8, p: &[u8]) -> Result<Self, FrameError> {
        let bad = |what| FrameError::Malformed { kind: k, what };
        let utf8 = |b: &[u8]| String::from_utf8(b.to_vec()).map_err(|_| bad("text is not UTF-8"));
        let u64_at = |b: &[u8]| -> Result<u64, FrameError> {
            let arr: [u8; 8] = b
                .get(..8)
                .and_then(|s| s.try_into().ok())
                .ok_or(bad("too short"))?;
            Ok(u64::from_be_bytes(arr))
        };
        let alg = |b: Option<&u8>| {
            b.and_then(|&id| DigestAlg::from_id(id))
                .ok_or(bad("unknown digest"))
        };
        Ok(match k {
            kind::HELLO => Self::Hello {
                version: *p.first().ok_or(bad("too short"))?,
                prefers: alg(p.get(1))?,
            },
            kind::LOGIN => {
                let n = usize::from(*p.first().ok_or(bad("too short"))?);
                let user = p.get(1..1 + n).ok_or(bad("user name cut short"))?;
                Self::Login {
                    user: utf8(user)?,
                    password: utf8(&p[1 + n..])?,
                }
            }
            kind::GET => Self::Get {
                alg: alg(p.first())?,
                name: utf8(p.get(1..).unwrap_or_default())?,
            },
            kind::PUT => Self::Put {
                size: u64_at(p)?,
                alg: alg(p.get(8))?,
                name: utf8(p.get(9..).unwrap_or_default())?,
            },
            kind::LIST if p.is_empty() => Self::List,
            kind::QUIT if p.is_empty() => Self::Quit,
            kind::LIST | kind::QUIT => return Err(bad("unexpected payload")),
            kind::OK | kind::ERR => {
                let code = u16::from_be_bytes([
                    *p.first().ok_or(bad("too short"))?,
                    *p.get(1).ok_or(bad("too short"))?,
                ]);
                let message = utf8(&p[2..])?;
                if k == kind::OK {
                    Self::Ok { code, message }
                } else {
                    Self::Err { code, message }
                }
            }
            kind::READY if p.len() == 9 => Self::Ready {
                alg: alg(p.first())?,
                size: u64_at(&p[1..])?,
            },
            kind::READY => return Err(bad("wrong length")),
            kind::DATA if p.is_empty() => return Err(bad("empty data frame")),
            kind::DATA => Self::Data(p.to_vec()),
            kind::END if p.len() == 9 + DIGEST_LEN => {
                let mut digest = [0u8; DIGEST_LEN];
                digest.copy_from_slice(&p[9..]);
                Self::End {
                    total: u64_at(p)?,
                    alg: alg(p.get(8))?,
                    digest,
                }
            }
            kind::END => return Err(bad("wrong length")),
            kind::ENTRY => Self::Entry {
                size: u64_at(p)?,
                name: utf8(&p[8..])?,
            },
            other => return Err(FrameError::UnknownType(other)),
        })
    }
}
