//! AWS Lambda, sans-IO: the custom runtime's side of the Runtime API
//! (2018-06-01) and the HTTP events API Gateway and Function URLs hand a
//! function, so any [`Handler`](crate::http1::Handler) that answers HTTP
//! requests (the REST calc's router) answers them on Lambda too.
//!
//! [`runtime`] says which requests a runtime makes and reads the
//! invocations it is handed ([`Invocation`]); [`event`] maps the three
//! event formats (REST API payload 1.0, HTTP API payload 2.0, Function
//! URL) to a [`Request`](crate::http1::Request) and the handler's
//! [`Response`](crate::http1::Response) to the proxy answer
//! (`statusCode`, `headers`, `body`, `isBase64Encoded`). The driver
//! (`commlab calc lambda`) moves the bytes.

pub mod api_addr;
pub mod event;
pub mod runtime;

pub use api_addr::{ApiAddrError, RuntimeApi};

pub use event::{proxy_answer, serve_event, EventError, EventFormat, EventRequest, MAX_EVENT};
pub use runtime::{
    error_body, Invocation, RuntimeError, DEADLINE_HEADER, INIT_ERROR_PATH, NEXT_PATH,
    REQUEST_ID_HEADER, TRACE_HEADER,
};
