//! The client side: building request URLs and parsing answers.

use serde_json::Value as Json;

use super::{python_repr, CalcNumber, Op};
use crate::Fault;

/// Longest error text kept from a non-JSON error body.
pub const MAX_ERROR_TEXT: usize = 200;

/// A parsed answer.
#[derive(Debug, Clone, PartialEq)]
pub struct Answer {
    /// The member's key, as the server spelled it.
    pub key: String,
    /// The number.
    pub value: CalcNumber,
}

impl Answer {
    /// The answer as the class's Python client prints the received dict:
    /// `{'A multiplicação': 40}`.
    pub fn python_dict(&self) -> String {
        format!("{{{}: {}}}", python_repr(&self.key), self.value)
    }
}

/// Why an answer could not be used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum AnswerError {
    /// The server answered an error status.
    #[error("HTTP {status}: {message}")]
    Status {
        /// The status code.
        status: u16,
        /// The body's `Message` (or its text).
        message: String,
    },
    /// The body is not JSON.
    #[error("the answer is not JSON: {0}")]
    NotJson(String),
    /// The body is JSON but has no single numeric member.
    #[error("the answer has no single number: {0}")]
    NoNumber(String),
    /// The number does not fit in 64 bits.
    #[error("the answer {0} does not fit in a 64-bit integer")]
    TooLarge(String),
}

impl AnswerError {
    /// Who is at fault: the server, whose answer could not be used (an
    /// error status is its refusal of the request: still its word).
    pub fn fault(&self) -> Fault {
        Fault::PeerData
    }
}

fn percent_encode(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for b in text.bytes() {
        if b.is_ascii_alphanumeric() || b"-._~".contains(&b) {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// `{base}/{op}/{a}/{b}` with `a` and `b` percent-encoded.
pub fn request_url(base: &str, op: Op, a: &str, b: &str) -> String {
    format!(
        "{}/{}/{}/{}",
        base.trim_end_matches('/'),
        op.name(),
        percent_encode(a),
        percent_encode(b)
    )
}

fn shorten(text: &str) -> String {
    let t = text.trim();
    let mut s: String = t.chars().take(MAX_ERROR_TEXT).collect();
    if t.chars().count() > MAX_ERROR_TEXT {
        s.push('…');
    }
    s
}

/// Parses an answer: a 200 JSON object whose single numeric member is the
/// result (any key spelling), or an error status with the body's message.
pub fn parse_answer(status: u16, body: &[u8]) -> Result<Answer, AnswerError> {
    let text = String::from_utf8_lossy(body);
    let json: Result<Json, _> = serde_json::from_slice(body);
    if status != 200 {
        let message = match &json {
            Ok(j) => j
                .get("Message")
                .or_else(|| j.get("message"))
                .and_then(Json::as_str)
                .map_or_else(|| shorten(&text), shorten),
            Err(_) => shorten(&text),
        };
        return Err(AnswerError::Status { status, message });
    }
    let json = json.map_err(|_| AnswerError::NotJson(shorten(&text)))?;
    let Json::Object(members) = &json else {
        return Err(AnswerError::NoNumber(shorten(&text)));
    };
    let mut numbers = members.iter().filter(|(_, v)| v.is_number());
    let (Some((key, value)), None) = (numbers.next(), numbers.next()) else {
        return Err(AnswerError::NoNumber(shorten(&text)));
    };
    let Json::Number(n) = value else {
        return Err(AnswerError::NoNumber(shorten(&text)));
    };
    let value = if let Some(i) = n.as_i64() {
        CalcNumber::Int(i)
    } else if n.is_u64() {
        return Err(AnswerError::TooLarge(n.to_string()));
    } else {
        CalcNumber::Float(
            n.as_f64()
                .ok_or_else(|| AnswerError::NoNumber(shorten(&text)))?,
        )
    };
    Ok(Answer {
        key: key.clone(),
        value,
    })
}
