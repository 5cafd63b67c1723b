//! The file transfer client's session.
//!
//! States: `Greeting` → `Idle` (commands: login, list, get, put, quit) →
//! waiting for the answer → `Idle`. A download checks the announced size,
//! the count and the digest before it reports success; the application
//! keeps the data in a temporary file until then.

use std::collections::VecDeque;
use std::time::Instant;

use super::{code, hex, DigestAlg, Frame, FrameDecoder, Hasher, VERSION};
use crate::{Fault, OutputQueue, Session};

/// What the client reports.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FtClientEvent {
    /// The server's greeting (a server of another protocol version is an
    /// [`Error`](Self::Error) instead, and the session closes).
    Hello {
        /// Protocol version.
        version: u8,
        /// The digest the server asks for.
        prefers: DigestAlg,
    },
    /// A request succeeded (login, quit...).
    Ok(String),
    /// A request failed.
    Error {
        /// Error code.
        code: u16,
        /// The server's message.
        message: String,
    },
    /// One file of a listing.
    Entry {
        /// File name.
        name: String,
        /// Size in bytes.
        size: u64,
    },
    /// The listing is complete.
    Listed,
    /// A download starts.
    DownloadReady {
        /// File size.
        size: u64,
        /// Digest in use.
        alg: DigestAlg,
    },
    /// Downloaded bytes (keep them aside until [`FtClientEvent::Downloaded`]).
    Data(Vec<u8>),
    /// The download arrived whole: length and digest match.
    Downloaded {
        /// Bytes.
        size: u64,
        /// Digest (hex).
        digest: String,
        /// Digest algorithm.
        alg: DigestAlg,
    },
    /// The download is not intact: discard what arrived.
    DownloadFailed(String),
    /// The server is ready for the upload's data.
    UploadReady {
        /// Digest in use.
        alg: DigestAlg,
    },
    /// The server stored the upload.
    Uploaded {
        /// The server's message.
        message: String,
        /// Our digest (hex).
        digest: String,
    },
    /// The connection is over.
    Closed,
}

/// One line per event, as a person reads it (file content as its length).
impl std::fmt::Display for FtClientEvent {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Hello { version, prefers } => {
                write!(f, "HELLO version {version}, prefers {}", prefers.name())
            }
            Self::Ok(message) => write!(f, "OK {message}"),
            Self::Error { code, message } => write!(f, "ERR {code} {message}"),
            Self::Entry { name, size } => write!(f, "ENTRY {name}, {size} bytes"),
            Self::Listed => f.write_str("the end of the listing"),
            Self::DownloadReady { size, alg } => {
                write!(f, "READY {size} bytes ({})", alg.name())
            }
            Self::Data(bytes) => write!(f, "DATA {} bytes", bytes.len()),
            Self::Downloaded { size, digest, alg } => {
                write!(
                    f,
                    "the whole download: {size} bytes, {} {digest}",
                    alg.name()
                )
            }
            Self::DownloadFailed(why) => write!(f, "a failed download: {why}"),
            Self::UploadReady { alg } => write!(f, "READY ({})", alg.name()),
            Self::Uploaded { message, digest } => write!(f, "OK {message} ({digest})"),
            Self::Closed => f.write_str("the end of the connection"),
        }
    }
}

/// Why a command was refused locally.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum CommandError {
    /// Another request is still waiting for its answer.
    #[error("another request is in progress")]
    Busy,
    /// Upload data without a READY, or more than announced.
    #[error("{0}")]
    Upload(String),
    /// The session is closed.
    #[error("the connection is closed")]
    Closed,
}

impl CommandError {
    /// Who is at fault: the caller, which asked at the wrong moment.
    pub fn fault(&self) -> Fault {
        Fault::Local
    }
}

#[derive(Debug)]
enum State {
    Greeting,
    Idle,
    Waiting,
    AwaitGet,
    AwaitPut {
        size: u64,
    },
    Listing,
    Receiving {
        alg: DigestAlg,
        hasher: Hasher,
        size: u64,
        received: u64,
    },
    Sending {
        alg: DigestAlg,
        hasher: Hasher,
        size: u64,
        sent: u64,
    },
    Ending {
        digest: String,
    },
    Closed,
}

/// The client side of the file transfer protocol.
#[derive(Debug)]
pub struct FtClient {
    decoder: FrameDecoder,
    out: OutputQueue,
    events: VecDeque<FtClientEvent>,
    state: State,
    prefers: DigestAlg,
}

