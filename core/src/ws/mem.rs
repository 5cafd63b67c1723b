//! The in-memory stream tungstenite reads from and writes to inside core.

use std::io;

/// An in-memory stream for tungstenite: reads what the driver fed (and
/// `WouldBlock` when empty), writes into a buffer the server moves to the
/// connection's output queue.
#[derive(Debug, Default)]
pub(super) struct MemStream {
    pub(super) input: Vec<u8>,
    pub(super) pos: usize,
    pub(super) output: Vec<u8>,
}

impl io::Read for MemStream {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if self.pos == self.input.len() {
            self.input.clear();
            self.pos = 0;
            return Err(io::ErrorKind::WouldBlock.into());
        }
        let n = buf.len().min(self.input.len() - self.pos);
        buf[..n].copy_from_slice(&self.input[self.pos..self.pos + n]);
        self.pos += n;
        Ok(n)
    }
}

impl io::Write for MemStream {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.output.extend_from_slice(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}
