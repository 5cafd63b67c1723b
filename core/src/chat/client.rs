//! The chat client's session: lines out, lines in, a clean close.

use std::collections::VecDeque;
use std::time::{Duration, Instant};

use crate::{encode_line, LineError, LineReader, OutputQueue, Session, MAX_BACKLOG};

/// What a [`ChatClient`] reports.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum ClientEvent {
    /// The server sent a line.
    Line(String),
    /// The server sent a line that is not UTF-8 (skipped).
    BadLine(LineError),
    /// The session is over: the server closed, or sent a line over the limit.
    Closed(Option<LineError>),
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

/// The client side of the chat: encodes typed lines, decodes the server's.
///
/// Talks to commlab's server and to the class's Python server (which answers
/// without a newline: the quiet-flush rule turns such a reply into a line).
#[derive(Debug)]
pub struct ChatClient {
    reader: LineReader,
    max_line: usize,
    out: OutputQueue,
    events: VecDeque<ClientEvent>,
    finishing: bool,
    closed: bool,
}

impl ChatClient {
    /// A client with the given line limit and quiet period.
    pub fn new(max_line: usize, quiet: Option<Duration>) -> Self {
        Self {
            reader: LineReader::new(max_line, quiet),
            max_line,
            out: OutputQueue::default(),
            events: VecDeque::new(),
            finishing: false,
            closed: false,
        }
    }

    /// Queues one line.
    pub fn send_line(&mut self, text: &str) -> Result<(), SendError> {
        if self.closed || self.finishing {
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

    fn drain(&mut self) {
        loop {
            match self.reader.next_line() {
                Ok(Some(line)) => self.events.push_back(ClientEvent::Line(line)),
                Ok(None) => return,
                Err(e) if e.is_fatal() => {
                    self.close(Some(e));
                    return;
                }
                Err(e) => self.events.push_back(ClientEvent::BadLine(e)),
            }
        }
    }

    fn close(&mut self, error: Option<LineError>) {
        if !self.closed {
            self.closed = true;
            self.out.clear();
            self.events.push_back(ClientEvent::Closed(error));
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
        if !self.closed {
            self.reader.handle_input(now, bytes);
            self.drain();
        }
    }

    fn handle_eof(&mut self, _now: Instant) {
        if !self.closed {
            self.reader.handle_eof();
            self.drain();
            self.close(None);
        }
    }

    fn handle_timeout(&mut self, now: Instant) {
        if !self.closed {
            self.reader.handle_timeout(now);
            self.drain();
        }
    }

    fn poll_event(&mut self) -> Option<ClientEvent> {
        self.events.pop_front()
    }

    fn poll_transmit(&mut self, out: &mut Vec<u8>) {
        self.out.take_into(out, usize::MAX);
    }

    fn poll_timeout(&self) -> Option<Instant> {
        self.reader.poll_timeout()
    }

    fn is_closed(&self) -> bool {
        self.closed && self.events.is_empty()
    }

    fn wants_write_shutdown(&self) -> bool {
        self.finishing && self.out.is_empty()
    }
}
