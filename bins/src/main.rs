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

/// The command line, or `commlab calc lambda` when the binary runs as a
/// Lambda custom runtime's `bootstrap` (which Lambda starts without
/// arguments).
fn bootstrap_args() -> Vec<std::ffi::OsString> {
    let mut args: Vec<std::ffi::OsString> = std::env::args_os().collect();
    let named_bootstrap = args
        .first()
        .and_then(|a| std::path::Path::new(a).file_name())
        .is_some_and(|n| n == "bootstrap");
    if named_bootstrap && args.len() == 1 {
        args.extend(["calc".into(), "lambda".into()]);
    }
    args
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Exercise 1: TCP socket chat (server and client), default port 50009.
    Chat {
        #[command(subcommand)]
        command: ChatCommand,
    },
    /// Exercise 2: WebSocket sum server with its browser page, default port 5678.
    Ws {
        #[command(subcommand)]
        command: WsCommand,
    },
    /// Exercise 3: the students table in SQLite (aula.db by default).
    Db(commlab::db::DbArgs),
    /// Exercise 4: XML-RPC calculator (server, class client, generic call), default port 8005.
    Rpc {
        #[command(subcommand)]
        command: RpcCommand,
    },
    /// Exercise 6: the class's REST Calc API (client, and a local server), default port 8000.
    Calc {
        #[command(subcommand)]
        command: CalcCommand,
    },
    /// Exercise 5: file transfer with login, digests and atomic replace, default port 6001.
    Ft {
        #[command(subcommand)]
        command: FtCommand,
    },
    /// Load generators: many clients from one event loop (or --threads of
    /// them), every answer checked; exits non-zero on any error, wrong or lost answer.
    Load {
        #[command(subcommand)]
        command: commlab::load::LoadCommand,
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

#[derive(Debug, Subcommand)]
enum WsCommand {
    /// Serve the page (GET /) and the WebSocket (an upgrade on any path,
    /// as Python's websockets accepts) on one port. Open the printed URL in
    /// a browser: two numbers, "Somar", each result as it arrives. Lines
    /// typed at this console are pushed to every open page.
    ///
    /// Modes: `sum` (default, the exercise), `hello` (the class's example
    /// 1, port 8765: a message NAME is answered with the plain text "Ola
    /// NAME!", printed as "< NAME" and "> Ola NAME!"), `push` (the class's
    /// example 2: each console line goes to every client as plain text,
    /// what the class's client.html lists; client messages are logged).
    ///
    /// Sum messages (text, or binary holding UTF-8): JSON
    /// {"op":"sum","a":3,"b":4.5} or {"a":3,"b":4.5} (numbers or numeric
    /// strings) answers {"op":"sum","a":3,"b":4.5,"sum":7.5}; integers add
    /// exactly as 64-bit integers (overflow is an error); {"op":"hello",
    /// "name":"Marcos"} answers {"op":"hello","greeting":"Ola Marcos!"};
    /// plain "3 4" answers "7"; anything else {"error":"..."} and the
    /// connection stays open. Pushes are {"op":"push","text":"..."}.
    /// Messages over 64 KiB close with 1009, invalid UTF-8 text with 1007.
    Server(commlab::ws::ServerArgs),
    /// Ask a WebSocket server for a sum, say hello as the class's example 1
    /// client does, or print what a server pushes (example 2).
    Client(commlab::ws::ClientArgs),
}

#[derive(Debug, Subcommand)]
enum CalcCommand {
    /// Serve the class's Calc API offline: GET {prefix}/soma|sub|mult|div/{a}/{b}
    /// answers the deployed API's JSON byte for byte ({"A soma: ":9},
    /// {"A subtra\u00e7\u00e3o:":-1}, {"A multiplica\u00e7\u00e3o":20},
    /// {"A Divis\u00e3o":0.8}). Integers as Python's int() reads them; a
    /// non-number, a division by zero or a result past 64 bits is 400
    /// {"Code":"BadRequestError","Message":"..."} (the class's Chalice app
    /// answers 500 for some of these; commlab answers 400 on purpose).
    Server(commlab::calc::ServerArgs),
    /// The class's client: asks the operation and two values (or takes OP A B)
    /// and prints the answer as the class's Python client does.
    Client(commlab::calc::ClientArgs),
    /// The same API as an AWS Lambda function (a custom runtime for
    /// provided.al2023): answers API Gateway REST (payload 1.0), HTTP API
    /// (2.0) and Function URL events through the Lambda Runtime API
    /// (AWS_LAMBDA_RUNTIME_API), as `calc server` answers requests. Named
    /// `bootstrap` (scripts/lambda-package), the binary runs this with no
    /// arguments.
    Lambda(commlab::lambda::LambdaArgs),
}

#[derive(Debug, Subcommand)]
enum FtCommand {
    /// Serve a folder: LOGIN first, then GET, PUT, LIST. Uploads go to a
    /// temporary file and replace the old file only once their length and
    /// digest matched (BLAKE3, or SHA-256 when either side asks). As in FTP,
    /// the credentials travel unencrypted. `--raw FILE` is the class's mode:
    /// send the file to every client and close (no login, no framing), on
    /// either engine.
    Server(commlab::ft::ServerArgs),
    /// Download, upload, list, or do the challenge's round trip.
    Client(commlab::ft::ClientArgs),
    /// Print a users-file line (NAME:argon2 hash) for `ft server --users FILE`.
    Passwd(commlab::ft::PasswdArgs),
}

#[derive(Debug, Subcommand)]
enum RpcCommand {
    /// Start the XML-RPC calculator, as Python's SimpleXMLRPCServer with
    /// introspection and multicall: POST /RPC2 (or /).
    ///
    /// Methods: add, sub, mul, pow, div (two numbers each) and calc (a struct
    /// of all five); system.listMethods, system.methodHelp,
    /// system.methodSignature, system.multicall; echo (returns its argument).
    ///
    /// Semantics: int with int stays exact (an int while the result fits 32
    /// bits, an i8 while it fits 64, fault 2 "overflow" beyond: never a
    /// wrapped or rounded number); any double gives a double; div is true
    /// division (15/10 = 1.5) and dividing by zero is fault 1; pow with a
    /// negative exponent gives a double; no real result is fault 3. Wrong
    /// arity or types: fault -32602. Unknown method: -32601. Not XML:
    /// -32700. Not an XML-RPC call: -32600.
    Server(commlab::rpc::ServerArgs),
    /// The class's client: asks "1o numero: " and "2o numero: " (or takes X
    /// Y) and prints every operation's result (Somar, Subtrair, Multiplicar,
    /// Potência, Dividir).
    Client(commlab::rpc::ClientArgs),
    /// Call any method of any XML-RPC server and print the result.
    Call(commlab::rpc::CallArgs),
}

/// Output piped into `head` that closes early ends the program quietly, as
/// Unix tools do, instead of a panic message.
fn quiet_on_broken_pipe() {
    let default = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        let text = info
            .payload()
            .downcast_ref::<String>()
            .map(String::as_str)
            .or_else(|| info.payload().downcast_ref::<&str>().copied())
            .unwrap_or_default();
        if text.contains("Broken pipe") {
            std::process::exit(141);
        }
        default(info);
    }));
}

