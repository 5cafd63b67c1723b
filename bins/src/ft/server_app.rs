//! The file server's application: answers the protocol's events with
//! password checks and file IO, every one of them a job on the engine's
//! workers, so neither an event loop nor the std engine's lock ever waits
//! for a hash or a disk.
//!
//! A file travels with the job that uses it and comes back with its
//! result: a download's file is either in `reads` or in a read job, an
//! upload's either in `writes` or in a write or commit job. Chunks that
//! arrive while a write is in flight queue behind it (at most
//! [`MAX_UPLOAD_QUEUE`] bytes), so a connection's bytes reach the disk in
//! order. What a job brings back for a connection that closed meanwhile is
//! released then (a file closed, a temporary file removed by another job).

use std::collections::HashMap;
use std::fs::{self, File};
use std::io::{self, Write};
use std::path::PathBuf;
use std::sync::Arc;

use commlab_core::filexfer::{code, FtEvent, FtServer};
use commlab_core::{App, ConnId, Jobs, Lane, Service};

use super::files::{create_temp, list_folder, replace, resolve, temp_path, Chunk};
use super::Users;
use crate::{python_addr, LineSink, ServerLine};

/// Most upload bytes one connection may have waiting for the disk while
/// its previous chunk is being written; past it the upload fails with a
/// server error (the disk is slower than the network) and the old file
/// stays.
pub const MAX_UPLOAD_QUEUE: usize = 16 * 1024 * 1024;

/// An upload's temporary file and where it goes once verified.
pub(super) struct Upload {
    file: File,
    temp: PathBuf,
    target: PathBuf,
    name: String,
}

/// An upload in progress: its file (unless a job holds it) and the chunks
/// waiting for it.
struct Writing {
    upload: Option<Upload>,
    queued: Vec<Vec<u8>>,
    queued_bytes: usize,
    /// The client sent the end and the service verified it: commit once
    /// the queue is written.
    end: bool,
}

/// What a job brings back.
pub(super) enum Done {
    Login {
        conn: ConnId,
        ok: bool,
    },
    Listed {
        conn: ConnId,
        entries: Vec<(String, u64)>,
    },
    OpenedRead {
        conn: ConnId,
        name: String,
        opened: Result<(File, u64), (u16, String)>,
    },
    Read(ConnId, Chunk),
    OpenedWrite {
        conn: ConnId,
        name: String,
        size: u64,
        opened: Result<Upload, (u16, String)>,
    },
    Wrote {
        conn: ConnId,
        upload: Upload,
        chunks: Vec<Vec<u8>>,
        written: io::Result<()>,
    },
    Committed {
        conn: ConnId,
        name: String,
        stored: io::Result<()>,
    },
    /// A clean-up job (a temporary file removed) finished.
    Nothing,
}

/// The server application (one per server; the engine delivers its events
/// and its jobs' results one at a time).
pub(super) struct ServerApp {
    pub(super) root: PathBuf,
    pub(super) users: Arc<Users>,
    pub(super) quiet: bool,
    pub(super) sink: LineSink,
    reads: HashMap<ConnId, Option<File>>,
    writes: HashMap<ConnId, Writing>,
}

impl ServerApp {
    /// Serves `root` to `users`, lines to `sink`.
    pub(super) fn new(root: PathBuf, users: Arc<Users>, quiet: bool, sink: LineSink) -> Self {
        Self {
            root,
            users,
            quiet,
            sink,
            reads: HashMap::new(),
            writes: HashMap::new(),
        }
    }

    fn out(&mut self, text: String) {
        (self.sink)(ServerLine::Out(text));
    }

    /// A problem worth logging, quiet or not.
    fn log(&mut self, text: String) {
        (self.sink)(ServerLine::Log(text));
    }

    /// A routine log line (logins, transfers, closes): not under `--quiet`.
    fn note(&mut self, text: String) {
        if !self.quiet {
            self.log(text);
        }
    }

    /// Forgets `conn`'s upload: its temporary file is removed now if the
    /// file is here, else when the job holding it comes back.
    fn discard(&mut self, conn: ConnId, jobs: &mut Jobs<'_, Done>) {
        if let Some(Writing {
            upload: Some(up), ..
        }) = self.writes.remove(&conn)
        {
            remove_later(up, jobs);
        }
    }

