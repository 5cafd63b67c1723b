//! One TLS connection, either side: rustls's buffered API between
//! ciphertext slices and plaintext vectors, with the bounds and the
//! close rules the layer guarantees.

use std::io::{self, Read, Write};
use std::time::Instant;

use rustls::{Connection, ProtocolVersion};

use super::{TlsError, HANDSHAKE_TIMEOUT, TLS_BUFFER_LIMIT};

/// What a finished handshake agreed on (shown by `--trace` and the logs).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TlsInfo {
    /// `TLS 1.3` or `TLS 1.2`.
    pub version: String,
    /// The cipher suite's IANA name, e.g. `TLS13_AES_256_GCM_SHA384`.
    pub suite: String,
    /// The server name the client asked for (SNI), if any.
    pub sni: Option<String>,
}

/// `TLS 1.3, TLS13_AES_256_GCM_SHA384, SNI localhost`.
impl std::fmt::Display for TlsInfo {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}, {}", self.version, self.suite)?;
        match &self.sni {
            Some(name) => write!(f, ", SNI {name}"),
            None => f.write_str(", no SNI"),
        }
    }
}

/// What one [`Link::feed`] did besides producing plaintext.
#[derive(Debug, Default, Clone, Copy)]
pub(super) struct Fed {
    /// The handshake finished in this call (before the plaintext, if any).
    pub established: bool,
    /// The peer sent `close_notify`: no more plaintext will come.
    pub peer_closed: bool,
}

/// A `Write` appending to a vector, at most `left` bytes.
struct Bounded<'a> {
    out: &'a mut Vec<u8>,
    left: usize,
}

impl Write for Bounded<'_> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let n = buf.len().min(self.left);
        self.out.extend_from_slice(&buf[..n]);
        self.left -= n;
        Ok(n)
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

/// One rustls connection and what the layer adds around it.
#[derive(Debug)]
pub(super) struct Link {
    conn: Connection,
    /// Plaintext rustls's bounded writer has not taken yet.
    pending: Vec<u8>,
    /// The first byte received (to tell "not TLS at all").
    first: Option<u8>,
    /// Send `close_notify` once `pending` is written.
    closing: bool,
    /// `close_notify` is queued (after every byte of plaintext).
    close_sent: bool,
    /// A fatal error happened: only the alert is left to send.
    failed: bool,
    /// When the handshake must be done.
    pub deadline: Instant,
}

impl Link {
    pub(super) fn new(mut conn: Connection, now: Instant) -> Self {
        conn.set_buffer_limit(Some(TLS_BUFFER_LIMIT));
        Self {
            conn,
            pending: Vec::new(),
            first: None,
            closing: false,
            close_sent: false,
            failed: false,
            deadline: now + HANDSHAKE_TIMEOUT,
        }
    }

    /// Whether the handshake is done.
    pub(super) fn is_established(&self) -> bool {
        !self.conn.is_handshaking()
    }

    /// Whether a fatal error ended the connection.
    pub(super) fn is_failed(&self) -> bool {
        self.failed
    }

    /// The first byte received, once there is one.
    pub(super) fn first_byte(&self) -> Option<u8> {
        self.first
    }

    /// Takes ciphertext in; authenticated plaintext is appended to `plain`.
    /// On error the connection is failed: an alert may wait in
    /// [`take`](Self::take), and nothing more is read.
    pub(super) fn feed(&mut self, bytes: &[u8], plain: &mut Vec<u8>) -> Result<Fed, TlsError> {
        let mut fed = Fed::default();
        if self.failed {
            return Ok(fed);
        }
        if self.first.is_none() {
            self.first = bytes.first().copied();
        }
        let was_handshaking = self.conn.is_handshaking();
        let mut rest = bytes;
        while !rest.is_empty() {
            match self.conn.read_tls(&mut rest) {
                // close_notify came: whatever follows it is ignored.
                Ok(0) => break,
                Ok(_) => {}
                Err(e) => return Err(self.fail(TlsError::Protocol(e.to_string()))),
            }
            if let Err(e) = self.conn.process_new_packets() {
                let error = match self.first {
                    Some(b) if b != 0x16 => TlsError::NotTls(b),
                    _ => TlsError::from_rustls(&e),
                };
                return Err(self.fail(error));
            }
            match self.conn.reader().read_to_end(plain) {
                Ok(_) => fed.peer_closed = true,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {}
                Err(e) => return Err(self.fail(TlsError::Protocol(e.to_string()))),
            }
        }
        fed.established = was_handshaking && !self.conn.is_handshaking();
        Ok(fed)
    }

