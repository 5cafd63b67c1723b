//! The server side: the router behind an [`HttpServer`].

use super::{parse_int, CalcError, CalcNumber, Op};
use crate::http1::{Handler, HttpServer, Request, Response, Status};

/// JSON text as Python's `json.dumps` writes it with `ensure_ascii` (every
/// non-ASCII character as a `\uXXXX` escape), as Chalice sends it.
fn ascii_json_string(s: &str) -> String {
    let mut out = String::from("\"");
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if c.is_ascii() && !c.is_ascii_control() => out.push(c),
            c => {
                let mut units = [0u16; 2];
                for u in c.encode_utf16(&mut units) {
                    out.push_str(&format!("\\u{u:04x}"));
                }
            }
        }
    }
    out.push('"');
    out
}

/// The body of a successful answer, byte for byte as the class's API sends it.
pub fn answer_body(op: Op, value: CalcNumber) -> String {
    format!("{{{}:{value}}}", ascii_json_string(op.key()))
}

fn error(status: Status, code: &str, message: &str) -> Response {
    let body = format!(
        "{{\"Code\":{},\"Message\":{}}}",
        ascii_json_string(code),
        ascii_json_string(message)
    );
    Response::with_body(status, "application/json", body.into_bytes())
}

fn percent_decode(segment: &str) -> Option<String> {
    let bytes = segment.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            let hex = std::str::from_utf8(bytes.get(i + 1..i + 3)?).ok()?;
            out.push(u8::from_str_radix(hex, 16).ok()?);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8(out).ok()
}

/// The REST calc router: `GET {prefix}/{op}/{a}/{b}` and an index at
/// `GET {prefix}/`. 400 `BadRequestError` for a non-number, a division by
/// zero or a result past 64 bits (the class's Chalice app answers 500 for
/// some of these; commlab answers 400 on purpose: the client is at fault),
/// 404 for an unknown operation or path, 405 for other methods.
#[derive(Debug, Clone)]
pub struct CalcHandler {
    prefix: String,
}

impl CalcHandler {
    /// A router under `prefix` (e.g. `/api`; empty for the root).
    pub fn new(prefix: &str) -> Self {
        let trimmed = prefix.trim_end_matches('/');
        let prefix = if trimmed.is_empty() || trimmed.starts_with('/') {
            trimmed.to_owned()
        } else {
            format!("/{trimmed}")
        };
        Self { prefix }
    }

    fn index(&self) -> Response {
        let routes: Vec<String> = Op::ALL
            .iter()
            .map(|op| format!("\"GET {}/{}/{{a}}/{{b}}\"", self.prefix, op.name()))
            .collect();
        let body = format!("{{\"routes\":[{}]}}", routes.join(","));
        Response::with_body(Status::OK, "application/json", body.into_bytes())
    }

    /// Answers one path below the prefix.
    pub fn route(&self, path: &str) -> Response {
        let Some(rest) = path.strip_prefix(&self.prefix) else {
            return self.not_found(path);
        };
        if rest.is_empty() || rest == "/" {
            return self.index();
        }
        let segments: Vec<&str> = rest
            .strip_prefix('/')
            .unwrap_or("\u{0}")
            .split('/')
            .collect();
        let [op, a, b] = segments[..] else {
            return self.not_found(path);
        };
        let op = match Op::parse(op) {
            Ok(op) => op,
            Err(e) => return error(Status::NOT_FOUND, "NotFoundError", &e.to_string()),
        };
        let decode =
            |s: &str| percent_decode(s).ok_or_else(|| CalcError::NotAnInteger(s.to_owned()));
        let result = decode(a)
            .and_then(|a| parse_int(&a))
            .and_then(|a| decode(b).and_then(|b| parse_int(&b)).map(|b| (a, b)))
            .and_then(|(a, b)| op.apply(a, b));
        match result {
            Ok(value) => Response::with_body(
                Status::OK,
                "application/json",
                answer_body(op, value).into_bytes(),
            ),
            Err(e) => error(Status::BAD_REQUEST, "BadRequestError", &e.to_string()),
        }
    }

    fn not_found(&self, path: &str) -> Response {
        error(
            Status::NOT_FOUND,
            "NotFoundError",
            &format!(
                "no route {path}; use GET {}/soma|sub|mult|div/{{a}}/{{b}}",
                self.prefix
            ),
        )
    }
}

impl Handler for CalcHandler {
    fn handle(&mut self, req: &Request) -> Response {
        if !matches!(req.method.as_str(), "GET" | "HEAD") {
            return error(
                Status::METHOD_NOT_ALLOWED,
                "MethodNotAllowedError",
                &format!("Unsupported method: {}", req.method),
            )
            .header("Allow", "GET");
        }
        self.route(req.path())
    }
}

/// The REST calc server: HTTP/1.1 around the router.
pub type CalcServer = HttpServer<CalcHandler>;
