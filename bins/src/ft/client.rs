//! `commlab ft client`: core's `FtClient` over the std driver, files
//! written through a temporary file, the challenge's round trip.

use std::fs::{self, File};
use std::io::{self, BufRead as _, IsTerminal as _, Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

use anyhow::{bail, Context as _};
use commlab_core::filexfer::{DigestAlg, FtClient, FtClientEvent};
use commlab_core::tls::TlsClientEvent;
use commlab_core::trace::{Side, Tracer, Wire};
use commlab_std::BlockingSession;

use super::files::{create_temp, temp_beside};
use super::raw::run_raw_client;
use super::{log, Hash, ANSWER_TIMEOUT, FILE_CHUNK};
use crate::tls::{ClientTls, LayeredSession};
use crate::ConnectArgs;

/// Options of `commlab ft client`.
#[derive(Debug, Clone, clap::Args)]
#[command(mut_arg("port", |a| a.required(false).default_value("6001")))]
pub struct ClientArgs {
    /// Where the server is.
    #[command(flatten)]
    pub server: ConnectArgs,
    /// User name.
    #[arg(long, required_unless_present = "raw")]
    pub user: Option<String>,
    /// Password (else COMMLAB_PASSWORD, else asked without echo).
    #[arg(long, env = "COMMLAB_PASSWORD", hide_env_values = true)]
    pub password: Option<String>,
    /// Digest to ask for (SHA-256 wins when either side asks).
    #[arg(long, value_enum, default_value_t = Hash::Blake3)]
    pub hash: Hash,
    /// The class's raw mode: receive until the server closes, into --out.
    #[arg(long, requires = "out")]
    pub raw: bool,
    /// Send the password in clear to a server that is not on this
    /// machine (refused without it: use --tls instead).
    #[arg(long, conflicts_with = "tls")]
    pub plaintext: bool,
    /// With --trace: show the first bytes of each DATA frame too.
    #[arg(long, global = true, requires = "trace")]
    pub trace_data: bool,
    /// Where raw mode writes what it receives.
    #[arg(long)]
    pub out: Option<PathBuf>,
    /// What to do.
    #[command(subcommand)]
    pub command: Option<ClientCommand>,
}

/// The client's requests.
#[derive(Debug, Clone, clap::Subcommand)]
pub enum ClientCommand {
    /// Download NAME (verified before it replaces anything).
    Get {
        /// The file on the server.
        name: String,
        /// Where to write it (default: NAME in the current folder).
        #[arg(long)]
        out: Option<PathBuf>,
    },
    /// Upload PATH (the server replaces its file only once it arrived whole).
    Put {
        /// The local file.
        path: PathBuf,
        /// Name on the server (default: PATH's file name).
        #[arg(long = "as")]
        name: Option<String>,
    },
    /// List the server's files.
    List,
    /// The challenge: download NAME, let a person edit it, upload it back over NAME.
    Roundtrip {
        /// The file on the server (e.g. FT_teste.xlsx).
        name: String,
        /// The local copy to edit.
        #[arg(long, default_value = "FT_arquivo_recebido.xlsx")]
        local: PathBuf,
        /// Seconds to wait for the edit (instead of pressing Enter).
        #[arg(long, conflicts_with = "wait_for_change")]
        edit_window: Option<u64>,
        /// Wait until the local copy is saved (its modification time changes).
        #[arg(long)]
        wait_for_change: bool,
    },
}

/// A logged-in client connection (in clear or over TLS).
pub struct FtConnection {
    session: BlockingSession<LayeredSession<FtClient>>,
    /// `HOST:PORT`, as the user named the server (for error messages).
    server: String,
}

impl std::fmt::Debug for FtConnection {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("FtConnection")
    }
}

fn progress(total: u64, what: &str) -> Option<indicatif::ProgressBar> {
    if !io::stderr().is_terminal() || total < 1024 * 1024 {
        return None;
    }
    let bar = indicatif::ProgressBar::new(total);
    let style = indicatif::ProgressStyle::with_template(
        "{msg} [{bar:30}] {bytes}/{total_bytes} {binary_bytes_per_sec} ETA {eta}",
    )
    .map(|s| s.progress_chars("=> "))
    .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar());
    bar.set_style(style);
    bar.set_message(what.to_owned());
    Some(bar)
}

