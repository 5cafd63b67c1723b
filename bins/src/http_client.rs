//! The HTTP transport of the XML-RPC and REST calc clients: core's
//! `HttpClient` session over the std driver (keep-alive across calls,
//! `--trace` shows every request and response), behind core's TLS layer
//! for `https://` (the class's deployed API, or a `--tls-*` server).

use std::net::TcpStream;
use std::time::Duration;

use anyhow::{bail, Context as _};
use commlab_core::http1::{HttpClient, HttpClientEvent, HttpResponse};
use commlab_core::tls::{TlsClientEvent, TlsError};
use commlab_core::trace::{Side, Wire};
use commlab_std::BlockingSession;

use crate::tls::{ClientTls, LayeredSession, TlsClientArgs};
use crate::url::Endpoint;

/// Splits an `http://` or `https://` URL.
fn parse(url: &str) -> anyhow::Result<Endpoint> {
    Endpoint::parse(url, "http://localhost:8005/RPC2", |scheme| match scheme {
        "http" => Ok(80),
        "https" => Ok(443),
        _ => bail!("{url} is not an HTTP URL: it must start with http:// or https://"),
    })
}

type Session = BlockingSession<LayeredSession<HttpClient>>;

/// A client of one server (keep-alive): requests on paths of its URL.
pub struct HttpLink {
    url: String,
    target: Endpoint,
    session: Option<Box<Session>>,
    tls: Option<ClientTls>,
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
    /// A link to the server of `url` (`https://` checked with `tls`'s
    /// trust); each answer within `timeout`, its body at most `max_body`
    /// bytes; `trace` shows the wire (the plaintext, over TLS).
    pub fn new(
        url: &str,
        timeout: Duration,
        max_body: u64,
        trace: bool,
        tls: &TlsClientArgs,
    ) -> anyhow::Result<Self> {
        let target = parse(url)?;
        let tls = if target.scheme == "https" {
            Some(tls.client(&target.host)?)
        } else {
            None
        };
        Ok(Self {
            url: url.to_owned(),
            target,
            session: None,
            tls,
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
        let session = &mut self.session;
        // A kept-alive connection the server closed meanwhile is opened
        // again, once.
        for attempt in 0..2 {
            let reused = session.is_some();
            let s = match session {
                Some(s) => s,
                None => session.insert(Box::new(connect(
                    &self.target,
                    &url,
                    self.trace,
                    self.max_body,
                    self.tls.as_ref(),
                )?)),
            };
            s.command(|c| c.inner_mut().request(method, path, content_type, body))
                .with_context(|| format!("cannot send to {url}"))?;
            let event = loop {
                match s.next_event(self.timeout) {
                    Ok(Some(TlsClientEvent::Established(_))) => {}
                    // A server that drops an idle kept-alive connection
                    // without close_notify: closed, as in clear (retried
                    // once when the connection was reused).
                    Ok(Some(TlsClientEvent::Failed(TlsError::Truncated))) => {
                        break Ok(Some(HttpClientEvent::Closed))
                    }
                    Ok(Some(TlsClientEvent::Failed(e))) => {
                        // The alert goes out before the close.
                        let _ = s.command(|_| ());
                        *session = None;
                        bail!("TLS with {url} failed: {e}");
                    }
                    Ok(Some(TlsClientEvent::Inner(event))) => break Ok(Some(event)),
                    Ok(None) => break Ok(None),
                    Err(e) => break Err(e),
                }
            };
            match event {
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

impl Drop for HttpLink {
    /// A kept-alive TLS connection ends with close_notify, not a cut.
    fn drop(&mut self) {
        if let Some(s) = &mut self.session {
            let _ = s.command(LayeredSession::close_tls);
        }
    }
}

fn connect(
    target: &Endpoint,
    url: &str,
    trace: bool,
    max_body: u64,
    tls: Option<&ClientTls>,
) -> anyhow::Result<Session> {
    let stream = TcpStream::connect((target.host.as_str(), target.port))
        .with_context(|| format!("cannot reach {url}"))?;
    let client = HttpClient::for_host(&target.authority)
        .with_max_body(usize::try_from(max_body).unwrap_or(usize::MAX));
    let tracer = crate::tracer(trace, Wire::Http, Side::Client);
    let (client, tracer) = LayeredSession::new(client, tls, tracer)?;
    let mut session = BlockingSession::new(stream, client);
    if let Some(t) = tracer {
        session.trace(t);
    }
    Ok(session)
}
