//! The exercise's calculator: `add`, `sub`, `mul`, `pow`, `div` and `calc`.
//!
//! Semantics: int with int is exact: an `int` while the result fits in 32
//! bits, an `i8` while it fits in 64, a fault [`OVERFLOW`] beyond (never a
//! wrapped or rounded number). Any double makes a double (a non-finite
//! result from finite operands is [`OVERFLOW`]). `div` is true division
//! (15/10 = 1.5, always a double); dividing by zero is [`DIVISION_BY_ZERO`].
//! `pow` with a negative int exponent gives a double; a power with no real
//! result (a negative base to a fractional exponent) is [`DOMAIN_ERROR`].
//! Wrong arity or types are [`INVALID_PARAMS`](super::INVALID_PARAMS).

use super::{Dispatcher, RpcFault, Value, INVALID_PARAMS};

/// Fault code: division by zero.
pub const DIVISION_BY_ZERO: i32 = 1;
/// Fault code: the exact result does not fit in 64 bits (or is infinite).
pub const OVERFLOW: i32 = 2;
/// Fault code: the result is not a real number.
pub const DOMAIN_ERROR: i32 = 3;

#[derive(Debug, Clone, Copy)]
enum Num {
    Int(i64),
    Float(f64),
}

impl Num {
    fn f(self) -> f64 {
        match self {
            #[allow(clippy::cast_precision_loss)]
            Self::Int(i) => i as f64,
            Self::Float(f) => f,
        }
    }

    fn is_zero(self) -> bool {
        match self {
            Self::Int(i) => i == 0,
            Self::Float(f) => f == 0.0,
        }
    }
}

impl std::fmt::Display for Num {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Int(i) => write!(f, "{i}"),
            Self::Float(x) => write!(f, "{x:?}"),
        }
    }
}

fn two_numbers(method: &str, params: &[Value]) -> Result<(Num, Num), RpcFault> {
    let expects = format!("{method}(x, y) expects 2 numbers (int or double)");
    if params.len() != 2 {
        return Err(RpcFault::new(
            INVALID_PARAMS,
            format!("{expects}, got {} arguments", params.len()),
        ));
    }
    let num = |i: usize| match &params[i] {
        Value::Int(v) => Ok(Num::Int(i64::from(*v))),
        Value::I8(v) => Ok(Num::Int(*v)),
        Value::Double(v) => Ok(Num::Float(*v)),
        other => Err(RpcFault::new(
            INVALID_PARAMS,
            format!("{expects}; argument {} is a {}", i + 1, other.type_name()),
        )),
    };
    Ok((num(0)?, num(1)?))
}

fn exact(method: &str, x: Num, y: Num, r: Option<i128>) -> Result<Value, RpcFault> {
    let overflow = || {
        RpcFault::new(
            OVERFLOW,
            format!("overflow: the exact result of {method}({x}, {y}) does not fit in 64 bits"),
        )
    };
    let r = r.ok_or_else(overflow)?;
    if let Ok(i) = i32::try_from(r) {
        Ok(Value::Int(i))
    } else if let Ok(i) = i64::try_from(r) {
        Ok(Value::I8(i))
    } else {
        Err(overflow())
    }
}

fn float(method: &str, x: Num, y: Num, r: f64) -> Result<Value, RpcFault> {
    if r.is_nan() && !x.f().is_nan() && !y.f().is_nan() {
        return Err(RpcFault::new(
            DOMAIN_ERROR,
            format!("{method}({x}, {y}) has no real result"),
        ));
    }
    if r.is_infinite() && x.f().is_finite() && y.f().is_finite() {
        return Err(RpcFault::new(
            OVERFLOW,
            format!("overflow: {method}({x}, {y}) is too large for a double"),
        ));
    }
    Ok(Value::Double(r))
}

fn add(x: Num, y: Num) -> Result<Value, RpcFault> {
    match (x, y) {
        (Num::Int(a), Num::Int(b)) => exact("add", x, y, Some(i128::from(a) + i128::from(b))),
        _ => float("add", x, y, x.f() + y.f()),
    }
}

