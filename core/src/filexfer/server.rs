//! The file transfer server as a sans-IO [`Service`].
//!
//! Per connection: `Login` (greeting sent; LOGIN checked by the application;
//! [`MAX_LOGIN_FAILURES`] failures close) → `Ready` → `Opening` (the
//! application opens the file) → `Download` or `Upload` → (`Committing`:
//! the application renames the verified upload into place) → `Ready` → …
//! → closed. The service frames, counts and hashes; the application reads
//! and writes files when events ask it to, answering with commands.

use core::net::SocketAddr;
use std::collections::VecDeque;
use std::time::Instant;

pub use super::events::{FtEnd, FtEvent, Transfer};
use super::{
    code, hex, validate_name, DigestAlg, Frame, FrameDecoder, Hasher, SlowLimits, IDLE_TIMEOUT,
    LOW_WATER, MAX_FILE_SIZE, MAX_LOGIN_FAILURES, UPLOAD_WINDOW, VERSION,
};
use crate::{ConnId, ConnTable, DeadlineQueue, Overflow, Service};

mod frames;

/// Most unsent bytes per connection (a client that stops reading past it is dropped).
const MAX_QUEUE: usize = 4 * 1024 * 1024;

#[derive(Debug)]
struct Download {
    name: String,
    alg: DigestAlg,
    hasher: Hasher,
    size: u64,
    sent: u64,
    asked: bool,
}

#[derive(Debug)]
struct Upload {
    name: String,
    alg: DigestAlg,
    hasher: Hasher,
    size: u64,
    received: u64,
    /// Bytes handed to the application in [`FtEvent::UploadData`] and not
    /// yet given back with [`FtServer::recycle`].
    unwritten: usize,
    /// When it was asked for (the upload's clock starts there).
    started: Instant,
}

#[derive(Debug)]
enum Phase {
    Login,
    Checking(String),
    Ready,
    /// The application is listing the folder.
    Listing,
    Opening {
        alg: DigestAlg,
    },
    Download(Download),
    Upload(Upload),
    Committing {
        name: String,
        size: u64,
        digest: String,
        alg: DigestAlg,
    },
}

#[derive(Debug)]
struct FtConn {
    decoder: FrameDecoder,
    phase: Phase,
    failures: u8,
    last_active: Instant,
    opened: Instant,
}

impl Phase {
    /// Whether the request in progress is not answered yet: the
    /// application owes an answer (a login checked, a folder listed, a
    /// file opened, an upload stored) or a download is under way. Later
    /// frames wait, a QUIT among them (a client that wants out of a
    /// download closes the connection).
    fn awaits_application(&self) -> bool {
        matches!(
            self,
            Self::Checking(_)
                | Self::Listing
                | Self::Opening { .. }
                | Self::Download(_)
                | Self::Committing { .. }
        )
    }
}

impl FtConn {
    /// A connection opened at `now`, waiting for its login.
    fn new(now: Instant) -> Self {
        Self {
            decoder: FrameDecoder::new(),
            phase: Phase::Login,
            failures: 0,
            last_active: now,
            opened: now,
        }
    }

    /// When the client is too slow if nothing changes, and why: its login
    /// (from the opening), or its upload (from the bytes in so far).
    fn slow_deadline(&self, limits: &SlowLimits) -> Option<(Instant, String)> {
        match &self.phase {
            Phase::Login => Some((
                self.opened + limits.login_timeout,
                format!("not logged in within {} s", limits.login_timeout.as_secs()),
            )),
            Phase::Upload(up) => {
                let rate = limits.min_upload_rate.max(1);
                let earned = std::time::Duration::from_secs(up.received / rate);
                Some((
                    up.started + limits.upload_grace + earned,
                    format!(
                        "the upload came slower than {rate} bytes/s ({} s allowed at first)",
                        limits.upload_grace.as_secs()
                    ),
                ))
            }
            _ => None,
        }
    }
}

/// The file transfer server.
///
/// Guarantees: no file request before a successful login; names checked by
/// [`validate_name`]; an upload is reported for commit only when its
/// length and digest match; anything else (a drop, a wrong digest, too many
/// bytes, shutdown) reports [`FtEvent::UploadAborted`] so the application
/// deletes the temporary file; at most 4 MiB of unsent output per connection.
#[derive(Debug)]
pub struct FtServer {
    table: ConnTable<FtConn>,
    timers: DeadlineQueue,
    events: VecDeque<FtEvent>,
    prefers: DigestAlg,
    max_file_size: u64,
    slow: SlowLimits,
    out: Vec<u8>,
}

impl Default for FtServer {
    fn default() -> Self {
        Self::new(DigestAlg::Blake3, MAX_FILE_SIZE)
    }
}