impl FtClient {
    /// A client asking for `prefers` (SHA-256 wins when either side asks).
    pub fn new(prefers: DigestAlg) -> Self {
        Self {
            decoder: FrameDecoder::new(),
            out: OutputQueue::default(),
            events: VecDeque::new(),
            state: State::Greeting,
            prefers,
        }
    }

    fn request(&mut self, frame: &Frame, next: State) -> Result<(), CommandError> {
        match self.state {
            State::Idle | State::Greeting => {}
            State::Closed => return Err(CommandError::Closed),
            _ => return Err(CommandError::Busy),
        }
        self.out.push_with(|out| frame.encode(out));
        self.state = next;
        Ok(())
    }

    /// Sends LOGIN.
    pub fn login(&mut self, user: &str, password: &str) -> Result<(), CommandError> {
        let frame = Frame::Login {
            user: user.into(),
            password: password.into(),
        };
        self.request(&frame, State::Waiting)
    }

    /// Asks for the listing.
    pub fn list(&mut self) -> Result<(), CommandError> {
        self.request(&Frame::List, State::Listing)
    }

    /// Asks for `name`.
    pub fn get(&mut self, name: &str) -> Result<(), CommandError> {
        let frame = Frame::Get {
            alg: self.prefers,
            name: name.into(),
        };
        self.request(&frame, State::AwaitGet)
    }

    /// Announces an upload of `size` bytes as `name`.
    pub fn put(&mut self, name: &str, size: u64) -> Result<(), CommandError> {
        let frame = Frame::Put {
            size,
            alg: self.prefers,
            name: name.into(),
        };
        self.request(&frame, State::AwaitPut { size })
    }

    /// Says goodbye.
    pub fn quit(&mut self) -> Result<(), CommandError> {
        self.request(&Frame::Quit, State::Waiting)
    }

    /// The next bytes of the file being uploaded.
    pub fn upload_data(&mut self, bytes: &[u8]) -> Result<(), CommandError> {
        let State::Sending {
            hasher, size, sent, ..
        } = &mut self.state
        else {
            return Err(CommandError::Upload("no upload in progress".into()));
        };
        if *sent + bytes.len() as u64 > *size {
            return Err(CommandError::Upload(format!(
                "the file grew while being sent (announced {size} bytes)"
            )));
        }
        hasher.update(bytes);
        *sent += bytes.len() as u64;
        self.out.push_with(|out| Frame::encode_all_data(bytes, out));
        Ok(())
    }

    /// The file being uploaded is at its end: sends the end marker.
    pub fn upload_end(&mut self) -> Result<(), CommandError> {
        let State::Sending {
            alg,
            hasher,
            size,
            sent,
        } = &self.state
        else {
            return Err(CommandError::Upload("no upload in progress".into()));
        };
        if sent != size {
            return Err(CommandError::Upload(format!(
                "the file changed while being sent ({sent} of {size} bytes)"
            )));
        }
        let digest = hasher.finish();
        let end = Frame::End {
            total: *sent,
            alg: *alg,
            digest,
        };
        self.out.push_with(|out| end.encode(out));
        self.state = State::Ending {
            digest: hex(&digest),
        };
        Ok(())
    }

    /// Gives back the bytes of a [`FtClientEvent::Data`] once written, to
    /// carry later ones (optional: it saves an allocation per frame).
    pub fn recycle(&mut self, data: Vec<u8>) {
        self.decoder.reuse(data);
    }

    /// Bytes waiting to be sent.
    pub fn pending_output(&self) -> usize {
        self.out.len()
    }

