//! WebSocket frames as the trace shows them, one entry each: FIN, the
//! opcode's name, masked or not, the payload length, and the text (of text
//! frames; a close frame's code and reason). Headers are parsed by
//! tungstenite's `FrameHeader`.

use std::io::Cursor;

use tungstenite::protocol::frame::coding::{Control, Data, OpCode};
use tungstenite::protocol::frame::FrameHeader;

use super::{Dir, Side, MAX_TRACE_TEXT};

/// Most payload bytes kept to show one frame; the rest is skipped, counted.
const KEEP: usize = MAX_TRACE_TEXT;
/// The longest frame header (RFC 6455: 2 + 8 length + 4 mask).
const MAX_HEADER: usize = 14;

/// One direction: bytes waiting for a whole header, or the frame whose
/// payload is arriving.
#[derive(Debug, Default)]
struct Direction {
    buf: Vec<u8>,
    frame: Option<Partial>,
}

#[derive(Debug)]
struct Partial {
    header: FrameHeader,
    len: u64,
    kept: Vec<u8>,
    left: u64,
}

/// Both directions of a WebSocket connection.
#[derive(Debug, Default)]
pub(super) struct WsWire {
    sent: Direction,
    received: Direction,
    broken: bool,
}

impl WsWire {
    pub(super) fn new(_side: Side) -> Self {
        Self::default()
    }

    pub(super) fn observe(&mut self, dir: Dir, bytes: &[u8], emit: &mut dyn FnMut(Dir, String)) {
        if bytes.is_empty() {
            return;
        }
        if self.broken {
            emit(dir, format!("{} bytes", bytes.len()));
            return;
        }
        let d = match dir {
            Dir::Sent => &mut self.sent,
            // Notes never reach the decoders.
            Dir::Received | Dir::Note => &mut self.received,
        };
        let mut rest = bytes;
        loop {
            if let Some(p) = &mut d.frame {
                let take = usize::try_from(p.left)
                    .unwrap_or(usize::MAX)
                    .min(rest.len());
                let keep = take.min(KEEP.saturating_sub(p.kept.len()));
                p.kept.extend_from_slice(&rest[..keep]);
                p.left -= take as u64;
                rest = &rest[take..];
                if p.left > 0 {
                    return;
                }
                if let Some(p) = d.frame.take() {
                    emit(dir, frame_text(&p));
                }
                continue;
            }
            if rest.is_empty() {
                return;
            }
            // A header is at most 14 bytes: only those wait in `buf`.
            let before = d.buf.len();
            let take = rest.len().min(MAX_HEADER.saturating_sub(before));
            d.buf.extend_from_slice(&rest[..take]);
            let mut cursor = Cursor::new(d.buf.as_slice());
            match FrameHeader::parse(&mut cursor) {
                Ok(Some((header, len))) => {
                    let used = usize::try_from(cursor.position()).unwrap_or(d.buf.len());
                    rest = &rest[used.saturating_sub(before).min(rest.len())..];
                    d.buf.clear();
                    let p = Partial {
                        header,
                        len,
                        kept: Vec::new(),
                        left: len,
                    };
                    if len == 0 {
                        emit(dir, frame_text(&p));
                    } else {
                        d.frame = Some(p);
                    }
                }
                Ok(None) if take == rest.len() => return,
                Ok(None) | Err(_) => {
                    emit(
                        dir,
                        "not a WebSocket frame (the trace shows byte counts now)".into(),
                    );
                    self.broken = true;
                    return;
                }
            }
        }
    }
}

fn opcode_name(op: OpCode) -> String {
    match op {
        OpCode::Data(Data::Continue) => "continuation".into(),
        OpCode::Data(Data::Text) => "text".into(),
        OpCode::Data(Data::Binary) => "binary".into(),
        OpCode::Control(Control::Close) => "close".into(),
        OpCode::Control(Control::Ping) => "ping".into(),
        OpCode::Control(Control::Pong) => "pong".into(),
        OpCode::Data(Data::Reserved(n)) | OpCode::Control(Control::Reserved(n)) => {
            format!("reserved 0x{n:x}")
        }
    }
}

fn frame_text(p: &Partial) -> String {
    let mut payload = p.kept.clone();
    if let Some(mask) = p.header.mask {
        for (i, b) in payload.iter_mut().enumerate() {
            *b ^= mask[i % 4];
        }
    }
    let fin = if p.header.is_final { "FIN " } else { "" };
    let masked = if p.header.mask.is_some() {
        "masked"
    } else {
        "unmasked"
    };
    let mut text = format!(
        "{fin}{} {masked} {} bytes",
        opcode_name(p.header.opcode),
        p.len
    );
    let left_out = p.len.saturating_sub(p.kept.len() as u64);
    let more = if left_out > 0 {
        format!("… ({left_out} more bytes)")
    } else {
        String::new()
    };
    match p.header.opcode {
        OpCode::Data(Data::Text | Data::Continue) if !payload.is_empty() => {
            text.push_str(&format!(": {}{more}", String::from_utf8_lossy(&payload)));
        }
        OpCode::Control(Control::Close) if payload.len() >= 2 => {
            let code = u16::from_be_bytes([payload[0], payload[1]]);
            text.push_str(&format!(
                ": {code} {}",
                String::from_utf8_lossy(&payload[2..])
            ));
        }
        _ => {}
    }
    text
}
