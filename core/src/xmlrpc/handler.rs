//! XML-RPC over HTTP: POST to `/RPC2` (or `/`), as Python's server accepts.

use super::Dispatcher;
use crate::http1::{Handler, HttpServer, Request, Response, Status};

/// The paths XML-RPC is served on (Python's `rpc_paths`).
pub const RPC_PATHS: [&str; 2] = ["/RPC2", "/"];

/// An [`http1::Handler`](crate::http1::Handler) that answers XML-RPC calls
/// with a [`Dispatcher`]: 404 off [`RPC_PATHS`], 405 (with `Allow: POST`)
/// for other methods, 200 `text/xml` with a value or a fault otherwise.
#[derive(Debug)]
pub struct RpcHandler {
    dispatcher: Dispatcher,
}

impl RpcHandler {
    /// Serves `dispatcher`.
    pub fn new(dispatcher: Dispatcher) -> Self {
        Self { dispatcher }
    }

    /// The dispatcher.
    pub fn dispatcher(&self) -> &Dispatcher {
        &self.dispatcher
    }
}

impl Handler for RpcHandler {
    fn handle(&mut self, req: &Request) -> Response {
        if !RPC_PATHS.contains(&req.path()) {
            return Response::text(
                Status::NOT_FOUND,
                &format!("no XML-RPC endpoint at {}; use /RPC2", req.path()),
            );
        }
        if req.method != "POST" {
            return Response::text(
                Status::METHOD_NOT_ALLOWED,
                &format!("XML-RPC takes POST, not {}", req.method),
            )
            .header("Allow", "POST");
        }
        Response::with_body(
            Status::OK,
            "text/xml",
            self.dispatcher.handle_body(&req.body),
        )
    }
}

/// The XML-RPC server: HTTP/1.1 around a dispatcher.
pub type RpcServer = HttpServer<RpcHandler>;
