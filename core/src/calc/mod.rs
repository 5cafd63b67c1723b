//! Exercise 6: the class's REST "Calc" API (Chalice on AWS Lambda).
//!
//! Routes `GET {base}/soma/{a}/{b}`, `/sub/...`, `/mult/...`, `/div/...`,
//! answered with the deployed API's irregular keys, byte for byte as
//! Chalice writes them (compact JSON, non-ASCII as `\u00e7` escapes):
//! `{"A soma: ":9}`, `{"A subtra\u00e7\u00e3o:":-1}`,
//! `{"A multiplica\u00e7\u00e3o":20}`, `{"A Divis\u00e3o":0.8}`.
//!
//! Numbers parse as Python's `int()` does on the path segment; results that
//! do not fit in 64 bits are errors, never wrong numbers; `div` is true
//! division, as Python's `/`.

mod client;
mod number;
mod server;

pub use client::{parse_answer, request_url, Answer, AnswerError, MAX_ERROR_TEXT};
pub use number::{parse_int, python_float, python_repr, CalcNumber};
pub use server::{answer_body, CalcHandler, CalcServer};

use crate::Fault;

/// One of the four operations.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Op {
    /// `soma`: a + b.
    Soma,
    /// `sub`: a - b.
    Sub,
    /// `mult`: a * b.
    Mult,
    /// `div`: a / b, true division.
    Div,
}

/// Why an operation has no answer.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum CalcError {
    /// A path segment is not an integer as Python's `int()` reads it.
    #[error("invalid literal for int() with base 10: {0:?}")]
    NotAnInteger(String),
    /// An operand or the result does not fit in 64 bits.
    #[error("{0} does not fit in a 64-bit integer")]
    TooLarge(String),
    /// Division by zero.
    #[error("division by zero")]
    DivisionByZero,
    /// Not one of soma, sub, mult, div.
    #[error("unknown operation {0:?}: use soma, sub, mult or div")]
    UnknownOp(String),
}

impl CalcError {
    /// Who is at fault: whoever gave the operation and operands (the
    /// client of the API).
    pub fn fault(&self) -> Fault {
        Fault::PeerData
    }
}

impl Op {
    /// Every operation, in the class client's prompt order.
    pub const ALL: [Self; 4] = [Self::Soma, Self::Sub, Self::Div, Self::Mult];

    /// The route name (`soma`, `sub`, `mult`, `div`).
    pub fn name(self) -> &'static str {
        match self {
            Self::Soma => "soma",
            Self::Sub => "sub",
            Self::Mult => "mult",
            Self::Div => "div",
        }
    }

    /// The deployed API's answer key, exactly (note the irregular spelling).
    pub fn key(self) -> &'static str {
        match self {
            Self::Soma => "A soma: ",
            Self::Sub => "A subtração:",
            Self::Mult => "A multiplicação",
            Self::Div => "A Divisão",
        }
    }

    /// Reads a route name.
    pub fn parse(name: &str) -> Result<Self, CalcError> {
        Self::ALL
            .into_iter()
            .find(|op| op.name() == name)
            .ok_or_else(|| CalcError::UnknownOp(name.to_owned()))
    }

    /// Computes `a op b`: exact for soma, sub and mult (an error past 64
    /// bits), a double for div.
    pub fn apply(self, a: i64, b: i64) -> Result<CalcNumber, CalcError> {
        let exact = |r: Option<i64>, sym: &str| {
            r.map(CalcNumber::Int)
                .ok_or_else(|| CalcError::TooLarge(format!("{a} {sym} {b}")))
        };
        match self {
            Self::Soma => exact(a.checked_add(b), "+"),
            Self::Sub => exact(a.checked_sub(b), "-"),
            Self::Mult => exact(a.checked_mul(b), "*"),
            Self::Div if b == 0 => Err(CalcError::DivisionByZero),
            // Python's int / int for operands within 2^53 (beyond, the
            // operands are rounded to doubles first).
            #[allow(clippy::cast_precision_loss)]
            Self::Div => Ok(CalcNumber::Float(a as f64 / b as f64)),
        }
    }
}

impl std::fmt::Display for Op {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}
