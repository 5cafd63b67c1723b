//! Helpers shared by the integration tests: a raw line client (what `nc`
//! does), in-process servers on both engines, and the `commlab` binary as a
//! child process.

#![allow(dead_code, missing_docs, unreachable_pub)]

pub mod api_events;
pub mod class;
pub mod ft;
pub mod lambda;
pub mod nats;
pub mod process;

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::process::{Child, ChildStdout, Command, Stdio};
use std::sync::mpsc::{self, Receiver};
use std::time::Duration;

use commlab::{Engine, Server};
use commlab_core::chat::{ChatConfig, ChatEvent, ChatMode};
use commlab_core::ChatServer;

pub const TIMEOUT: Duration = Duration::from_secs(20);
pub const ENGINES: [Engine; 2] = [Engine::Std, Engine::Mio];
/// Every way a server runs in-process: each engine, and the mio engine on
/// three event loops.
pub const SETUPS: [(Engine, usize); 3] = [(Engine::Std, 1), (Engine::Mio, 1), (Engine::Mio, 3)];

/// A raw TCP line client, as `nc` is.
pub struct LineConn {
    pub stream: TcpStream,
    reader: BufReader<TcpStream>,
}

impl LineConn {
    pub fn connect(addr: SocketAddr) -> Self {
        let stream = TcpStream::connect(addr).expect("connect");
        stream.set_read_timeout(Some(TIMEOUT)).unwrap();
        let reader = BufReader::new(stream.try_clone().unwrap());
        Self { stream, reader }
    }

    pub fn send(&mut self, line: &str) {
        self.stream
            .write_all(format!("{line}\n").as_bytes())
            .unwrap();
    }

    /// The next line, `None` at EOF (or reset). Panics on timeout.
    pub fn recv(&mut self) -> Option<String> {
        let mut line = String::new();
        match self.reader.read_line(&mut line) {
            Ok(0) => None,
            Ok(_) => {
                assert!(line.ends_with('\n'), "unterminated line {line:?}");
                line.pop();
                Some(line)
            }
            Err(e) if e.kind() == std::io::ErrorKind::ConnectionReset => None,
            Err(e) => panic!("recv failed: {e}"),
        }
    }

    /// Exactly these bytes next (a message without a newline).
    pub fn expect_bytes(&mut self, want: &str) {
        let mut got = vec![0u8; want.len()];
        self.reader.read_exact(&mut got).unwrap();
        assert_eq!(String::from_utf8_lossy(&got), want);
    }

    pub fn expect(&mut self, want: &str) {
        assert_eq!(self.recv().as_deref(), Some(want));
    }

    /// The next line that is not a `* ...` notice.
    pub fn recv_message(&mut self) -> Option<String> {
        loop {
            let line = self.recv()?;
            if !line.starts_with("* ") {
                return Some(line);
            }
        }
    }

    /// Reads until `want`, skipping only `* ...` notices on the way.
    pub fn expect_after_notices(&mut self, want: &str) {
        loop {
            let line = self.recv().unwrap_or_else(|| panic!("EOF before {want:?}"));
            if line == want {
                return;
            }
            assert!(line.starts_with("* "), "expected {want:?}, got {line:?}");
        }
    }

    pub fn expect_eof(&mut self) {
        let mut rest = Vec::new();
        let _ = self.reader.read_to_end(&mut rest);
        assert!(
            rest.is_empty(),
            "expected EOF, got {:?}",
            String::from_utf8_lossy(&rest)
        );
    }
}

/// A chat server in-process on an ephemeral loopback port; its events go to
/// the returned channel.
pub fn start(engine: Engine, cfg: ChatConfig) -> (Server<ChatServer>, Receiver<ChatEvent>) {
    let (tx, rx) = mpsc::channel();
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let server = Server::start(engine, listener, ChatServer::new(cfg), move |e| {
        let _ = tx.send(e);
    })
    .unwrap();
    (server, rx)
}

