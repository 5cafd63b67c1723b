//! The HTTP floor: hyper answering every request with a fixed 200 (after
//! reading its body), keep-alive.

use std::convert::Infallible;

use http_body_util::{BodyExt, Full};
use hyper::body::{Bytes, Incoming};
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Request, Response};
use hyper_util::rt::TokioIo;

async fn fixed(req: Request<Incoming>) -> Result<Response<Full<Bytes>>, Infallible> {
    let _ = req.into_body().collect().await;
    Ok(Response::new(Full::new(Bytes::from_static(b"ok"))))
}

#[tokio::main]
async fn main() {
    commlab_peers::serve_each(commlab_peers::listen().await, |socket| async move {
        let _ = http1::Builder::new()
            .serve_connection(TokioIo::new(socket), service_fn(fixed))
            .await;
    })
    .await;
}
