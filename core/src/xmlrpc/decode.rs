//! Decoding XML-RPC documents with quick-xml, with every limit enforced
//! while parsing: no DOCTYPE, no entities beyond the five predefined ones
//! and character references, nesting at most [`MAX_DEPTH`], at most
//! [`MAX_VALUES`] values.

use std::borrow::Cow;
use std::fmt;

use base64::Engine as _;
use quick_xml::events::Event;
use quick_xml::Reader;

use super::{MethodCall, RpcFault, Value, XmlRpcError, MAX_DEPTH, MAX_METHOD_NAME, MAX_VALUES};

type Result<T> = std::result::Result<T, XmlRpcError>;

fn invalid(msg: impl Into<String>) -> XmlRpcError {
    XmlRpcError::Invalid(msg.into())
}

fn bad(kind: &'static str, text: &str) -> XmlRpcError {
    let text: String = text.chars().take(40).collect();
    XmlRpcError::BadValue { kind, text }
}

/// Longest tag name kept whole; every XML-RPC tag is far shorter
/// (`dateTime.iso8601` is 16 bytes), so a longer one never matches.
const NAME_CAP: usize = 32;

/// A tag name held inline (no allocation per tag).
#[derive(Clone, Copy)]
struct Name {
    len: u8,
    cut: bool,
    buf: [u8; NAME_CAP],
}

impl Name {
    fn new(text: &str) -> Self {
        let mut end = text.len().min(NAME_CAP);
        while !text.is_char_boundary(end) {
            end -= 1;
        }
        let mut buf = [0u8; NAME_CAP];
        buf[..end].copy_from_slice(&text.as_bytes()[..end]);
        Self {
            len: end as u8,
            cut: end < text.len(),
            buf,
        }
    }

    fn as_str(&self) -> &str {
        std::str::from_utf8(&self.buf[..usize::from(self.len)]).unwrap_or_default()
    }
}

impl PartialEq<&str> for Name {
    /// Compares bytes: the name was cut at a char boundary of valid text,
    /// so it needs no UTF-8 check (which profiles showed at ~1.6% of an
    /// XML-RPC call's server CPU, most of it here).
    fn eq(&self, other: &&str) -> bool {
        !self.cut && &self.buf[..usize::from(self.len)] == other.as_bytes()
    }
}

impl fmt::Display for Name {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())?;
        if self.cut {
            f.write_str("…")?;
        }
        Ok(())
    }
}

/// One structural step of the document; text borrows from it when it can.
enum Tag<'a> {
    Start(Name),
    Empty(Name),
    End(Name),
    Text(Cow<'a, str>),
}

struct Parser<'a> {
    reader: Reader<&'a [u8]>,
    depth: usize,
    values: usize,
    peeked: Option<Tag<'a>>,
}

impl<'a> Parser<'a> {
    fn new(body: &'a str) -> Self {
        Self {
            reader: Reader::from_str(body),
            depth: 0,
            values: 0,
            peeked: None,
        }
    }

