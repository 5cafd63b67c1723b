//! The class's raw mode ("bytes until close"): `ft server --raw FILE` on
//! core's `RawFileServer`, and `ft client --raw`.

use std::collections::HashMap;
use std::fs::{self, File};
use std::io::{self, Read};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Instant;

use anyhow::{bail, Context as _};
use commlab_core::filexfer::{RawEvent, RawFileServer};
use commlab_core::trace::{Tracer, Wire};
use commlab_core::{App, ConnId, Jobs, Lane};

use crate::tls::ServerTls;

use super::files::{create_temp, replace, temp_beside, Chunk};
use super::server::ServerArgs;
use super::{log, FILE_CHUNK, HOST, PORT};
use crate::{
    announce_listening, print_line, python_addr, Engine, LineSink, Listeners, Server, ServerLine,
    Stop,
};

pub(super) fn run_raw_server(args: &ServerArgs, file: &Path) -> anyhow::Result<()> {
    let mut probe = File::open(file).with_context(|| format!("cannot open {}", file.display()))?;
    probe
        .read(&mut [0u8; 1])
        .with_context(|| format!("cannot read {}", file.display()))?;
    let stop = Stop::on_ctrl_c()?;
    let listener = args.serve.bind(HOST, PORT)?;
    let quiet = args.serve.quiet;
    let sink: LineSink = Box::new(move |line| {
        if !(quiet && matches!(line, ServerLine::Log(_))) {
            print_line(line);
        }
    });
    let tracer = args.serve.tracer(Wire::Raw);
    let tls = args.serve.tls()?;
    let server = start_raw(
        args.serve.engine,
        listener,
        args.serve.loops(true)?,
        file,
        sink,
        tracer,
        tls.as_ref(),
    )
    .context("cannot start the server")?;
    announce_listening(server.local_addrs());
    crate::serve::announce_loops(server.loops(), server.accepts_per_loop());
    log(&format!(
        "raw mode: every client receives {}, then the connection closes. Ctrl-C stops.",
        file.display()
    ));
    stop.serve(&server, "")
}

/// Starts the class's raw mode on `listener` (one socket or several): every client receives
/// `file`, then the connection closes; the class's lines go to `sink`;
/// `threads` event loops on the mio engine.
/// The file is opened and read on the engine's workers, never where the
/// connections are served.
pub fn start_raw(
    engine: Engine,
    listener: impl Into<Listeners>,
    threads: usize,
    file: &Path,
    sink: LineSink,
    tracer: Option<Tracer>,
    tls: Option<&ServerTls>,
) -> io::Result<Server<RawFileServer>> {
    let path = Arc::new(file.to_owned());
    let sink = crate::shared_sink(sink);
    let make = |_| {
        let app = RawApp {
            path: Arc::clone(&path),
            sending: HashMap::new(),
            sink: sink(),
        };
        Ok((RawFileServer::new(), app))
    };
    Server::start_loops(engine, listener, threads, make, tracer, tls)
}

/// One client's copy of the file: the file, unless a job holds it, and
/// whether the service asked for data meanwhile.
struct Sending {
    file: Option<File>,
    wanted: bool,
}

/// The raw mode's application: opens and reads the file on workers.
struct RawApp {
    path: Arc<PathBuf>,
    sending: HashMap<ConnId, Sending>,
    sink: LineSink,
}

/// What a raw mode job brings back: the file, opened or read from.
enum RawDone {
    Opened(ConnId, io::Result<File>),
    Read(ConnId, Chunk),
}

impl RawApp {
    /// Reads the next chunk of `conn`'s file on a worker, if the file is
    /// here and the service asked for it.
    fn read_next(&mut self, conn: ConnId, jobs: &mut Jobs<'_, RawDone>) {
        let Some(s) = self.sending.get_mut(&conn) else {
            return;
        };
        if !s.wanted {
            return;
        }
        let Some(file) = s.file.take() else {
            return;
        };
        s.wanted = false;
        jobs.run(Lane::Io, move || {
            RawDone::Read(conn, Chunk::read_next(file))
        });
    }
}

impl App<RawFileServer> for RawApp {
    type Done = RawDone;

