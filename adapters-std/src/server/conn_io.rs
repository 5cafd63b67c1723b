//! A connection's two threads: the reader feeds the service, the writer
//! sends what it produced.

use std::io::{self, Read, Write};
use std::net::{Shutdown, TcpStream};
use std::sync::mpsc::Receiver;
use std::time::Instant;

use commlab_core::{ConnId, Flow, Service};

use super::Shared;
use crate::{is_transient, LINGER, LINGER_BYTES, READ_CHUNK, WRITE_CHUNK};

pub(super) fn reader_loop<S: Service + Send + 'static>(
    shared: &Shared<S>,
    id: ConnId,
    mut stream: TcpStream,
) {
    let mut buf = vec![0u8; READ_CHUNK];
    let mut drained = 0usize;
    loop {
        match stream.read(&mut buf) {
            Ok(0) => {
                shared.with(|s, now| s.handle_eof(now, id));
                return;
            }
            Ok(n) => {
                let open = {
                    let mut state = shared.lock();
                    let now = Instant::now();
                    if let Some(t) = &mut state.tracer {
                        t.received(now, Some(id), &buf[..n]);
                    }
                    state.service.handle_input(now, id, &buf[..n]);
                    shared.pump(&mut state);
                    if !state.service.wants_input(id) {
                        state = shared.wait_for_input(state, id);
                    }
                    state.service.is_open(id)
                };
                if !open {
                    // Closed by the service: drain a little so the goodbye is
                    // not lost to a reset, then let go.
                    drained += n;
                    if drained > LINGER_BYTES {
                        return;
                    }
                }
            }
            Err(e) if is_transient(&e) => {
                if !shared.lock().writers.contains_key(&id) {
                    return;
                }
            }
            Err(e) => {
                lose(shared, id, &e);
                return;
            }
        }
    }
}

pub(super) fn lose<S: Service + Send + 'static>(shared: &Shared<S>, id: ConnId, e: &io::Error) {
    let mut state = shared.lock();
    if let Some(w) = state.writers.remove(&id) {
        let _ = w.stream.shutdown(Shutdown::Both);
    }
    if let Some(t) = &mut state.tracer {
        t.closed(Instant::now(), Some(id));
    }
    state
        .service
        .handle_lost(Instant::now(), id, &e.to_string());
    shared.pump(&mut state);
}

/// Writes what the service has for `id` whenever woken. When the service
/// closes the connection: half-closes it, then waits for the reader to
/// see the peer's end, at most [`LINGER`], and shuts the socket down
/// whole, which wakes a reader still blocked on a silent peer: the
/// connection's threads and socket are freed within [`LINGER`] whatever
/// the peer does.
pub(super) fn writer_loop<S: Service + Send + 'static>(
    shared: &Shared<S>,
    id: ConnId,
    mut stream: TcpStream,
    woken: &Receiver<()>,
    reader_ended: &Receiver<()>,
) {
    let mut out = Vec::with_capacity(WRITE_CHUNK);
    while woken.recv().is_ok() {
        loop {
            out.clear();
            let flow = {
                let mut state = shared.lock();
                let flow = state.service.poll_transmit(id, &mut out, WRITE_CHUNK);
                if let Some(t) = &mut state.tracer {
                    t.sent(Instant::now(), Some(id), &out);
                }
                // Taking output may make room for more (the next chunk of a
                // file): let the application answer at once.
                shared.pump(&mut state);
                flow
            };
            if let Err(e) = stream.write_all(&out) {
                lose(shared, id, &e);
                return;
            }
            if flow == Flow::Close {
                // Half-close: the peer reads everything sent, then EOF. The
                // reader drains until the peer closes or LINGER passes.
                let _ = stream.shutdown(Shutdown::Write);
                {
                    let mut state = shared.lock();
                    state.writers.remove(&id);
                    if let Some(t) = &mut state.tracer {
                        t.closed(Instant::now(), Some(id));
                    }
                    shared.pump(&mut state);
                }
                let _ = reader_ended.recv_timeout(LINGER);
                let _ = stream.shutdown(Shutdown::Both);
                return;
            }
            if out.is_empty() {
                break;
            }
        }
    }
}
