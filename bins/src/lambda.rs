//! `commlab calc lambda`: the REST calc as an AWS Lambda function, a
//! custom runtime (`provided.al2023`, the binary as `bootstrap`).
//!
//! The loop of the Runtime API (2018-06-01): `GET` the next invocation,
//! answer its HTTP event with the same router `calc server` uses
//! (core's `lambda::serve_event`), `POST` the answer or the error. The
//! Runtime API is plain HTTP/1.1 on the sandbox's loopback, so the
//! transport is the one every HTTP client here uses: core's `HttpClient`
//! over the std driver (`HttpLink`), no tokio.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use anyhow::{bail, Context as _};
use commlab_core::calc::CalcHandler;
use commlab_core::lambda::{
    error_body, serve_event, Invocation, RuntimeApi, INIT_ERROR_PATH, MAX_EVENT, NEXT_PATH,
};

use crate::http_client::HttpLink;
use crate::tls::TlsClientArgs;

/// The variable Lambda sets to the Runtime API's `HOST:PORT` (emulators
/// may add `http://` and a path prefix: see [`RuntimeApi`]).
pub const RUNTIME_API_VAR: &str = "AWS_LAMBDA_RUNTIME_API";
/// How long the next invocation may be waited for (Lambda freezes the
/// sandbox between invocations; the wait is as long as the traffic is
/// quiet).
pub const NEXT_WAIT: Duration = Duration::from_secs(24 * 3600);
/// How long the Runtime API may take to take an answer.
pub const POST_WAIT: Duration = Duration::from_secs(30);

/// Options of `commlab calc lambda`.
#[derive(Debug, Clone, clap::Args)]
pub struct LambdaArgs {
    /// The API's stage: routes answer under it, and a path without it (as
    /// a REST API's event gives) gets it.
    #[arg(long, env = "COMMLAB_CALC_PREFIX", default_value = "/api")]
    pub prefix: String,
}

/// Whether `prefix` can be a stage path (`/` and letters, digits, `-`,
/// `_`, `.`).
fn valid_prefix(prefix: &str) -> bool {
    prefix
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || b"/-_.".contains(&b))
}

fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
}

/// Runs the runtime until the Runtime API goes away.
pub fn run(args: &LambdaArgs) -> anyhow::Result<()> {
    let Some(api) = std::env::var(RUNTIME_API_VAR)
        .ok()
        .filter(|v| !v.is_empty())
    else {
        bail!(
            "calc lambda is an AWS Lambda runtime: it needs {RUNTIME_API_VAR} (HOST:PORT of the Lambda Runtime API), which Lambda sets; to serve the API here, use commlab calc server"
        );
    };
    let api =
        RuntimeApi::parse(&api).with_context(|| format!("{RUNTIME_API_VAR} cannot be used"))?;
    let base = api.base_url();
    let tls = TlsClientArgs::default();
    let mut next = HttpLink::new(&base, NEXT_WAIT, MAX_EVENT as u64, false, &tls)
        .with_context(|| format!("{RUNTIME_API_VAR}={api} is not HOST:PORT"))?;
    let mut post = HttpLink::new(&base, POST_WAIT, 64 * 1024, false, &tls)?;
    if !valid_prefix(&args.prefix) {
        let message = format!(
            "COMMLAB_CALC_PREFIX (or --prefix) '{}' is not a path: use /, letters, digits, '-', '_', '.'",
            args.prefix
        );
        let body = error_body("InvalidConfiguration", &message);
        let _ = post.request(
            "POST",
            &api.path(INIT_ERROR_PATH),
            Some("application/json"),
            &body,
        );
        bail!("{message}");
    }
    let mut handler = CalcHandler::new(&args.prefix);
    eprintln!(
        "[commlab] calc lambda: serving {} through the Runtime API at {api}",
        args.prefix
    );
    loop {
        let resp = next
            .request("GET", &api.path(NEXT_PATH), None, b"")
            .with_context(|| format!("the Runtime API at {api} went away"))?;
        let invocation = Invocation::from_response(&resp)?;
        match &invocation.trace_id {
            Some(trace) => std::env::set_var("_X_AMZN_TRACE_ID", trace),
            None => std::env::remove_var("_X_AMZN_TRACE_ID"),
        }
        let (path, body) = if invocation.remaining_ms(now_ms()) == Some(0) {
            let message = "the invocation's deadline passed before it was handled";
            (
                api.path(&invocation.error_path()),
                error_body("DeadlineExceeded", message),
            )
        } else {
            match serve_event(&mut handler, &args.prefix, &invocation.payload) {
                Ok((_, answer)) => (api.path(&invocation.response_path()), answer),
                Err(e) => {
                    eprintln!("[commlab] invocation {}: {e}", invocation.id);
                    (
                        api.path(&invocation.error_path()),
                        error_body(e.error_type(), &e.to_string()),
                    )
                }
            }
        };
        let answered = post
            .request("POST", &path, Some("application/json"), &body)
            .with_context(|| format!("the Runtime API at {api} went away"))?;
        // Lambda answers 202; emulators may say 200.
        if !(200..300).contains(&answered.status) {
            eprintln!(
                "[commlab] invocation {}: the Runtime API answered {} to {path}: {}",
                invocation.id,
                answered.status,
                String::from_utf8_lossy(&answered.body)
                    .chars()
                    .take(200)
                    .collect::<String>()
            );
        }
    }
}
