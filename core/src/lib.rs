//! The sans-IO core of commlab: every protocol of the course as a pure
//! state machine. No sockets, threads, clocks or files: bytes and events in,
//! bytes and events out, time passed in.
//!
//! # The run loop
//!
//! Every protocol is a [`Session`] (one connection) or a [`Service`] (a
//! server over many connections). A driver feeds it with `handle_*` calls,
//! then drains its `poll_*` outputs until there are none ("mutate once, then
//! drain"), and wakes it no later than `poll_timeout`. This is the whole
//! contract, here driving a [`ChatClient`] over a blocking `TcpStream`:
//!
//! ```no_run
//! use std::io::{Read, Write};
//! use std::net::TcpStream;
//! use std::time::{Duration, Instant};
//! use commlab_core::{ChatClient, ClientEvent, Session};
//!
//! let mut stream = TcpStream::connect("127.0.0.1:50009")?;
//! let mut client = ChatClient::default();
//! client.send_line("Olá")?;
//! let mut out = Vec::new();
//! let mut buf = [0u8; 4096];
//! while !client.is_closed() {
//!     // Drain: bytes to send, then events for the application.
//!     client.poll_transmit(&mut out);
//!     stream.write_all(&out)?;
//!     out.clear();
//!     while let Some(event) = client.poll_event() {
//!         if let ClientEvent::Line(line) = event {
//!             println!("Server recebeu: {line}");
//!             client.finish();
//!         }
//!     }
//!     if client.wants_write_shutdown() {
//!         stream.shutdown(std::net::Shutdown::Write)?;
//!     }
//!     // Wait for input no longer than the session's next deadline.
//!     let wait = client
//!         .poll_timeout()
//!         .map(|at| at.saturating_duration_since(Instant::now()));
//!     stream.set_read_timeout(wait.map(|d| d.max(Duration::from_millis(1))))?;
//!     match stream.read(&mut buf) {
//!         Ok(0) => client.handle_eof(Instant::now()),
//!         Ok(n) => client.handle_input(Instant::now(), &buf[..n]),
//!         Err(e) if e.kind() == std::io::ErrorKind::WouldBlock
//!             || e.kind() == std::io::ErrorKind::TimedOut =>
//!         {
//!             client.handle_timeout(Instant::now())
//!         }
//!         Err(e) => return Err(e.into()),
//!     }
//! }
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! Errors are typed and say who is at fault ([`Fault`]); IO errors exist
//! only in the adapters.

#![forbid(unsafe_code)]
#![warn(missing_docs)]
#![cfg_attr(not(test), warn(clippy::unwrap_used, clippy::expect_used))]

pub mod app;
pub mod calc;
pub mod chat;
mod conn_table;
mod fault;
pub mod filexfer;
#[cfg(feature = "fuzzing")]
pub mod fuzzing;
pub mod http1;
mod id_map;
pub mod lambda;
mod line;
pub mod nats;
mod output_queue;
mod read_buf;
mod service;
#[cfg(feature = "testing")]
pub mod testing;
mod timers;
pub mod tls;
pub mod trace;
pub mod ws;
pub mod xmlrpc;

pub use app::{AnyApp, App, Job, Jobs, Lane, Spawn};
pub use chat::{ChatClient, ChatConfig, ChatEvent, ChatMode, ChatServer, ClientEvent};
pub use conn_table::{ConnTable, Overflow, MAX_BACKLOG};
pub use fault::Fault;
pub use id_map::{ConnMap, IdHasher, IdMap};
pub use line::{
    encode_line, LineDecoder, LineError, LineReader, Terminator, MAX_LINE, QUIET_FLUSH,
};
pub use output_queue::{BroadcastBatch, OutputQueue};
pub use service::{ConnId, Dial, Flow, Readiness, Service, Session};
pub use timers::DeadlineQueue;
