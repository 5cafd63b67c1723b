//! The receive buffer core's decoders share: bytes appended at the back,
//! consumed from the front, compacted once half of it is consumed (so a
//! long stream costs amortised O(1) copying per byte).

/// Received bytes not yet decoded.
#[derive(Debug, Default)]
pub(crate) struct ReadBuf {
    buf: Vec<u8>,
    start: usize,
}

impl ReadBuf {
    /// Appends `bytes`.
    pub(crate) fn feed(&mut self, bytes: &[u8]) {
        if self.start > 0 && self.start >= self.buf.len() / 2 {
            self.buf.drain(..self.start);
            self.start = 0;
        }
        self.buf.extend_from_slice(bytes);
    }

    /// The bytes not consumed yet.
    pub(crate) fn avail(&self) -> &[u8] {
        &self.buf[self.start..]
    }

    /// Marks the first `n` available bytes as decoded.
    pub(crate) fn consume(&mut self, n: usize) {
        self.start = (self.start + n).min(self.buf.len());
    }

    /// Number of bytes not consumed yet.
    pub(crate) fn len(&self) -> usize {
        self.buf.len() - self.start
    }

    /// Drops everything and its memory (a decoder that failed).
    pub(crate) fn release(&mut self) {
        *self = Self::default();
    }
}