impl FtServer {
    /// A server preferring `prefers` (SHA-256 wins when either side asks)
    /// and accepting uploads up to `max_file_size` bytes.
    pub fn new(prefers: DigestAlg, max_file_size: u64) -> Self {
        Self {
            table: ConnTable::new(MAX_QUEUE),
            timers: DeadlineQueue::new(),
            events: VecDeque::new(),
            prefers,
            max_file_size,
            slow: SlowLimits::default(),
            out: Vec::new(),
        }
    }

    /// Replaces the limits on slow clients (login deadline, upload rate).
    pub fn with_slow_limits(mut self, slow: SlowLimits) -> Self {
        self.slow = slow;
        self
    }

    fn send(&mut self, conn: ConnId, frame: &Frame) {
        self.out.clear();
        frame.encode(&mut self.out);
        self.flush(conn);
    }

    fn flush(&mut self, conn: ConnId) {
        let queued = self.table.send(conn, &self.out);
        self.overflowed(conn, queued);
    }

    /// Ends `conn` when its queue went over the cap.
    fn overflowed(&mut self, conn: ConnId, queued: Result<(), Overflow>) {
        if let Err(overflow) = queued {
            self.abort_transfer(conn, FtEnd::SlowReader(overflow));
            self.events.push_back(FtEvent::Closed {
                conn,
                reason: FtEnd::SlowReader(overflow),
            });
        }
    }

    fn phase(&mut self, conn: ConnId) -> Option<&mut Phase> {
        self.table.get_mut(conn).map(|c| &mut c.phase)
    }

    /// Reports the end of a transfer that will not complete.
    fn abort_transfer(&mut self, conn: ConnId, reason: FtEnd) {
        let Some(c) = self.table.get_mut(conn) else {
            return;
        };
        match std::mem::replace(&mut c.phase, Phase::Ready) {
            Phase::Upload(u) => self.events.push_back(FtEvent::UploadAborted {
                conn,
                name: u.name,
                reason,
            }),
            Phase::Download(d) => self
                .events
                .push_back(FtEvent::DownloadAborted { conn, name: d.name }),
            other => {
                if let Some(c) = self.table.get_mut(conn) {
                    c.phase = other;
                }
            }
        }
    }

    fn close(&mut self, conn: ConnId, reason: FtEnd) {
        self.abort_transfer(conn, reason.clone());
        if self.table.close(conn).is_some() {
            self.timers.cancel(conn);
            self.events.push_back(FtEvent::Closed { conn, reason });
        }
    }

    fn fail(&mut self, conn: ConnId, code: u16, reason: FtEnd) {
        self.send_err(conn, code, reason.to_string());
        self.events.push_back(FtEvent::ProtocolError {
            conn,
            reason: reason.clone(),
        });
        self.close(conn, reason);
    }

    /// The application checked a login.
    pub fn login_result(&mut self, conn: ConnId, ok: bool) {
        let Some(c) = self.table.get_mut(conn) else {
            return;
        };
        let Phase::Checking(user) = std::mem::replace(&mut c.phase, Phase::Login) else {
            return;
        };
        if ok {
            c.phase = Phase::Ready;
            self.send(
                conn,
                &Frame::Ok {
                    code: code::OK,
                    message: format!("welcome, {user}"),
                },
            );
            self.events.push_back(FtEvent::LoggedIn { conn, user });
            self.drain(conn);
            return;
        }
        c.failures += 1;
        let failures = c.failures;
        let closed = failures >= MAX_LOGIN_FAILURES;
        self.send_err(conn, code::LOGIN_FAILED, "login failed");
        self.events.push_back(FtEvent::LoginFailed {
            conn,
            user,
            failures,
            closed,
        });
        if closed {
            self.close(conn, FtEnd::LoginFailures(failures));
        } else {
            self.drain(conn);
        }
    }

    /// The application listed the folder.
    pub fn list_result(&mut self, conn: ConnId, entries: &[(String, u64)]) {
        match self.phase(conn) {
            Some(phase @ Phase::Listing) => *phase = Phase::Ready,
            _ => return,
        }
        self.out.clear();
        for (name, size) in entries {
            Frame::Entry {
                size: *size,
                name: name.clone(),
            }
            .encode(&mut self.out);
        }
        Frame::Ok {
            code: code::OK,
            message: format!("{} file(s)", entries.len()),
        }
        .encode(&mut self.out);
        self.flush(conn);
        self.drain(conn);
    }

    /// The application cannot serve the pending request (no such file...).
    pub fn refuse(&mut self, conn: ConnId, code: u16, message: &str) {
        if let Some(phase @ Phase::Opening { .. }) = self.phase(conn) {
            *phase = Phase::Ready;
            self.send_err(conn, code, message);
            self.drain(conn);
        }
    }

