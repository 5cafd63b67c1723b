//! The Runtime API (2018-06-01), the runtime's side: `GET` the next
//! invocation, then `POST` its response or its error; a start-up failure
//! is `POST`ed to the init error path. All of it plain HTTP/1.1 to
//! `AWS_LAMBDA_RUNTIME_API` on the sandbox's loopback.

use crate::http1::HttpResponse;
use crate::Fault;

/// Where the next invocation is fetched (a long poll).
pub const NEXT_PATH: &str = "/2018-06-01/runtime/invocation/next";
/// Where a start-up failure is reported.
pub const INIT_ERROR_PATH: &str = "/2018-06-01/runtime/init/error";
/// The invocation's id.
pub const REQUEST_ID_HEADER: &str = "Lambda-Runtime-Aws-Request-Id";
/// When the invocation times out, in milliseconds since the Unix epoch.
pub const DEADLINE_HEADER: &str = "Lambda-Runtime-Deadline-Ms";
/// The X-Ray trace header, for `_X_AMZN_TRACE_ID`.
pub const TRACE_HEADER: &str = "Lambda-Runtime-Trace-Id";
/// The earliest deadline read as a Unix time, in milliseconds (September
/// 2001): an emulator may send the function's timeout instead
/// (cargo-lambda 1.9.2 sends `Lambda-Runtime-Deadline-Ms: 600000`, its
/// ten-minute timeout), which as a Unix time would be long past; such a
/// value is taken as no deadline rather than as one missed.
pub const MIN_UNIX_DEADLINE_MS: u64 = 1_000_000_000_000;
/// Longest request id accepted (it goes into a path).
pub const MAX_REQUEST_ID: usize = 128;

/// One invocation handed out by the Runtime API.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Invocation {
    /// Its id (letters, digits and `-`: safe in a path).
    pub id: String,
    /// When it times out, in milliseconds since the Unix epoch, if given
    /// as one (at least [`MIN_UNIX_DEADLINE_MS`]).
    pub deadline_ms: Option<u64>,
    /// The trace header to put in `_X_AMZN_TRACE_ID`, if given.
    pub trace_id: Option<String>,
    /// The event.
    pub payload: Vec<u8>,
}

/// Why an answer of the Runtime API is not an invocation.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum RuntimeError {
    /// Not a 200.
    #[error("the Runtime API answered {status} to the request for the next invocation: {body}")]
    Status {
        /// The status.
        status: u16,
        /// The start of its body.
        body: String,
    },
    /// No `Lambda-Runtime-Aws-Request-Id`.
    #[error("the Runtime API sent an invocation without a {REQUEST_ID_HEADER} header")]
    NoRequestId,
    /// A request id that cannot go into a path.
    #[error("the Runtime API sent a request id that is not letters, digits and '-': '{0}'")]
    BadRequestId(String),
}

impl RuntimeError {
    /// Who is at fault: the Runtime API.
    pub fn fault(&self) -> Fault {
        match self {
            Self::Status { .. } => Fault::PeerOrder,
            _ => Fault::PeerData,
        }
    }
}

fn header<'a>(resp: &'a HttpResponse, name: &str) -> Option<&'a str> {
    resp.headers
        .iter()
        .find(|(n, _)| n.eq_ignore_ascii_case(name))
        .map(|(_, v)| v.trim())
}

impl Invocation {
    /// The invocation in the Runtime API's answer to [`NEXT_PATH`].
    pub fn from_response(resp: &HttpResponse) -> Result<Self, RuntimeError> {
        if resp.status != 200 {
            let body: String = String::from_utf8_lossy(&resp.body)
                .chars()
                .take(200)
                .collect();
            return Err(RuntimeError::Status {
                status: resp.status,
                body,
            });
        }
        let id = header(resp, REQUEST_ID_HEADER).ok_or(RuntimeError::NoRequestId)?;
        if id.is_empty()
            || id.len() > MAX_REQUEST_ID
            || !id.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
        {
            let shown: String = id.chars().take(MAX_REQUEST_ID).collect();
            return Err(RuntimeError::BadRequestId(shown));
        }
        Ok(Self {
            id: id.to_owned(),
            deadline_ms: header(resp, DEADLINE_HEADER)
                .and_then(|d| d.parse().ok())
                .filter(|&d| d >= MIN_UNIX_DEADLINE_MS),
            trace_id: header(resp, TRACE_HEADER)
                .filter(|t| !t.is_empty())
                .map(str::to_owned),
            payload: resp.body.clone(),
        })
    }

    /// Where this invocation's answer goes.
    pub fn response_path(&self) -> String {
        format!("/2018-06-01/runtime/invocation/{}/response", self.id)
    }

    /// Where this invocation's failure goes.
    pub fn error_path(&self) -> String {
        format!("/2018-06-01/runtime/invocation/{}/error", self.id)
    }

    /// Milliseconds left at `now_ms` (since the Unix epoch): `None`
    /// without a deadline, 0 once it passed.
    pub fn remaining_ms(&self, now_ms: u64) -> Option<u64> {
        self.deadline_ms.map(|d| d.saturating_sub(now_ms))
    }
}

/// The body of an error report: `{"errorMessage":..,"errorType":..}`.
pub fn error_body(error_type: &str, message: &str) -> Vec<u8> {
    serde_json::to_vec(&serde_json::json!({
        "errorMessage": message,
        "errorType": error_type,
    }))
    .unwrap_or_default()
}