    /// The next start, end or text event; declarations, comments and
    /// processing instructions are skipped; text is unescaped.
    fn raw(&mut self) -> Result<Option<Tag<'a>>> {
        if let Some(tag) = self.peeked.take() {
            return Ok(Some(tag));
        }
        loop {
            let event = self
                .reader
                .read_event()
                .map_err(|e| XmlRpcError::NotWellFormed(e.to_string()))?;
            return Ok(Some(match event {
                Event::Start(e) => Tag::Start(Name::new(e.name().as_ref())),
                Event::Empty(e) => Tag::Empty(Name::new(e.name().as_ref())),
                Event::End(e) => Tag::End(Name::new(e.name().as_ref())),
                Event::Text(e) => Tag::Text(e.xml10_content()),
                Event::CData(e) => Tag::Text(e.xml10_content()),
                Event::GeneralRef(e) => Tag::Text(Cow::Owned(resolve(&e)?)),
                Event::DocType(_) => {
                    return Err(XmlRpcError::Forbidden(
                        "DOCTYPE declarations are not allowed".into(),
                    ))
                }
                Event::Decl(_) | Event::Comment(_) | Event::PI(_) => continue,
                Event::Eof => return Ok(None),
            }));
        }
    }

    /// The next start or end tag, skipping whitespace between elements.
    fn tag(&mut self) -> Result<Tag<'a>> {
        loop {
            match self.raw()? {
                Some(Tag::Text(t)) if t.trim().is_empty() => continue,
                Some(Tag::Text(t)) => {
                    return Err(invalid(format!("unexpected text {:?}", short(&t))))
                }
                Some(tag) => return Ok(tag),
                None => return Err(invalid("unexpected end of document")),
            }
        }
    }

    /// Expects `<name>`; returns false if it was the empty form `<name/>`.
    fn open(&mut self, name: &str) -> Result<bool> {
        match self.tag()? {
            Tag::Start(n) if n == name => Ok(true),
            Tag::Empty(n) if n == name => Ok(false),
            other => Err(invalid(format!(
                "expected <{name}>, found {}",
                describe(&other)
            ))),
        }
    }

    fn close(&mut self, name: &str) -> Result<()> {
        match self.tag()? {
            Tag::End(n) if n == name => Ok(()),
            other => Err(invalid(format!(
                "expected </{name}>, found {}",
                describe(&other)
            ))),
        }
    }

    /// Text up to `</name>` (the start tag already read); borrowed from
    /// the document unless it came in pieces (entities, CDATA).
    fn text(&mut self, name: &str) -> Result<Cow<'a, str>> {
        let mut text = Cow::Borrowed("");
        loop {
            match self.raw()? {
                Some(Tag::Text(t)) if text.is_empty() => text = t,
                Some(Tag::Text(t)) => text.to_mut().push_str(&t),
                Some(Tag::End(n)) if n == name => return Ok(text),
                Some(other) => {
                    return Err(invalid(format!(
                        "expected text in <{name}>, found {}",
                        describe(&other)
                    )))
                }
                None => return Err(invalid("unexpected end of document")),
            }
        }
    }

    fn count(&mut self) -> Result<()> {
        self.values += 1;
        if self.values > MAX_VALUES {
            return Err(XmlRpcError::TooMany(MAX_VALUES));
        }
        Ok(())
    }

    /// `<value>...</value>`.
    fn value(&mut self) -> Result<Value> {
        if !self.open("value")? {
            self.count()?;
            return Ok(Value::String(String::new()));
        }
        self.count()?;
        let mut text = String::new();
        loop {
            match self.raw()? {
                Some(Tag::Text(t)) => text.push_str(&t),
                Some(Tag::End(n)) if n == "value" => return Ok(Value::String(text)),
                Some(Tag::Start(kind)) if kind.cut => {
                    return Err(invalid(format!("unknown value type <{kind}>")))
                }
                Some(Tag::Start(kind)) if text.trim().is_empty() => {
                    let v = self.typed(kind.as_str())?;
                    self.close("value")?;
                    return Ok(v);
                }
                Some(Tag::Empty(kind)) if text.trim().is_empty() => {
                    let v = match local(kind.as_str()) {
                        "nil" => Value::Nil,
                        "string" => Value::String(String::new()),
                        "base64" => Value::Base64(Vec::new()),
                        "array" => Value::Array(Vec::new()),
                        "struct" => Value::Struct(Vec::new()),
                        other => return Err(invalid(format!("<{other}/> has no value"))),
                    };
                    self.close("value")?;
                    return Ok(v);
                }
                Some(other) => {
                    return Err(invalid(format!(
                        "unexpected {} in <value>",
                        describe(&other)
                    )))
                }
                None => return Err(invalid("unexpected end of document")),
            }
        }
    }

    /// The content of `<kind>` after its start tag, up to its end tag.
    fn typed(&mut self, kind: &str) -> Result<Value> {
        let name = local(kind);
        let v = match name {
            "int" | "i4" => {
                let t = self.text(kind)?;
                Value::Int(t.trim().parse().map_err(|_| bad("int", &t))?)
            }
            "i8" => {
                let t = self.text(kind)?;
                Value::I8(t.trim().parse().map_err(|_| bad("i8", &t))?)
            }
            "boolean" => {
                let t = self.text(kind)?;
                match t.trim() {
                    "0" => Value::Bool(false),
                    "1" => Value::Bool(true),
                    _ => return Err(bad("boolean", &t)),
                }
            }
            "string" => Value::String(self.text(kind)?.into_owned()),
            "double" => {
                let t = self.text(kind)?;
                Value::Double(t.trim().parse().map_err(|_| bad("double", &t))?)
            }
            "dateTime.iso8601" => {
                let t = self.text(kind)?;
                let ok = !t.trim().is_empty()
                    && t.len() <= 64
                    && t.trim()
                        .chars()
                        .all(|c| c.is_ascii_digit() || "-:T+Z.".contains(c));
                if !ok {
                    return Err(bad("dateTime.iso8601", &t));
                }
                Value::DateTime(t.trim().to_owned())
            }
            "base64" => {
                let t = self.text(kind)?;
                let compact: String = t.chars().filter(|c| !c.is_whitespace()).collect();
                Value::Base64(
                    base64::engine::general_purpose::STANDARD
                        .decode(compact)
                        .map_err(|_| bad("base64", &t))?,
                )
            }
            "nil" => {
                self.close(kind)?;
                Value::Nil
            }
            "struct" => self.nested(kind, Self::members)?,
            "array" => self.nested(kind, Self::items)?,
            other => return Err(invalid(format!("unknown value type <{other}>"))),
        };
        Ok(v)
    }

    fn nested(&mut self, kind: &str, inner: fn(&mut Self, &str) -> Result<Value>) -> Result<Value> {
        self.depth += 1;
        if self.depth > MAX_DEPTH {
            return Err(XmlRpcError::TooDeep(MAX_DEPTH));
        }
        let v = inner(self, kind)?;
        self.depth -= 1;
        Ok(v)
    }

    fn members(&mut self, kind: &str) -> Result<Value> {
        let mut members = Vec::new();
        loop {
            match self.tag()? {
                Tag::End(n) if n == kind => return Ok(Value::Struct(members)),
                Tag::Start(n) if n == "member" => {
                    let name = if self.open("name")? {
                        self.text("name")?.into_owned()
                    } else {
                        String::new()
                    };
                    let v = self.value()?;
                    self.close("member")?;
                    members.push((name, v));
                }
                other => {
                    return Err(invalid(format!(
                        "expected <member>, found {}",
                        describe(&other)
                    )))
                }
            }
        }
    }

    fn items(&mut self, kind: &str) -> Result<Value> {
        let mut items = Vec::new();
        if self.open("data")? {
            loop {
                match self.tag()? {
                    Tag::End(n) if n == "data" => break,
                    tag @ (Tag::Start(_) | Tag::Empty(_)) => {
                        self.peeked = Some(tag);
                        items.push(self.value()?);
                    }
                    other => {
                        return Err(invalid(format!(
                            "expected <value>, found {}",
                            describe(&other)
                        )))
                    }
                }
            }
        }
        self.close(kind)?;
        Ok(Value::Array(items))
    }

    /// `<params>` with any number of `<param>` (the start already read).
    fn params(&mut self) -> Result<Vec<Value>> {
        let mut params = Vec::new();
        loop {
            match self.tag()? {
                Tag::End(n) if n == "params" => return Ok(params),
                Tag::Start(n) if n == "param" => {
                    params.push(self.value()?);
                    self.close("param")?;
                }
                other => {
                    return Err(invalid(format!(
                        "expected <param>, found {}",
                        describe(&other)
                    )))
                }
            }
        }
    }

    /// Nothing but whitespace, comments or PIs after the root.
    fn end(&mut self) -> Result<()> {
        loop {
            match self.raw()? {
                None => return Ok(()),
                Some(Tag::Text(t)) if t.trim().is_empty() => {}
                Some(other) => {
                    return Err(invalid(format!("{} after the document", describe(&other))))
                }
            }
        }
    }
}

