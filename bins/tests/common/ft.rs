//! The file transfer tests' helpers: a scratch folder, in-process and
//! process servers, a client speaking frames by hand.

use std::fs;
use std::io::{BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::PathBuf;
use std::time::Duration;

use commlab::ft::{FtConnection, FtServerConfig, Users};
use commlab::{Engine, Server};
use commlab_core::filexfer::{DigestAlg, Frame, FrameDecoder, FtServer};

use super::{spawn_server, TIMEOUT};

pub struct Dir(pub PathBuf);

impl Dir {
    pub fn new(name: &str) -> Self {
        let dir = std::env::temp_dir().join(format!("commlab-ft-{}-{name}", std::process::id()));
        let _ = fs::remove_dir_all(&dir);
        fs::create_dir_all(dir.join("srv")).unwrap();
        fs::create_dir_all(dir.join("cli")).unwrap();
        Self(dir)
    }
    pub fn srv(&self) -> PathBuf {
        self.0.join("srv")
    }
    pub fn cli(&self, name: &str) -> PathBuf {
        self.0.join("cli").join(name)
    }
    /// Names in the server folder (temporary files included).
    pub fn listing(&self) -> Vec<String> {
        let mut v: Vec<String> = fs::read_dir(self.srv())
            .unwrap()
            .map(|e| e.unwrap().file_name().into_string().unwrap())
            .collect();
        v.sort();
        v
    }
}

impl Drop for Dir {
    fn drop(&mut self) {
        let _ = fs::remove_dir_all(&self.0);
    }
}

/// Deterministic pseudo-random bytes (xorshift).
pub fn random_bytes(n: usize, seed: u64) -> Vec<u8> {
    let mut x = seed | 1;
    let mut v = Vec::with_capacity(n + 8);
    while v.len() < n {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        v.extend_from_slice(&x.to_le_bytes());
    }
    v.truncate(n);
    v
}

pub fn users() -> Users {
    let mut u = Users::default();
    u.add_plain("aluno:senha").unwrap();
    u
}

pub fn start_ft(engine: Engine, dir: &Dir, max: u64) -> Server<FtServer> {
    start_ft_on(engine, 1, dir, max)
}

/// [`start_ft`] on `loops` event loops.
pub fn start_ft_on(engine: Engine, loops: usize, dir: &Dir, max: u64) -> Server<FtServer> {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let config = FtServerConfig {
        max_file_size: max,
        sink: Box::new(|_| {}),
        threads: loops,
        ..FtServerConfig::new(&dir.srv(), users())
    };
    commlab::ft::start(engine, listener, config).unwrap()
}

pub fn login(addr: SocketAddr) -> FtConnection {
    FtConnection::open(
        "127.0.0.1",
        addr.port(),
        "aluno",
        "senha",
        DigestAlg::Blake3,
    )
    .unwrap()
}

/// A raw socket speaking frames by hand, logged in.
pub fn raw_login(addr: SocketAddr) -> (TcpStream, FrameDecoder) {
    let mut s = TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(TIMEOUT)).unwrap();
    let mut d = FrameDecoder::new();
    let mut out = Vec::new();
    Frame::Login {
        user: "aluno".into(),
        password: "senha".into(),
    }
    .encode(&mut out);
    s.write_all(&out).unwrap();
    assert!(matches!(next_frame(&mut s, &mut d), Frame::Hello { .. }));
    assert!(matches!(next_frame(&mut s, &mut d), Frame::Ok { .. }));
    (s, d)
}

pub fn next_frame(s: &mut TcpStream, d: &mut FrameDecoder) -> Frame {
    let mut buf = [0u8; 4096];
    loop {
        if let Some(f) = d.next_frame().unwrap() {
            return f;
        }
        let n = s.read(&mut buf).unwrap();
        assert!(n > 0, "connection closed");
        d.feed(&buf[..n]);
    }
}

pub fn send(s: &mut TcpStream, frames: &[Frame]) {
    let mut out = Vec::new();
    for f in frames {
        f.encode(&mut out);
    }
    let _ = s.write_all(&out);
}

pub fn wait_until(what: &str, mut cond: impl FnMut() -> bool) {
    let deadline = std::time::Instant::now() + TIMEOUT;
    while !cond() {
        assert!(
            std::time::Instant::now() < deadline,
            "timed out waiting for {what}"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Starts `commlab ft server` on `dir` as a process.
pub fn spawn_ft_server(
    engine: Engine,
    dir: &Dir,
) -> (
    std::process::Child,
    SocketAddr,
    BufReader<std::process::ChildStdout>,
) {
    let srv = dir.srv();
    spawn_server(&[
        "ft",
        "server",
        "--engine",
        &engine.to_string(),
        "--user",
        "aluno:senha",
        "--root",
        srv.to_str().unwrap(),
    ])
}

/// Logs in and starts an upload of FT_teste.xlsx that never ends.
pub fn start_upload(addr: SocketAddr) -> TcpStream {
    let (mut s, mut d) = raw_login(addr);
    send(
        &mut s,
        &[Frame::Put {
            size: 1_000_000,
            alg: DigestAlg::Blake3,
            name: "FT_teste.xlsx".into(),
        }],
    );
    assert!(matches!(next_frame(&mut s, &mut d), Frame::Ready { .. }));
    send(&mut s, &[Frame::Data(vec![1; 60_000])]);
    s
}
