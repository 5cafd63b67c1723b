//! `commlab ft server`: the framed protocol's service with the
//! application that answers it with file IO.

use std::collections::HashMap;
use std::fs::{self, File};
use std::io::{self, Read, Write};

use std::path::{Path, PathBuf};

use anyhow::{bail, Context as _};
use commlab_core::filexfer::{code, DigestAlg, FtEvent, FtServer, SlowLimits, MAX_FILE_SIZE};
use commlab_core::trace::{Tracer, Wire};

use crate::tls::ServerTls;
use commlab_core::ConnId;

use super::files::{create_temp, list_folder, remove_stale_temps, replace, resolve, temp_path};
use super::raw::run_raw_server;
use super::{log, Hash, Users, FILE_CHUNK, HOST, PORT};
use crate::{
    announce_listening, print_line, python_addr, Engine, LineSink, Listeners, ServeArgs, Server,
    ServerLine, Stop,
};

struct Upload {
    file: File,
    temp: PathBuf,
    target: PathBuf,
    name: String,
}

/// The server application: answers the service's events with file IO.
struct ServerApp {
    root: PathBuf,
    users: Users,
    reads: HashMap<ConnId, File>,
    writes: HashMap<ConnId, Upload>,
    buf: Vec<u8>,
    quiet: bool,
    sink: LineSink,
}

impl ServerApp {
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

