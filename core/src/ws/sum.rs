//! The sum message protocol carried in WebSocket text messages.
//!
//! - JSON `{"op":"sum","a":3,"b":4.5}` (numbers or numeric strings) →
//!   `{"op":"sum","a":3,"b":4.5,"sum":7.5}`. Integers add exactly as 64-bit
//!   integers (overflow is an error, never a wrong sum); decimals as doubles.
//!   An object with `a` and `b` and no `op` (`{"a":3,"b":4}`, what a
//!   student's page most often sends) is a sum too.
//! - JSON `{"op":"hello","name":"Marcos"}` → `{"op":"hello","greeting":"Ola Marcos!"}`.
//! - Plain text `3 4` → `7`, for terminal tools.
//! - Anything else → `{"error":"..."}` naming what was wrong.
//!
//! Server pushes are `{"op":"push","text":"..."}`.

use serde::{Deserialize, Serialize};
use serde_json::{json, Value as Json};

/// Longest name a hello accepts, in characters.
pub const MAX_NAME: usize = 100;

/// A number as the protocol reads it.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Number {
    /// An integer (added exactly).
    Int(i64),
    /// A decimal.
    Float(f64),
}

impl Number {
    fn to_json(self) -> Json {
        match self {
            Self::Int(i) => json!(i),
            Self::Float(f) => json!(f),
        }
    }

    fn plain(self) -> String {
        match self {
            Self::Int(i) => i.to_string(),
            Self::Float(f) => format!("{f:?}"),
        }
    }
}

/// Reads a number from text: an integer, else a finite decimal (a lone
/// comma counts as the decimal point, as Brazilian keyboards type it).
pub fn parse_number(text: &str) -> Result<Number, String> {
    let t = text.trim();
    if t.is_empty() {
        return Err("an empty value is not a number".into());
    }
    if let Ok(i) = t.parse::<i64>() {
        return Ok(Number::Int(i));
    }
    let digits = t.strip_prefix(['-', '+']).unwrap_or(t);
    if !digits.is_empty() && digits.bytes().all(|b| b.is_ascii_digit()) {
        return Err(format!("{t} does not fit in a 64-bit integer"));
    }
    let dotted = if t.contains(',') && !t.contains('.') {
        t.replacen(',', ".", 1)
    } else {
        t.to_owned()
    };
    let looks_numeric = dotted
        .bytes()
        .all(|b| b.is_ascii_digit() || b"+-.eE".contains(&b));
    match dotted.parse::<f64>() {
        Ok(f) if f.is_finite() && looks_numeric => Ok(Number::Float(f)),
        _ => Err(format!("{:?} is not a number", short(t))),
    }
}

/// Adds exactly: ints as checked 64-bit integers, anything else as doubles.
pub fn add(a: Number, b: Number) -> Result<Number, String> {
    match (a, b) {
        (Number::Int(x), Number::Int(y)) => x
            .checked_add(y)
            .map(Number::Int)
            .ok_or_else(|| format!("the sum of {x} and {y} does not fit in a 64-bit integer")),
        _ => {
            let f = |n: Number| match n {
                #[allow(clippy::cast_precision_loss)]
                Number::Int(i) => i as f64,
                Number::Float(f) => f,
            };
            let s = f(a) + f(b);
            if s.is_finite() {
                Ok(Number::Float(s))
            } else {
                Err("the sum is too large for a double".into())
            }
        }
    }
}

fn short(s: &str) -> String {
    let mut out: String = s.chars().take(40).collect();
    if s.chars().count() > 40 {
        out.push('…');
    }
    out
}

/// An error reply: `{"error":"..."}`.
pub fn error_reply(message: impl Into<String>) -> String {
    json!({ "error": message.into() }).to_string()
}

fn error(message: impl Into<String>) -> String {
    error_reply(message)
}

