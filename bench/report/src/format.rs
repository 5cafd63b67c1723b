//! How figures are written in the report.

use crate::results::Stat;

pub(crate) fn count(x: f64) -> String {
    let n = x.round() as u64;
    let s = n.to_string();
    let mut out = String::new();
    for (i, c) in s.chars().enumerate() {
        if i > 0 && (s.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

pub(crate) fn short(x: f64) -> String {
    if x >= 10_000.0 {
        format!("{:.0}k", x / 1000.0)
    } else if x >= 100.0 {
        format!("{x:.0}")
    } else if x >= 1.0 {
        format!("{x:.1}")
    } else {
        format!("{x:.2}")
    }
}

pub(crate) fn cell(s: Option<Stat>, fmt: fn(f64) -> String) -> String {
    match s {
        Some(s) if s.runs > 1 => format!("{} ({}–{})", fmt(s.median), short(s.min), short(s.max)),
        Some(s) => fmt(s.median),
        None => "–".into(),
    }
}

pub(crate) fn ms(x: f64) -> String {
    if x >= 100.0 {
        format!("{x:.0} ms")
    } else {
        format!("{x:.2} ms")
    }
}

pub(crate) fn mib(kib: f64) -> String {
    format!("{:.1} MiB", kib / 1024.0)
}

pub(crate) fn ratio(a: Option<Stat>, b: Option<Stat>) -> String {
    match (a, b) {
        (Some(a), Some(b)) if b.median > 0.0 => format!("{:.2}×", a.median / b.median),
        _ => "–".into(),
    }
}

pub(crate) fn verdict(ok: Option<bool>) -> &'static str {
    match ok {
        Some(true) => "**met**",
        Some(false) => "**not met**",
        None => "not measured",
    }
}

/// A memory figure's median with its largest run.
pub(crate) fn mib_and_largest(s: Option<Stat>) -> String {
    s.map_or("–".into(), |s| {
        format!("{} (largest run {})", mib(s.median), mib(s.max))
    })
}
