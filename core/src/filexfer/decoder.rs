//! Splits a file transfer byte stream into [`Frame`]s.
//!
//! `DATA` payloads, the bulk of every transfer, are gathered from the bytes
//! fed straight into the `Vec` that [`Frame::Data`] hands out: each byte of
//! a file is copied once here, not into a receive buffer first and out of
//! it again. Every other frame goes through a [`ReadBuf`]. Payloads the
//! application is done with can come back ([`FrameDecoder::reuse`]) to
//! carry the next ones, so a long transfer allocates nothing per frame.

use std::collections::VecDeque;

use super::frame::{kind, limit, HEADER};
use super::{Frame, FrameError, MAX_CHUNK, SPARE_PAYLOADS};
use crate::read_buf::ReadBuf;

/// A `DATA` payload on its way: `want` bytes in all.
#[derive(Debug)]
struct Gathering {
    payload: Vec<u8>,
    want: usize,
}

/// Splits a byte stream into [`Frame`]s.
///
/// Guarantees: frames come out in the order they arrived; buffers at most
/// one frame (5 + [`MAX_CHUNK`] bytes) beyond the last [`feed`](Self::feed)
/// when drained after every feed; a frame's length is checked against its
/// type's limit before its payload is awaited; errors are final.
#[derive(Debug, Default)]
pub struct FrameDecoder {
    /// `DATA` payloads complete, before everything else held.
    done: VecDeque<Vec<u8>>,
    /// The `DATA` payload being gathered, after `done`; `buf` is empty
    /// while there is one.
    gathering: Option<Gathering>,
    /// Bytes of other frames and of headers cut short, after the rest.
    buf: ReadBuf,
    /// Payload buffers given back, for the next payloads.
    spare: Vec<Vec<u8>>,
    failed: Option<FrameError>,
}

impl FrameDecoder {
    /// An empty decoder.
    pub fn new() -> Self {
        Self::default()
    }

    /// Takes back a `DATA` payload the application is done with, to carry
    /// a later one (kept while fewer than [`SPARE_PAYLOADS`] wait, else
    /// dropped).
    pub fn reuse(&mut self, mut payload: Vec<u8>) {
        if self.spare.len() < SPARE_PAYLOADS && payload.capacity() <= MAX_CHUNK {
            payload.clear();
            self.spare.push(payload);
        }
    }

    /// An empty buffer for a payload of `want` bytes: a spare one if any.
    fn payload(&mut self, want: usize) -> Vec<u8> {
        let mut payload = self.spare.pop().unwrap_or_default();
        payload.reserve_exact(want);
        payload
    }

    /// Takes received bytes: `DATA` payloads go straight to their frames,
    /// everything else to the buffer [`next_frame`](Self::next_frame) reads.
    pub fn feed(&mut self, mut bytes: &[u8]) {
        if self.failed.is_some() {
            return;
        }
        while !bytes.is_empty() {
            if let Some(g) = &mut self.gathering {
                let take = (g.want - g.payload.len()).min(bytes.len());
                g.payload.extend_from_slice(&bytes[..take]);
                bytes = &bytes[take..];
                if g.payload.len() == g.want {
                    if let Some(g) = self.gathering.take() {
                        self.done.push_back(g.payload);
                    }
                }
                continue;
            }
            if self.buf.len() == 0 {
                if let Some(want) = data_header(bytes) {
                    self.gathering = Some(Gathering {
                        payload: self.payload(want),
                        want,
                    });
                    bytes = &bytes[HEADER..];
                    continue;
                }
            }
            self.buf.feed(bytes);
            return;
        }
    }

    /// Bytes received and not yet returned as frames (headers of frames
    /// being gathered not counted).
    pub fn pending(&self) -> usize {
        self.done.iter().map(Vec::len).sum::<usize>()
            + self.gathering.as_ref().map_or(0, |g| g.payload.len())
            + self.buf.len()
    }

    /// The next complete frame, `Ok(None)` when more bytes are needed.
    pub fn next_frame(&mut self) -> Result<Option<Frame>, FrameError> {
        if let Some(e) = &self.failed {
            return Err(e.clone());
        }
        if let Some(payload) = self.done.pop_front() {
            return Ok(Some(Frame::Data(payload)));
        }
        if self.gathering.is_some() {
            return Ok(None);
        }
        let avail = self.buf.avail();
        if avail.len() < HEADER {
            return Ok(None);
        }
        let k = avail[0];
        let len = u32::from_be_bytes([avail[1], avail[2], avail[3], avail[4]]);
        let result = match limit(k) {
            None => Err(FrameError::UnknownType(k)),
            Some(max) if len as usize > max => Err(FrameError::TooLong {
                kind: k,
                len,
                limit: max,
            }),
            Some(_) => {
                let n = len as usize;
                if avail.len() < HEADER + n {
                    if k == kind::DATA {
                        // The buffer ends inside this payload: the rest of
                        // it goes straight to its frame.
                        let held = avail.len();
                        let mut payload = self.payload(n);
                        payload.extend_from_slice(&self.buf.avail()[HEADER..]);
                        self.buf.consume(held);
                        self.gathering = Some(Gathering { payload, want: n });
                    }
                    return Ok(None);
                }
                let frame = Frame::decode(k, &avail[HEADER..HEADER + n]);
                self.buf.consume(HEADER + n);
                frame
            }
        };
        if let Err(e) = &result {
            self.failed = Some(e.clone());
            self.buf.release();
        }
        result.map(Some)
    }
}

/// The payload length of a valid `DATA` header at the front of `bytes`
/// (any other header, or one cut short, is left to the buffer's checks).
fn data_header(bytes: &[u8]) -> Option<usize> {
    let (&k, rest) = bytes.split_first()?;
    let len: [u8; 4] = rest.get(..4)?.try_into().ok()?;
    let len = u32::from_be_bytes(len) as usize;
    (k == kind::DATA && (1..=MAX_CHUNK).contains(&len)).then_some(len)
}
