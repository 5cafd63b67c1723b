//! Slowloris on the HTTP servers (calc, rpc, ws) of both engines, with
//! short limits set by flags: heads trickled a byte at a time and bodies
//! trickled below the minimum rate are answered 408 at their deadline,
//! however steadily the bytes come, while a newcomer is served throughout.
//! The file server: logins trickled past --login-timeout and uploads
//! under --upload-min-rate. The connection cap closes connections past it
//! at once.

mod common;

use std::io::{ErrorKind, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::{Duration, Instant};

use common::process::Proc;

const ENGINES: [&str; 2] = ["std", "mio"];
/// The limits the servers are started with.
const HEAD_SECS: u64 = 2;
const GRACE_SECS: u64 = 1;
const MIN_RATE: u64 = 2000;
/// A byte (or a slice of body) every TICK: never silent for long.
const TICK: Duration = Duration::from_millis(200);
/// Slow connections of each kind per server.
const SLOW: usize = 10;

/// A client trickling `wire` (after sending `first` whole), a few bytes
/// each tick, and what it has been answered.
struct Slow {
    stream: TcpStream,
    wire: Vec<u8>,
    at: usize,
    per_tick: usize,
    answer: Vec<u8>,
    closed_after: Option<Duration>,
}

impl Slow {
    fn open(addr: SocketAddr, first: &[u8], wire: Vec<u8>, per_tick: usize) -> Self {
        let mut stream = TcpStream::connect(addr).unwrap();
        stream.write_all(first).unwrap();
        Self::over(stream, wire, per_tick)
    }

    /// On a connection already set up.
    fn over(stream: TcpStream, wire: Vec<u8>, per_tick: usize) -> Self {
        stream.set_nonblocking(true).unwrap();
        Self {
            stream,
            wire,
            at: 0,
            per_tick,
            answer: Vec::new(),
            closed_after: None,
        }
    }

    /// One tick: read what came, then send the next bytes.
    fn tick(&mut self, since: Duration) {
        if self.closed_after.is_some() {
            return;
        }
        let mut buf = [0u8; 4096];
        loop {
            match self.stream.read(&mut buf) {
                Ok(0) => {
                    self.closed_after = Some(since);
                    return;
                }
                Ok(n) => self.answer.extend_from_slice(&buf[..n]),
                Err(e) if e.kind() == ErrorKind::WouldBlock => break,
                Err(_) => {
                    self.closed_after = Some(since);
                    return;
                }
            }
        }
        let end = (self.at + self.per_tick).min(self.wire.len());
        if self.stream.write_all(&self.wire[self.at..end]).is_ok() {
            self.at = end;
        }
    }
}

/// Ticks every slow client until the server has cut them all, which must
/// happen within the head's deadline and a margin for the host; a
/// newcomer must be served at every tick meanwhile.
fn cut_all(
    slow: &mut [Slow],
    started: Instant,
    engine: &str,
    newcomer: impl Fn() -> Result<(), String>,
) {
    let limit = Duration::from_secs(HEAD_SECS + 4);
    let mut newcomers = 0;
    while slow.iter().any(|c| c.closed_after.is_none()) {
        let since = started.elapsed();
        assert!(
            since < limit,
            "{engine}: {} slow clients still open after {since:?}",
            slow.iter().filter(|c| c.closed_after.is_none()).count()
        );
        for c in slow.iter_mut() {
            c.tick(since);
        }
        if let Err(e) = newcomer() {
            panic!("{engine}: a newcomer was not served: {e}");
        }
        newcomers += 1;
        std::thread::sleep(TICK);
    }
    assert!(newcomers >= 5, "{engine}: only {newcomers} newcomers");
}

/// A plain request answered with an HTTP status line.
fn served(addr: SocketAddr, request: &str) -> bool {
    let Ok(mut s) = TcpStream::connect(addr) else {
        return false;
    };
    s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    if s.write_all(request.as_bytes()).is_err() {
        return false;
    }
    let mut got = [0u8; 12];
    s.read_exact(&mut got).is_ok() && got.starts_with(b"HTTP/1.1 ")
}

fn slowloris(args: &[&str], path: &str, newcomer: &str) {
    for engine in ENGINES {
        let mut all = args.to_vec();
        let (head, grace, rate) = (
            HEAD_SECS.to_string(),
            GRACE_SECS.to_string(),
            MIN_RATE.to_string(),
        );
        all.extend([
            "--engine",
            engine,
            "--head-timeout",
            &head,
            "--body-grace",
            &grace,
            "--body-min-rate",
            &rate,
        ]);
        let (server, addr) = Proc::commlab_server(&all);
        // Heads that never end, a byte a tick; bodies of 1 MB at 50 bytes
        // a tick (250 bytes/s, under the 2,000 allowed).
        let endless_head = format!("GET {path} HTTP/1.1\r\nHost: x\r\nX-Slow: ")
            .into_bytes()
            .into_iter()
            .chain(std::iter::repeat_n(b'a', 4000))
            .collect::<Vec<u8>>();
        let body_head =
            format!("POST {path} HTTP/1.1\r\nHost: x\r\nContent-Length: 1000000\r\n\r\n");
        let started = Instant::now();
        let mut slow: Vec<Slow> = (0..SLOW)
            .map(|_| Slow::open(addr, b"", endless_head.clone(), 1))
            .chain(
                (0..SLOW).map(|_| Slow::open(addr, body_head.as_bytes(), vec![b'x'; 100_000], 50)),
            )
            .collect();
        // Every slow client is cut by its deadline (the head's at 2 s, the
        // body's at 1 s + received / 2,000 s), with a margin for the host.
        cut_all(&mut slow, started, engine, || {
            if served(addr, newcomer) {
                Ok(())
            } else {
                Err("no answer".to_owned())
            }
        });
        for (i, c) in slow.iter().enumerate() {
            let answer = String::from_utf8_lossy(&c.answer);
            assert!(
                answer.starts_with("HTTP/1.1 408 Request Timeout\r\n"),
                "{engine} client {i}: {answer:?}"
            );
            let why = if i < SLOW {
                "head was not complete within 2 s"
            } else {
                "body came slower than 2000 bytes/s"
            };
            assert!(answer.contains(why), "{engine} client {i}: {answer:?}");
            // Not cut early: the deadline, not some other limit.
            let at = c.closed_after.unwrap_or_default();
            let earliest = Duration::from_secs(if i < SLOW { HEAD_SECS } else { GRACE_SECS });
            assert!(at >= earliest, "{engine} client {i} cut at {at:?}");
        }
        drop(server);
    }
}

#[test]
fn calc_server_times_out_trickled_heads_and_slow_bodies_on_both_engines() {
    slowloris(
        &["calc", "server"],
        "/api/soma/1/2",
        "GET /api/soma/1/2 HTTP/1.1\r\nHost: x\r\n\r\n",
    );
}

#[test]
fn rpc_server_times_out_trickled_heads_and_slow_bodies_on_both_engines() {
    let call = "<?xml version='1.0'?><methodCall><methodName>add</methodName><params><param><value><int>1</int></value></param><param><value><int>2</int></value></param></params></methodCall>";
    slowloris(
        &["rpc", "server"],
        "/RPC2",
        &format!(
            "POST /RPC2 HTTP/1.1\r\nHost: x\r\nContent-Type: text/xml\r\nContent-Length: {}\r\n\r\n{call}",
            call.len()
        ),
    );
}

#[test]
fn ws_server_times_out_trickled_heads_and_slow_bodies_on_both_engines() {
    slowloris(&["ws", "server"], "/", "GET / HTTP/1.1\r\nHost: x\r\n\r\n");
}

/// `--max-connections` on a server: past it a new connection is closed at
/// once, on both engines.
#[test]
fn the_connection_cap_flag_closes_connections_past_it_on_both_engines() {
    for engine in ENGINES {
        let (_server, addr) = Proc::commlab_server(&[
            "calc",
            "server",
            "--engine",
            engine,
            "--max-connections",
            "4",
        ]);
        let held: Vec<TcpStream> = (0..4).map(|_| TcpStream::connect(addr).unwrap()).collect();
        // The four are accepted (one request answered on the first).
        let mut first = &held[0];
        first
            .write_all(b"GET /api/soma/1/2 HTTP/1.1\r\nHost: x\r\n\r\n")
            .unwrap();
        first
            .set_read_timeout(Some(Duration::from_secs(5)))
            .unwrap();
        let mut got = [0u8; 15];
        first.read_exact(&mut got).unwrap();
        assert_eq!(&got, b"HTTP/1.1 200 OK");
        std::thread::sleep(Duration::from_millis(200));
        // The fifth: closed without an answer.
        let mut extra = TcpStream::connect(addr).unwrap();
        extra
            .set_read_timeout(Some(Duration::from_secs(5)))
            .unwrap();
        let _ = extra.write_all(b"GET /api/soma/1/2 HTTP/1.1\r\nHost: x\r\n\r\n");
        let mut buf = [0u8; 64];
        let n = extra.read(&mut buf).unwrap_or(0);
        assert_eq!(n, 0, "{engine}: answered past the cap: {:?}", &buf[..n]);
        drop(held);
    }
}

/// Sends `frame` on `s` and reads frames until `want` says one is the
/// answer (an error frame or the end is a failure).
fn ft_exchange(
    s: &mut TcpStream,
    d: &mut commlab_core::filexfer::FrameDecoder,
    frame: &commlab_core::filexfer::Frame,
    want: impl Fn(&commlab_core::filexfer::Frame) -> bool,
) -> Result<(), String> {
    use commlab_core::filexfer::Frame;
    let mut out = Vec::new();
    frame.encode(&mut out);
    s.write_all(&out).map_err(|e| e.to_string())?;
    let mut buf = [0u8; 4096];
    loop {
        match d.next_frame() {
            Ok(Some(f)) if want(&f) => return Ok(()),
            Ok(Some(f @ Frame::Err { .. })) => return Err(format!("{f:?}")),
            Err(e) => return Err(e.to_string()),
            Ok(Some(_)) => {}
            Ok(None) => match s.read(&mut buf) {
                Ok(n) if n > 0 => d.feed(&buf[..n]),
                other => return Err(format!("{other:?} waiting for the answer to {frame:?}")),
            },
        }
    }
}

/// A connection to the file server, logged in.
fn ft_logged_in(
    addr: SocketAddr,
) -> Result<(TcpStream, commlab_core::filexfer::FrameDecoder), String> {
    use commlab_core::filexfer::{Frame, FrameDecoder};
    let mut s = TcpStream::connect(addr).map_err(|e| e.to_string())?;
    s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    let mut d = FrameDecoder::new();
    let login = Frame::Login {
        user: "aluno".into(),
        password: "senha".into(),
    };
    ft_exchange(&mut s, &mut d, &login, |f| matches!(f, Frame::Ok { .. }))?;
    Ok((s, d))
}

/// A login and a listing, answered (or what went wrong).
fn ft_served(addr: SocketAddr) -> Result<(), String> {
    use commlab_core::filexfer::Frame;
    let (mut s, mut d) = ft_logged_in(addr)?;
    ft_exchange(&mut s, &mut d, &Frame::List, |f| {
        matches!(f, Frame::Ok { .. })
    })
}

/// The file server's slowloris: logins trickled a byte a tick are cut at
/// --login-timeout, uploads trickled under --upload-min-rate at their
/// deadline (the old file stays), on both engines, newcomers served.
#[test]
fn ft_server_times_out_trickled_logins_and_slow_uploads_on_both_engines() {
    use commlab_core::filexfer::{DigestAlg, Frame};
    for engine in ENGINES {
        let dir = common::ft::Dir::new(&format!("slowloris-{engine}"));
        std::fs::write(dir.srv().join("velho.txt"), b"velho").unwrap();
        let (server, addr) = Proc::commlab_server(&[
            "ft",
            "server",
            "--engine",
            engine,
            "--root",
            dir.srv().to_str().unwrap(),
            "--user",
            "aluno:senha",
            "--login-timeout",
            &HEAD_SECS.to_string(),
            "--upload-grace",
            &GRACE_SECS.to_string(),
            "--upload-min-rate",
            &MIN_RATE.to_string(),
        ]);
        let mut login = Vec::new();
        Frame::Login {
            user: "aluno".into(),
            password: "senha".into(),
        }
        .encode(&mut login);
        let put = Frame::Put {
            size: 100_000,
            alg: DigestAlg::Blake3,
            name: "velho.txt".into(),
        };
        let mut data = Vec::new();
        Frame::Data(vec![b'x'; 60_000]).encode(&mut data);
        let started = Instant::now();
        let mut slow: Vec<Slow> = (0..SLOW)
            .map(|_| Slow::open(addr, b"", login.clone(), 1))
            .chain((0..SLOW).map(|_| {
                // Logged in, the upload accepted: then the data trickles.
                let (mut s, mut d) = ft_logged_in(addr).unwrap();
                ft_exchange(&mut s, &mut d, &put, |f| matches!(f, Frame::Ready { .. })).unwrap();
                Slow::over(s, data.clone(), 50)
            }))
            .collect();
        cut_all(&mut slow, started, engine, || ft_served(addr));
        for (i, c) in slow.iter().enumerate() {
            let said = String::from_utf8_lossy(&c.answer);
            let why = if i < SLOW {
                "not logged in within 2 s"
            } else {
                "the upload came slower than 2000 bytes/s"
            };
            assert!(said.contains(why), "{engine} client {i}: {said:?}");
        }
        server.wait_err("the upload came slower than 2000 bytes/s");
        assert_eq!(
            std::fs::read(dir.srv().join("velho.txt")).unwrap(),
            b"velho",
            "{engine}: the old file stays"
        );
    }
}