    /// Starts the next write or the commit of `conn`'s upload, if its file
    /// is here and there is something to do.
    fn advance_upload(&mut self, conn: ConnId, jobs: &mut Jobs<'_, Done>) {
        let Some(w) = self.writes.get_mut(&conn) else {
            return;
        };
        if w.upload.is_none() {
            return;
        }
        if !w.queued.is_empty() {
            let Some(mut upload) = w.upload.take() else {
                return;
            };
            let chunks = std::mem::take(&mut w.queued);
            w.queued_bytes = 0;
            jobs.run(Lane::Io, move || {
                let written = chunks.iter().try_for_each(|c| upload.file.write_all(c));
                Done::Wrote {
                    conn,
                    upload,
                    chunks,
                    written,
                }
            });
        } else if w.end {
            if let Some(Writing {
                upload: Some(up), ..
            }) = self.writes.remove(&conn)
            {
                jobs.run(Lane::Io, move || {
                    let name = up.name.clone();
                    let stored = up
                        .file
                        .sync_all()
                        .and_then(|()| replace(&up.temp, &up.target));
                    if stored.is_err() {
                        let _ = fs::remove_file(&up.temp);
                    }
                    Done::Committed { conn, name, stored }
                });
            }
        }
    }
}

/// Removes an upload's temporary file on a worker.
fn remove_later(up: Upload, jobs: &mut Jobs<'_, Done>) {
    jobs.run(Lane::Io, move || {
        drop(up.file);
        let _ = fs::remove_file(&up.temp);
        Done::Nothing
    });
}

fn open_read(root: &std::path::Path, name: &str) -> Result<(File, u64), (u16, String)> {
    let path = resolve(root, name)?;
    let file = File::open(&path).map_err(|e| match e.kind() {
        io::ErrorKind::NotFound => (
            code::NOT_FOUND,
            format!("{name}: no such file on the server"),
        ),
        _ => (code::SERVER_ERROR, format!("cannot open {name}: {e}")),
    })?;
    let size = file
        .metadata()
        .map_err(|e| (code::SERVER_ERROR, e.to_string()))?
        .len();
    Ok((file, size))
}

fn open_write(root: &std::path::Path, conn: ConnId, name: &str) -> Result<Upload, (u16, String)> {
    let target = resolve(root, name)?;
    let temp = temp_path(root, name, &conn.0.to_string());
    let file = create_temp(&temp).map_err(|e| {
        (
            code::SERVER_ERROR,
            format!("cannot create a temporary file for {name}: {e}"),
        )
    })?;
    Ok(Upload {
        file,
        temp,
        target,
        name: name.to_owned(),
    })
}

impl App<FtServer> for ServerApp {
    type Done = Done;