impl FtConnection {
    /// Connects and logs in.
    pub fn open(
        host: &str,
        port: u16,
        user: &str,
        password: &str,
        hash: DigestAlg,
    ) -> anyhow::Result<Self> {
        Self::open_traced(host, port, user, password, hash, None, None)
    }

    /// [`open`](Self::open) over TLS when `tls` is given, every frame
    /// shown to `tracer` (`--trace`).
    pub fn open_traced(
        host: &str,
        port: u16,
        user: &str,
        password: &str,
        hash: DigestAlg,
        tracer: Option<Tracer>,
        tls: Option<&ClientTls>,
    ) -> anyhow::Result<Self> {
        let stream = TcpStream::connect((host, port)).with_context(|| {
            format!("cannot connect to {host}:{port} (is the server running? start it with `commlab ft server`)")
        })?;
        let (session, tracer) = LayeredSession::new(FtClient::new(hash), tls, tracer)?;
        let mut c = Self {
            session: BlockingSession::new(stream, session),
            server: format!("{host}:{port}"),
        };
        if let Some(t) = tracer {
            c.session.trace(t);
        }
        match c.next()? {
            FtClientEvent::Hello { .. } => {}
            FtClientEvent::Error { message, .. } => bail!("{host}:{port}: {message}"),
            other => bail!("{host}:{port} is not a commlab file server (it said {other})"),
        }
        c.session
            .command(|s| s.inner_mut().login(user, password))??;
        match c.next()? {
            FtClientEvent::Ok(_) => Ok(c),
            FtClientEvent::Error { message, .. } => bail!("{message}"),
            other => bail!("unexpected answer to the login: {other}"),
        }
    }

    fn next(&mut self) -> anyhow::Result<FtClientEvent> {
        loop {
            match self.session.next_event(ANSWER_TIMEOUT)? {
                Some(TlsClientEvent::Inner(FtClientEvent::Closed)) | None => {
                    bail!("the server closed the connection")
                }
                Some(TlsClientEvent::Inner(e)) => return Ok(e),
                Some(TlsClientEvent::Established(_)) => {}
                Some(TlsClientEvent::Failed(e)) => {
                    // The alert goes out before the close.
                    let _ = self.session.command(|_| ());
                    bail!("TLS with {} failed: {e}", self.server)
                }
            }
        }
    }

    /// The server's files.
    pub fn list(&mut self) -> anyhow::Result<Vec<(String, u64)>> {
        self.session.command(|s| s.inner_mut().list())??;
        let mut entries = Vec::new();
        loop {
            match self.next()? {
                FtClientEvent::Entry { name, size } => entries.push((name, size)),
                FtClientEvent::Listed => return Ok(entries),
                FtClientEvent::Error { message, .. } => bail!("{message}"),
                other => bail!("unexpected answer to LIST: {other}"),
            }
        }
    }

    /// Downloads `name` into `out` (through a temporary file, renamed only
    /// once the length and digest matched). Returns the size and digest.
    pub fn get(&mut self, name: &str, out: &Path) -> anyhow::Result<(u64, String, DigestAlg)> {
        self.session.command(|s| s.inner_mut().get(name))??;
        let size = match self.next()? {
            FtClientEvent::DownloadReady { size, .. } => size,
            FtClientEvent::Error { message, .. } => bail!("{message}"),
            other => bail!("unexpected answer to GET: {other}"),
        };
        let temp = temp_beside(out, "download");
        let mut file =
            create_temp(&temp).with_context(|| format!("cannot create {}", temp.display()))?;
        let bar = progress(size, &format!("get {name}"));
        let result = loop {
            match self.next() {
                Ok(FtClientEvent::Data(data)) => {
                    if let Err(e) = file.write_all(&data) {
                        break Err(anyhow::anyhow!("cannot write {}: {e}", temp.display()));
                    }
                    if let Some(b) = &bar {
                        b.inc(data.len() as u64);
                    }
                    self.session.session().inner_mut().recycle(data);
                }
                Ok(FtClientEvent::Downloaded { size, digest, alg }) => {
                    break file
                        .sync_all()
                        .and_then(|()| super::files::replace(&temp, out))
                        .map(|()| (size, digest, alg))
                        .with_context(|| format!("cannot write {}", out.display()))
                }
                Ok(FtClientEvent::DownloadFailed(why)) => {
                    break Err(anyhow::anyhow!(
                        "download of {name} failed: {why}; nothing was written"
                    ))
                }
                Ok(other) => {
                    break Err(anyhow::anyhow!(
                        "unexpected answer during the download: {other}"
                    ))
                }
                Err(e) => break Err(e),
            }
        };
        if let Some(b) = bar {
            b.finish_and_clear();
        }
        if result.is_err() {
            let _ = fs::remove_file(&temp);
        }
        result
    }

