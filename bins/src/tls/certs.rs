//! Certificate files: reading PEM, and making a CA and a certificate at
//! start (`--tls-self-signed`, and the tests) with rcgen.

use std::path::Path;
use std::time::Duration;

use anyhow::Context as _;
use base64::Engine as _;
use commlab_core::tls::{CertificateDer, PrivateKeyDer};
use rcgen::{
    BasicConstraints, CertificateParams, CertifiedIssuer, DnType, IsCa, KeyPair, PublicKeyData as _,
};
use rustls_pki_types::pem::PemObject;
use sha2::{Digest, Sha256};

/// Every certificate in a PEM file, in order.
pub fn load_certs(path: &Path) -> anyhow::Result<Vec<CertificateDer<'static>>> {
    let certs = CertificateDer::pem_file_iter(path)
        .map_err(|e| anyhow::anyhow!("cannot read {}: {e}", path.display()))?
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| anyhow::anyhow!("{} is not valid PEM: {e}", path.display()))?;
    if certs.is_empty() {
        anyhow::bail!("{} holds no PEM certificate", path.display());
    }
    Ok(certs)
}

/// A server's chain and key from PEM files.
pub fn load_server(
    cert: &Path,
    key: &Path,
) -> anyhow::Result<(Vec<CertificateDer<'static>>, PrivateKeyDer<'static>)> {
    let chain = load_certs(cert)?;
    let key = PrivateKeyDer::from_pem_file(key)
        .map_err(|e| anyhow::anyhow!("cannot read a private key from {}: {e}", key.display()))?;
    Ok((chain, key))
}

/// The SHA-256 of a certificate, as `AB:CD:...` (what `openssl x509
/// -fingerprint -sha256` prints).
pub fn fingerprint(cert: &CertificateDer<'_>) -> String {
    Sha256::digest(cert.as_ref())
        .iter()
        .map(|b| format!("{b:02X}"))
        .collect::<Vec<_>>()
        .join(":")
}

/// How long before "now" a certificate made at start becomes valid, so a
/// client whose clock is a little behind accepts it.
pub const BACKDATE: Duration = Duration::from_secs(60 * 60);
/// How long a server certificate made at start is valid: under the 398
/// days browsers accept from public CAs (the CA/Browser Forum's limit).
pub const LEAF_LIFETIME: Duration = Duration::from_secs(397 * 24 * 60 * 60);
/// How long a CA made at start is valid: a few years.
pub const CA_LIFETIME: Duration = Duration::from_secs(3 * 365 * 24 * 60 * 60);

/// A CA made at start and a certificate it signed.
#[derive(Debug)]
pub struct SelfSigned {
    /// The server's certificate alone: clients are given the CA, so it is
    /// not sent ([`with_ca`](Self::with_ca) adds it).
    pub chain: Vec<CertificateDer<'static>>,
    /// The CA's certificate.
    pub ca: CertificateDer<'static>,
    /// The server certificate's key.
    pub key: PrivateKeyDer<'static>,
    /// The CA certificate, PEM, for clients to trust.
    pub ca_pem: String,
    /// The server certificate's key, PEM.
    pub key_pem: String,
    /// The server certificate, PEM.
    pub cert_pem: String,
    /// SHA-256 of the server key's SubjectPublicKeyInfo, base64 (what
    /// Chromium's `--ignore-certificate-errors-spki-list` takes).
    pub spki_sha256: String,
}

impl SelfSigned {
    /// The chain with the CA's certificate sent after the server's (for
    /// clients that are given something other than this CA to trust).
    pub fn with_ca(mut self) -> Self {
        self.chain.push(self.ca.clone());
        self
    }
}

/// A new CA and a certificate for `localhost`, `127.0.0.1` and `::1`,
/// valid from [`BACKDATE`] before `unix_now` (the time since the Unix
/// epoch, from the caller's clock).
pub fn make_self_signed(unix_now: Duration) -> anyhow::Result<SelfSigned> {
    make_for_at(&["localhost", "127.0.0.1", "::1"], unix_now)
}

/// A new CA and a certificate it signed for `names` (DNS names or IPs),
/// valid from now (the system clock); see [`make_for_at`].
pub fn make_for(names: &[&str]) -> anyhow::Result<SelfSigned> {
    make_for_at(names, super::unix_now())
}

/// A new CA and a certificate it signed for `names` (DNS names or IPs).
/// Both become valid [`BACKDATE`] before `unix_now` (the time since the
/// Unix epoch); the certificate lasts [`LEAF_LIFETIME`], the CA
/// [`CA_LIFETIME`].
pub fn make_for_at(names: &[&str], unix_now: Duration) -> anyhow::Result<SelfSigned> {
    let why = "cannot make a self-signed certificate";
    let start = unix_now.saturating_sub(BACKDATE);
    let at = |d: Duration| {
        i64::try_from(d.as_secs())
            .ok()
            .and_then(|s| time::OffsetDateTime::from_unix_timestamp(s).ok())
            .context("the clock is past what a certificate can say")
    };
    let mut ca = CertificateParams::new(Vec::<String>::new()).context(why)?;
    ca.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    ca.not_before = at(start)?;
    ca.not_after = at(start + CA_LIFETIME)?;
    // A name of its own: two CAs of one name make a wrong-CA client see
    // a bad signature instead of an unknown issuer.
    let mut tag = [0u8; 4];
    getrandom::fill(&mut tag).context(why)?;
    let tag: String = tag.iter().map(|b| format!("{b:02x}")).collect();
    ca.distinguished_name.push(
        DnType::CommonName,
        format!("commlab CA {tag} (made at start)"),
    );
    let ca = CertifiedIssuer::self_signed(ca, KeyPair::generate().context(why)?).context(why)?;
    let mut leaf =
        CertificateParams::new(names.iter().map(|n| (*n).to_owned()).collect::<Vec<_>>())
            .context(why)?;
    leaf.distinguished_name.push(
        DnType::CommonName,
        names.first().copied().unwrap_or("localhost"),
    );
    leaf.not_before = at(start)?;
    leaf.not_after = at(start + LEAF_LIFETIME)?;
    let key = KeyPair::generate().context(why)?;
    let cert = leaf.signed_by(&key, &ca).context(why)?;
    let spki_sha256 = base64::engine::general_purpose::STANDARD
        .encode(Sha256::digest(key.subject_public_key_info()));
    Ok(SelfSigned {
        chain: vec![cert.der().clone()],
        ca: ca.der().clone(),
        key: PrivateKeyDer::try_from(key.serialize_der())
            .map_err(|e| anyhow::anyhow!("{why}: {e}"))?,
        ca_pem: ca.pem(),
        key_pem: key.serialize_pem(),
        cert_pem: cert.pem(),
        spki_sha256,
    })
}
