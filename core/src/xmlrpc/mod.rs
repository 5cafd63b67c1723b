//! XML-RPC: values, calls, responses and faults (encoded and decoded with
//! quick-xml), a dispatcher with introspection and multicall, the class's
//! calculator, and the HTTP handler that serves them.

mod calc;
mod decode;
mod dispatch;
mod encode;
mod handler;
mod multicall;

pub use calc::{calculator, DIVISION_BY_ZERO, DOMAIN_ERROR, OVERFLOW};
pub use decode::{decode_call, decode_response};
pub use dispatch::{Dispatcher, MethodFn};
pub use encode::{encode_call, encode_response};
pub use handler::{RpcHandler, RpcServer, RPC_PATHS};
pub use multicall::{decode_multicall, encode_multicall};

use crate::Fault;

/// Deepest nesting of arrays and structs accepted in a document.
pub const MAX_DEPTH: usize = 100;
/// Most values accepted in one document.
pub const MAX_VALUES: usize = 250_000;
/// Longest method name.
pub const MAX_METHOD_NAME: usize = 256;

/// Fault code: the document is not well-formed XML (or uses a DOCTYPE or entities).
pub const PARSE_ERROR: i32 = -32700;
/// Fault code: well-formed, but not a valid XML-RPC request (or over a limit).
pub const INVALID_REQUEST: i32 = -32600;
/// Fault code: no such method.
pub const METHOD_NOT_FOUND: i32 = -32601;
/// Fault code: wrong number or types of arguments.
pub const INVALID_PARAMS: i32 = -32602;
/// Fault code: the server failed.
pub const INTERNAL_ERROR: i32 = -32603;

/// An XML-RPC value: every type of the spec plus the `nil` and `i8`
/// extensions Python reads.
#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    /// `<int>` / `<i4>`: 32-bit signed.
    Int(i32),
    /// `<i8>`: 64-bit signed.
    I8(i64),
    /// `<boolean>`: 0 or 1.
    Bool(bool),
    /// `<string>` or untyped `<value>` text.
    String(String),
    /// `<double>`.
    Double(f64),
    /// `<dateTime.iso8601>`, kept as sent (e.g. `20261201T10:00:00`).
    DateTime(String),
    /// `<base64>`: raw bytes.
    Base64(Vec<u8>),
    /// `<struct>`: members in order.
    Struct(Vec<(String, Self)>),
    /// `<array>`.
    Array(Vec<Self>),
    /// `<nil/>`.
    Nil,
}

impl Value {
    /// The XML-RPC type name, as error messages say it.
    pub fn type_name(&self) -> &'static str {
        match self {
            Self::Int(_) => "int",
            Self::I8(_) => "i8",
            Self::Bool(_) => "boolean",
            Self::String(_) => "string",
            Self::Double(_) => "double",
            Self::DateTime(_) => "dateTime.iso8601",
            Self::Base64(_) => "base64",
            Self::Struct(_) => "struct",
            Self::Array(_) => "array",
            Self::Nil => "nil",
        }
    }

    /// A struct member by name.
    pub fn member(&self, name: &str) -> Option<&Self> {
        match self {
            Self::Struct(members) => members.iter().find(|(n, _)| n == name).map(|(_, v)| v),
            _ => None,
        }
    }
}

impl std::fmt::Display for Value {
    /// Python-like rendering, for terminals.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Int(i) => write!(f, "{i}"),
            Self::I8(i) => write!(f, "{i}"),
            Self::Bool(b) => f.write_str(if *b { "True" } else { "False" }),
            Self::String(s) => write!(f, "{s:?}"),
            Self::Double(d) => {
                if d.is_finite() && d.fract() == 0.0 && d.abs() < 1e16 {
                    write!(f, "{d:.1}")
                } else {
                    write!(f, "{d}")
                }
            }
            Self::DateTime(d) => write!(f, "<DateTime {d}>"),
            Self::Base64(b) => write!(f, "<{} bytes>", b.len()),
            Self::Struct(m) => {
                f.write_str("{")?;
                for (i, (k, v)) in m.iter().enumerate() {
                    if i > 0 {
                        f.write_str(", ")?;
                    }
                    write!(f, "{k:?}: {v}")?;
                }
                f.write_str("}")
            }
            Self::Array(a) => {
                f.write_str("[")?;
                for (i, v) in a.iter().enumerate() {
                    if i > 0 {
                        f.write_str(", ")?;
                    }
                    write!(f, "{v}")?;
                }
                f.write_str("]")
            }
            Self::Nil => f.write_str("None"),
        }
    }
}

/// An XML-RPC fault: a code and a message.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("fault {code}: {message}")]
pub struct RpcFault {
    /// The code (see the constants of this module).
    pub code: i32,
    /// What went wrong.
    pub message: String,
}

impl RpcFault {
    /// A fault with `code` and `message`.
    pub fn new(code: i32, message: impl Into<String>) -> Self {
        Self {
            code,
            message: message.into(),
        }
    }

    /// Reads a fault struct (`faultCode` an int, `faultString` a string);
    /// `None` when `value` is not one. A code past 32 bits reads as
    /// `i32::MIN`.
    pub fn from_value(value: &Value) -> Option<Self> {
        let code = match value.member("faultCode")? {
            Value::Int(c) => *c,
            Value::I8(c) => i32::try_from(*c).unwrap_or(i32::MIN),
            _ => return None,
        };
        match value.member("faultString")? {
            Value::String(message) => Some(Self::new(code, message.clone())),
            _ => None,
        }
    }

    /// The fault as the struct XML-RPC sends.
    pub fn to_value(&self) -> Value {
        Value::Struct(vec![
            ("faultCode".into(), Value::Int(self.code)),
            ("faultString".into(), Value::String(self.message.clone())),
        ])
    }
}

/// A decoded `methodCall`.
#[derive(Debug, Clone, PartialEq)]
pub struct MethodCall {
    /// The method name.
    pub name: String,
    /// The parameters.
    pub params: Vec<Value>,
}

/// Why a document could not be decoded or encoded.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum XmlRpcError {
    /// Not well-formed XML (or not UTF-8).
    #[error("not well-formed XML: {0}")]
    NotWellFormed(String),
    /// A DOCTYPE or an entity other than the five predefined ones.
    #[error("forbidden XML: {0}")]
    Forbidden(String),
    /// Well-formed XML that is not the expected XML-RPC document.
    #[error("invalid XML-RPC: {0}")]
    Invalid(String),
    /// Nested deeper than [`MAX_DEPTH`].
    #[error("values nested deeper than {0} levels")]
    TooDeep(usize),
    /// More than [`MAX_VALUES`] values.
    #[error("more than {0} values in one document")]
    TooMany(usize),
    /// The text of a typed value does not parse.
    #[error("bad <{kind}> value {text:?}")]
    BadValue {
        /// The element, e.g. `int`.
        kind: &'static str,
        /// The text found (shortened).
        text: String,
    },
    /// A string holding a character XML cannot carry (NUL).
    #[error("a string holds a NUL character, which XML cannot carry")]
    Unrepresentable,
}

impl XmlRpcError {
    /// The fault code a server answers with.
    pub fn fault_code(&self) -> i32 {
        match self {
            Self::NotWellFormed(_) | Self::Forbidden(_) => PARSE_ERROR,
            _ => INVALID_REQUEST,
        }
    }

    /// Who is at fault.
    pub fn fault(&self) -> Fault {
        match self {
            Self::TooDeep(_) | Self::TooMany(_) => Fault::Limit,
            Self::Unrepresentable => Fault::Local,
            _ => Fault::PeerData,
        }
    }
}