fn main() -> ExitCode {
    quiet_on_broken_pipe();
    let cli = Cli::parse_from(bootstrap_args());
    let result = match cli.command {
        Command::Chat {
            command: ChatCommand::Server(args),
        } => commlab::chat::run_server(&args),
        Command::Chat {
            command: ChatCommand::Client(args),
        } => commlab::chat::run_client(&args),
        Command::Ws { command } => match command {
            WsCommand::Server(args) => commlab::ws::run_server(&args),
            WsCommand::Client(args) => commlab::ws::run_client(&args),
        },
        Command::Rpc { command } => match command {
            RpcCommand::Server(args) => commlab::rpc::run_server(&args),
            RpcCommand::Client(args) => commlab::rpc::run_client(&args),
            RpcCommand::Call(args) => commlab::rpc::run_call(&args),
        },
        Command::Db(args) => commlab::db::run(&args),
        Command::Ft { command } => match command {
            FtCommand::Server(args) => commlab::ft::run_server(&args),
            FtCommand::Client(args) => commlab::ft::run_client(&args),
            FtCommand::Passwd(args) => commlab::ft::run_passwd(&args),
        },
        Command::Calc { command } => match command {
            CalcCommand::Server(args) => commlab::calc::run_server(&args),
            CalcCommand::Client(args) => commlab::calc::run_client(&args),
            CalcCommand::Lambda(args) => commlab::lambda::run(&args),
        },
        Command::Load { command } => commlab::load::run(&command),
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