fn sub(x: Num, y: Num) -> Result<Value, RpcFault> {
    match (x, y) {
        (Num::Int(a), Num::Int(b)) => exact("sub", x, y, Some(i128::from(a) - i128::from(b))),
        _ => float("sub", x, y, x.f() - y.f()),
    }
}

fn mul(x: Num, y: Num) -> Result<Value, RpcFault> {
    match (x, y) {
        (Num::Int(a), Num::Int(b)) => exact("mul", x, y, Some(i128::from(a) * i128::from(b))),
        _ => float("mul", x, y, x.f() * y.f()),
    }
}

fn div(x: Num, y: Num) -> Result<Value, RpcFault> {
    if y.is_zero() {
        return Err(RpcFault::new(
            DIVISION_BY_ZERO,
            format!("division by zero: div({x}, {y})"),
        ));
    }
    float("div", x, y, x.f() / y.f())
}

fn pow(x: Num, y: Num) -> Result<Value, RpcFault> {
    match (x, y) {
        (Num::Int(a), Num::Int(b)) if b >= 0 => {
            let r = match (a, u32::try_from(b)) {
                (0 | 1, _) => Some(if b == 0 { 1 } else { i128::from(a) }),
                (-1, _) => Some(if b % 2 == 0 { 1 } else { -1 }),
                (_, Ok(e)) => i128::from(a).checked_pow(e),
                (_, Err(_)) => None,
            };
            exact("pow", x, y, r)
        }
        _ if x.is_zero() && y.f() < 0.0 => Err(RpcFault::new(
            DIVISION_BY_ZERO,
            format!("division by zero: pow({x}, {y})"),
        )),
        _ => float("pow", x, y, x.f().powf(y.f())),
    }
}

type Op = fn(Num, Num) -> Result<Value, RpcFault>;

const OPS: [(&str, Op, &str); 5] = [
    ("add", add, "add(x, y): x + y"),
    ("sub", sub, "sub(x, y): x - y"),
    ("mul", mul, "mul(x, y): x * y"),
    (
        "pow",
        pow,
        "pow(x, y): x to the power y (a negative int exponent gives a double)",
    ),
    (
        "div",
        div,
        "div(x, y): x / y, true division (15/10 = 1.5); y = 0 is fault 1",
    ),
];

const SIGNATURES: &[&[&str]] = &[
    &["int", "int", "int"],
    &["i8", "i8", "i8"],
    &["double", "double", "double"],
    &["double", "int", "double"],
    &["double", "double", "int"],
];

/// A dispatcher with the calculator's methods, plus `echo` (returns its
/// argument unchanged, to test every type).
pub fn calculator() -> Dispatcher {
    let mut d = Dispatcher::new();
    for (name, op, help) in OPS {
        let help = format!(
            "{help}. Ints stay exact: int while the result fits 32 bits, i8 while it fits 64, fault {OVERFLOW} beyond."
        );
        d.register(name, &help, SIGNATURES, move |params| {
            let (x, y) = two_numbers(name, params)?;
            op(x, y)
        });
    }
    d.register(
        "calc",
        "calc(x, y): a struct with add, sub, mul, pow and div of x and y (a fault if any of them faults).",
        &[&["struct", "double", "double"]],
        |params| {
            let (x, y) = two_numbers("calc", params)?;
            let mut members = Vec::new();
            for (name, op, _) in OPS {
                members.push((name.to_owned(), op(x, y)?));
            }
            Ok(Value::Struct(members))
        },
    );
    d.register(
        "echo",
        "echo(value): returns its argument unchanged (to test every XML-RPC type).",
        &[&["any", "any"]],
        |params| match params {
            [v] => Ok(v.clone()),
            _ => Err(RpcFault::new(
                INVALID_PARAMS,
                format!("echo expects 1 argument, got {}", params.len()),
            )),
        },
    );
    d
}