/// [`start`] on `loops` event loops: the echo server on each, a room or
/// 1:1 chat across them (`commlab::room_shards`), as the command runs them.
pub fn start_on(
    engine: Engine,
    loops: usize,
    cfg: ChatConfig,
) -> (Server<ChatServer>, Receiver<ChatEvent>) {
    if loops == 1 {
        return start(engine, cfg);
    }
    let (tx, rx) = mpsc::channel();
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let show = move |_: &mut ChatServer, e| {
        let _ = tx.send(e);
    };
    let server = if cfg.mode == ChatMode::Echo {
        let make = |_| Ok((ChatServer::new(cfg.clone()), show.clone()));
        Server::start_loops(engine, listener, loops, make, None, None)
    } else {
        commlab::room_shards::start(engine, listener, loops, &cfg, show, None, None)
    }
    .unwrap();
    assert_eq!(server.loops(), loops);
    (server, rx)
}

pub fn start_mode(engine: Engine, mode: ChatMode) -> (Server<ChatServer>, Receiver<ChatEvent>) {
    start(engine, ChatConfig::new(mode))
}

/// Connects to a room and reads its welcome: the member's name and
/// connection.
pub fn join_room(addr: SocketAddr) -> (String, LineConn) {
    let mut c = LineConn::connect(addr);
    let welcome = c.recv().expect("a welcome line");
    let nick = commlab_core::chat::welcomed_nick(&welcome)
        .unwrap_or_else(|| panic!("not a welcome: {welcome:?}"))
        .to_owned();
    (nick, c)
}

/// Checks that member `me` got lines 0 to `lines - 1` of every other
/// member in `nicks`, in order, once each (`seen`: the numbers it got, by
/// sender).
pub fn assert_every_line(
    seen: &std::collections::HashMap<String, Vec<usize>>,
    nicks: &[String],
    me: &str,
    lines: usize,
) {
    for n in nicks.iter().filter(|n| *n != me) {
        let ks = seen.get(n).map(Vec::as_slice).unwrap_or_default();
        assert_eq!(
            ks,
            (0..lines).collect::<Vec<_>>(),
            "{me} got {n}'s lines as {ks:?}"
        );
    }
}

/// Waits for the first event that `pick` accepts.
pub fn wait_event<T>(rx: &Receiver<ChatEvent>, mut pick: impl FnMut(&ChatEvent) -> Option<T>) -> T {
    loop {
        let e = rx
            .recv_timeout(TIMEOUT)
            .expect("timed out waiting for a server event");
        if let Some(t) = pick(&e) {
            return t;
        }
    }
}

/// The `commlab` binary as a child process with piped stdio.
pub fn commlab(args: &[&str]) -> Child {
    Command::new(env!("CARGO_BIN_EXE_commlab"))
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn commlab")
}

/// Starts `commlab ARGS --port 0` and reads its `listening on` line.
pub fn spawn_server(args: &[&str]) -> (Child, SocketAddr, BufReader<ChildStdout>) {
    let mut all = args.to_vec();
    all.extend(["--port", "0"]);
    listening(commlab(&all))
}

/// Reads a server's first line, `listening on ADDR`. Keep the returned
/// stdout open: the server goes on printing to it.
pub fn listening(mut child: Child) -> (Child, SocketAddr, BufReader<ChildStdout>) {
    let mut out = BufReader::new(child.stdout.take().unwrap());
    let mut first = String::new();
    out.read_line(&mut first).unwrap();
    let addr = first
        .trim_end()
        .strip_prefix("listening on ")
        .unwrap_or_else(|| panic!("first line was {first:?}"))
        .parse()
        .unwrap();
    (child, addr, out)
}

/// Sends a signal to a child with the `kill` command.
pub fn signal(child: &Child, sig: &str) {
    let ok = Command::new("kill")
        .args([&format!("-{sig}"), &child.id().to_string()])
        .status()
        .unwrap()
        .success();
    assert!(ok, "kill -{sig} failed");
}
