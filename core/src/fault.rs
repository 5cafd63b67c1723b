//! Who is at fault when a session fails.

/// Who caused an error, so an adapter can log it and a peer can be told.
///
/// Every typed error in core maps to one of these through a `fault()`
/// method; the reasons a connection ends map to one, or to none when the
/// end is nobody's fault (a peer that closes, a server that stops).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Fault {
    /// The peer sent bytes that do not parse (bad UTF-8, malformed header...).
    PeerData,
    /// The peer sent well-formed input at the wrong moment (broke the protocol order).
    PeerOrder,
    /// The peer exceeded a limit (line length, output backlog, idle time...).
    Limit,
    /// The connection failed underneath (reset, broken pipe): the network
    /// or a peer that vanished.
    Network,
    /// The local caller misused the API (sent a line with a newline in it...).
    Local,
}

impl std::fmt::Display for Fault {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Self::PeerData => "peer sent malformed data",
            Self::PeerOrder => "peer broke the protocol order",
            Self::Limit => "a limit was exceeded",
            Self::Network => "the connection failed",
            Self::Local => "local misuse",
        })
    }
}
