//! Where the Runtime API is: the value of `AWS_LAMBDA_RUNTIME_API`, read
//! as AWS's own runtimes read it. Lambda sets `HOST:PORT`; an emulator may
//! add a scheme (`http://`) and a path prefix (cargo-lambda's
//! `http://127.0.0.1:9000/.rt`). AWS's documentation builds each URL by
//! appending the API version and resource to the value, so the prefix is
//! kept in front of every path.

/// Longest value accepted.
pub const MAX_API_ADDR: usize = 1024;

/// The Runtime API's address: an authority to connect to and a path
/// prefix for every request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RuntimeApi {
    authority: String,
    prefix: String,
}

/// Why a value of `AWS_LAMBDA_RUNTIME_API` cannot be used (the fault of
/// whoever set it).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ApiAddrError {
    /// Empty, or only a scheme.
    #[error("it is empty: Lambda sets it to HOST:PORT")]
    Empty,
    /// A scheme other than `http://`.
    #[error("'{0}' is not http://: the Runtime API is plain HTTP on the sandbox's loopback")]
    Scheme(String),
    /// No `:PORT`, or one that is not a port.
    #[error("'{0}' has no HOST:PORT (Lambda sets HOST:PORT, as 127.0.0.1:9001)")]
    NoPort(String),
    /// Spaces, control characters, a query or a fragment, or too long.
    #[error("'{0}' is not a HOST:PORT with an optional /path")]
    Malformed(String),
}

impl RuntimeApi {
    /// Reads `value`: `HOST:PORT`, `[IPV6]:PORT`, either with a path
    /// prefix, either after `http://`.
    pub fn parse(value: &str) -> Result<Self, ApiAddrError> {
        let shown = || value.chars().take(80).collect::<String>();
        let value = value.trim();
        if value.len() > MAX_API_ADDR
            || value
                .bytes()
                .any(|b| b.is_ascii_control() || b == b' ' || b == b'?' || b == b'#')
        {
            return Err(ApiAddrError::Malformed(shown()));
        }
        let rest = match value.split_once("://") {
            Some((scheme, rest)) if scheme.eq_ignore_ascii_case("http") => rest,
            Some((scheme, _)) => return Err(ApiAddrError::Scheme(scheme.to_owned())),
            None => value,
        };
        if rest.is_empty() {
            return Err(ApiAddrError::Empty);
        }
        let (authority, path) = match rest.find('/') {
            Some(i) => rest.split_at(i),
            None => (rest, ""),
        };
        let port = match authority.rsplit_once(':') {
            Some((host, port)) if !host.is_empty() && !port.contains(']') => port,
            _ => return Err(ApiAddrError::NoPort(shown())),
        };
        if port.parse::<u16>().map_or(true, |p| p == 0) {
            return Err(ApiAddrError::NoPort(shown()));
        }
        Ok(Self {
            authority: authority.to_owned(),
            prefix: path.trim_end_matches('/').to_owned(),
        })
    }

    /// `http://HOST:PORT`, for the HTTP client to connect to.
    pub fn base_url(&self) -> String {
        format!("http://{}", self.authority)
    }

    /// `HOST:PORT`.
    pub fn authority(&self) -> &str {
        &self.authority
    }

    /// The path of `resource` (one of the Runtime API's, as
    /// [`NEXT_PATH`](super::NEXT_PATH)) behind the prefix.
    pub fn path(&self, resource: &str) -> String {
        format!("{}{resource}", self.prefix)
    }
}

impl std::fmt::Display for RuntimeApi {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "http://{}{}", self.authority, self.prefix)
    }
}
