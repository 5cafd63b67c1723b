//! Lines as the trace shows them: the text, then its terminator escaped
//! (`\n`, `\r\n`), or `(no newline)` for bytes sent without one (the
//! class's client does): written ones at once, read ones once the other
//! side answers or the connection ends.

use super::Dir;
use crate::LineDecoder;

/// Longest line the trace follows (far over the chat's own limit, so an
/// over-long line is still shown, cut); past it the decoder starts over.
const TRACE_MAX_LINE: usize = 1024 * 1024;

/// Both directions of a line connection.
#[derive(Debug)]
pub(super) struct LineWire {
    sent: LineDecoder,
    received: LineDecoder,
}

impl Default for LineWire {
    fn default() -> Self {
        Self {
            sent: LineDecoder::new(TRACE_MAX_LINE),
            received: LineDecoder::new(TRACE_MAX_LINE),
        }
    }
}

impl LineWire {
    fn decoder(&mut self, dir: Dir) -> &mut LineDecoder {
        match dir {
            Dir::Sent => &mut self.sent,
            // Notes never reach the decoders.
            Dir::Received | Dir::Note => &mut self.received,
        }
    }

    pub(super) fn observe(&mut self, dir: Dir, bytes: &[u8], emit: &mut dyn FnMut(Dir, String)) {
        // Bytes waiting for a newline the other way were taken as a line
        // before this answer.
        let other = match dir {
            Dir::Sent => Dir::Received,
            Dir::Received | Dir::Note => Dir::Sent,
        };
        self.flush(other, emit);
        let decoder = self.decoder(dir);
        decoder.feed(bytes);
        loop {
            match decoder.next_raw_line() {
                Ok(Some((line, end))) => {
                    emit(
                        dir,
                        format!("{}{}", String::from_utf8_lossy(line), end.escaped()),
                    );
                }
                Ok(None) => break,
                Err(_) => {
                    emit(
                        dir,
                        format!("a line over {TRACE_MAX_LINE} bytes (not shown)"),
                    );
                    *decoder = LineDecoder::new(TRACE_MAX_LINE);
                    return;
                }
            }
        }
        // What this program writes without a newline is a message of its
        // own (an answer to a client that speaks without newlines): shown
        // at once. What it reads may be cut anywhere by TCP: it waits.
        if dir == Dir::Sent {
            self.flush(Dir::Sent, emit);
        }
    }

    /// Whether bytes read wait for their newline.
    pub(super) fn holds_partial(&self) -> bool {
        self.received.pending() > 0
    }

    /// Shows what `dir` holds without a newline.
    pub(super) fn flush(&mut self, dir: Dir, emit: &mut dyn FnMut(Dir, String)) {
        if let Ok(rest) = self.decoder(dir).take_partial_raw() {
            if !rest.is_empty() {
                emit(
                    dir,
                    format!("{} (no newline)", String::from_utf8_lossy(rest)),
                );
            }
        }
    }
}
