//! The mio client driver honours the whole `Session` contract: a deadline
//! fires (`poll_timeout`/`handle_timeout`), the write side is half-closed
//! when the session asks, and a session that says it is closed is closed.

#![allow(clippy::disallowed_methods)]

use std::net::TcpListener;
use std::time::{Duration, Instant};

use commlab_core::testing::Shout;
use commlab_core::Session;
use commlab_mio::{serve, ClientDriver};

/// Says hello, then after a pause a tick, then half-closes; done at EOF.
struct Ticker {
    out: Vec<u8>,
    tick_at: Option<Instant>,
    finished: bool,
    eof: bool,
    input: Vec<u8>,
    lines: Vec<String>,
}

impl Ticker {
    fn new(now: Instant) -> Self {
        Self {
            out: b"hello\n".to_vec(),
            tick_at: Some(now + Duration::from_millis(100)),
            finished: false,
            eof: false,
            input: Vec::new(),
            lines: Vec::new(),
        }
    }
}

impl Session for Ticker {
    type Event = String;

    fn handle_input(&mut self, _now: Instant, bytes: &[u8]) {
        self.input.extend_from_slice(bytes);
        while let Some(end) = self.input.iter().position(|&b| b == b'\n') {
            let line: Vec<u8> = self.input.drain(..=end).collect();
            self.lines
                .push(String::from_utf8_lossy(&line).trim_end().to_owned());
        }
    }

    fn handle_eof(&mut self, _now: Instant) {
        self.eof = true;
    }

    fn handle_timeout(&mut self, now: Instant) {
        if self.tick_at.is_some_and(|at| at <= now) {
            self.tick_at = None;
            self.out.extend_from_slice(b"tick\n");
            self.finished = true;
        }
    }

    fn poll_event(&mut self) -> Option<String> {
        if self.lines.is_empty() {
            None
        } else {
            Some(self.lines.remove(0))
        }
    }

    fn poll_transmit(&mut self, out: &mut Vec<u8>) {
        out.append(&mut self.out);
    }

    fn poll_timeout(&self) -> Option<Instant> {
        self.tick_at
    }

    fn is_closed(&self) -> bool {
        self.eof && self.lines.is_empty()
    }

    fn wants_write_shutdown(&self) -> bool {
        self.finished && self.out.is_empty()
    }
}

#[test]
fn deadlines_half_close_and_close_are_honoured() {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let server = serve(listener, Shout::new(1 << 20), |_, _| {}).unwrap();
    let started = Instant::now();
    let mut d = ClientDriver::connect(server.local_addr(), vec![Ticker::new(started)]).unwrap();
    d.flush_all();
    let mut got = Vec::new();
    let deadline = started + Duration::from_secs(20);
    while d.open() > 0 && Instant::now() < deadline {
        // Turns far longer than the pause: only the deadline can wake it.
        d.turn(Duration::from_secs(5), |_, _, line| got.push(line))
            .unwrap();
    }
    assert_eq!(got, ["HELLO", "TICK", "bye"]);
    assert_eq!(d.open(), 0, "the closed session's connection is closed");
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "woken by the deadline, not by the turn's timeout"
    );
    server.shutdown();
}
