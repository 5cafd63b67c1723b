//! The wire made visible (`--trace`): an observer of the bytes a driver
//! moves, which decodes them with core's own decoders and writes one
//! entry per protocol unit (a line, an HTTP head and body, a WebSocket
//! frame, a file-transfer frame).
//!
//! A driver owns a [`Tracer`] (or none: then tracing costs one branch) and
//! calls [`received`](Tracer::received) and [`sent`](Tracer::sent) with
//! what it read and wrote, [`opened`](Tracer::opened) and
//! [`closed`](Tracer::closed) around each connection. The tracer knows
//! nothing of sockets; the entries go to the application's sink. Nothing
//! secret is ever shown: a LOGIN's password is `***`. Every entry's text is
//! cut at [`MAX_TRACE_TEXT`] bytes, with the number of bytes left out, and
//! every buffer an observer keeps is bounded.

mod http;
mod lines;
mod ws;

use std::time::{Duration, Instant};

use crate::filexfer::{Frame, FrameDecoder};
use crate::{ConnId, ConnMap, QUIET_FLUSH};

/// Longest text one entry shows; the rest is counted, not shown.
pub const MAX_TRACE_TEXT: usize = 2048;
/// Bytes of a DATA frame `--trace-data` shows.
pub const DATA_PREVIEW: usize = 32;

/// Which way bytes went.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Dir {
    /// Written by this program (`>`).
    Sent,
    /// Read by this program (`<`).
    Received,
    /// A note about the connection, not bytes (`=`): a TLS handshake.
    Note,
}

impl Dir {
    /// `>` or `<`.
    pub fn arrow(self) -> char {
        match self {
            Self::Sent => '>',
            Self::Received => '<',
            Self::Note => '=',
        }
    }
}

/// Which end of the connections this program is: it decides which
/// direction carries requests.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Side {
    /// A server (requests are received).
    Server,
    /// A client (requests are sent).
    Client,
}

/// The protocol a tracer decodes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Wire {
    /// Newline-ended text lines (the chat).
    Lines,
    /// HTTP/1.1 (XML-RPC, the calc API, the page), switching to WebSocket
    /// frames after a `101`.
    Http,
    /// The framed file transfer; `data` shows the first bytes of DATA.
    FileTransfer {
        /// Show the first [`DATA_PREVIEW`] bytes of each DATA frame.
        data: bool,
    },
    /// Bytes with no framing (the class's raw file transfer): counts only.
    Raw,
}

/// One protocol unit, as shown.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TraceEntry {
    /// Time since the tracer started.
    pub at: Duration,
    /// The connection, on servers.
    pub conn: Option<ConnId>,
    /// Which way.
    pub dir: Dir,
    /// What went through (may span lines).
    pub text: String,
}

/// `[+0.012s] #3 > text`, continuation lines indented under the text.
impl std::fmt::Display for TraceEntry {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let head = match self.conn {
            Some(c) => format!("[+{:.3}s] {c} {} ", self.at.as_secs_f64(), self.dir.arrow()),
            None => format!("[+{:.3}s] {} ", self.at.as_secs_f64(), self.dir.arrow()),
        };
        let pad = " ".repeat(head.chars().count());
        for (i, line) in self.text.lines().enumerate() {
            if i > 0 {
                f.write_str("\n")?;
                if !line.is_empty() {
                    f.write_str(&pad)?;
                }
            } else {
                f.write_str(&head)?;
            }
            f.write_str(line)?;
        }
        Ok(())
    }
}

/// `text` cut at [`MAX_TRACE_TEXT`] bytes (on a character boundary), with
/// the count of what was left out.
pub fn cut(text: &str) -> String {
    cut_at(text, MAX_TRACE_TEXT)
}

fn cut_at(text: &str, max: usize) -> String {
    if text.len() <= max {
        return text.to_owned();
    }
    let mut end = max;
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}… ({} more bytes)", &text[..end], text.len() - end)
}

/// Where a tracer's entries go.
pub type TraceSink = Box<dyn FnMut(&TraceEntry) + Send>;

/// The decoding state of one connection (both directions).
#[derive(Debug)]
enum ConnWire {
    Lines(lines::LineWire),
    Http(Box<http::HttpWire>),
    Ws(ws::WsWire),
    Ft {
        sent: FtDirection,
        received: FtDirection,
        data: bool,
    },
    Raw,
}