    fn on_frame(&mut self, frame: Frame) {
        let state = std::mem::replace(&mut self.state, State::Idle);
        let event = match (state, frame) {
            (State::Greeting, Frame::Hello { version, prefers }) if version == VERSION => {
                FtClientEvent::Hello { version, prefers }
            }
            (State::Greeting, Frame::Hello { version, .. }) => {
                self.state = State::Closed;
                FtClientEvent::Error {
                    code: code::BAD_REQUEST,
                    message: format!(
                        "the server speaks version {version} of the file transfer protocol; this client speaks version {VERSION}"
                    ),
                }
            }
            (State::Listing, Frame::Entry { size, name }) => {
                self.state = State::Listing;
                FtClientEvent::Entry { name, size }
            }
            (State::Listing, Frame::Ok { .. }) => FtClientEvent::Listed,
            (State::AwaitGet, Frame::Ready { alg, size }) => {
                self.state = State::Receiving {
                    alg,
                    hasher: Hasher::new(alg),
                    size,
                    received: 0,
                };
                FtClientEvent::DownloadReady { size, alg }
            }
            (State::AwaitPut { size }, Frame::Ready { alg, .. }) => {
                self.state = State::Sending {
                    alg,
                    hasher: Hasher::new(alg),
                    size,
                    sent: 0,
                };
                FtClientEvent::UploadReady { alg }
            }
            (
                State::Receiving {
                    alg,
                    mut hasher,
                    size,
                    received,
                },
                Frame::Data(data),
            ) => {
                let received = received + data.len() as u64;
                if received > size {
                    self.state = State::Idle;
                    FtClientEvent::DownloadFailed(format!(
                        "the server sent more than the {size} bytes it announced"
                    ))
                } else {
                    hasher.update(&data);
                    self.state = State::Receiving {
                        alg,
                        hasher,
                        size,
                        received,
                    };
                    FtClientEvent::Data(data)
                }
            }
            (
                State::Receiving {
                    alg,
                    hasher,
                    size,
                    received,
                },
                Frame::End {
                    total,
                    alg: end_alg,
                    digest,
                },
            ) => {
                let ours = hasher.finish();
                if total != received || received != size {
                    FtClientEvent::DownloadFailed(format!(
                        "announced {size} bytes, received {received}, end marker says {total}"
                    ))
                } else if end_alg != alg || digest != ours {
                    FtClientEvent::DownloadFailed(format!(
                        "the {} digest does not match the content",
                        alg.name()
                    ))
                } else {
                    FtClientEvent::Downloaded {
                        size,
                        digest: hex(&ours),
                        alg,
                    }
                }
            }
            (State::Receiving { .. }, Frame::Err { message, .. }) => {
                FtClientEvent::DownloadFailed(message)
            }
            (State::Ending { digest }, Frame::Ok { message, .. }) => {
                FtClientEvent::Uploaded { message, digest }
            }
            (State::Sending { .. } | State::Ending { .. }, Frame::Err { code, message }) => {
                FtClientEvent::Error { code, message }
            }
            (
                State::Sending {
                    alg,
                    hasher,
                    size,
                    sent,
                },
                other,
            ) => {
                self.state = State::Sending {
                    alg,
                    hasher,
                    size,
                    sent,
                };
                FtClientEvent::Error {
                    code: code::BAD_REQUEST,
                    message: format!("unexpected answer during an upload: {other}"),
                }
            }
            (_, Frame::Ok { message, .. }) => FtClientEvent::Ok(message),
            (_, Frame::Err { code, message }) => FtClientEvent::Error { code, message },
            (_, other) => {
                self.state = State::Closed;
                FtClientEvent::Error {
                    code: code::BAD_REQUEST,
                    message: format!("unexpected frame from the server: {other}"),
                }
            }
        };
        self.events.push_back(event);
    }
}

impl Session for FtClient {
    type Event = FtClientEvent;

    fn handle_input(&mut self, _now: Instant, bytes: &[u8]) {
        self.decoder.feed(bytes);
        loop {
            match self.decoder.next_frame() {
                Ok(Some(frame)) => self.on_frame(frame),
                Ok(None) => return,
                Err(e) => {
                    self.events.push_back(FtClientEvent::Error {
                        code: code::BAD_REQUEST,
                        message: format!("bad frame from the server: {e}"),
                    });
                    self.state = State::Closed;
                    self.events.push_back(FtClientEvent::Closed);
                    return;
                }
            }
        }
    }

    fn handle_eof(&mut self, _now: Instant) {
        if let State::Receiving { .. } = self.state {
            self.events.push_back(FtClientEvent::DownloadFailed(
                "the connection closed in the middle of the download".into(),
            ));
        }
        if !matches!(self.state, State::Closed) {
            self.state = State::Closed;
            self.events.push_back(FtClientEvent::Closed);
        }
    }

    crate::service::queue_outputs!();

    fn is_closed(&self) -> bool {
        matches!(self.state, State::Closed) && self.events.is_empty()
    }
}