    fn on_event(&mut self, svc: &mut RawFileServer, e: RawEvent, jobs: &mut Jobs<'_, RawDone>) {
        let _ = svc;
        match e {
            RawEvent::Connected { conn, peer } => {
                (self.sink)(ServerLine::Out(format!(
                    "Conectado por: {}",
                    python_addr(peer)
                )));
                self.sending.insert(
                    conn,
                    Sending {
                        file: None,
                        wanted: false,
                    },
                );
                let path = Arc::clone(&self.path);
                jobs.run(Lane::Io, move || RawDone::Opened(conn, File::open(&*path)));
            }
            RawEvent::NeedData { conn } => {
                if let Some(s) = self.sending.get_mut(&conn) {
                    s.wanted = true;
                }
                self.read_next(conn, jobs);
            }
            RawEvent::Sent { conn, bytes } => {
                self.sending.remove(&conn);
                (self.sink)(ServerLine::Out("Envio completo".into()));
                (self.sink)(ServerLine::Out("Conexão fechada".into()));
                (self.sink)(ServerLine::Log(format!("{conn}: sent {bytes} bytes")));
            }
            RawEvent::Failed {
                conn,
                bytes,
                reason,
            } => {
                self.sending.remove(&conn);
                (self.sink)(ServerLine::Out("Conexão fechada".into()));
                (self.sink)(ServerLine::Log(format!(
                    "{conn}: sending stopped after {bytes} bytes: {reason}"
                )));
            }
        }
    }

    fn on_done(&mut self, svc: &mut RawFileServer, done: RawDone, jobs: &mut Jobs<'_, RawDone>) {
        let path = self.path.display();
        match done {
            RawDone::Opened(conn, Err(e)) => svc.fail(conn, &format!("cannot open {path}: {e}")),
            RawDone::Opened(conn, Ok(file)) => {
                if let Some(s) = self.sending.get_mut(&conn) {
                    s.file = Some(file);
                }
                self.read_next(conn, jobs);
            }
            RawDone::Read(conn, chunk) => {
                let Some(s) = self.sending.get_mut(&conn) else {
                    return;
                };
                s.file = Some(chunk.file);
                match chunk.read {
                    Ok(0) => svc.finish(conn),
                    Ok(n) => svc.send_data(Instant::now(), conn, &chunk.buf[..n]),
                    Err(e) => svc.fail(conn, &format!("cannot read {path}: {e}")),
                }
            }
        }
    }
}

pub(super) fn run_raw_client(
    host: &str,
    port: u16,
    out: &Path,
    mut tracer: Option<Tracer>,
) -> anyhow::Result<()> {
    let mut stream = TcpStream::connect((host, port))
        .with_context(|| format!("cannot connect to {host}:{port} (is the server running?)"))?;
    let temp = temp_beside(out, "raw");
    let mut file =
        create_temp(&temp).with_context(|| format!("cannot create {}", temp.display()))?;
    println!("Arquivo Aberto");
    println!("Recebendo dados...");
    let started = Instant::now();
    if let Some(t) = &mut tracer {
        t.opened(None);
    }
    let result = match &mut tracer {
        // Untraced, the kernel may move the bytes itself (splice).
        None => io::copy(&mut stream, &mut file),
        Some(t) => copy_traced(&mut stream, &mut file, t),
    }
    .and_then(|n| file.sync_all().map(|()| n));
    if let Some(t) = &mut tracer {
        t.closed(Instant::now(), None);
    }
    match result {
        Ok(n) => {
            replace(&temp, out).with_context(|| format!("cannot write {}", out.display()))?;
            println!("Transferência realizada com sucesso");
            println!("Conexão fechada");
            log(&format!(
                "{n} bytes in {:.2} s into {}",
                started.elapsed().as_secs_f64(),
                out.display()
            ));
            Ok(())
        }
        Err(e) => {
            let _ = fs::remove_file(&temp);
            bail!(
                "the transfer broke off: {e}; {} was not touched",
                out.display()
            )
        }
    }
}

/// Copies `from` into `to` until the end, every read shown to `tracer`.
fn copy_traced(from: &mut TcpStream, to: &mut File, tracer: &mut Tracer) -> io::Result<u64> {
    use std::io::Write as _;
    let mut buf = vec![0u8; FILE_CHUNK];
    let mut total = 0u64;
    loop {
        let n = match from.read(&mut buf) {
            Ok(0) => return Ok(total),
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        };
        tracer.received(Instant::now(), None, &buf[..n]);
        to.write_all(&buf[..n])?;
        total += n as u64;
    }
}