    /// Uploads `path` as `name`. Returns the server's message and the digest.
    pub fn put(&mut self, path: &Path, name: &str) -> anyhow::Result<(String, String)> {
        let mut file =
            File::open(path).with_context(|| format!("cannot open {}", path.display()))?;
        let size = file.metadata()?.len();
        self.session.command(|s| s.inner_mut().put(name, size))??;
        match self.next()? {
            FtClientEvent::UploadReady { .. } => {}
            FtClientEvent::Error { message, .. } => bail!("{message}"),
            other => bail!("unexpected answer to PUT: {other}"),
        }
        let bar = progress(size, &format!("put {name}"));
        let mut buf = vec![0u8; FILE_CHUNK];
        loop {
            let n = file
                .read(&mut buf)
                .with_context(|| format!("cannot read {}", path.display()))?;
            if n == 0 {
                break;
            }
            self.session
                .command(|s| s.inner_mut().upload_data(&buf[..n]))??;
            if let Some(b) = &bar {
                b.inc(n as u64);
            }
        }
        if let Some(b) = bar {
            b.finish_and_clear();
        }
        self.session.command(|s| s.inner_mut().upload_end())??;
        match self.next()? {
            FtClientEvent::Uploaded { message, digest } => Ok((message, digest)),
            FtClientEvent::Error { message, .. } => bail!("{message}"),
            other => bail!("unexpected answer to the upload: {other}"),
        }
    }

    /// Says goodbye.
    pub fn quit(mut self) {
        if self.session.command(|s| s.inner_mut().quit()).is_ok() {
            let _ = self.session.next_event(Duration::from_secs(2));
        }
    }
}

fn password(args: &ClientArgs) -> anyhow::Result<String> {
    if let Some(p) = &args.password {
        // clap takes --password over COMMLAB_PASSWORD: a value that is not
        // the variable's came from the command line.
        if std::env::var_os("COMMLAB_PASSWORD").is_none_or(|v| v != p.as_str()) {
            super::warn_password_in_arguments(
                "--password",
                "set COMMLAB_PASSWORD instead, or leave it out to be asked without echo",
            );
        }
        return Ok(p.clone());
    }
    if !io::stdin().is_terminal() {
        bail!(
            "no password: pass --password, set COMMLAB_PASSWORD, or run on a terminal to be asked"
        );
    }
    Ok(rpassword::prompt_password("Senha: ")?)
}

fn wait_for_edit(
    local: &Path,
    edit_window: Option<u64>,
    wait_for_change: bool,
) -> anyhow::Result<()> {
    if let Some(secs) = edit_window {
        println!(
            "Edite {} agora: o envio começa em {secs} s.",
            local.display()
        );
        std::thread::sleep(Duration::from_secs(secs));
    } else if wait_for_change {
        let before = fs::metadata(local)?
            .modified()
            .unwrap_or(SystemTime::UNIX_EPOCH);
        println!(
            "Edite e salve {}: o envio começa quando o arquivo mudar.",
            local.display()
        );
        loop {
            std::thread::sleep(Duration::from_millis(300));
            let now = fs::metadata(local)
                .and_then(|m| m.modified())
                .unwrap_or(before);
            if now != before {
                // Let the editor finish writing.
                std::thread::sleep(Duration::from_millis(500));
                return Ok(());
            }
        }
    } else {
        println!(
            "Edite {} e pressione Enter para enviar de volta.",
            local.display()
        );
        let mut line = String::new();
        io::stdin().lock().read_line(&mut line)?;
    }
    Ok(())
}

