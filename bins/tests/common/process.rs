//! Programs run as child processes with every output captured as it comes
//! (prompts without a newline included), for the tests against the
//! class's own programs.

use std::io::{Read, Write};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::{Child, ChildStdin, Command, ExitStatus, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use super::TIMEOUT;

/// Everything a pipe gave so far.
#[derive(Clone, Default)]
pub struct Captured(Arc<Mutex<Vec<u8>>>);

impl Captured {
    fn reading(mut pipe: impl Read + Send + 'static) -> Self {
        let captured = Self::default();
        let sink = captured.clone();
        std::thread::spawn(move || {
            let mut buf = [0u8; 4096];
            while let Ok(n) = pipe.read(&mut buf) {
                if n == 0 {
                    break;
                }
                sink.0.lock().unwrap().extend_from_slice(&buf[..n]);
            }
        });
        captured
    }

    /// The text so far.
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.0.lock().unwrap()).into_owned()
    }
}

/// A child process, killed when dropped.
pub struct Proc {
    pub name: String,
    child: Child,
    stdin: Option<ChildStdin>,
    pub out: Captured,
    pub err: Captured,
}

impl Proc {
    /// Starts `cmd` with piped stdio (Python unbuffered, as on a terminal).
    pub fn spawn(name: &str, cmd: &mut Command) -> Self {
        let mut child = cmd
            .env("PYTHONUNBUFFERED", "1")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {name}: {e}"));
        let out = Captured::reading(child.stdout.take().unwrap());
        let err = Captured::reading(child.stderr.take().unwrap());
        Self {
            name: name.to_owned(),
            stdin: child.stdin.take(),
            child,
            out,
            err,
        }
    }

    /// `commlab ARGS`.
    pub fn commlab(args: &[&str]) -> Self {
        Self::spawn(
            &format!("commlab {}", args.join(" ")),
            Command::new(env!("CARGO_BIN_EXE_commlab")).args(args),
        )
    }

    /// `commlab ARGS --port 0`, once it printed `listening on ADDR`.
    pub fn commlab_server(args: &[&str]) -> (Self, SocketAddr) {
        let mut all = args.to_vec();
        all.extend(["--port", "0"]);
        let p = Self::commlab(&all);
        let out = p.wait_out("\n");
        let addr = out
            .lines()
            .next()
            .and_then(|l| l.strip_prefix("listening on "))
            .unwrap_or_else(|| panic!("{}: first line was {out:?}", p.name))
            .parse()
            .unwrap();
        (p, addr)
    }

    /// Types `text` on the program's stdin.
    pub fn type_in(&mut self, text: &str) {
        let stdin = self.stdin.as_mut().expect("stdin is open");
        stdin.write_all(text.as_bytes()).unwrap();
        stdin.flush().unwrap();
    }

    /// Closes stdin (end of input).
    pub fn close_stdin(&mut self) {
        self.stdin = None;
    }

    fn wait_in(&self, which: &Captured, what: &str, needle: &str) -> String {
        let deadline = Instant::now() + TIMEOUT;
        loop {
            let text = which.text();
            if text.contains(needle) {
                return text;
            }
            assert!(
                Instant::now() < deadline,
                "{}: {needle:?} never came on {what}.\nstdout:\n{}\nstderr:\n{}",
                self.name,
                self.out.text(),
                self.err.text()
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Waits until stdout holds `needle`; returns all of stdout so far.
    pub fn wait_out(&self, needle: &str) -> String {
        self.wait_in(&self.out, "stdout", needle)
    }

    /// Waits until stderr holds `needle`; returns all of stderr so far.
    pub fn wait_err(&self, needle: &str) -> String {
        self.wait_in(&self.err, "stderr", needle)
    }

    /// Waits for the program to end by itself.
    pub fn wait_exit(&mut self) -> ExitStatus {
        let deadline = Instant::now() + TIMEOUT;
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                // Let the readers take the last bytes.
                std::thread::sleep(Duration::from_millis(50));
                return status;
            }
            assert!(
                Instant::now() < deadline,
                "{} did not end.\nstdout:\n{}\nstderr:\n{}",
                self.name,
                self.out.text(),
                self.err.text()
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Sends SIGINT (Ctrl-C) and waits for the end.
    pub fn interrupt(&mut self) -> ExitStatus {
        super::signal(&self.child, "INT");
        self.wait_exit()
    }

    /// The process id.
    pub fn id(&self) -> u32 {
        self.child.id()
    }
}

impl Drop for Proc {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A port nobody listens on right now (bound, then released).
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// Waits until something listens on `port` (read from /proc/net/tcp, so
/// that no probe connection reaches a server that serves one client and
/// then dies, as the class's do).
pub fn wait_listening(port: u16) {
    let needle = format!(":{port:04X} ");
    let deadline = Instant::now() + TIMEOUT;
    loop {
        let listening = ["/proc/net/tcp", "/proc/net/tcp6"].iter().any(|table| {
            std::fs::read_to_string(table).is_ok_and(|t| {
                t.lines().skip(1).any(|l| {
                    let f: Vec<&str> = l.split_whitespace().collect();
                    f.len() > 3 && format!("{} ", f[1]).ends_with(&needle) && f[3] == "0A"
                })
            })
        });
        if listening {
            return;
        }
        assert!(Instant::now() < deadline, "nothing listens on port {port}");
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// A fresh folder under the system's temporary folder, removed when dropped.
pub struct TempDir(pub PathBuf);

impl TempDir {
    pub fn new(name: &str) -> Self {
        let dir = std::env::temp_dir().join(format!("commlab-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        Self(dir)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}
