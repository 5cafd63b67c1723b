//! The REST calc over TLS: the axum route of `calc`, served by hyper over
//! tokio-rustls (ring, as commlab), with `--cert FILE --key FILE` (PEM).

use std::sync::Arc;

use hyper_util::rt::TokioIo;
use hyper_util::service::TowerToHyperService;
use tokio_rustls::rustls::pki_types::pem::PemObject;
use tokio_rustls::rustls::pki_types::{CertificateDer, PrivateKeyDer};
use tokio_rustls::rustls::ServerConfig;
use tokio_rustls::TlsAcceptor;

use commlab_peers::required_arg as arg;

#[tokio::main]
async fn main() {
    let chain: Vec<CertificateDer<'static>> = CertificateDer::pem_file_iter(arg("--cert"))
        .expect("certificate file")
        .collect::<Result<_, _>>()
        .expect("certificate PEM");
    let key = PrivateKeyDer::from_pem_file(arg("--key")).expect("key PEM");
    let provider = Arc::new(tokio_rustls::rustls::crypto::ring::default_provider());
    let config = ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .expect("versions")
        .with_no_client_auth()
        .with_single_cert(chain, key)
        .expect("certificate and key");
    let acceptor = TlsAcceptor::from(Arc::new(config));
    let listener = commlab_peers::listen().await;
    let app = commlab_peers::calc_router();
    commlab_peers::serve_each(listener, move |socket| {
        let acceptor = acceptor.clone();
        let service = TowerToHyperService::new(app.clone());
        async move {
            let Ok(tls) = acceptor.accept(socket).await else {
                return;
            };
            let _ = hyper::server::conn::http1::Builder::new()
                .serve_connection(TokioIo::new(tls), service)
                .await;
        }
    })
    .await;
}
