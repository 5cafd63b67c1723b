//! Exercise 2: `commlab ws server` (page + WebSocket on one port, in the
//! exercise's sum mode or as the class's examples 1 and 2) and `commlab ws
//! client` (core's client session over the std driver).

mod client;
mod server;

pub use client::{
    hello, listen, run_client, sum, ClientArgs, ClientRequest, WsClient, ANSWER_TIMEOUT,
};
pub use server::{describe, run_server, start, start_loops, start_mode, ServerArgs};

use commlab_core::ws::WsMode;

/// The class's port for the WebSocket exercise and its example 2.
pub const PORT: u16 = 5678;
/// The class's address for the WebSocket examples.
pub const HOST: &str = "127.0.0.1";
/// The class's port for example 1 (hello).
pub const HELLO_PORT: u16 = 8765;

/// `--mode` of `commlab ws server`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Mode {
    /// The exercise: sums (JSON or "3 4"), the page, JSON pushes.
    Sum,
    /// The class's example 1: a name NAME is answered with `Ola NAME!`.
    Hello,
    /// The class's example 2: console lines pushed as plain text.
    Push,
}

impl Mode {
    /// The core mode.
    pub fn core(self) -> WsMode {
        match self {
            Self::Sum => WsMode::Sum,
            Self::Hello => WsMode::Hello,
            Self::Push => WsMode::Push,
        }
    }

    /// The class's port for this mode.
    pub fn default_port(self) -> u16 {
        match self {
            Self::Hello => HELLO_PORT,
            Self::Sum | Self::Push => PORT,
        }
    }
}
