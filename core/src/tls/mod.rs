//! TLS around any protocol, without IO: [`TlsService`] wraps a
//! [`Service`](crate::Service) and [`TlsSession`] a
//! [`Session`](crate::Session); each is itself a `Service`/`Session`, so
//! both drivers run it unchanged.
//!
//! Both are built on rustls's buffered connection API (`read_tls`,
//! `process_new_packets`, `reader`/`writer`, `write_tls`) with the `ring`
//! provider. Guarantees:
//! - the inner protocol sees only authenticated plaintext, and only once
//!   the handshake is done (a server's inner service is told of the
//!   connection then, not at accept);
//! - a graceful close sends `close_notify`; a peer that stops without one
//!   is reported to the inner protocol as a lost connection, never as EOF;
//! - a failed handshake (bad certificate, no common version, not TLS, cut
//!   or too slow) gets an alert when TLS allows one, closes the
//!   connection, and is reported once as a [`TlsError`];
//! - a plaintext HTTP request on a TLS port gets a short plaintext `400`;
//! - every buffer is bounded ([`TLS_BUFFER_LIMIT`]) and a handshake must
//!   finish within [`HANDSHAKE_TIMEOUT`].
//!
//! Core reads no clock: certificate validity is checked against a
//! [`TlsClock`], wall time the driver anchors once and the session moves
//! forward with each `now` it is given.

mod clock;
mod config;
mod error;
mod link;
mod service;
mod session;

use std::time::Duration;

pub use clock::TlsClock;
pub use config::{client_config, server_config, ConfigError};
pub use error::TlsError;
pub use link::TlsInfo;
pub use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName};
pub use rustls::{ClientConfig, RootCertStore, ServerConfig};
pub use service::{TlsEvent, TlsService};
pub use session::{TlsClientEvent, TlsSession};

/// Longest a handshake may take, from accept (or connect) to done.
pub const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);
/// Cap on the plaintext and ciphertext rustls holds per connection and
/// direction (`set_buffer_limit`); the inner protocol's own output queue
/// holds the rest.
pub const TLS_BUFFER_LIMIT: usize = 64 * 1024;
/// Plaintext taken from the inner protocol per step: one TLS record.
pub const PLAINTEXT_CHUNK: usize = 16 * 1024;