/// A JSON number as the protocol reads it (what [`field`] does with one).
fn json_number(name: &str, n: &serde_json::Number) -> Result<Number, String> {
    if let Some(i) = n.as_i64() {
        Ok(Number::Int(i))
    } else if n.is_u64() {
        Err(format!(
            "field \"{name}\": {n} does not fit in a 64-bit integer"
        ))
    } else {
        n.as_f64()
            .map(Number::Float)
            .ok_or_else(|| format!("field \"{name}\" is not a number"))
    }
}

fn field(obj: &serde_json::Map<String, Json>, name: &str) -> Result<Number, String> {
    match obj.get(name) {
        None => Err(format!("missing field \"{name}\"")),
        Some(Json::Number(n)) => json_number(name, n),
        Some(Json::String(s)) => parse_number(s).map_err(|e| format!("field \"{name}\": {e}")),
        Some(other) => Err(format!(
            "field \"{name}\" must be a number, not {}",
            kind(other)
        )),
    }
}

fn kind(j: &Json) -> &'static str {
    match j {
        Json::Null => "null",
        Json::Bool(_) => "a boolean",
        Json::Number(_) => "a number",
        Json::String(_) => "a string",
        Json::Array(_) => "an array",
        Json::Object(_) => "an object",
    }
}

/// The reply to one text message: always a reply, never a panic.
pub fn answer(text: &str) -> String {
    let trimmed = text.trim();
    if trimmed.starts_with('{') {
        return answer_json(trimmed);
    }
    let words: Vec<&str> = trimmed.split_whitespace().collect();
    if let [a, b] = words[..] {
        return match (parse_number(a), parse_number(b)) {
            (Ok(a), Ok(b)) => add(a, b).map_or_else(error, Number::plain),
            (Err(e), _) | (_, Err(e)) => error(e),
        };
    }
    error("send two numbers, like \"3 4\", or JSON like {\"op\":\"sum\",\"a\":3,\"b\":4}")
}

/// The common message, `{"op":"sum","a":NUMBER,"b":NUMBER}` (or without
/// `op`), read without building a generic JSON value (no map, no key
/// strings).
#[derive(Deserialize)]
struct PlainSum<'a> {
    #[serde(borrow, default)]
    op: Option<&'a str>,
    a: serde_json::Number,
    b: serde_json::Number,
}

/// The reply to a sum, fields in the protocol's order.
#[derive(Serialize)]
struct SumReply {
    op: &'static str,
    a: Json,
    b: Json,
    sum: Json,
}

/// Answers a [`PlainSum`] exactly as the general path would; `None` when
/// the message is not one (the general path then answers it, errors included).
fn answer_plain_sum(text: &str) -> Option<String> {
    let msg: PlainSum<'_> = serde_json::from_str(text).ok()?;
    if msg.op.is_some_and(|op| op != "sum") {
        return None;
    }
    let a = json_number("a", &msg.a).ok()?;
    let b = json_number("b", &msg.b).ok()?;
    let sum = add(a, b).ok()?;
    let reply = SumReply {
        op: "sum",
        a: a.to_json(),
        b: b.to_json(),
        sum: sum.to_json(),
    };
    serde_json::to_string(&reply).ok()
}

fn answer_json(text: &str) -> String {
    if let Some(reply) = answer_plain_sum(text) {
        return reply;
    }
    answer_general_json(text)
}

/// The reply to a sum request held in `obj` (fields `a` and `b`).
fn sum_reply(obj: &serde_json::Map<String, Json>) -> String {
    match (field(obj, "a"), field(obj, "b")) {
        (Ok(a), Ok(b)) => match add(a, b) {
            Ok(sum) => json!({
                "op": "sum",
                "a": a.to_json(),
                "b": b.to_json(),
                "sum": sum.to_json(),
            })
            .to_string(),
            Err(e) => error(e),
        },
        (Err(e), _) | (_, Err(e)) => error(e),
    }
}

