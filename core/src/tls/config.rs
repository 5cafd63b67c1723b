//! Building rustls configurations on the ring provider and a [`TlsClock`].

use std::sync::Arc;

use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use rustls::{ClientConfig, RootCertStore, ServerConfig};

use super::TlsClock;
use crate::Fault;

/// A certificate set-up rustls refused (the operator's files are at fault).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ConfigError {
    /// No certificate was given.
    #[error("no certificate given")]
    NoCertificate,
    /// The key does not match the certificate, or either is unusable.
    #[error("the certificate and key are not usable together: {0}")]
    Rejected(String),
}

impl ConfigError {
    /// Who is at fault: the local operator's certificate files.
    pub fn fault(&self) -> Fault {
        Fault::Local
    }
}

/// ring's suites, AES-128-GCM first (TLS 1.3's mandatory suite, Go's and
/// most browsers' first choice): as safe as AES-256 for this use and about
/// a third cheaper per byte, which bulk file transfers feel.
fn provider() -> Arc<rustls::crypto::CryptoProvider> {
    use rustls::CipherSuite;
    let mut provider = rustls::crypto::ring::default_provider();
    let rank = |s: &rustls::SupportedCipherSuite| match s.suite() {
        CipherSuite::TLS13_AES_128_GCM_SHA256 => 0,
        CipherSuite::TLS13_AES_256_GCM_SHA384 => 1,
        CipherSuite::TLS13_CHACHA20_POLY1305_SHA256 => 2,
        CipherSuite::TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256
        | CipherSuite::TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256 => 3,
        _ => 4,
    };
    provider.cipher_suites.sort_by_key(rank);
    Arc::new(provider)
}

/// A server configuration presenting `chain` (leaf first) signed by `key`,
/// checking time against `clock`; TLS 1.2 and 1.3, no client certificates.
pub fn server_config(
    chain: Vec<CertificateDer<'static>>,
    key: PrivateKeyDer<'static>,
    clock: &TlsClock,
) -> Result<Arc<ServerConfig>, ConfigError> {
    if chain.is_empty() {
        return Err(ConfigError::NoCertificate);
    }
    let config = ServerConfig::builder_with_details(provider(), Arc::new(clock.clone()))
        .with_safe_default_protocol_versions()
        .map_err(|e| ConfigError::Rejected(e.to_string()))?
        .with_no_client_auth()
        .with_single_cert(chain, key)
        .map_err(|e| ConfigError::Rejected(e.to_string()))?;
    Ok(Arc::new(config))
}

/// A client configuration trusting `roots`, checking certificate validity
/// against `clock`; TLS 1.2 and 1.3, no client certificate.
pub fn client_config(
    roots: RootCertStore,
    clock: &TlsClock,
) -> Result<Arc<ClientConfig>, ConfigError> {
    let config = ClientConfig::builder_with_details(provider(), Arc::new(clock.clone()))
        .with_safe_default_protocol_versions()
        .map_err(|e| ConfigError::Rejected(e.to_string()))?
        .with_root_certificates(roots)
        .with_no_client_auth();
    Ok(Arc::new(config))
}
