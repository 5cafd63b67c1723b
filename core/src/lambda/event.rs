//! The HTTP events a Lambda function is handed, and its answer to them.
//!
//! Three formats carry one HTTP request:
//! - API Gateway REST API proxy events, payload 1.0 (`httpMethod`, `path`,
//!   `requestContext.stage`): what the class's API (`calc`, stage `api`)
//!   sends; its `path` leaves the stage out;
//! - HTTP API events, payload 2.0 (`version: "2.0"`, `rawPath`,
//!   `requestContext.http.method`), whose `rawPath` has a named stage in;
//! - Lambda Function URL events: payload 2.0 on a `*.lambda-url.*` domain.
//!
//! [`serve_event`] turns any of them into a [`Request`] for a
//! [`Handler`] (a path without the handler's stage prefix gets it, so
//! both forms reach the same route) and the handler's [`Response`] into
//! the proxy answer `{statusCode, headers, body, isBase64Encoded}`, the
//! body as the handler wrote it, byte for byte.

use base64::Engine as _;
use serde_json::{Map, Value};

use crate::http1::{Handler, Request, Response};
use crate::Fault;

/// Largest event accepted: Lambda's own limit on a synchronous payload.
pub const MAX_EVENT: usize = 6 * 1024 * 1024;
/// Most request headers taken from an event.
pub const MAX_EVENT_HEADERS: usize = 100;

/// Which of the formats an event came in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EventFormat {
    /// API Gateway REST API (or HTTP API payload 1.0).
    RestV1,
    /// API Gateway HTTP API, payload 2.0.
    HttpApiV2,
    /// A Lambda Function URL (payload 2.0).
    FunctionUrl,
}

/// One HTTP request out of an event.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EventRequest {
    /// The format it came in.
    pub format: EventFormat,
    /// The request.
    pub request: Request,
}

/// Why a payload is not an HTTP event this runtime serves (reported to
/// the Runtime API's error path).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum EventError {
    /// Over [`MAX_EVENT`].
    #[error("a {0}-byte event, over the limit of {MAX_EVENT}")]
    TooLarge(usize),
    /// Not JSON, or not a JSON object.
    #[error("the event is not a JSON object: {0}")]
    NotJson(String),
    /// A JSON object that is none of the three HTTP event formats.
    #[error("not an API Gateway (REST or HTTP API) or Function URL event: {0}")]
    NotHttp(String),
    /// `isBase64Encoded` with a body that is not base64.
    #[error("the event's body is marked base64 but is not")]
    BadBody,
}

impl EventError {
    /// The `errorType` reported for it.
    pub fn error_type(&self) -> &'static str {
        match self {
            Self::TooLarge(_) => "EventTooLarge",
            Self::BadBody => "InvalidEventBody",
            _ => "UnsupportedEvent",
        }
    }

    /// Who is at fault: whoever invoked the function.
    pub fn fault(&self) -> Fault {
        match self {
            Self::TooLarge(_) => Fault::Limit,
            _ => Fault::PeerData,
        }
    }
}

fn text<'a>(v: &'a Value, path: &[&str]) -> Option<&'a str> {
    path.iter().try_fold(v, |v, key| v.get(key))?.as_str()
}

fn headers_of(obj: &Map<String, Value>) -> Vec<(String, String)> {
    obj.get("headers")
        .and_then(Value::as_object)
        .map(|h| {
            h.iter()
                .filter_map(|(k, v)| Some((k.clone(), v.as_str()?.to_owned())))
                .take(MAX_EVENT_HEADERS)
                .collect()
        })
        .unwrap_or_default()
}

fn body_of(obj: &Map<String, Value>) -> Result<Vec<u8>, EventError> {
    let Some(body) = obj.get("body").and_then(Value::as_str) else {
        return Ok(Vec::new());
    };
    if obj.get("isBase64Encoded").and_then(Value::as_bool) == Some(true) {
        base64::engine::general_purpose::STANDARD
            .decode(body)
            .map_err(|_| EventError::BadBody)
    } else {
        Ok(body.as_bytes().to_vec())
    }
}

/// The v1 query string, from `queryStringParameters` (as given: API
/// Gateway has decoded it).
fn v1_query(obj: &Map<String, Value>) -> String {
    obj.get("queryStringParameters")
        .and_then(Value::as_object)
        .map(|q| {
            q.iter()
                .filter_map(|(k, v)| Some(format!("{k}={}", v.as_str()?)))
                .collect::<Vec<_>>()
                .join("&")
        })
        .unwrap_or_default()
}

