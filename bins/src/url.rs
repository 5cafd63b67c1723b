//! Client URLs: one split of a URL into what a TCP client needs, shared
//! by the HTTP transport and the WebSocket client.

use anyhow::{bail, Context as _};

/// Where a URL points: its scheme, the host and port to connect to, the
/// `Host` header (the authority as written) and the request target.
#[derive(Debug)]
pub struct Endpoint {
    /// The scheme as `http::Uri` gives it (`http`, `ws`...).
    pub scheme: String,
    /// The host to connect to, IPv6 brackets removed.
    pub host: String,
    /// The port written, or the scheme's default.
    pub port: u16,
    /// `host[:port]` as written, for the `Host` header.
    pub authority: String,
    /// Path and query, `/` when the URL has none.
    pub path: String,
}

impl Endpoint {
    /// Splits `url`; `example` is a URL shown when `url` is not one at
    /// all. `default_port` gives the port of a scheme (`""` when the URL
    /// has none), or the error for a scheme the caller does not speak.
    /// Errors name the URL and what is wrong with it.
    pub fn parse(
        url: &str,
        example: &str,
        default_port: impl FnOnce(&str) -> anyhow::Result<u16>,
    ) -> anyhow::Result<Self> {
        let uri: http::Uri = url
            .parse()
            .with_context(|| format!("{url} is not a URL (try {example})"))?;
        let scheme = uri.scheme_str().unwrap_or_default().to_owned();
        let port = default_port(&scheme)?;
        let Some(authority) = uri.authority() else {
            bail!("{url} names no host");
        };
        Ok(Self {
            scheme,
            host: authority
                .host()
                .trim_start_matches('[')
                .trim_end_matches(']')
                .to_owned(),
            port: authority.port_u16().unwrap_or(port),
            authority: authority.as_str().to_owned(),
            path: uri
                .path_and_query()
                .map_or_else(|| "/".to_owned(), |p| p.as_str().to_owned()),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn web(scheme: &str) -> anyhow::Result<u16> {
        match scheme {
            "http" => Ok(80),
            "https" => Ok(443),
            _ => bail!("not HTTP"),
        }
    }

    #[test]
    fn splits_host_port_and_path() {
        let e = Endpoint::parse("http://[::1]:8005/RPC2?x=1", "", web).unwrap();
        assert_eq!(
            (e.scheme.as_str(), e.host.as_str(), e.port),
            ("http", "::1", 8005)
        );
        assert_eq!(
            (e.authority.as_str(), e.path.as_str()),
            ("[::1]:8005", "/RPC2?x=1")
        );
        let e = Endpoint::parse("https://example.org", "", web).unwrap();
        assert_eq!((e.port, e.path.as_str()), (443, "/"));
    }

    #[test]
    fn errors_name_the_url() {
        let err = Endpoint::parse("ftp://h/", "", web).unwrap_err();
        assert_eq!(err.to_string(), "not HTTP");
        let err = Endpoint::parse("http:///no-host", "", web).unwrap_err();
        assert!(err.to_string().contains("http:///no-host"), "{err}");
        let err = Endpoint::parse("no spaces allowed", "http://h/", web).unwrap_err();
        assert_eq!(
            err.to_string(),
            "no spaces allowed is not a URL (try http://h/)"
        );
    }
}
