//! Outgoing connections a service asks for ([`Service::poll_dial`]): a
//! non-blocking connect registered in the same `Poll`, finished when the
//! socket turns writable, or failed (refused, or not open within
//! [`DIAL_TIMEOUT`](crate::DIAL_TIMEOUT)).

use std::io;
use std::time::Instant;

use commlab_core::{ConnId, Dial, Service};
use mio::net::TcpStream;
use mio::{Interest, Token};

use super::{token_of, Conn, EventLoop};
use crate::DIAL_TIMEOUT;

impl<S: Service + 'static> EventLoop<S> {
    /// Opens the outgoing connection a service asked for (non-blocking:
    /// [`dialed`](Self::dialed) finishes it when the socket is writable).
    pub(super) fn dial(&mut self, dial: Dial, now: Instant) {
        let id = ConnId::on_loop(self.index, self.next_id);
        self.next_id += 1;
        let token = token_of(id);
        let mut stream = match TcpStream::connect(dial.addr) {
            Ok(s) => s,
            Err(e) => {
                self.service
                    .handle_dial_failed(now, dial.token, &e.to_string());
                return;
            }
        };
        if let Err(e) = self.poll.registry().register(
            &mut stream,
            token,
            Interest::READABLE | Interest::WRITABLE,
        ) {
            self.service
                .handle_dial_failed(now, dial.token, &e.to_string());
            return;
        }
        self.conns
            .insert(token, Conn::new(id, stream, Some(dial.token)));
        self.load.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        self.dialing.push_back((now + DIAL_TIMEOUT, token));
    }

    /// An outgoing connection's socket became ready: open (the service is
    /// told, then it is like an accepted one) or failed.
    pub(super) fn dialed(&mut self, token: Token, now: Instant) {
        let Some(conn) = self.conns.get_mut(&token) else {
            return;
        };
        let Some(dial) = conn.dialing else {
            return;
        };
        match conn.stream.take_error() {
            Ok(None) => {}
            Ok(Some(e)) | Err(e) => {
                self.dial_failed(token, now, &e.to_string());
                return;
            }
        }
        match conn.stream.peer_addr() {
            Ok(peer) => {
                conn.dialing = None;
                let id = conn.id;
                let _ = conn.stream.set_nodelay(true);
                conn.want_writable(&self.poll, token, false);
                self.dialing.retain(|(_, t)| *t != token);
                if let Some(t) = &mut self.tracer {
                    t.opened(Some(id));
                }
                self.service.handle_dialed(now, dial, id, peer);
                self.read(token, now);
            }
            // Still connecting.
            Err(e) if e.kind() == io::ErrorKind::NotConnected => {}
            Err(e) => self.dial_failed(token, now, &e.to_string()),
        }
    }

    pub(super) fn dial_failed(&mut self, token: Token, now: Instant, error: &str) {
        let Some(dial) = self.conns.get(&token).and_then(|c| c.dialing) else {
            return;
        };
        self.dialing.retain(|(_, t)| *t != token);
        self.drop_conn(token);
        self.service.handle_dial_failed(now, dial, error);
    }
}