    /// Answers `conn` with an `ERR` frame.
    fn send_err(&mut self, conn: ConnId, code: u16, message: impl Into<String>) {
        self.send(
            conn,
            &Frame::Err {
                code,
                message: message.into(),
            },
        );
    }

    /// Leaves `Opening` for the phase `next` builds from the agreed digest.
    fn opened(&mut self, conn: ConnId, next: impl FnOnce(DigestAlg) -> Phase) -> Option<DigestAlg> {
        let phase = self.phase(conn)?;
        let Phase::Opening { alg } = *phase else {
            return None;
        };
        *phase = next(alg);
        Some(alg)
    }

    /// Gives back the bytes of a [`FtEvent::UploadData`] of `conn` once
    /// written: it acknowledges them (the upload is read no further while
    /// more than [`UPLOAD_WINDOW`] bytes wait for the application; see
    /// [`Service::wants_input`]) and its buffer carries later bytes.
    pub fn recycle(&mut self, conn: ConnId, data: Vec<u8>) {
        if let Some(c) = self.table.get_mut(conn) {
            if let Phase::Upload(u) = &mut c.phase {
                u.unwritten = u.unwritten.saturating_sub(data.len());
            }
            c.decoder.reuse(data);
        }
    }

    /// The file asked for is open and `size` bytes long: the download starts.
    pub fn download_begin(&mut self, conn: ConnId, name: &str, size: u64) {
        let Some(alg) = self.opened(conn, |alg| {
            Phase::Download(Download {
                name: name.to_owned(),
                alg,
                hasher: Hasher::new(alg),
                size,
                sent: 0,
                asked: false,
            })
        }) else {
            return;
        };
        self.send(conn, &Frame::Ready { alg, size });
        self.ask(conn);
        self.drain(conn);
    }

    /// The next bytes of the file being downloaded (any amount; framed here
    /// in chunks of at most [`MAX_CHUNK`](super::MAX_CHUNK)).
    pub fn download_data(&mut self, conn: ConnId, bytes: &[u8]) {
        let Some(Phase::Download(d)) = self.phase(conn) else {
            return;
        };
        d.asked = false;
        if d.sent + bytes.len() as u64 > d.size {
            let name = d.name.clone();
            self.abort_transfer(conn, FtEnd::FileChanged);
            let message = format!("{name} changed while being sent; try again");
            self.send_err(conn, code::SERVER_ERROR, message);
            return;
        }
        d.hasher.update(bytes);
        d.sent += bytes.len() as u64;
        let framed = Frame::data_len(bytes.len());
        let queued = self
            .table
            .send_with(conn, framed, |out| Frame::encode_all_data(bytes, out));
        self.overflowed(conn, queued);
        self.ask(conn);
    }

    /// The file being downloaded is at its end: the end marker is sent.
    pub fn download_eof(&mut self, conn: ConnId) {
        let Some(c) = self.table.get_mut(conn) else {
            return;
        };
        let Phase::Download(d) = std::mem::replace(&mut c.phase, Phase::Ready) else {
            return;
        };
        if d.sent != d.size {
            let message = format!("{} changed while being sent; try again", d.name);
            self.events
                .push_back(FtEvent::DownloadAborted { conn, name: d.name });
            self.send_err(conn, code::SERVER_ERROR, message);
            self.drain(conn);
            return;
        }
        let digest = d.hasher.finish();
        self.send(
            conn,
            &Frame::End {
                total: d.sent,
                alg: d.alg,
                digest,
            },
        );
        self.events.push_back(FtEvent::Downloaded {
            conn,
            file: Transfer {
                name: d.name,
                size: d.sent,
                digest: hex(&digest),
                alg: d.alg,
            },
        });
        self.drain(conn);
    }

    /// Reading the file failed: the client is told and the download ends.
    pub fn download_failed(&mut self, conn: ConnId, message: &str) {
        if let Some(Phase::Download(_)) = self.phase(conn) {
            self.abort_transfer(conn, FtEnd::Storage(message.to_owned()));
            self.send_err(conn, code::SERVER_ERROR, message);
            self.drain(conn);
        }
    }

    /// The temporary file is ready: the upload starts.
    pub fn upload_accept(&mut self, conn: ConnId, name: &str, size: u64) {
        // The upload's clock starts when it was asked for.
        let Some(started) = self.table.get(conn).map(|c| c.last_active) else {
            return;
        };
        let Some(alg) = self.opened(conn, |alg| {
            Phase::Upload(Upload {
                name: name.to_owned(),
                alg,
                hasher: Hasher::new(alg),
                size,
                received: 0,
                unwritten: 0,
                started,
            })
        }) else {
            return;
        };
        self.send(conn, &Frame::Ready { alg, size: 0 });
        self.timers.schedule(conn, started + self.slow.upload_grace);
        // DATA frames sent right behind the PUT.
        self.drain(conn);
    }

