//! Exercise 5: `commlab ft server`, `commlab ft client`, `commlab ft passwd`.
//!
//! The protocol lives in core (`filexfer`); this module reads and writes the
//! files: downloads stream from the file, uploads go to a temporary file in
//! the target folder that replaces the old file only once its length and
//! digest matched.

mod client;
mod files;
mod raw;
mod server;
mod server_app;
mod users;

use std::time::Duration;

use commlab_core::filexfer::DigestAlg;

pub use client::{run_client, ClientArgs, ClientCommand, FtConnection};
pub use files::{is_temp, list_folder, remove_stale_temps, resolve};
pub use raw::start_raw;
pub use server::{run_server, start, FtServerConfig, ServerArgs};
pub use server_app::MAX_UPLOAD_QUEUE;
pub use users::{hash_password, run_passwd, PasswdArgs, Users, MAX_ARGON2_KIB};

/// Prints a log line on stderr.
fn log(text: &str) {
    crate::print_line(crate::ServerLine::Log(text.to_owned()));
}

/// Warns on stderr that `what` (a password) was given on the command
/// line, where every user of the machine can read it (`ps`,
/// `/proc/PID/cmdline`, Windows' process listings), and says what to use
/// `instead`. Kept for class use; one line, never an error.
fn warn_password_in_arguments(what: &str, instead: &str) {
    log(&format!(
        "warning: {what} on the command line can be read by every user of this machine (ps, /proc/PID/cmdline); {instead}"
    ));
}

/// The class's port for the file transfer exercise.
pub const PORT: u16 = 6001;
/// The address the file server listens on by default.
pub const HOST: &str = "127.0.0.1";
/// Bytes read from a file per step.
pub const FILE_CHUNK: usize = 256 * 1024;
/// How long the client waits for any answer.
pub const ANSWER_TIMEOUT: Duration = Duration::from_secs(60);

/// Digest choice on the command line.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Hash {
    /// BLAKE3 (default; check with b3sum).
    Blake3,
    /// SHA-256 (check with sha256sum).
    Sha256,
}

impl From<Hash> for DigestAlg {
    fn from(h: Hash) -> Self {
        match h {
            Hash::Blake3 => Self::Blake3,
            Hash::Sha256 => Self::Sha256,
        }
    }
}