    fn on_event(&mut self, svc: &mut FtServer, event: FtEvent) {
        match event {
            FtEvent::Connected { peer, .. } => {
                self.out(format!("Conectado por: {}", python_addr(peer)))
            }
            FtEvent::Login {
                conn,
                user,
                password,
            } => {
                let ok = self.users.verify(&user, &password);
                svc.login_result(conn, ok);
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
                let entries = list_folder(&self.root).unwrap_or_default();
                svc.list_result(conn, &entries);
            }
            FtEvent::OpenRead { conn, name } => match self.open_read(&name) {
                Ok((file, size)) => {
                    self.reads.insert(conn, file);
                    svc.download_begin(conn, &name, size);
                }
                Err((c, message)) => svc.refuse(conn, c, &message),
            },
            FtEvent::NeedData { conn } => {
                let Some(file) = self.reads.get_mut(&conn) else {
                    return;
                };
                self.buf.resize(FILE_CHUNK, 0);
                match file.read(&mut self.buf) {
                    Ok(0) => svc.download_eof(conn),
                    Ok(n) => svc.download_data(conn, &self.buf[..n]),
                    Err(e) => svc.download_failed(conn, &format!("cannot read the file: {e}")),
                }
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
            FtEvent::OpenWrite { conn, name, size } => match self.open_write(conn, &name) {
                Ok(upload) => {
                    self.writes.insert(conn, upload);
                    svc.upload_accept(conn, &name, size);
                }
                Err((c, message)) => svc.refuse(conn, c, &message),
            },
            FtEvent::UploadData { conn, data } => {
                let Some(up) = self.writes.get_mut(&conn) else {
                    return;
                };
                if let Err(e) = up.file.write_all(&data) {
                    let message = format!("cannot write {}: {e}", up.name);
                    self.discard(conn);
                    svc.upload_failed(conn, &message);
                } else {
                    svc.recycle(conn, data);
                }
            }
            FtEvent::UploadEnd { conn, name, .. } => match self.commit(conn) {
                Ok(()) => svc.upload_committed(conn),
                Err(e) => {
                    let message = format!("cannot store {name}: {e}");
                    self.discard(conn);
                    svc.upload_failed(conn, &message);
                }
            },
            FtEvent::Uploaded { conn, file } => {
                self.out(format!("Recebido: {}", file.name));
                self.note(format!("{conn}: stored {file}"));
            }
            FtEvent::UploadAborted { conn, name, reason } => {
                self.discard(conn);
                self.log(format!(
                    "{conn}: upload of {name} discarded ({reason}); the old file is unchanged"
                ));
            }
            FtEvent::ProtocolError { conn, reason } => self.log(format!("{conn}: {reason}")),
            FtEvent::Closed { conn, reason } => {
                self.reads.remove(&conn);
                self.discard(conn);
                self.out("Conexão fechada".into());
                self.note(format!("{conn}: closed ({reason})"));
            }
        }
    }

    fn open_read(&self, name: &str) -> Result<(File, u64), (u16, String)> {
        let path = resolve(&self.root, name)?;
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

    fn open_write(&self, conn: ConnId, name: &str) -> Result<Upload, (u16, String)> {
        let target = resolve(&self.root, name)?;
        let temp = temp_path(&self.root, name, &conn.0.to_string());
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

    fn commit(&mut self, conn: ConnId) -> io::Result<()> {
        let up = self
            .writes
            .remove(&conn)
            .ok_or_else(|| io::Error::other("no upload in progress"))?;
        let result = up
            .file
            .sync_all()
            .and_then(|()| replace(&up.temp, &up.target));
        if result.is_err() {
            let _ = fs::remove_file(&up.temp);
        }
        result
    }

    fn discard(&mut self, conn: ConnId) {
        if let Some(up) = self.writes.remove(&conn) {
            drop(up.file);
            let _ = fs::remove_file(&up.temp);
        }
    }
}

/// Options of `commlab ft server`.
#[derive(Debug, Clone, clap::Args)]
#[command(mut_arg("host", |a| a.default_value(HOST)), mut_arg("port", |a| a.default_value("6001")))]
pub struct ServerArgs {
    /// Listening options.
    #[command(flatten)]
    pub serve: ServeArgs,
    /// The folder served: every name is a file directly inside it.
    #[arg(long, default_value = ".")]
    pub root: PathBuf,
    /// A user NAME:PASSWORD (repeatable; for class use).
    #[arg(long = "user", value_name = "NAME:PASSWORD")]
    pub users: Vec<String>,
    /// A users file of NAME:HASH lines (see `commlab ft passwd`).
    #[arg(long = "users", value_name = "FILE")]
    pub users_file: Option<PathBuf>,
    /// Largest upload accepted, in bytes.
    #[arg(long, default_value_t = MAX_FILE_SIZE)]
    pub max_file_size: u64,
    /// Digest to ask for (SHA-256 wins when either side asks).
    #[arg(long, value_enum, default_value_t = Hash::Blake3)]
    pub hash: Hash,
    /// With --trace: show the first bytes of each DATA frame too.
    #[arg(long, requires = "trace")]
    pub trace_data: bool,
    /// Seconds a client has, from connecting, to log in (then 408 and the
    /// close), however slowly its bytes come.
    #[arg(long, value_name = "SECS", default_value_t = commlab_core::filexfer::LOGIN_TIMEOUT.as_secs(), value_parser = clap::value_parser!(u64).range(1..))]
    pub login_timeout: u64,
    /// Seconds an upload has before it must keep --upload-min-rate.
    #[arg(long, value_name = "SECS", default_value_t = commlab_core::filexfer::UPLOAD_GRACE.as_secs())]
    pub upload_grace: u64,
    /// Slowest average, in bytes per second, an upload may come at once
    /// --upload-grace has passed (then 408 and the close; the old file
    /// stays).
    #[arg(long, value_name = "BYTES", default_value_t = commlab_core::filexfer::MIN_UPLOAD_RATE, value_parser = clap::value_parser!(u64).range(1..))]
    pub upload_min_rate: u64,
    /// The class's raw mode: send this file to every client and close (no
    /// login, no framing), like the handout's server.
    #[arg(long, value_name = "FILE", conflicts_with_all = ["users", "users_file"])]
    pub raw: Option<PathBuf>,
}

/// What a file server serves, and to whom.
pub struct FtServerConfig {
    /// The folder served: every name is a file directly inside it.
    pub root: PathBuf,
    /// Who may log in.
    pub users: Users,
    /// The digest the server asks for.
    pub hash: DigestAlg,
    /// Largest upload accepted, in bytes.
    pub max_file_size: u64,
    /// Log only problems, not every login, transfer and connection.
    pub quiet: bool,
    /// Where the server's lines go.
    pub sink: LineSink,
    /// What `--trace` shows, if anything.
    pub tracer: Option<Tracer>,
    /// TLS, when asked for.
    pub tls: Option<ServerTls>,
    /// The limits on slow clients (login deadline, upload rate).
    pub slow: SlowLimits,
}

impl std::fmt::Debug for FtServerConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FtServerConfig")
            .field("root", &self.root)
            .field("users", &self.users.len())
            .field("hash", &self.hash)
            .field("max_file_size", &self.max_file_size)
            .field("quiet", &self.quiet)
            .finish_non_exhaustive()
    }
}

impl FtServerConfig {
    /// Serves `root` to `users` with the defaults: BLAKE3, uploads up to
    /// [`MAX_FILE_SIZE`], every line printed as the command prints it.
    pub fn new(root: &Path, users: Users) -> Self {
        Self {
            root: root.to_owned(),
            users,
            hash: DigestAlg::Blake3,
            max_file_size: MAX_FILE_SIZE,
            quiet: false,
            sink: Box::new(print_line),
            tracer: None,
            tls: None,
            slow: SlowLimits::default(),
        }
    }
}

/// Starts the protocol server on `listener` (one socket or several) (for the command and the
/// tests), after removing the partial uploads an earlier crash left in
/// the folder (logged through the sink).
pub fn start(
    engine: Engine,
    listener: impl Into<Listeners>,
    config: FtServerConfig,
) -> io::Result<Server<FtServer>> {
    let FtServerConfig {
        root,
        users,
        hash,
        max_file_size,
        quiet,
        mut sink,
        tracer,
        tls,
        slow,
    } = config;
    let removed = remove_stale_temps(&root)?;
    if removed > 0 {
        sink(ServerLine::Log(format!(
            "removed {removed} partial upload(s) left in {} by an earlier run that did not end cleanly",
            root.display()
        )));
    }
    let mut app = ServerApp {
        root,
        users,
        reads: HashMap::new(),
        writes: HashMap::new(),
        buf: Vec::new(),
        quiet,
        sink,
    };
    Server::start_layered(
        engine,
        listener,
        FtServer::new(hash, max_file_size).with_slow_limits(slow),
        move |svc, e| app.on_event(svc, e),
        tracer,
        tls.as_ref(),
    )
}

/// Runs `commlab ft server` until Ctrl-C.
pub fn run_server(args: &ServerArgs) -> anyhow::Result<()> {
    if let Some(file) = &args.raw {
        return run_raw_server(args, file);
    }
    let mut users = match &args.users_file {
        Some(path) => Users::load(path)?,
        None => Users::default(),
    };
    for spec in &args.users {
        users.add_plain(spec)?;
    }
    if !args.users.is_empty() {
        super::warn_password_in_arguments(
            "--user NAME:PASSWORD",
            "use --users FILE instead (made with `commlab ft passwd`)",
        );
    }
    if users.is_empty() {
        bail!("no users: pass --user NAME:PASSWORD or --users FILE (a login is required before any transfer)");
    }
    if !args.root.is_dir() {
        bail!("{} is not a folder", args.root.display());
    }
    let stop = Stop::on_ctrl_c()?;
    let listener = args.serve.bind(HOST, PORT)?;
    let config = FtServerConfig {
        hash: args.hash.into(),
        max_file_size: args.max_file_size,
        quiet: args.serve.quiet,
        tracer: args.serve.tracer(Wire::FileTransfer {
            data: args.trace_data,
        }),
        tls: args.serve.tls()?,
        slow: SlowLimits {
            login_timeout: std::time::Duration::from_secs(args.login_timeout),
            upload_grace: std::time::Duration::from_secs(args.upload_grace),
            min_upload_rate: args.upload_min_rate,
        },
        ..FtServerConfig::new(&args.root, users)
    };
    let secure = if config.tls.is_some() {
        "logins and files travel over TLS"
    } else {
        "credentials travel unencrypted, as in FTP (--tls-self-signed or --tls-cert/--tls-key encrypt them)"
    };
    let server = start(args.serve.engine, listener, config).context("cannot start the server")?;
    announce_listening(server.local_addrs());
    log(&format!(
        "serving {} to {} user(s); {secure}. Ctrl-C stops.",
        args.root.display(),
        args.users.len() + usize::from(args.users_file.is_some())
    ));
    stop.serve(
        &server,
        " (uploads in progress are discarded; old files stay)",
    )
}
