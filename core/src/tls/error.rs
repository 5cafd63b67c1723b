//! Why a TLS connection failed.

use crate::Fault;

/// Why a TLS connection ended in failure; one is reported per connection.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TlsError {
    /// A plaintext HTTP request arrived on a TLS port (answered with a
    /// plaintext `400`).
    #[error("plaintext HTTP on a TLS port (answered 400: use https://)")]
    PlainHttp,
    /// The first bytes were not a TLS record.
    #[error("not TLS at all (first byte 0x{0:02x}; expected a handshake record, 0x16)")]
    NotTls(u8),
    /// The handshake did not finish within [`HANDSHAKE_TIMEOUT`](super::HANDSHAKE_TIMEOUT).
    #[error("handshake not finished within {} s", super::HANDSHAKE_TIMEOUT.as_secs())]
    HandshakeTimeout,
    /// The connection closed before the handshake was done.
    #[error("connection closed during the handshake")]
    HandshakeCut,
    /// The peer's certificate was refused here (wrong CA, expired, not yet
    /// valid, wrong host name...).
    #[error("bad certificate from the peer: {0}")]
    BadCertificate(String),
    /// The peer refused this side's certificate or settings (an alert).
    #[error("the peer refused the handshake: {0}")]
    Refused(String),
    /// No protocol version or cipher suite in common.
    #[error("no common TLS version or cipher suite: {0}")]
    NoCommonParameters(String),
    /// The stream ended without `close_notify`: what was received may be
    /// cut short.
    #[error("the TLS stream ended without close_notify (truncated)")]
    Truncated,
    /// Any other violation of the TLS protocol by the peer.
    #[error("TLS protocol error: {0}")]
    Protocol(String),
}

impl TlsError {
    /// Who is at fault.
    pub fn fault(&self) -> Fault {
        match self {
            Self::PlainHttp | Self::NotTls(_) | Self::BadCertificate(_) | Self::Protocol(_) => {
                Fault::PeerData
            }
            Self::NoCommonParameters(_) | Self::Refused(_) => Fault::PeerOrder,
            Self::HandshakeTimeout => Fault::Limit,
            Self::HandshakeCut | Self::Truncated => Fault::Network,
        }
    }

    /// Classifies a rustls error.
    pub(super) fn from_rustls(e: &rustls::Error) -> Self {
        use rustls::Error as E;
        match e {
            E::InvalidCertificate(rustls::CertificateError::UnknownIssuer) => {
                Self::BadCertificate(format!("{e} (not issued by a CA this side trusts)"))
            }
            E::InvalidCertificate(rustls::CertificateError::BadSignature) => Self::BadCertificate(
                format!("{e} (signed by another CA of the same name as a trusted one)"),
            ),
            E::InvalidCertificate(_) | E::NoCertificatesPresented => {
                Self::BadCertificate(e.to_string())
            }
            E::AlertReceived(_) => Self::Refused(e.to_string()),
            E::PeerIncompatible(_) => Self::NoCommonParameters(e.to_string()),
            _ => Self::Protocol(e.to_string()),
        }
    }
}
