//! The client's frames, taken in turn: each one moves its connection's
//! phase on and asks the application what only it can answer; the frames
//! behind a question wait for its answer.

use super::{code, hex, validate_name, FtEnd, FtEvent, FtServer, Phase};
use crate::filexfer::Frame;
use crate::ConnId;

impl FtServer {
    pub(super) fn on_frame(&mut self, conn: ConnId, frame: Frame) {
        let Some(c) = self.table.get_mut(conn) else {
            return;
        };
        match (&mut c.phase, frame) {
            (_, Frame::Quit) => {
                self.send(
                    conn,
                    &Frame::Ok {
                        code: code::OK,
                        message: "bye".into(),
                    },
                );
                self.close(conn, FtEnd::Quit);
            }
            (Phase::Login, Frame::Login { user, password }) => {
                c.phase = Phase::Checking(user.clone());
                self.events.push_back(FtEvent::Login {
                    conn,
                    user,
                    password,
                });
            }
            (Phase::Login, Frame::Get { .. } | Frame::Put { .. } | Frame::List) => {
                self.send_err(conn, code::LOGIN_REQUIRED, "log in first");
            }
            (Phase::Ready, Frame::List) => {
                c.phase = Phase::Listing;
                self.events.push_back(FtEvent::ListRequest { conn });
            }
            (Phase::Ready, Frame::Get { alg, name }) => {
                if let Err(e) = validate_name(&name) {
                    self.send_err(conn, code::BAD_NAME, e.to_string());
                    return;
                }
                c.phase = Phase::Opening {
                    alg: alg.agree(self.prefers),
                };
                self.events.push_back(FtEvent::OpenRead { conn, name });
            }
            (Phase::Ready, Frame::Put { size, alg, name }) => {
                if let Err(e) = validate_name(&name) {
                    self.send_err(conn, code::BAD_NAME, e.to_string());
                    return;
                }
                if size > self.max_file_size {
                    let message = format!(
                        "{name} is {size} bytes, over this server's limit of {} bytes",
                        self.max_file_size
                    );
                    self.send_err(conn, code::TOO_LARGE, message);
                    return;
                }
                c.phase = Phase::Opening {
                    alg: alg.agree(self.prefers),
                };
                self.events
                    .push_back(FtEvent::OpenWrite { conn, name, size });
            }
            (Phase::Upload(u), Frame::Data(data)) => {
                u.received += data.len() as u64;
                if u.received > u.size {
                    let message =
                        format!("more bytes than the {} announced for {}", u.size, u.name);
                    self.fail(conn, code::LENGTH_MISMATCH, FtEnd::Mismatch(message));
                    return;
                }
                u.hasher.update(&data);
                u.unwritten += data.len();
                self.events.push_back(FtEvent::UploadData { conn, data });
            }
            (Phase::Upload(u), Frame::End { total, alg, digest }) => {
                let (name, size) = (u.name.clone(), u.size);
                let ours = u.hasher.finish();
                let agreed = u.alg;
                let received = u.received;
                if total != received || received != size {
                    let message = format!("{name}: announced {size} bytes, received {received}, end marker says {total}; nothing was stored");
                    self.abort_transfer(conn, FtEnd::Mismatch(message.clone()));
                    self.send_err(conn, code::LENGTH_MISMATCH, message);
                } else if alg != agreed || digest != ours {
                    let message = format!(
                        "{name}: the {} digest does not match the content; nothing was stored",
                        agreed.name()
                    );
                    self.abort_transfer(conn, FtEnd::Mismatch(message.clone()));
                    self.send_err(conn, code::DIGEST_MISMATCH, message);
                } else if let Some(c) = self.table.get_mut(conn) {
                    let digest = hex(&ours);
                    c.phase = Phase::Committing {
                        name: name.clone(),
                        size,
                        digest: digest.clone(),
                        alg: agreed,
                    };
                    self.events.push_back(FtEvent::UploadEnd {
                        conn,
                        name,
                        size,
                        digest,
                    });
                }
            }
            (Phase::Ready, Frame::Login { .. }) => {
                self.send_err(conn, code::BAD_REQUEST, "already logged in");
            }
            (_, frame) => {
                self.fail(conn, code::BAD_REQUEST, FtEnd::OutOfOrder(frame.name()));
            }
        }
    }

    /// Takes the frames received on `conn` in turn, until one asks the
    /// application something: the frames after it wait, decoded or not,
    /// until the answer came (each answer drains again), so a client that
    /// sends its requests without waiting is answered in order.
    pub(super) fn drain(&mut self, conn: ConnId) {
        loop {
            let Some(c) = self.table.get_mut(conn) else {
                return;
            };
            if c.phase.awaits_application() {
                return;
            }
            match c.decoder.next_frame() {
                Ok(Some(frame)) => self.on_frame(conn, frame),
                Ok(None) => return,
                Err(e) => {
                    self.fail(conn, code::BAD_REQUEST, FtEnd::BadFrame(e));
                    return;
                }
            }
        }
    }
}
