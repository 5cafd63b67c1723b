//! The HTTP transport of the XML-RPC and REST calc clients: core's
//! `HttpClient` session over the std driver for `http://` (keep-alive
//! across calls, `--trace` shows every request and response), `ureq`
//! with rustls for `https://` (the class's deployed API), until TLS comes
//! to core.

use std::net::TcpStream;
use std::time::Duration;

use anyhow::{bail, Context as _};
use commlab_core::http1::{HttpClient, HttpClientEvent, HttpResponse};
use commlab_core::trace::{Side, Wire};
use commlab_std::BlockingSession;

use crate::url::Endpoint;

/// Splits an `http://` or `https://` URL.
fn parse(url: &str) -> anyhow::Result<Endpoint> {
    Endpoint::parse(url, "http://localhost:8005/RPC2", |scheme| match scheme {
        "http" => Ok(80),
        "https" => Ok(443),
        _ => bail!("{url} is not an HTTP URL: it must start with http:// or https://"),
    })
}

enum Link {
    Plain(Option<Box<BlockingSession<HttpClient>>>),
    Tls(ureq::Agent),
}

/// A client of one server (keep-alive): requests on paths of its URL.
pub struct HttpLink {
    url: String,
    target: Endpoint,
    link: Link,
    timeout: Duration,
    max_body: u64,
    trace: bool,
}

impl std::fmt::Debug for HttpLink {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "HttpLink({})", self.url)
    }
}

impl HttpLink {
    /// A link to the server of `url`; each answer within `timeout`, its
    /// body at most `max_body` bytes; `trace` shows plain HTTP's wire.
    pub fn new(url: &str, timeout: Duration, max_body: u64, trace: bool) -> anyhow::Result<Self> {
        let target = parse(url)?;
        let link = if target.scheme == "https" {
            if trace {
                eprintln!("[commlab] --trace shows plain HTTP only: {url} uses TLS, whose bytes are not shown");
            }
            Link::Tls(
                ureq::Agent::config_builder()
                    .timeout_global(Some(timeout))
                    .http_status_as_error(false)
                    .build()
                    .into(),
            )
        } else {
            Link::Plain(None)
        };
        Ok(Self {
            url: url.to_owned(),
            target,
            link,
            timeout,
            max_body,
            trace,
        })
    }

    /// The path of the URL the link was made with.
    pub fn path(&self) -> &str {
        &self.target.path
    }

    /// `METHOD path` with `body`: the status and the body of the answer.
    pub fn request(
        &mut self,
        method: &str,
        path: &str,
        content_type: Option<&str>,
        body: &[u8],
    ) -> anyhow::Result<HttpResponse> {
        let url = format!("{}://{}{path}", self.target.scheme, self.target.authority);
        match &mut self.link {
            Link::Tls(agent) => tls_request(
                agent,
                &url,
                method,
                content_type,
                body,
                self.timeout,
                self.max_body,
            ),
            Link::Plain(session) => {
                // A kept-alive connection the server closed meanwhile is
                // opened again, once.
                for attempt in 0..2 {
                    let reused = session.is_some();
                    let s = match session {
                        Some(s) => s,
                        None => session.insert(Box::new(connect(
                            &self.target,
                            &url,
                            self.trace,
                            self.max_body,
                        )?)),
                    };
                    s.command(|c| c.request(method, path, content_type, body))
                        .with_context(|| format!("cannot send to {url}"))?;
                    match s.next_event(self.timeout) {
                        Ok(Some(HttpClientEvent::Response(r))) => {
                            if r.body.len() as u64 > self.max_body {
                                bail!("{url} answered with more than {} bytes", self.max_body);
                            }
                            return Ok(r);
                        }
                        Ok(Some(HttpClientEvent::Error(e))) => {
                            *session = None;
                            bail!("{url} sent a bad answer: {}", e.message);
                        }
                        Ok(Some(HttpClientEvent::Closed)) | Err(_) if reused && attempt == 0 => {
                            *session = None;
                        }
                        Ok(Some(HttpClientEvent::Closed)) => {
                            *session = None;
                            bail!("{url} closed the connection without answering");
                        }
                        Ok(None) => {
                            *session = None;
                            bail!("no answer from {url} within {} s", self.timeout.as_secs());
                        }
                        Err(e) => {
                            *session = None;
                            return Err(e).with_context(|| format!("connection to {url} lost"));
                        }
                    }
                }
                bail!("{url} closed the connection without answering")
            }
        }
    }
}

fn connect(
    target: &Endpoint,
    url: &str,
    trace: bool,
    max_body: u64,
) -> anyhow::Result<BlockingSession<HttpClient>> {
    let stream = TcpStream::connect((target.host.as_str(), target.port))
        .with_context(|| format!("cannot reach {url}"))?;
    let client = HttpClient::for_host(&target.authority)
        .with_max_body(usize::try_from(max_body).unwrap_or(usize::MAX));
    let mut session = BlockingSession::new(stream, client);
    if let Some(t) = crate::tracer(trace, Wire::Http, Side::Client) {
        session.trace(t);
    }
    Ok(session)
}

fn tls_request(
    agent: &ureq::Agent,
    url: &str,
    method: &str,
    content_type: Option<&str>,
    body: &[u8],
    timeout: Duration,
    max_body: u64,
) -> anyhow::Result<HttpResponse> {
    let sent = if method == "GET" {
        agent.get(url).call()
    } else {
        let mut req = agent.post(url);
        if let Some(ct) = content_type {
            req = req.header("Content-Type", ct);
        }
        req.send(body)
    };
    let mut resp = sent.map_err(|e| match e {
        ureq::Error::Timeout(_) => {
            anyhow::anyhow!("no answer from {url} within {} s", timeout.as_secs())
        }
        other => anyhow::anyhow!("cannot reach {url}: {other}"),
    })?;
    let status = resp.status().as_u16();
    let headers = resp
        .headers()
        .iter()
        .map(|(n, v)| {
            (
                n.to_string(),
                String::from_utf8_lossy(v.as_bytes()).into_owned(),
            )
        })
        .collect();
    let body = resp
        .body_mut()
        .with_config()
        .limit(max_body)
        .read_to_vec()
        .with_context(|| format!("cannot read the answer from {url}"))?;
    Ok(HttpResponse {
        status,
        headers,
        body,
    })
}