impl ConnWire {
    fn new(wire: Wire) -> Self {
        match wire {
            Wire::Lines => Self::Lines(lines::LineWire::default()),
            Wire::Http => Self::Http(Box::default()),
            Wire::FileTransfer { data } => Self::Ft {
                sent: FtDirection::default(),
                received: FtDirection::default(),
                data,
            },
            Wire::Raw => Self::Raw,
        }
    }

    /// Decodes `bytes` that went `dir`, each unit to `emit`.
    fn observe(&mut self, side: Side, dir: Dir, bytes: &[u8], emit: &mut dyn FnMut(Dir, String)) {
        match self {
            Self::Lines(l) => l.observe(dir, bytes, emit),
            Self::Http(h) => {
                if let Some(ws) = h.observe(side, dir, bytes, emit) {
                    *self = Self::Ws(ws);
                }
            }
            Self::Ws(w) => w.observe(dir, bytes, emit),
            Self::Ft {
                sent,
                received,
                data,
            } => {
                let d = match dir {
                    Dir::Sent => sent,
                    // Notes never reach the decoders.
                    Dir::Received | Dir::Note => received,
                };
                d.decoder.feed(bytes);
                loop {
                    match d.decoder.next_frame() {
                        Ok(Some(Frame::Data(chunk))) if d.run.0 > 0 => {
                            d.run.0 += 1;
                            d.run.1 += chunk.len() as u64;
                        }
                        Ok(Some(frame)) => {
                            d.end_run(dir, emit);
                            if let Frame::Data(chunk) = &frame {
                                d.run = (1, chunk.len() as u64);
                            }
                            emit(dir, ft_text(&frame, *data));
                        }
                        Ok(None) => break,
                        Err(e) => {
                            d.end_run(dir, emit);
                            emit(dir, format!("not a frame: {e} (the trace stops here)"));
                            *self = Self::Raw;
                            break;
                        }
                    }
                }
            }
            Self::Raw => emit(dir, format!("{} bytes", bytes.len())),
        }
    }

    /// Whether bytes read wait for their newline.
    fn holds_partial_line(&self) -> bool {
        matches!(self, Self::Lines(l) if l.holds_partial())
    }

    /// The connection ended: what a direction still holds is shown.
    fn close(&mut self, emit: &mut dyn FnMut(Dir, String)) {
        match self {
            Self::Lines(l) => {
                l.flush(Dir::Sent, emit);
                l.flush(Dir::Received, emit);
            }
            Self::Ft { sent, received, .. } => {
                sent.end_run(Dir::Sent, emit);
                received.end_run(Dir::Received, emit);
            }
            _ => {}
        }
    }
}

/// One direction of a file transfer: its frames, and the run of DATA
/// frames going on (the first is shown, the rest summed up when the run
/// ends, so a 10 MiB transfer is a few lines).
#[derive(Debug, Default)]
struct FtDirection {
    decoder: FrameDecoder,
    /// DATA frames and bytes in the current run.
    run: (u64, u64),
}

impl FtDirection {
    fn end_run(&mut self, dir: Dir, emit: &mut dyn FnMut(Dir, String)) {
        let (frames, bytes) = std::mem::take(&mut self.run);
        if frames > 1 {
            emit(
                dir,
                format!("DATA ×{frames} in all, {bytes} bytes (the first shown above)"),
            );
        }
    }
}

/// A file-transfer frame as shown: its [`Display`](std::fmt::Display)
/// (the password already `***`), DATA with its first bytes when asked.
fn ft_text(frame: &Frame, data: bool) -> String {
    match frame {
        Frame::Data(bytes) if data => {
            let preview: String = bytes
                .iter()
                .take(DATA_PREVIEW)
                .map(|b| format!("{b:02x}"))
                .collect::<Vec<_>>()
                .join(" ");
            let more = if bytes.len() > DATA_PREVIEW {
                " …"
            } else {
                ""
            };
            format!("{frame}: {preview}{more}")
        }
        other => other.to_string(),
    }
}

/// Decodes every connection of a program for `--trace`.
pub struct Tracer {
    wire: Wire,
    side: Side,
    start: Instant,
    conns: ConnMap<ConnWire>,
    sink: TraceSink,
    /// Connections holding a line read without its newline, since when.
    quiet: Vec<(ConnId, Instant)>,
}