fn resolve(e: &quick_xml::events::BytesRef<'_>) -> Result<String> {
    if let Some(c) = e
        .resolve_char_ref()
        .map_err(|err| XmlRpcError::NotWellFormed(err.to_string()))?
    {
        return Ok(c.to_string());
    }
    let text = match &**e {
        "lt" => "<",
        "gt" => ">",
        "amp" => "&",
        "apos" => "'",
        "quot" => "\"",
        other => {
            return Err(XmlRpcError::Forbidden(format!(
                "entity &{};  is not defined (only the five XML entities are)",
                short(other)
            )))
        }
    };
    Ok(text.to_owned())
}

fn local(name: &str) -> &str {
    name.rsplit(':').next().unwrap_or(name)
}

fn short(s: &str) -> String {
    s.chars().take(40).collect()
}

fn describe(tag: &Tag) -> String {
    match tag {
        Tag::Start(n) => format!("<{n}>"),
        Tag::Empty(n) => format!("<{n}/>"),
        Tag::End(n) => format!("</{n}>"),
        Tag::Text(t) => format!("text {:?}", short(t)),
    }
}

fn utf8(body: &[u8]) -> Result<&str> {
    std::str::from_utf8(body).map_err(|e| XmlRpcError::NotWellFormed(format!("not UTF-8: {e}")))
}