/// Runs `commlab ft client`.
pub fn run_client(args: &ClientArgs) -> anyhow::Result<()> {
    if args.raw {
        let out = args.out.as_deref().context("--raw needs --out FILE")?;
        if args.server.tls {
            bail!("the raw mode client speaks plain TCP, as the class's does; over TLS, receive with `openssl s_client -quiet -connect HOST:PORT > FILE`");
        }
        let tracer = crate::tracer(args.server.trace, Wire::Raw, Side::Client);
        return run_raw_client(&args.server.host, args.server.port, out, tracer);
    }
    let tls = args.server.client_tls()?;
    if tls.is_none() && !args.plaintext && !is_loopback(&args.server.host) {
        bail!(
            "refusing to send the password in clear to {}, which is not this machine: use --tls (the server needs --tls-self-signed or --tls-cert/--tls-key), or --plaintext to send it anyway",
            args.server.host
        );
    }
    let Some(command) = &args.command else {
        bail!("say what to do: get NAME, put PATH, list or roundtrip NAME (see --help)");
    };
    let user = args.user.as_deref().context("--user NAME is required")?;
    let password = password(args)?;
    let hash: DigestAlg = args.hash.into();
    let wire = Wire::FileTransfer {
        data: args.trace_data,
    };
    let connect = || {
        let tracer = crate::tracer(args.server.trace, wire, Side::Client);
        FtConnection::open_traced(
            &args.server.host,
            args.server.port,
            user,
            &password,
            hash,
            tracer,
            tls.as_ref(),
        )
    };
    match command {
        ClientCommand::List => {
            let mut c = connect()?;
            for (name, size) in c.list()? {
                println!("{size:>12}  {name}");
            }
            c.quit();
        }
        ClientCommand::Get { name, out } => {
            let out = out.clone().unwrap_or_else(|| PathBuf::from(name));
            let mut c = connect()?;
            println!("Recebendo dados...");
            let (size, digest, alg) = c.get(name, &out)?;
            println!("Transferência realizada com sucesso");
            println!("{}: {size} bytes, {} {digest}", out.display(), alg.name());
            c.quit();
        }
        ClientCommand::Put { path, name } => {
            let name = match name {
                Some(n) => n.clone(),
                None => path
                    .file_name()
                    .and_then(|n| n.to_str())
                    .context("PATH has no file name; pass --as NAME")?
                    .to_owned(),
            };
            let mut c = connect()?;
            let (message, digest) = c.put(path, &name)?;
            println!("Envio completo");
            println!("{message}");
            log(&format!("local {} digest {digest}", args.hash_name()));
            c.quit();
        }
        ClientCommand::Roundtrip {
            name,
            local,
            edit_window,
            wait_for_change,
        } => {
            let mut c = connect()?;
            println!("Recebendo dados...");
            let (size, digest, alg) = c.get(name, local)?;
            println!("Transferência realizada com sucesso");
            println!("{}: {size} bytes, {} {digest}", local.display(), alg.name());
            c.quit();
            wait_for_edit(local, *edit_window, *wait_for_change)?;
            // A new connection: the edit may take longer than the server's idle timeout.
            let mut c = connect()?;
            let (message, _) = c.put(local, name)?;
            println!("Envio completo");
            println!("{message}");
            c.quit();
        }
    }
    Ok(())
}

/// Whether every address `host` names is a loopback one (nothing leaves
/// the machine).
fn is_loopback(host: &str) -> bool {
    use std::net::ToSocketAddrs as _;
    let bare = host.trim_start_matches('[').trim_end_matches(']');
    match (bare, 0).to_socket_addrs() {
        Ok(addrs) => {
            let addrs: Vec<_> = addrs.collect();
            !addrs.is_empty() && addrs.iter().all(|a| a.ip().is_loopback())
        }
        Err(_) => false,
    }
}

impl ClientArgs {
    fn hash_name(&self) -> &'static str {
        DigestAlg::from(self.hash).name()
    }
}