    /// The TCP stream ended: `Ok` when `close_notify` came first (any
    /// last plaintext appended to `plain`), else why not.
    pub(super) fn eof(&mut self, plain: &mut Vec<u8>) -> Result<(), TlsError> {
        if self.failed {
            return Ok(());
        }
        let _ = self.conn.read_tls(&mut &[][..]);
        if self.conn.is_handshaking() {
            return Err(self.fail(TlsError::HandshakeCut));
        }
        match self.conn.reader().read_to_end(plain) {
            Ok(_) => Ok(()),
            Err(_) => Err(self.fail(TlsError::Truncated)),
        }
    }

    /// Ends the connection with `error`: nothing more is read or
    /// written but an alert rustls may have queued.
    pub(super) fn fail(&mut self, error: TlsError) -> TlsError {
        self.failed = true;
        self.pending = Vec::new();
        error
    }

    /// Queues plaintext to encrypt (after what is already queued).
    pub(super) fn write(&mut self, plain: &[u8]) {
        if self.failed || self.closing || plain.is_empty() {
            return;
        }
        if self.pending.is_empty() {
            let n = self.conn.writer().write(plain).unwrap_or(0);
            self.pending.extend_from_slice(&plain[n..]);
        } else {
            self.pending.extend_from_slice(plain);
        }
    }

    /// Plaintext bytes queued but not yet taken by rustls.
    pub(super) fn pending(&self) -> usize {
        self.pending.len()
    }

    /// Sends `close_notify` once the queued plaintext is out (at once if
    /// none is queued, so [`wants_write`](Self::wants_write) says so).
    pub(super) fn close(&mut self) {
        self.closing = true;
        self.send_close_if_due();
    }

    /// `close_notify` goes after all plaintext, so only once the
    /// handshake is done (rustls holds earlier plaintext until then).
    fn send_close_if_due(&mut self) {
        if self.closing && !self.close_sent && self.pending.is_empty() && self.is_established() {
            self.close_sent = true;
            // Does nothing after a fatal alert.
            self.conn.send_close_notify();
        }
    }

    /// Whether `close_notify` is queued or sent.
    pub(super) fn is_close_sent(&self) -> bool {
        self.close_sent
    }

    /// Whether [`close`](Self::close) was asked for.
    pub(super) fn is_closing(&self) -> bool {
        self.closing
    }

    /// Whether `close_notify` (or a fatal alert) is all that was left and
    /// it has been handed out: the connection may be closed.
    pub(super) fn is_done(&self) -> bool {
        (self.failed || self.close_sent) && !self.conn.wants_write()
    }

    /// Whether there is ciphertext (or plaintext to encrypt) waiting.
    pub(super) fn wants_write(&self) -> bool {
        self.conn.wants_write() || !self.pending.is_empty()
    }

    /// Appends at most `max` bytes of ciphertext to `out`.
    pub(super) fn take(&mut self, out: &mut Vec<u8>, max: usize) {
        let mut sink = Bounded { out, left: max };
        loop {
            if !self.pending.is_empty() {
                let n = self.conn.writer().write(&self.pending).unwrap_or(0);
                self.pending.drain(..n);
            }
            self.send_close_if_due();
            if !self.conn.wants_write() || sink.left == 0 {
                return;
            }
            match self.conn.write_tls(&mut sink) {
                Ok(0) | Err(_) => return,
                Ok(_) => {}
            }
        }
    }

    /// What the handshake agreed on.
    pub(super) fn info(&self) -> TlsInfo {
        let version = match self.conn.protocol_version() {
            Some(ProtocolVersion::TLSv1_3) => "TLS 1.3".to_owned(),
            Some(ProtocolVersion::TLSv1_2) => "TLS 1.2".to_owned(),
            Some(other) => format!("{other:?}"),
            None => "unknown version".to_owned(),
        };
        let suite = self.conn.negotiated_cipher_suite().map_or_else(
            || "unknown suite".to_owned(),
            |s| {
                let suite = s.suite();
                suite
                    .as_str()
                    .map_or_else(|| format!("{suite:?}"), str::to_owned)
            },
        );
        let sni = match &self.conn {
            Connection::Server(s) => s.server_name().map(str::to_owned),
            Connection::Client(_) => None,
        };
        TlsInfo {
            version,
            suite,
            sni,
        }
    }
}