/// Decodes a `methodCall` document.
pub fn decode_call(body: &[u8]) -> Result<MethodCall> {
    let mut p = Parser::new(utf8(body)?);
    if !p.open("methodCall")? {
        return Err(invalid("empty <methodCall/>"));
    }
    if !p.open("methodName")? {
        return Err(invalid("empty <methodName/>"));
    }
    let name = p.text("methodName")?.trim().to_owned();
    if name.is_empty() || name.len() > MAX_METHOD_NAME {
        return Err(invalid(format!(
            "a method name is 1 to {MAX_METHOD_NAME} bytes"
        )));
    }
    let params = match p.tag()? {
        Tag::Start(n) if n == "params" => {
            let params = p.params()?;
            p.close("methodCall")?;
            params
        }
        Tag::Empty(n) if n == "params" => {
            p.close("methodCall")?;
            Vec::new()
        }
        Tag::End(n) if n == "methodCall" => Vec::new(),
        other => {
            return Err(invalid(format!(
                "expected <params>, found {}",
                describe(&other)
            )))
        }
    };
    p.end()?;
    Ok(MethodCall { name, params })
}

/// Decodes a `methodResponse` document: the value, or the fault it carries.
pub fn decode_response(body: &[u8]) -> Result<std::result::Result<Value, RpcFault>> {
    let mut p = Parser::new(utf8(body)?);
    if !p.open("methodResponse")? {
        return Err(invalid("empty <methodResponse/>"));
    }
    let result = match p.tag()? {
        Tag::Start(n) if n == "params" => {
            let mut params = p.params()?;
            if params.len() != 1 {
                return Err(invalid(format!(
                    "a response has 1 param, not {}",
                    params.len()
                )));
            }
            Ok(params.remove(0))
        }
        Tag::Start(n) if n == "fault" => {
            let v = p.value()?;
            p.close("fault")?;
            Err(RpcFault::from_value(&v).ok_or_else(|| {
                invalid("a fault needs an int faultCode and a string faultString")
            })?)
        }
        other => {
            return Err(invalid(format!(
                "expected <params> or <fault>, found {}",
                describe(&other)
            )))
        }
    };
    p.close("methodResponse")?;
    p.end()?;
    Ok(result)
}
