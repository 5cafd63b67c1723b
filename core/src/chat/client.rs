//! The chat client's session: lines out, lines in, a clean close.

use std::time::{Duration, Instant};

use crate::{encode_line, Fault, LineError, LineReader, OutputQueue, Session, MAX_BACKLOG};

/// What a [`ChatClient`] reports: `L` is `String` from
/// [`poll_event`](Session::poll_event), `&str` (borrowed from the session's
/// buffer) from [`ChatClient::poll_event_ref`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ClientEvent<L = String> {
    /// The server sent a line.
    Line(L),
    /// The server sent a line that is not UTF-8 (skipped).
    BadLine(LineError),
    /// The session is over: the server closed, or sent a line over the limit.
    Closed(Option<LineError>),
}

impl ClientEvent<&str> {
    /// The same event owning its line.
    pub fn into_owned(self) -> ClientEvent {
        match self {
            ClientEvent::Line(line) => ClientEvent::Line(line.to_owned()),
            ClientEvent::BadLine(e) => ClientEvent::BadLine(e),
            ClientEvent::Closed(e) => ClientEvent::Closed(e),
        }
    }
}

/// Why a line could not be queued for sending.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum SendError {
    /// The text is not one line.
    #[error(transparent)]
    Line(#[from] LineError),
    /// The session is closed or finishing.
    #[error("the connection is closed")]
    Closed,
    /// Too much output is waiting (the server is not reading).
    #[error("too much unsent output ({0} bytes); the server is not reading")]
    Backlog(usize),
}

impl SendError {
    /// Who is at fault: the caller for text that is no line or a closed
    /// session, the server for not reading.
    pub fn fault(&self) -> Fault {
        match self {
            Self::Line(e) => e.fault(),
            Self::Closed => Fault::Local,
            Self::Backlog(_) => Fault::Limit,
        }
    }
}

/// Where a [`ChatClient`] is in its life.
#[derive(Debug, Clone, PartialEq, Eq)]
enum State {
    /// Lines flow both ways.
    Open,
    /// The server finished sending: its last lines are still to be read,
    /// then the session closes.
    Ending,
    /// Closed, and reported.
    Closed,
}

/// The client side of the chat: encodes typed lines, decodes the server's.
///
/// Lines are decoded when polled, not when bytes arrive, so
/// [`poll_event_ref`](Self::poll_event_ref) can hand them out without a copy;
/// a session that is not polled keeps what it was given.
///
/// Talks to commlab's server and to the class's Python server (which answers
/// without a newline: the quiet-flush rule turns such a reply into a line).
#[derive(Debug)]
pub struct ChatClient {
    reader: LineReader,
    max_line: usize,
    out: OutputQueue,
    state: State,
    finishing: bool,
}

impl ChatClient {
    /// A client with the given line limit and quiet period.
    pub fn new(max_line: usize, quiet: Option<Duration>) -> Self {
        Self {
            reader: LineReader::new(max_line, quiet),
            max_line,
            out: OutputQueue::default(),
            state: State::Open,
            finishing: false,
        }
    }

    /// Queues one line.
    pub fn send_line(&mut self, text: &str) -> Result<(), SendError> {
        if self.state != State::Open || self.finishing {
            return Err(SendError::Closed);
        }
        if self.out.len() + text.len() > MAX_BACKLOG {
            return Err(SendError::Backlog(self.out.len()));
        }
        let mut line = Vec::with_capacity(text.len() + 1);
        encode_line(text, self.max_line, &mut line)?;
        self.out.push(&line);
        Ok(())
    }

    /// The user is done typing: half-close once the output is sent, and keep
    /// reading until the server closes.
    pub fn finish(&mut self) {
        self.finishing = true;
    }

    /// The next event with its line borrowed from the session (valid until
    /// the next call): what [`poll_event`](Session::poll_event) gives,
    /// without allocating a `String` per line. The last event is `Closed`.
    #[must_use]
    pub fn poll_event_ref(&mut self) -> Option<ClientEvent<&str>> {
        if self.state == State::Closed {
            return None;
        }
        match self.reader.next_line_ref() {
            Ok(Some(line)) => Some(ClientEvent::Line(line)),
            Ok(None) if self.state == State::Ending => {
                self.state = State::Closed;
                self.out.clear();
                Some(ClientEvent::Closed(None))
            }
            Ok(None) => None,
            Err(e) if e.is_fatal() => {
                self.state = State::Closed;
                self.out.clear();
                Some(ClientEvent::Closed(Some(e)))
            }
            Err(e) => Some(ClientEvent::BadLine(e)),
        }
    }
}

impl Default for ChatClient {
    fn default() -> Self {
        Self::new(crate::MAX_LINE + super::OUT_SLACK, Some(crate::QUIET_FLUSH))
    }
}

impl Session for ChatClient {
    type Event = ClientEvent;

    fn handle_input(&mut self, now: Instant, bytes: &[u8]) {
        if self.state == State::Open {
            self.reader.handle_input(now, bytes);
        }
    }

    fn handle_eof(&mut self, _now: Instant) {
        if self.state == State::Open {
            self.reader.handle_eof();
            self.state = State::Ending;
        }
    }

    fn handle_timeout(&mut self, now: Instant) {
        if self.state == State::Open {
            self.reader.handle_timeout(now);
        }
    }

    fn poll_event(&mut self) -> Option<ClientEvent> {
        self.poll_event_ref().map(ClientEvent::into_owned)
    }

    fn poll_transmit(&mut self, out: &mut Vec<u8>) {
        self.out.take_into(out, usize::MAX);
    }

    fn poll_timeout(&self) -> Option<Instant> {
        match self.state {
            State::Open => self.reader.poll_timeout(),
            State::Ending | State::Closed => None,
        }
    }

    fn is_closed(&self) -> bool {
        self.state == State::Closed
    }

    fn wants_write_shutdown(&self) -> bool {
        self.finishing && self.out.is_empty()
    }
}
