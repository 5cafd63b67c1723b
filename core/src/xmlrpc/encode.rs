//! Encoding calls and responses as XML-RPC documents.

use std::fmt::Write as _;

use base64::Engine as _;

use super::{RpcFault, Value, XmlRpcError};

/// Appends `text` escaped for XML character data. `\r` and control
/// characters become character references so they survive parsing.
fn escape(text: &str, out: &mut String) -> Result<(), XmlRpcError> {
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '\0' => return Err(XmlRpcError::Unrepresentable),
            '\t' | '\n' => out.push(c),
            c if c.is_control() => {
                let _ = write!(out, "&#{};", u32::from(c));
            }
            c => out.push(c),
        }
    }
    Ok(())
}

fn value(v: &Value, out: &mut String) -> Result<(), XmlRpcError> {
    out.push_str("<value>");
    match v {
        Value::Int(i) => {
            let _ = write!(out, "<int>{i}</int>");
        }
        Value::I8(i) => {
            let _ = write!(out, "<i8>{i}</i8>");
        }
        Value::Bool(b) => {
            let _ = write!(out, "<boolean>{}</boolean>", u8::from(*b));
        }
        Value::String(s) => {
            out.push_str("<string>");
            escape(s, out)?;
            out.push_str("</string>");
        }
        Value::Double(d) => {
            // Rust prints the shortest text that parses back to the same
            // double, without an exponent, as the spec asks.
            let _ = write!(out, "<double>{d:?}</double>");
        }
        Value::DateTime(d) => {
            out.push_str("<dateTime.iso8601>");
            escape(d, out)?;
            out.push_str("</dateTime.iso8601>");
        }
        Value::Base64(b) => {
            out.push_str("<base64>");
            out.push_str(&base64::engine::general_purpose::STANDARD.encode(b));
            out.push_str("</base64>");
        }
        Value::Struct(members) => {
            out.push_str("<struct>");
            for (name, v) in members {
                out.push_str("<member><name>");
                escape(name, out)?;
                out.push_str("</name>");
                value(v, out)?;
                out.push_str("</member>");
            }
            out.push_str("</struct>");
        }
        Value::Array(items) => {
            out.push_str("<array><data>");
            for v in items {
                value(v, out)?;
            }
            out.push_str("</data></array>");
        }
        Value::Nil => out.push_str("<nil/>"),
    }
    out.push_str("</value>");
    Ok(())
}

/// Encodes a `methodCall`. Fails only for text XML cannot carry (NUL).
pub fn encode_call(name: &str, params: &[Value]) -> Result<String, XmlRpcError> {
    let mut out = String::from("<?xml version=\"1.0\"?>\n<methodCall>\n<methodName>");
    escape(name, &mut out)?;
    out.push_str("</methodName>\n<params>\n");
    for p in params {
        out.push_str("<param>");
        value(p, &mut out)?;
        out.push_str("</param>\n");
    }
    out.push_str("</params>\n</methodCall>\n");
    Ok(out)
}

/// Encodes a `methodResponse` carrying a value or a fault. Fails only for
/// text XML cannot carry (NUL).
pub fn encode_response(result: &Result<Value, RpcFault>) -> Result<String, XmlRpcError> {
    let mut out = String::from("<?xml version=\"1.0\"?>\n<methodResponse>\n");
    match result {
        Ok(v) => {
            out.push_str("<params>\n<param>");
            value(v, &mut out)?;
            out.push_str("</param>\n</params>\n");
        }
        Err(fault) => {
            out.push_str("<fault>\n");
            value(&fault.to_value(), &mut out)?;
            out.push_str("\n</fault>\n");
        }
    }
    out.push_str("</methodResponse>\n");
    Ok(out)
}
