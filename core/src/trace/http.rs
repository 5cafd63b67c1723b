//! HTTP as the trace shows it: each request and response head as sent,
//! then its body (XML indented, JSON and other text as sent, anything
//! else counted); after a `101` the connection's frames are WebSocket.

use super::ws::WsWire;
use super::{Dir, Side};
use crate::http1::{
    HttpError, Limits, Request, RequestDecoder, ResponseDecoder, MAX_BODY, MAX_HEAD,
};

/// Both directions of an HTTP connection.
#[derive(Debug)]
pub(super) struct HttpWire {
    requests: RequestDecoder,
    responses: ResponseDecoder,
    /// Set once either decoder failed: then only byte counts are shown.
    broken: bool,
    /// A request asked to upgrade: what follows it may be another
    /// protocol's, so it is held (not decoded as requests) until the answer.
    upgrading: bool,
}

impl Default for HttpWire {
    fn default() -> Self {
        Self {
            requests: RequestDecoder::new(Limits {
                max_head: MAX_HEAD,
                max_body: MAX_BODY,
            }),
            responses: ResponseDecoder::default(),
            broken: false,
            upgrading: false,
        }
    }
}

impl HttpWire {
    /// The bytes are not HTTP (any more): said once, counted from now on.
    fn break_off(&mut self, dir: Dir, e: &HttpError, emit: &mut dyn FnMut(Dir, String)) {
        emit(
            dir,
            format!("not HTTP: {e} (the trace shows byte counts now)"),
        );
        self.broken = true;
    }

    /// Decodes `bytes`; returns the WebSocket observer once a `101` went by.
    pub(super) fn observe(
        &mut self,
        side: Side,
        dir: Dir,
        bytes: &[u8],
        emit: &mut dyn FnMut(Dir, String),
    ) -> Option<WsWire> {
        if self.broken {
            emit(dir, format!("{} bytes", bytes.len()));
            return None;
        }
        let requests_go = match side {
            Side::Server => Dir::Received,
            Side::Client => Dir::Sent,
        };
        if dir == requests_go {
            self.requests.feed(bytes);
            self.decode_requests(dir, emit);
            return None;
        }
        self.responses.feed(bytes);
        loop {
            match self.responses.next_response() {
                Ok(Some(resp)) => {
                    let upgraded = resp.status == 101;
                    emit(dir, response_text(&resp));
                    if upgraded {
                        let mut ws = WsWire::new(side);
                        let after_request = self.requests.take_rest();
                        let after_response = self.responses.take_rest();
                        ws.observe(requests_go, &after_request, emit);
                        ws.observe(dir, &after_response, emit);
                        return Some(ws);
                    }
                    if self.upgrading {
                        // The upgrade was refused: requests go on.
                        self.upgrading = false;
                        self.decode_requests(requests_go, emit);
                    }
                }
                Ok(None) => return None,
                Err(e) => {
                    self.break_off(dir, &e, emit);
                    return None;
                }
            }
        }
    }

    /// Shows every whole request received so far, up to one that asks to
    /// upgrade.
    fn decode_requests(&mut self, dir: Dir, emit: &mut dyn FnMut(Dir, String)) {
        while !self.upgrading && !self.broken {
            match self.requests.next_request() {
                Ok(Some(req)) => {
                    self.upgrading = header(&req.headers, "upgrade").is_some();
                    emit(dir, request_text(&req));
                    self.requests.recycle(req);
                }
                Ok(None) => return,
                Err(e) => self.break_off(dir, &e, emit),
            }
        }
    }
}

fn head_text(first: &str, headers: &[(String, String)]) -> String {
    let mut text = String::from(first);
    for (name, value) in headers {
        text.push('\n');
        text.push_str(name);
        text.push_str(": ");
        text.push_str(value);
    }
    text
}

fn request_text(req: &Request) -> String {
    let mut text = head_text(&req.request_line(), &req.headers);
    body_text(header(&req.headers, "content-type"), &req.body, &mut text);
    text
}

fn response_text(resp: &crate::http1::HttpResponse) -> String {
    let reason = crate::http1::Status(resp.status).reason();
    let mut text = head_text(&format!("HTTP/1.1 {} {reason}", resp.status), &resp.headers);
    body_text(header(&resp.headers, "content-type"), &resp.body, &mut text);
    text
}

fn header<'a>(headers: &'a [(String, String)], name: &str) -> Option<&'a str> {
    headers
        .iter()
        .find(|(n, _)| n.eq_ignore_ascii_case(name))
        .map(|(_, v)| v.as_str())
}

/// Appends the body, after a blank line: XML indented, JSON and other text
/// as sent, anything else (and the page's HTML) by its size.
fn body_text(content_type: Option<&str>, body: &[u8], text: &mut String) {
    if body.is_empty() {
        return;
    }
    let ct = content_type.unwrap_or("").to_ascii_lowercase();
    text.push_str("\n\n");
    let shown = match std::str::from_utf8(body) {
        Ok(s) if ct.contains("xml") || s.trim_start().starts_with("<?xml") => {
            indent_xml(s).unwrap_or_else(|| s.to_owned())
        }
        Ok(s) if ct.contains("json") || ct.starts_with("text/plain") => s.to_owned(),
        _ => format!(
            "({} bytes of {})",
            body.len(),
            content_type.unwrap_or("body")
        ),
    };
    text.push_str(shown.trim_end());
}

/// `xml` with one element per line, indented by depth (quick-xml reads
/// it; `None` if it does not parse).
fn indent_xml(xml: &str) -> Option<String> {
    use quick_xml::events::Event;
    let mut reader = quick_xml::Reader::from_str(xml);
    reader.config_mut().trim_text(true);
    let mut writer = quick_xml::Writer::new_with_indent(Vec::new(), b' ', 2);
    loop {
        match reader.read_event().ok()? {
            Event::Eof => break,
            event => writer.write_event(event).ok()?,
        }
    }
    String::from_utf8(writer.into_inner()).ok()
}
