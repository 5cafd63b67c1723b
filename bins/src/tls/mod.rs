//! TLS for every command: the servers' `--tls-cert/--tls-key` or
//! `--tls-self-signed`, the clients' `--ca` and `--tls-server-name`, and
//! the layers that put core's [`TlsService`](commlab_core::tls::TlsService)/[`TlsSession`](commlab_core::tls::TlsSession) around any
//! protocol when asked ([`Layered`], [`LayeredSession`]).

mod certs;
mod layered;

use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Instant, SystemTime, UNIX_EPOCH};

use anyhow::Context as _;
use commlab_core::tls::{
    client_config, ClientConfig, RootCertStore, ServerConfig, ServerName, TlsClock,
};

pub use certs::{
    fingerprint, load_certs, load_server, make_for, make_for_at, make_self_signed, SelfSigned,
    BACKDATE, CA_LIFETIME, LEAF_LIFETIME,
};
pub use layered::{Layered, LayeredSession};

/// A clock anchored now, for the TLS layer (core reads none).
pub fn clock() -> TlsClock {
    TlsClock::new(Instant::now(), unix_now())
}

/// The system clock's time since the Unix epoch (zero before it).
pub(crate) fn unix_now() -> std::time::Duration {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default()
}

/// The TLS options every server takes (`#[command(flatten)]`).
#[derive(Debug, Clone, Default, clap::Args)]
pub struct TlsServerArgs {
    /// Speak TLS with this certificate chain (PEM, leaf first, then any
    /// intermediates).
    #[arg(
        long,
        value_name = "FILE",
        requires = "tls_key",
        conflicts_with = "tls_self_signed"
    )]
    pub tls_cert: Option<PathBuf>,
    /// The private key of --tls-cert (PEM: PKCS#8, PKCS#1 or SEC1).
    #[arg(long, value_name = "FILE", requires = "tls_cert")]
    pub tls_key: Option<PathBuf>,
    /// Speak TLS with a certificate made at start for localhost,
    /// 127.0.0.1 and ::1, signed by a new CA written to --tls-ca-out (give
    /// that file to clients' --ca).
    #[arg(long)]
    pub tls_self_signed: bool,
    /// Where --tls-self-signed writes its CA certificate (PEM).
    #[arg(long, value_name = "FILE", default_value = "commlab-ca.pem")]
    pub tls_ca_out: PathBuf,
    /// With --tls-self-signed: also send the CA's certificate after the
    /// server's (clients given --tls-ca-out need not have it sent).
    #[arg(long, requires = "tls_self_signed")]
    pub tls_send_ca: bool,
}

/// A server's TLS set-up, ready for [`Layered::new`].
#[derive(Debug, Clone)]
pub struct ServerTls {
    /// The rustls configuration.
    pub config: Arc<ServerConfig>,
    /// The clock it checks time against.
    pub clock: TlsClock,
    /// What the operator is told at start (certificate, fingerprint).
    pub summary: Vec<String>,
    /// Log failed handshakes only, not every one done.
    pub quiet: bool,
}

impl ServerTls {
    /// Serves `chain` (leaf first) with `key`, time from a clock anchored
    /// now; nothing to tell the operator.
    pub fn new(
        chain: Vec<commlab_core::tls::CertificateDer<'static>>,
        key: commlab_core::tls::PrivateKeyDer<'static>,
    ) -> anyhow::Result<Self> {
        let clock = clock();
        let config = commlab_core::tls::server_config(chain, key, &clock)?;
        Ok(Self {
            config,
            clock,
            summary: Vec::new(),
            quiet: false,
        })
    }
}