/// Any JSON message, through a generic value: every error named.
fn answer_general_json(text: &str) -> String {
    let obj = match serde_json::from_str::<Json>(text) {
        Ok(Json::Object(obj)) => obj,
        Ok(other) => return error(format!("expected a JSON object, got {}", kind(&other))),
        Err(e) => return error(format!("not valid JSON: {e}")),
    };
    match obj.get("op").and_then(Json::as_str) {
        Some("sum") => sum_reply(&obj),
        Some("hello") => match obj.get("name").and_then(Json::as_str).map(str::trim) {
            Some(name) if !name.is_empty() && name.chars().count() <= MAX_NAME => {
                json!({ "op": "hello", "greeting": format!("Ola {name}!") }).to_string()
            }
            Some(_) => error(format!("a name is 1 to {MAX_NAME} characters")),
            None => error("missing field \"name\" (a string)"),
        },
        Some(op) => error(format!(
            "unknown op \"{}\"; use \"sum\" or \"hello\"",
            short(op)
        )),
        None if obj.contains_key("a") && obj.contains_key("b") => sum_reply(&obj),
        None => error("missing field \"op\" (\"sum\" or \"hello\")"),
    }
}

/// A console line as the push message every page receives.
pub fn push_message(text: &str) -> String {
    json!({ "op": "push", "text": text }).to_string()
}

#[cfg(test)]
mod tests {
    use super::{answer_general_json, answer_plain_sum};
    use proptest::prelude::*;

    fn number() -> impl Strategy<Value = String> {
        prop_oneof![
            any::<i64>().prop_map(|i| i.to_string()),
            any::<u64>().prop_map(|u| u.to_string()),
            any::<f64>().prop_map(|f| format!("{f}")),
            any::<f64>().prop_map(|f| format!("{f:e}")),
            "\"[0-9 ,.+-]{0,6}\"",
            Just("1e400".to_owned()),
            Just("-0".to_owned()),
            Just("null".to_owned()),
            Just("[1]".to_owned()),
        ]
    }

    #[test]
    fn plain_sums_take_the_fast_path() {
        assert_eq!(
            answer_plain_sum(r#"{"op":"sum","a":3,"b":4.5}"#).as_deref(),
            Some(r#"{"op":"sum","a":3,"b":4.5,"sum":7.5}"#)
        );
        assert_eq!(answer_plain_sum(r#"{"op":"sum","a":"3","b":4}"#), None);
        assert_eq!(
            answer_plain_sum(r#"{"a":1,"b":2}"#).as_deref(),
            Some(r#"{"op":"sum","a":1,"b":2,"sum":3}"#)
        );
    }

    #[test]
    fn an_object_with_a_and_b_and_no_op_is_a_sum() {
        assert_eq!(
            answer_general_json(r#"{"a":"3","b":4.5}"#),
            r#"{"op":"sum","a":3,"b":4.5,"sum":7.5}"#
        );
        assert_eq!(
            answer_general_json(r#"{"a":"x","b":1}"#),
            r#"{"error":"field \"a\": \"x\" is not a number"}"#
        );
        assert_eq!(
            answer_general_json(r#"{"a":1}"#),
            r#"{"error":"missing field \"op\" (\"sum\" or \"hello\")"}"#
        );
    }

    proptest! {
        /// Whatever the fast path answers, the general path answers the same.
        #[test]
        fn the_fast_sum_path_answers_as_the_general_one(
            op in prop_oneof![Just("sum".to_owned()), Just("hello".to_owned()), Just("su\\u006d".to_owned()), "[a-z]{0,4}"],
            a in number(),
            b in number(),
            extra in prop_oneof![Just(""), Just(",\"c\":1"), Just(",\"a\":7"), Just(",\"op\":\"hello\"")],
            reversed in any::<bool>(),
            without_op in any::<bool>(),
        ) {
            let text = if reversed {
                format!("{{\"b\":{b}{extra},\"a\":{a},\"op\":\"{op}\"}}")
            } else {
                format!("{{\"op\":\"{op}\",\"a\":{a},\"b\":{b}{extra}}}")
            };
            let text = if without_op { text.replacen(&format!("\"op\":\"{op}\""), "\"c\":0", 1) } else { text };
            if let Some(fast) = answer_plain_sum(&text) {
                prop_assert_eq!(fast, answer_general_json(&text), "{}", text);
            }
        }
    }
}
