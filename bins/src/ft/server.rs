//! `commlab ft server`: the framed protocol's service with the
//! application that answers it with file IO.

use std::io;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::{bail, Context as _};
use commlab_core::filexfer::{DigestAlg, FtServer, SlowLimits, MAX_FILE_SIZE};
use commlab_core::trace::{Tracer, Wire};

use crate::tls::ServerTls;

use super::files::remove_stale_temps;
use super::raw::run_raw_server;
use super::server_app::ServerApp;
use super::{log, Hash, Users, HOST, PORT};
use crate::{
    announce_listening, print_line, Engine, LineSink, Listeners, ServeArgs, Server, ServerLine,
    Stop,
};

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
    /// Event loops on the mio engine (`--threads`); the std engine runs
    /// a thread per connection.
    pub threads: usize,
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
            threads: 1,
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
        threads,
    } = config;
    let removed = remove_stale_temps(&root)?;
    if removed > 0 {
        sink(ServerLine::Log(format!(
            "removed {removed} partial upload(s) left in {} by an earlier run that did not end cleanly",
            root.display()
        )));
    }
    let users = Arc::new(users);
    let sink = crate::shared_sink(sink);
    Server::start_loops(
        engine,
        listener,
        threads,
        |_| {
            Ok((
                FtServer::new(hash, max_file_size).with_slow_limits(slow),
                ServerApp::new(root.clone(), Arc::clone(&users), quiet, sink()),
            ))
        },
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
        threads: args.serve.loops(true)?,
        ..FtServerConfig::new(&args.root, users)
    };
    let secure = if config.tls.is_some() {
        "logins and files travel over TLS"
    } else {
        "credentials travel unencrypted, as in FTP (--tls-self-signed or --tls-cert/--tls-key encrypt them)"
    };
    let server = start(args.serve.engine, listener, config).context("cannot start the server")?;
    announce_listening(server.local_addrs());
    crate::serve::announce_loops(server.loops(), server.accepts_per_loop());
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
