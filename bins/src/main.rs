//! The `commlab` command.

use std::process::ExitCode;

use clap::{Parser, Subcommand};

use commlab::chat::{ClientArgs, ServerArgs};
use commlab::tour::TourArgs;

/// commlab: the communication exercises of the course "Mecanismos de
/// Comunicação em Sistemas Distribuídos", as servers and clients that talk to
/// the class's own Python programs and browsers.
///
/// Run a server in one terminal and a client in another, as in class. Every
/// server prints `listening on HOST:PORT` first; `--port 0` picks a free port.
#[derive(Debug, Parser)]
#[command(name = "commlab", version, propagate_version = true)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Exercise 1: TCP socket chat (server and client), default port 50009.
    Chat {
        #[command(subcommand)]
        command: ChatCommand,
    },
    /// Run every exercise end to end on loopback, on both engines, and check
    /// every answer. Exits 0 only if all came out as expected.
    Tour(TourArgs),
}

#[derive(Debug, Subcommand)]
enum ChatCommand {
    /// Start the chat server. Type lines at its console to talk (chat and
    /// room modes). Ctrl-C stops it.
    ///
    /// Modes: `chat` (the exercise: you and one client talk in full duplex,
    /// the client speaks first), `echo` (the class example: answers
    /// `Eco=><line>`), `room` (many clients; /nick NAME, /who, /quit).
    /// Lines are UTF-8, newline-terminated, at most 64 KiB; `nc 127.0.0.1
    /// 50009` is a valid client.
    Server(ServerArgs),
    /// Connect to a chat server and talk: type a line and Enter to send it,
    /// Ctrl-D to leave.
    Client(ClientArgs),
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Chat {
            command: ChatCommand::Server(args),
        } => commlab::chat::run_server(&args),
        Command::Chat {
            command: ChatCommand::Client(args),
        } => commlab::chat::run_client(&args),
        Command::Tour(args) => commlab::tour::run(&args),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}
