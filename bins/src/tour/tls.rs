//! The tour's TLS step: exercise 6 over HTTPS with a CA made at start,
//! and a client that trusts another CA refused.

use std::time::Duration;

use anyhow::{bail, Context as _};
use commlab_core::calc::{CalcHandler, CalcServer, Op};

use super::Transcript;
use crate::tls::{make_for, ServerTls, TlsClientArgs};
use crate::Engine;

/// The REST calc over TLS: the right CA is trusted, another is refused.
pub(super) fn tls(engine: Engine, log: &Transcript) -> anyhow::Result<()> {
    let made = make_for(&["localhost", "127.0.0.1"])?;
    let other = make_for(&["localhost"])?;
    let dir = std::env::temp_dir().join(format!("commlab-tour-tls-{}", std::process::id()));
    std::fs::create_dir_all(&dir).with_context(|| format!("cannot create {}", dir.display()))?;
    let (ca, wrong) = (dir.join("ca.pem"), dir.join("other-ca.pem"));
    std::fs::write(&ca, &made.ca_pem)?;
    std::fs::write(&wrong, &other.ca_pem)?;
    let mut tls = ServerTls::new(made.chain.clone(), made.key.clone_key())?;
    tls.quiet = true;
    log.push(format!(
        "server : TLS certificate for localhost and 127.0.0.1, SHA-256 {}",
        crate::tls::fingerprint(&made.chain[0])
    ));
    let listener = std::net::TcpListener::bind(("127.0.0.1", 0))?;
    let server = crate::Server::start_layered(
        engine,
        listener,
        CalcServer::new(CalcHandler::new("/api")),
        log.access_log(),
        log.tracer(commlab_core::trace::Wire::Http),
        Some(&tls),
    )?;
    let base = format!("https://{}/api", server.local_addr());
    let timeout = Duration::from_secs(5);
    let trusting = |path: &std::path::Path| TlsClientArgs {
        ca: Some(path.to_owned()),
        tls_server_name: None,
    };
    log.push(format!("client > GET {base}/soma/4/5 (trusting the CA)"));
    let (answer, _) = crate::calc::call(&base, Op::Soma, "4", "5", timeout, false, &trusting(&ca))?;
    log.push(format!("client < {}", answer.python_dict()));
    if answer.python_dict() != "{'A soma: ': 9}" {
        bail!("expected {{'A soma: ': 9}}, got {}", answer.python_dict());
    }
    log.check();
    log.push(format!(
        "client > GET {base}/soma/4/5 (trusting another CA)"
    ));
    match crate::calc::call(&base, Op::Soma, "4", "5", timeout, false, &trusting(&wrong)) {
        Err(e) if format!("{e:#}").contains("UnknownIssuer") => {
            log.push(format!("client < error: {e:#}"));
            log.check();
        }
        Ok(_) => bail!("a client trusting another CA got an answer"),
        Err(e) => bail!("expected an unknown-issuer refusal, got: {e:#}"),
    }
    // Let the server read the refusing client's alert before it stops (a
    // slower host, Wine's say, can take longer than the next call).
    let deadline = std::time::Instant::now() + super::STEP_TIMEOUT;
    while server.connections() > 0 && std::time::Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(5));
    }
    server.shutdown();
    let _ = std::fs::remove_dir_all(&dir);
    Ok(())
}