impl std::fmt::Debug for Tracer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Tracer")
            .field("wire", &self.wire)
            .field("side", &self.side)
            .field("connections", &self.conns.len())
            .finish_non_exhaustive()
    }
}

/// The connection of a client (which has one).
const CLIENT: ConnId = ConnId(0);

impl Tracer {
    /// A tracer of `wire` on `side`, its clock starting at `start`; every
    /// entry goes to `sink`.
    pub fn new(wire: Wire, side: Side, start: Instant, sink: TraceSink) -> Self {
        Self {
            wire,
            side,
            start,
            conns: ConnMap::default(),
            sink,
            quiet: Vec::new(),
        }
    }

    /// A connection opened (a client's: `None`).
    pub fn opened(&mut self, conn: Option<ConnId>) {
        self.conns
            .insert(conn.unwrap_or(CLIENT), ConnWire::new(self.wire));
    }

    /// `bytes` were read on `conn` at `now`.
    pub fn received(&mut self, now: Instant, conn: Option<ConnId>, bytes: &[u8]) {
        self.observe(now, conn, Dir::Received, bytes);
    }

    /// `bytes` were written on `conn` at `now`.
    pub fn sent(&mut self, now: Instant, conn: Option<ConnId>, bytes: &[u8]) {
        self.observe(now, conn, Dir::Sent, bytes);
    }

    /// A note about `conn` at `now` (not bytes: a TLS handshake done, a
    /// refusal), shown with `=`.
    pub fn note(&mut self, now: Instant, conn: Option<ConnId>, text: &str) {
        let at = now.saturating_duration_since(self.start);
        (self.sink)(&TraceEntry {
            at,
            conn,
            dir: Dir::Note,
            text: cut(text),
        });
    }

    /// `conn` ended at `now`: what it still held is shown, its state dropped.
    pub fn closed(&mut self, now: Instant, conn: Option<ConnId>) {
        let at = now.saturating_duration_since(self.start);
        let Some(mut wire) = self.conns.remove(&conn.unwrap_or(CLIENT)) else {
            return;
        };
        let sink = &mut self.sink;
        wire.close(&mut |dir, text| {
            sink(&TraceEntry {
                at,
                conn,
                dir,
                text,
            })
        });
    }

    fn observe(&mut self, now: Instant, conn: Option<ConnId>, dir: Dir, bytes: &[u8]) {
        if bytes.is_empty() {
            return;
        }
        self.flush_quiet(now);
        let at = now.saturating_duration_since(self.start);
        let wire = self.wire;
        let wire = self
            .conns
            .entry(conn.unwrap_or(CLIENT))
            .or_insert_with(|| ConnWire::new(wire));
        let sink = &mut self.sink;
        wire.observe(self.side, dir, bytes, &mut |dir, text| {
            sink(&TraceEntry {
                at,
                conn,
                dir,
                text: cut(&text),
            })
        });
        if dir == Dir::Received && wire.holds_partial_line() {
            let id = conn.unwrap_or(CLIENT);
            if !self.quiet.iter().any(|(c, _)| *c == id) {
                self.quiet.push((id, now));
            }
        }
    }

    /// Lines read without a newline and left quiet for [`QUIET_FLUSH`]
    /// are taken as lines by the chat's peers (the class's client sends
    /// no newline): shown as such, before what happens next.
    fn flush_quiet(&mut self, now: Instant) {
        if self.quiet.is_empty() {
            return;
        }
        let at = now.saturating_duration_since(self.start);
        let (due, waiting): (Vec<_>, Vec<_>) = self
            .quiet
            .drain(..)
            .partition(|(_, since)| now.saturating_duration_since(*since) >= QUIET_FLUSH);
        self.quiet = waiting;
        for (id, _) in due {
            let conn = (self.side == Side::Server).then_some(id);
            if let Some(ConnWire::Lines(l)) = self.conns.get_mut(&id) {
                let sink = &mut self.sink;
                l.flush(Dir::Received, &mut |dir, text| {
                    sink(&TraceEntry {
                        at,
                        conn,
                        dir,
                        text: cut(&text),
                    })
                });
            }
        }
    }
}