    /// Writing or committing the upload failed (disk full...): the client
    /// is told and the connection closed; the temporary file must go.
    pub fn upload_failed(&mut self, conn: ConnId, message: &str) {
        self.send_err(conn, code::SERVER_ERROR, message);
        if let Some(Phase::Committing { .. }) = self.phase(conn) {
            if let Some(p) = self.phase(conn) {
                *p = Phase::Ready;
            }
            self.drain(conn);
            return;
        }
        self.close(conn, FtEnd::Storage(message.to_owned()));
    }

    /// The verified upload is in place.
    pub fn upload_committed(&mut self, conn: ConnId) {
        let Some(c) = self.table.get_mut(conn) else {
            return;
        };
        let Phase::Committing {
            name,
            size,
            digest,
            alg,
        } = std::mem::replace(&mut c.phase, Phase::Ready)
        else {
            return;
        };
        let message = format!("stored {name}: {size} bytes, {} {digest}", alg.name());
        self.send(
            conn,
            &Frame::Ok {
                code: code::OK,
                message,
            },
        );
        self.events.push_back(FtEvent::Uploaded {
            conn,
            file: Transfer {
                name,
                size,
                digest,
                alg,
            },
        });
        self.drain(conn);
    }

    /// Asks the application for download data while the queue is short.
    fn ask(&mut self, conn: ConnId) {
        let queued = self.table.queued(conn);
        let Some(Phase::Download(d)) = self.phase(conn) else {
            return;
        };
        // Ask while output is short, and once more at the end so the
        // application can report the end of the file.
        if !d.asked && (queued < LOW_WATER || d.sent == d.size) {
            d.asked = true;
            self.events.push_back(FtEvent::NeedData { conn });
        }
    }
}

impl Service for FtServer {
    type Event = FtEvent;

    fn handle_connect(&mut self, now: Instant, conn: ConnId, peer: SocketAddr) {
        self.table.insert(conn, FtConn::new(now));
        self.events.push_back(FtEvent::Connected { conn, peer });
        self.send(
            conn,
            &Frame::Hello {
                version: VERSION,
                prefers: self.prefers,
            },
        );
        self.timers
            .schedule(conn, now + IDLE_TIMEOUT.min(self.slow.login_timeout));
    }

    fn handle_input(&mut self, now: Instant, conn: ConnId, bytes: &[u8]) {
        let Some(c) = self.table.get_mut(conn) else {
            return;
        };
        c.last_active = now;
        c.decoder.feed(bytes);
        self.drain(conn);
    }

    fn handle_eof(&mut self, _now: Instant, conn: ConnId) {
        self.close(conn, FtEnd::ClientClosed);
    }

    fn handle_lost(&mut self, _now: Instant, conn: ConnId, error: &str) {
        self.abort_transfer(conn, FtEnd::Lost(error.to_owned()));
        self.timers.cancel(conn);
        if self.table.remove(conn).is_some() {
            self.events.push_back(FtEvent::Closed {
                conn,
                reason: FtEnd::Lost(error.to_owned()),
            });
        }
    }

    fn handle_timeout(&mut self, now: Instant) {
        while let Some(conn) = self.timers.pop_due(now) {
            let Some(c) = self.table.get(conn) else {
                continue;
            };
            let slow = c.slow_deadline(&self.slow);
            if let Some((_, why)) = slow.as_ref().filter(|(at, _)| *at <= now) {
                let why = why.clone();
                self.send_err(conn, code::TOO_SLOW, &why);
                self.close(conn, FtEnd::TooSlow(why));
                continue;
            }
            let at = c.last_active + IDLE_TIMEOUT;
            // A download in progress is not idle: the client is reading.
            let busy = c.phase.awaits_application();
            if at > now || busy {
                let idle_check = at.max(now + IDLE_TIMEOUT / 10);
                let next = slow.map_or(idle_check, |(s, _)| s.min(idle_check));
                self.timers.schedule(conn, next);
            } else {
                self.send_err(conn, code::BAD_REQUEST, "idle too long");
                self.close(conn, FtEnd::Idle);
            }
        }
    }

    fn handle_shutdown(&mut self, _now: Instant) {
        for conn in self.table.open_ids() {
            self.send_err(conn, 503, "server shutting down");
            self.close(conn, FtEnd::Shutdown);
        }
    }

    fn wants_input(&self, conn: ConnId) -> bool {
        self.table.get(conn).is_none_or(|c| match &c.phase {
            Phase::Upload(u) => u.unwritten <= UPLOAD_WINDOW,
            // What came after the question waits in the socket.
            phase => !phase.awaits_application(),
        })
    }

    crate::conn_table::table_outputs!(after_transmit: ask);
}
