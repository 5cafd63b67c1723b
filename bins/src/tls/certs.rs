//! Certificate files: reading PEM, and making a CA and a certificate at
//! start (`--tls-self-signed`, and the tests) with rcgen.

use std::path::Path;

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

/// A CA made at start and a certificate it signed.
#[derive(Debug)]
pub struct SelfSigned {
    /// The server's certificate, then the CA's.
    pub chain: Vec<CertificateDer<'static>>,
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

/// A new CA and a certificate for `localhost`, `127.0.0.1` and `::1`.
pub fn make_self_signed() -> anyhow::Result<SelfSigned> {
    make_for(&["localhost", "127.0.0.1", "::1"])
}

/// A new CA and a certificate it signed for `names` (DNS names or IPs).
pub fn make_for(names: &[&str]) -> anyhow::Result<SelfSigned> {
    let why = "cannot make a self-signed certificate";
    let mut ca = CertificateParams::new(Vec::<String>::new()).context(why)?;
    ca.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
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
    let key = KeyPair::generate().context(why)?;
    let cert = leaf.signed_by(&key, &ca).context(why)?;
    let spki_sha256 = base64::engine::general_purpose::STANDARD
        .encode(Sha256::digest(key.subject_public_key_info()));
    Ok(SelfSigned {
        chain: vec![cert.der().clone(), ca.der().clone()],
        key: PrivateKeyDer::try_from(key.serialize_der())
            .map_err(|e| anyhow::anyhow!("{why}: {e}"))?,
        ca_pem: ca.pem(),
        key_pem: key.serialize_pem(),
        cert_pem: cert.pem(),
        spki_sha256,
    })
}