    fn on_event(&mut self, svc: &mut FtServer, event: FtEvent, jobs: &mut Jobs<'_, Done>) {
        match event {
            FtEvent::Connected { peer, .. } => {
                self.out(format!("Conectado por: {}", python_addr(peer)));
            }
            FtEvent::Login {
                conn,
                user,
                password,
            } => {
                let users = Arc::clone(&self.users);
                jobs.run(Lane::Compute, move || Done::Login {
                    conn,
                    ok: users.verify(&user, &password),
                });
            }
            FtEvent::LoggedIn { conn, user } => self.note(format!("{conn}: {user} logged in")),
            FtEvent::LoginFailed {
                conn,
                user,
                failures,
                closed,
            } => self.log(format!(
                "{conn}: login failed for '{user}' ({failures} of {}){}",
                commlab_core::filexfer::MAX_LOGIN_FAILURES,
                if closed { "; connection closed" } else { "" }
            )),
            FtEvent::ListRequest { conn } => {
                let root = self.root.clone();
                jobs.run(Lane::Io, move || Done::Listed {
                    conn,
                    entries: list_folder(&root).unwrap_or_default(),
                });
            }
            FtEvent::OpenRead { conn, name } => {
                let root = self.root.clone();
                jobs.run(Lane::Io, move || Done::OpenedRead {
                    conn,
                    opened: open_read(&root, &name),
                    name,
                });
            }
            FtEvent::NeedData { conn } => {
                // The service asks again only once it has the answer, so
                // the file is here unless the download ended meanwhile.
                let Some(file) = self.reads.get_mut(&conn).and_then(Option::take) else {
                    return;
                };
                jobs.run(Lane::Io, move || Done::Read(conn, Chunk::read_next(file)));
            }
            FtEvent::Downloaded { conn, file } => {
                self.reads.remove(&conn);
                self.out("Envio completo".into());
                self.note(format!("{conn}: sent {file}"));
            }
            FtEvent::DownloadAborted { conn, name } => {
                self.reads.remove(&conn);
                self.log(format!("{conn}: download of {name} stopped"));
            }
            FtEvent::OpenWrite { conn, name, size } => {
                let root = self.root.clone();
                jobs.run(Lane::Io, move || Done::OpenedWrite {
                    conn,
                    opened: open_write(&root, conn, &name),
                    name,
                    size,
                });
            }
            FtEvent::UploadData { conn, data } => {
                let Some(w) = self.writes.get_mut(&conn) else {
                    return;
                };
                w.queued_bytes += data.len();
                w.queued.push(data);
                if w.queued_bytes > MAX_UPLOAD_QUEUE {
                    let name = w
                        .upload
                        .as_ref()
                        .map(|u| u.name.clone())
                        .unwrap_or_default();
                    self.discard(conn, jobs);
                    svc.upload_failed(
                        conn,
                        &format!(
                            "cannot store {name}: the server's disk is slower than the upload"
                        ),
                    );
                    return;
                }
                self.advance_upload(conn, jobs);
            }
            FtEvent::UploadEnd { conn, .. } => {
                if let Some(w) = self.writes.get_mut(&conn) {
                    w.end = true;
                }
                self.advance_upload(conn, jobs);
            }
            FtEvent::Uploaded { conn, file } => {
                self.out(format!("Recebido: {}", file.name));
                self.note(format!("{conn}: stored {file}"));
            }
            FtEvent::UploadAborted { conn, name, reason } => {
                self.discard(conn, jobs);
                self.log(format!(
                    "{conn}: upload of {name} discarded ({reason}); the old file is unchanged"
                ));
            }
            FtEvent::ProtocolError { conn, reason } => self.log(format!("{conn}: {reason}")),
            FtEvent::Closed { conn, reason } => {
                self.reads.remove(&conn);
                self.discard(conn, jobs);
                self.out("Conexão fechada".into());
                self.note(format!("{conn}: closed ({reason})"));
            }
        }
    }

    fn on_done(&mut self, svc: &mut FtServer, done: Done, jobs: &mut Jobs<'_, Done>) {
        match done {
            Done::Login { conn, ok } => svc.login_result(conn, ok),
            Done::Listed { conn, entries } => svc.list_result(conn, &entries),
            Done::OpenedRead { conn, name, opened } => match opened {
                Ok((file, size)) if svc.is_open(conn) => {
                    self.reads.insert(conn, Some(file));
                    svc.download_begin(conn, &name, size);
                }
                Ok(_) => {}
                Err((c, message)) => svc.refuse(conn, c, &message),
            },
            Done::Read(conn, chunk) => {
                let Some(slot) = self.reads.get_mut(&conn) else {
                    return;
                };
                *slot = Some(chunk.file);
                match chunk.read {
                    Ok(0) => svc.download_eof(conn),
                    Ok(n) => svc.download_data(conn, &chunk.buf[..n]),
                    Err(e) => svc.download_failed(conn, &format!("cannot read the file: {e}")),
                }
            }
            Done::OpenedWrite {
                conn,
                name,
                size,
                opened,
            } => match opened {
                Ok(up) if svc.is_open(conn) => {
                    self.writes.insert(
                        conn,
                        Writing {
                            upload: Some(up),
                            queued: Vec::new(),
                            queued_bytes: 0,
                            end: false,
                        },
                    );
                    svc.upload_accept(conn, &name, size);
                }
                Ok(up) => remove_later(up, jobs),
                Err((c, message)) => svc.refuse(conn, c, &message),
            },
            Done::Wrote {
                conn,
                upload,
                chunks,
                written,
            } => {
                let Some(w) = self.writes.get_mut(&conn) else {
                    remove_later(upload, jobs);
                    return;
                };
                if let Err(e) = written {
                    let message = format!("cannot write {}: {e}", upload.name);
                    w.upload = Some(upload);
                    self.discard(conn, jobs);
                    svc.upload_failed(conn, &message);
                    return;
                }
                w.upload = Some(upload);
                for chunk in chunks {
                    svc.recycle(conn, chunk);
                }
                self.advance_upload(conn, jobs);
            }
            Done::Committed { conn, name, stored } => match stored {
                Ok(()) => svc.upload_committed(conn),
                Err(e) => svc.upload_failed(conn, &format!("cannot store {name}: {e}")),
            },
            Done::Nothing => {}
        }
    }
}
