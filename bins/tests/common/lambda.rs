//! A fake Lambda Runtime API (2018-06-01) on loopback, written for the
//! tests: it hands out the events it is given, one per `GET .../next`,
//! records every `POST` (responses, errors, init errors) and answers 202;
//! once told to [`finish`](FakeRuntime::finish) it goes away (closes the
//! connection and every new one).

use std::collections::VecDeque;
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::{Arc, Condvar, Mutex};
use std::time::{Duration, Instant};

use commlab_core::http1::{Limits, RequestDecoder};

use super::TIMEOUT;

/// An event to hand out.
#[derive(Clone)]
pub struct FakeEvent {
    pub id: String,
    pub payload: Vec<u8>,
    pub deadline_ms: Option<u64>,
    pub trace: Option<String>,
}

impl FakeEvent {
    /// An event with a deadline a minute from now and a trace id.
    pub fn new(id: &str, payload: impl Into<Vec<u8>>) -> Self {
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_millis() as u64;
        Self {
            id: id.to_owned(),
            payload: payload.into(),
            deadline_ms: Some(now + 60_000),
            trace: Some(format!("Root=1-5e1b4151-{id};Sampled=0")),
        }
    }
}

/// One `POST` the runtime made.
#[derive(Clone, Debug)]
pub struct Posted {
    pub path: String,
    pub body: Vec<u8>,
}

#[derive(Default)]
struct State {
    events: VecDeque<FakeEvent>,
    posts: Vec<Posted>,
    finished: bool,
    nexts: usize,
}

/// The fake Runtime API.
pub struct FakeRuntime {
    pub addr: SocketAddr,
    state: Arc<(Mutex<State>, Condvar)>,
}

impl FakeRuntime {
    pub fn start() -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        let state: Arc<(Mutex<State>, Condvar)> = Arc::default();
        let shared = Arc::clone(&state);
        std::thread::spawn(move || {
            for stream in listener.incoming() {
                let Ok(stream) = stream else { continue };
                if shared.0.lock().unwrap().finished {
                    // Gone: every new connection is closed at once.
                    drop(stream);
                    continue;
                }
                let shared = Arc::clone(&shared);
                std::thread::spawn(move || serve(stream, &shared));
            }
        });
        Self { addr, state }
    }

    /// Queues events to hand out.
    pub fn push(&self, events: impl IntoIterator<Item = FakeEvent>) {
        let (lock, cv) = &*self.state;
        lock.lock().unwrap().events.extend(events);
        cv.notify_all();
    }

    /// Goes away once the queued events are handed out.
    pub fn finish(&self) {
        let (lock, cv) = &*self.state;
        lock.lock().unwrap().finished = true;
        cv.notify_all();
    }

    /// Waits until `n` posts came; returns them all.
    pub fn wait_posts(&self, n: usize) -> Vec<Posted> {
        let deadline = Instant::now() + TIMEOUT;
        let (lock, cv) = &*self.state;
        let mut s = lock.lock().unwrap();
        while s.posts.len() < n {
            let left = deadline.saturating_duration_since(Instant::now());
            assert!(!left.is_zero(), "only {} of {n} posts came", s.posts.len());
            s = cv
                .wait_timeout(s, left.min(Duration::from_millis(100)))
                .unwrap()
                .0;
        }
        s.posts.clone()
    }

    /// Every post so far.
    pub fn posts(&self) -> Vec<Posted> {
        self.state.0.lock().unwrap().posts.clone()
    }

    /// How many `GET .../next` came.
    pub fn nexts(&self) -> usize {
        self.state.0.lock().unwrap().nexts
    }
}

fn serve(mut stream: TcpStream, shared: &(Mutex<State>, Condvar)) {
    let mut decoder = RequestDecoder::new(Limits::default());
    let mut buf = vec![0u8; 64 * 1024];
    loop {
        let req = loop {
            match decoder.next_request() {
                Ok(Some(req)) => break req,
                Ok(None) => {}
                Err(e) => panic!("the runtime sent a bad request: {e:?}"),
            }
            match stream.read(&mut buf) {
                Ok(0) | Err(_) => return,
                Ok(n) => decoder.feed(&buf[..n]),
            }
        };
        let (lock, cv) = shared;
        let answer = if req.method == "GET" && req.path() == "/2018-06-01/runtime/invocation/next" {
            let mut s = lock.lock().unwrap();
            s.nexts += 1;
            let event = loop {
                if let Some(e) = s.events.pop_front() {
                    break e;
                }
                if s.finished {
                    // Gone: this connection closes without an answer.
                    return;
                }
                s = cv.wait(s).unwrap();
            };
            let mut head = format!(
                "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nLambda-Runtime-Aws-Request-Id: {}\r\nLambda-Runtime-Invoked-Function-Arn: arn:aws:lambda:sa-east-1:123456789012:function:calc\r\nContent-Length: {}\r\n",
                event.id,
                event.payload.len()
            );
            if let Some(d) = event.deadline_ms {
                head.push_str(&format!("Lambda-Runtime-Deadline-Ms: {d}\r\n"));
            }
            if let Some(t) = &event.trace {
                head.push_str(&format!("Lambda-Runtime-Trace-Id: {t}\r\n"));
            }
            let mut bytes = head.into_bytes();
            bytes.extend_from_slice(b"\r\n");
            bytes.extend_from_slice(&event.payload);
            bytes
        } else if req.method == "POST" && req.path().starts_with("/2018-06-01/runtime/") {
            let mut s = lock.lock().unwrap();
            s.posts.push(Posted {
                path: req.path().to_owned(),
                body: req.body.clone(),
            });
            cv.notify_all();
            let body = "{\"status\":\"OK\"}";
            format!(
                "HTTP/1.1 202 Accepted\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
                body.len()
            )
            .into_bytes()
        } else {
            b"HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n".to_vec()
        };
        if stream.write_all(&answer).is_err() {
            return;
        }
    }
}