impl TlsServerArgs {
    /// The TLS set-up asked for, `None` for plaintext; errors name the
    /// file and what is wrong with it.
    pub fn load(&self) -> anyhow::Result<Option<ServerTls>> {
        let now = unix_now();
        let clock = TlsClock::new(Instant::now(), now);
        if self.tls_self_signed {
            let mut made = make_self_signed(now)?;
            if self.tls_send_ca {
                made = made.with_ca();
            }
            std::fs::write(&self.tls_ca_out, &made.ca_pem).with_context(|| {
                format!(
                    "cannot write the CA certificate to {}",
                    self.tls_ca_out.display()
                )
            })?;
            let config = commlab_core::tls::server_config(made.chain.clone(), made.key, &clock)?;
            return Ok(Some(ServerTls {
                config,
                clock,
                quiet: false,
                summary: vec![
                    format!(
                        "TLS: self-signed certificate for localhost, 127.0.0.1 and ::1; its CA is in {} (clients: --ca {})",
                        self.tls_ca_out.display(),
                        self.tls_ca_out.display()
                    ),
                    format!("TLS: certificate SHA-256 fingerprint {}", fingerprint(&made.chain[0])),
                    format!("TLS: public key SHA-256 (base64, for Chromium's --ignore-certificate-errors-spki-list) {}", made.spki_sha256),
                ],
            }));
        }
        let (Some(cert), Some(key)) = (&self.tls_cert, &self.tls_key) else {
            return Ok(None);
        };
        let (chain, key) = load_server(cert, key)?;
        let summary = vec![format!(
            "TLS: certificate {} (SHA-256 fingerprint {})",
            cert.display(),
            fingerprint(&chain[0])
        )];
        let config = commlab_core::tls::server_config(chain, key, &clock)
            .with_context(|| format!("cannot use {} with {}", cert.display(), key_name(self)))?;
        Ok(Some(ServerTls {
            config,
            clock,
            summary,
            quiet: false,
        }))
    }
}

fn key_name(args: &TlsServerArgs) -> String {
    args.tls_key
        .as_ref()
        .map_or_else(String::new, |k| k.display().to_string())
}

/// The TLS options every client takes (`#[command(flatten)]`).
#[derive(Debug, Clone, Default, clap::Args)]
pub struct TlsClientArgs {
    /// Trust this CA certificate (PEM; e.g. the commlab-ca.pem a
    /// --tls-self-signed server wrote) instead of the built-in web roots.
    #[arg(long, value_name = "FILE", global = true)]
    pub ca: Option<PathBuf>,
    /// The name the server's certificate must carry (default: the host
    /// connected to); needed when connecting by IP to a certificate
    /// issued for a name.
    #[arg(long, value_name = "NAME", global = true)]
    pub tls_server_name: Option<String>,
}

/// A client's TLS set-up: whom to trust and which name to check.
#[derive(Debug, Clone)]
pub struct ClientTls {
    /// The rustls configuration.
    pub config: Arc<ClientConfig>,
    /// The clock certificates are checked against.
    pub clock: TlsClock,
    /// The name checked.
    pub name: ServerName<'static>,
}

impl TlsClientArgs {
    /// The set-up to reach `host` (the name checked unless
    /// --tls-server-name says otherwise).
    pub fn client(&self, host: &str) -> anyhow::Result<ClientTls> {
        let mut roots = RootCertStore::empty();
        match &self.ca {
            Some(path) => {
                for cert in certs::load_certs(path)? {
                    roots.add(cert).with_context(|| {
                        format!("{} holds a certificate that cannot be a CA", path.display())
                    })?;
                }
            }
            None => roots.extend(webpki_roots::TLS_SERVER_ROOTS.iter().cloned()),
        }
        let clock = clock();
        let config = client_config(roots, &clock)?;
        let wanted = self.tls_server_name.as_deref().unwrap_or(host);
        let bare = wanted.trim_start_matches('[').trim_end_matches(']');
        let name = ServerName::try_from(bare.to_owned()).map_err(|_| {
            anyhow::anyhow!("'{wanted}' is not a valid TLS server name or IP address")
        })?;
        Ok(ClientTls {
            config,
            clock,
            name,
        })
    }
}