impl EventRequest {
    /// The request in `payload`, whichever of the three formats it is.
    pub fn parse(payload: &[u8]) -> Result<Self, EventError> {
        if payload.len() > MAX_EVENT {
            return Err(EventError::TooLarge(payload.len()));
        }
        // serde_json bounds nesting (128 levels) by itself.
        let v: Value =
            serde_json::from_slice(payload).map_err(|e| EventError::NotJson(e.to_string()))?;
        let Some(obj) = v.as_object() else {
            return Err(EventError::NotJson("not an object".into()));
        };
        let v2 = obj.get("version").and_then(Value::as_str) == Some("2.0");
        let (format, method, path, query) = if v2 {
            let method = text(&v, &["requestContext", "http", "method"])
                .ok_or_else(|| EventError::NotHttp("no requestContext.http.method".into()))?;
            let path =
                text(&v, &["rawPath"]).ok_or_else(|| EventError::NotHttp("no rawPath".into()))?;
            let domain = text(&v, &["requestContext", "domainName"]).unwrap_or_default();
            let format = if domain.contains(".lambda-url.") {
                EventFormat::FunctionUrl
            } else {
                EventFormat::HttpApiV2
            };
            let query = text(&v, &["rawQueryString"]).unwrap_or_default().to_owned();
            (format, method, path, query)
        } else {
            let method = text(&v, &["httpMethod"])
                .ok_or_else(|| EventError::NotHttp("no httpMethod or version 2.0".into()))?;
            let path = text(&v, &["path"]).ok_or_else(|| EventError::NotHttp("no path".into()))?;
            (EventFormat::RestV1, method, path, v1_query(obj))
        };
        if method.is_empty() || !path.starts_with('/') {
            return Err(EventError::NotHttp(format!(
                "method '{method}' and path '{path}' are not a request"
            )));
        }
        let target = if query.is_empty() {
            path.to_owned()
        } else {
            format!("{path}?{query}")
        };
        Ok(Self {
            format,
            request: Request {
                method: method.to_ascii_uppercase(),
                target,
                version: 1,
                headers: headers_of(obj),
                body: body_of(obj)?,
                keep_alive: false,
            },
        })
    }
}

/// `path` under `prefix` (the API's stage): unchanged if it already is,
/// else with the prefix put in front (a REST API's `path` has no stage).
fn under(prefix: &str, target: &str) -> String {
    let prefix = prefix.trim_end_matches('/');
    let path = target.split('?').next().unwrap_or_default();
    if prefix.is_empty() || path == prefix || path.starts_with(&format!("{prefix}/")) {
        target.to_owned()
    } else {
        format!("{prefix}{target}")
    }
}

/// The proxy answer for `resp` (to a `HEAD`: without its body).
pub fn proxy_answer(resp: &Response, head: bool) -> Vec<u8> {
    let mut headers = Map::new();
    for (name, value) in &resp.headers {
        headers.insert(name.to_string(), Value::String(value.to_string()));
    }
    let body = if head { &[][..] } else { &resp.body[..] };
    let (body, base64) = match std::str::from_utf8(body) {
        Ok(text) => (text.to_owned(), false),
        Err(_) => (base64::engine::general_purpose::STANDARD.encode(body), true),
    };
    let answer = serde_json::json!({
        "statusCode": resp.status.0,
        "headers": headers,
        "body": body,
        "isBase64Encoded": base64,
    });
    serde_json::to_vec(&answer).unwrap_or_default()
}

/// Answers the HTTP event in `payload` with `handler`, whose routes sit
/// under `prefix` (the stage, `/api` for the class's API; a path without
/// it gets it): the proxy answer, or why the payload is not an event.
pub fn serve_event(
    handler: &mut impl Handler,
    prefix: &str,
    payload: &[u8],
) -> Result<(EventFormat, Vec<u8>), EventError> {
    let mut event = EventRequest::parse(payload)?;
    event.request.target = under(prefix, &event.request.target);
    let resp = handler.handle(&event.request);
    let head = event.request.method == "HEAD";
    Ok((event.format, proxy_answer(&resp, head)))
}
