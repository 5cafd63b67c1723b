//! Numbers as Python reads and writes them: `int()` on a path segment,
//! `repr()` of a float, and `repr()` of a string.

use super::CalcError;

/// An answer: an integer or a double.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum CalcNumber {
    /// An exact integer.
    Int(i64),
    /// A double.
    Float(f64),
}

impl std::fmt::Display for CalcNumber {
    /// As Python's `repr()` (and `json.dumps`) writes it.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Int(i) => write!(f, "{i}"),
            Self::Float(x) => f.write_str(&python_float(*x)),
        }
    }
}

/// Reads an integer as Python's `int(text)` does: surrounding whitespace,
/// an optional sign, ASCII digits with single underscores between them.
/// Values past 64 bits are [`CalcError::TooLarge`].
pub fn parse_int(text: &str) -> Result<i64, CalcError> {
    let bad = || CalcError::NotAnInteger(text.to_owned());
    let t = text.trim();
    let (negative, digits) = match t.as_bytes().first() {
        Some(b'-') => (true, &t[1..]),
        Some(b'+') => (false, &t[1..]),
        _ => (false, t),
    };
    if digits.is_empty()
        || digits.starts_with('_')
        || digits.ends_with('_')
        || digits.contains("__")
        || !digits.bytes().all(|b| b.is_ascii_digit() || b == b'_')
    {
        return Err(bad());
    }
    let mut value: i128 = 0;
    for b in digits.bytes().filter(u8::is_ascii_digit) {
        value = value * 10 + i128::from(b - b'0');
        if value > i128::from(i64::MAX) + 1 {
            return Err(CalcError::TooLarge(t.to_owned()));
        }
    }
    let value = if negative { -value } else { value };
    i64::try_from(value).map_err(|_| CalcError::TooLarge(t.to_owned()))
}

/// A double as Python's `repr()` writes it: the shortest digits that read
/// back the same, positional for exponents from -4 to 15, else scientific
/// with a signed exponent of at least two digits (`1e+16`, `1e-05`).
pub fn python_float(x: f64) -> String {
    if x.is_nan() {
        return "NaN".into();
    }
    if x.is_infinite() {
        return if x > 0.0 { "Infinity" } else { "-Infinity" }.into();
    }
    if x == 0.0 {
        return if x.is_sign_negative() { "-0.0" } else { "0.0" }.into();
    }
    // Rust's `{:e}` gives the shortest round-trip digits: d.ddddde±x.
    let sci = format!("{x:e}");
    let (mantissa, exp) = sci.split_once('e').unwrap_or((&sci, "0"));
    let exp: i32 = exp.parse().unwrap_or(0);
    let negative = mantissa.starts_with('-');
    let digits: String = mantissa.chars().filter(char::is_ascii_digit).collect();
    let sign = if negative { "-" } else { "" };
    if (-4..16).contains(&exp) {
        let point = exp + 1; // digits before the decimal point
        let s = if point <= 0 {
            let zeros = "0".repeat(usize::try_from(-point).unwrap_or(0));
            format!("0.{zeros}{digits}")
        } else {
            let point = usize::try_from(point).unwrap_or(0);
            if digits.len() <= point {
                format!("{digits}{}.0", "0".repeat(point - digits.len()))
            } else {
                format!("{}.{}", &digits[..point], &digits[point..])
            }
        };
        return format!("{sign}{s}");
    }
    let (head, tail) = digits.split_at(1);
    let mantissa = if tail.is_empty() {
        head.to_owned()
    } else {
        format!("{head}.{tail}")
    };
    let esign = if exp < 0 { '-' } else { '+' };
    format!("{sign}{mantissa}e{esign}{:02}", exp.abs())
}

/// A string as Python's `repr()` writes it: single quotes unless the text
/// holds a single quote and no double quote; backslash escapes for quotes,
/// backslashes and control characters.
pub fn python_repr(s: &str) -> String {
    let quote = if s.contains('\'') && !s.contains('"') {
        '"'
    } else {
        '\''
    };
    let mut out = String::with_capacity(s.len() + 2);
    out.push(quote);
    for c in s.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if c == quote => {
                out.push('\\');
                out.push(c);
            }
            c if c.is_control() => {
                let n = u32::from(c);
                if n < 0x100 {
                    out.push_str(&format!("\\x{n:02x}"));
                } else {
                    out.push_str(&format!("\\u{n:04x}"));
                }
            }
            c => out.push(c),
        }
    }
    out.push(quote);
    out
}
