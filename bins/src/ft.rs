//! Exercise 5: `commlab ft server`, `commlab ft client`, `commlab ft passwd`.
//!
//! The protocol lives in core (`filexfer`); this module reads and writes the
//! files: downloads stream from the file, uploads go to a temporary file in
//! the target folder that replaces the old file only once its length and
//! digest matched.

use std::collections::HashMap;
use std::fs::{self, File};
use std::io::{self, BufRead as _, IsTerminal as _, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant, SystemTime};

use anyhow::{bail, Context as _};
use argon2::password_hash::{rand_core::OsRng, Output, ParamsString, PasswordHash, SaltString};
use argon2::{Algorithm, Argon2, Block, Params, Version};
use commlab_core::filexfer::{
    code, DigestAlg, FtClient, FtClientEvent, FtEvent, FtServer, MAX_FILE_SIZE,
};
use commlab_core::filexfer::{RawEvent, RawFileServer};
use commlab_core::{filexfer, ConnId};
use commlab_std::BlockingSession;

use crate::{announce_listening, bind, python_addr, Engine, Server};

/// The class's port for the file transfer exercise.
pub const PORT: u16 = 6001;
/// Bytes read from a file per step.
pub const FILE_CHUNK: usize = 256 * 1024;
/// How long the client waits for any answer.
pub const ANSWER_TIMEOUT: Duration = Duration::from_secs(60);

/// Digest choice on the command line.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Hash {
    /// BLAKE3 (default; check with b3sum).
    Blake3,
    /// SHA-256 (check with sha256sum).
    Sha256,
}

impl From<Hash> for DigestAlg {
    fn from(h: Hash) -> Self {
        match h {
            Hash::Blake3 => Self::Blake3,
            Hash::Sha256 => Self::Sha256,
        }
    }
}

// ---------------------------------------------------------------- users

/// Who may log in: names with argon2 password hashes.
#[derive(Debug, Default, Clone)]
pub struct Users {
    hashes: HashMap<String, String>,
}

/// Most memory a password hash may make argon2 use (KiB); a users-file
/// hash that asks for more never matches.
pub const MAX_ARGON2_KIB: u32 = 256 * 1024;

/// argon2's working memory (19 MiB with the default parameters), allocated
/// once and reused by every hash and check. Allocating it per login made
/// the process grow by that much with each of the first logins (the
/// allocator keeps such blocks), and holding one buffer also serialises
/// logins, so a login flood cannot multiply it.
static ARGON2_MEMORY: std::sync::Mutex<Vec<Block>> = std::sync::Mutex::new(Vec::new());

/// Runs argon2 in the shared working memory.
fn argon2_into(a: &Argon2<'_>, password: &[u8], salt: &[u8], out: &mut [u8]) -> anyhow::Result<()> {
    let blocks = a.params().block_count();
    let mut memory = ARGON2_MEMORY
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    if memory.len() < blocks {
        memory.resize(blocks, Block::default());
    }
    a.hash_password_into_with_memory(password, salt, out, &mut memory[..blocks])
        .map_err(|e| anyhow::anyhow!("argon2: {e}"))
}

/// An argon2id hash of `password`, in the PHC string form.
pub fn hash_password(password: &str) -> anyhow::Result<String> {
    let salt = SaltString::generate(&mut OsRng);
    let a = Argon2::default();
    let mut salt_bytes = [0u8; 64];
    let salt_bytes = salt
        .as_salt()
        .decode_b64(&mut salt_bytes)
        .map_err(|e| anyhow::anyhow!("cannot make a salt: {e}"))?;
    let mut out = [0u8; 32];
    argon2_into(&a, password.as_bytes(), salt_bytes, &mut out)?;
    let phc = PasswordHash {
        algorithm: Algorithm::Argon2id.ident(),
        version: Some(Version::V0x13.into()),
        params: ParamsString::try_from(a.params())
            .map_err(|e| anyhow::anyhow!("cannot write the parameters: {e}"))?,
        salt: Some(salt.as_salt()),
        hash: Some(Output::new(&out).map_err(|e| anyhow::anyhow!("argon2 output: {e}"))?),
    };
    Ok(phc.to_string())
}

/// Whether `password` matches a PHC argon2 hash (in constant time once hashed).
fn argon2_matches(hash: &str, password: &str) -> anyhow::Result<bool> {
    let h = PasswordHash::new(hash).map_err(|e| anyhow::anyhow!("{e}"))?;
    let algorithm = Algorithm::try_from(h.algorithm).map_err(|e| anyhow::anyhow!("{e}"))?;
    let version = h
        .version
        .map(Version::try_from)
        .transpose()
        .map_err(|e| anyhow::anyhow!("{e}"))?
        .unwrap_or_default();
    let params = Params::try_from(&h).map_err(|e| anyhow::anyhow!("{e}"))?;
    if params.m_cost() > MAX_ARGON2_KIB {
        bail!("the hash asks for more than {MAX_ARGON2_KIB} KiB");
    }
    let (Some(salt), Some(expected)) = (h.salt, h.hash) else {
        bail!("the hash has no salt or no output");
    };
    let mut salt_bytes = [0u8; 64];
    let salt_bytes = salt
        .decode_b64(&mut salt_bytes)
        .map_err(|e| anyhow::anyhow!("{e}"))?;
    let mut out = [0u8; Output::MAX_LENGTH];
    let out = &mut out[..expected.len()];
    argon2_into(
        &Argon2::new(algorithm, version, params),
        password.as_bytes(),
        salt_bytes,
        out,
    )?;
    let diff = out
        .iter()
        .zip(expected.as_bytes())
        .fold(0u8, |acc, (a, b)| acc | (a ^ b));
    Ok(diff == 0)
}

impl Users {
    /// Adds `NAME:PASSWORD` (hashed at once, so every check takes the same time).
    pub fn add_plain(&mut self, spec: &str) -> anyhow::Result<()> {
        let (name, password) = spec
            .split_once(':')
            .with_context(|| format!("--user takes NAME:PASSWORD, not {spec:?}"))?;
        if name.is_empty() {
            bail!("--user {spec:?}: the name is empty");
        }
        self.hashes
            .insert(name.to_owned(), hash_password(password)?);
        Ok(())
    }

    /// Reads a users file: one `NAME:$argon2id$...` line per user (as
    /// `commlab ft passwd NAME` prints), `#` comments and blank lines ignored.
    pub fn load(path: &Path) -> anyhow::Result<Self> {
        let text = fs::read_to_string(path)
            .with_context(|| format!("cannot read the users file {}", path.display()))?;
        let mut users = Self::default();
        for (i, line) in text.lines().enumerate() {
            let line = line.trim();
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            let (name, hash) = line
                .split_once(':')
                .with_context(|| format!("{}:{}: expected NAME:HASH", path.display(), i + 1))?;
            PasswordHash::new(hash).map_err(|e| {
                anyhow::anyhow!(
                    "{}:{}: not a password hash ({e}); make one with `commlab ft passwd {name}`",
                    path.display(),
                    i + 1
                )
            })?;
            users.hashes.insert(name.to_owned(), hash.to_owned());
        }
        Ok(users)
    }

    /// Number of users.
    pub fn len(&self) -> usize {
        self.hashes.len()
    }

    /// Whether there are none.
    pub fn is_empty(&self) -> bool {
        self.hashes.is_empty()
    }

    /// Checks a login. Unknown users are checked against a dummy hash, so
    /// the answer takes the same time whichever part was wrong.
    pub fn verify(&self, user: &str, password: &str) -> bool {
        static DUMMY: std::sync::OnceLock<String> = std::sync::OnceLock::new();
        let dummy = DUMMY.get_or_init(|| hash_password("not a password").unwrap_or_default());
        let (hash, known) = match self.hashes.get(user) {
            Some(h) => (h.as_str(), true),
            None => (dummy.as_str(), false),
        };
        let ok = argon2_matches(hash, password).unwrap_or(false);
        ok && known
    }
}

// ---------------------------------------------------------------- files

/// Resolves a checked name inside `root`; refuses names that lead outside
/// it through a link.
pub fn resolve(root: &Path, name: &str) -> Result<PathBuf, (u16, String)> {
    let path = root.join(name);
    if let Ok(meta) = fs::symlink_metadata(&path) {
        if meta.file_type().is_symlink() {
            let target = fs::canonicalize(&path)
                .map_err(|_| (code::NOT_FOUND, format!("{name} is a broken link")))?;
            let root = fs::canonicalize(root).map_err(|e| (code::SERVER_ERROR, e.to_string()))?;
            if !target.starts_with(&root) {
                return Err((
                    code::BAD_NAME,
                    format!("{name} leads outside the server's folder"),
                ));
            }
        }
        if meta.is_dir() {
            return Err((code::BAD_NAME, format!("{name} is a folder, not a file")));
        }
    }
    Ok(path)
}

/// The temporary file an upload of `name` goes to (same folder, hidden).
fn temp_path(dir: &Path, name: &str, tag: &str) -> PathBuf {
    dir.join(filexfer::temp_name(name, std::process::id(), tag))
}

/// The temporary file a download into `out` goes to (same folder, hidden).
fn temp_beside(out: &Path, tag: &str) -> PathBuf {
    let dir = out
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    let base = out
        .file_name()
        .and_then(|n| n.to_str())
        .unwrap_or("download");
    temp_path(dir, base, tag)
}

/// Creates a temporary file and holds an exclusive lock on it while it is
/// written: the lock ends with the process, however it ends, which is how
/// [`remove_stale_temps`] tells a crash's leftovers from a live transfer.
/// A stale file of the same name (a crashed process whose id came back)
/// is replaced.
fn create_temp(path: &Path) -> io::Result<File> {
    let create = || {
        fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(path)
    };
    let file = match create() {
        Err(e) if e.kind() == io::ErrorKind::AlreadyExists && is_stale(path) => {
            fs::remove_file(path)?;
            create()?
        }
        other => other?,
    };
    file.try_lock().map_err(io::Error::from)?;
    Ok(file)
}

/// Whether no living process holds `path` locked (see [`create_temp`]).
fn is_stale(path: &Path) -> bool {
    File::open(path).is_ok_and(|f| f.try_lock().is_ok())
}

/// Whether a folder entry is one of our temporary files.
pub fn is_temp(name: &str) -> bool {
    filexfer::is_temp_name(name)
}

/// Removes the partial transfers an earlier crash (SIGKILL, power loss)
/// left in `root`: files matching commlab's temporary-name pattern that no
/// living process holds locked. Returns how many were removed.
pub fn remove_stale_temps(root: &Path) -> io::Result<usize> {
    let mut removed = 0;
    for entry in fs::read_dir(root)? {
        let entry = entry?;
        let Some(name) = entry.file_name().to_str().map(str::to_owned) else {
            continue;
        };
        if !is_temp(&name) || !entry.file_type().is_ok_and(|t| t.is_file()) {
            continue;
        }
        // A live writer holds the lock; a dead one's lock died with it.
        if is_stale(&entry.path()) && fs::remove_file(entry.path()).is_ok() {
            removed += 1;
        }
    }
    Ok(removed)
}

struct Upload {
    file: File,
    temp: PathBuf,
    target: PathBuf,
    name: String,
}

/// A line the server prints: the class's text, or a log line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ServerLine {
    /// The class's terminal text (stdout).
    Out(String),
    /// A log line in English (stderr).
    Log(String),
}

/// Where the server's lines go.
pub type LineSink = Box<dyn FnMut(ServerLine) + Send>;

/// Prints server lines as the command does: class text on stdout, logs on stderr.
pub fn print_line(line: ServerLine) {
    match line {
        ServerLine::Out(text) => println!("{text}"),
        ServerLine::Log(text) => log(&text),
    }
}

/// The server application: answers the service's events with file IO.
struct ServerApp {
    root: PathBuf,
    users: Users,
    reads: HashMap<ConnId, File>,
    writes: HashMap<ConnId, Upload>,
    buf: Vec<u8>,
    sink: LineSink,
}

fn log(text: &str) {
    eprintln!("[commlab] {text}");
}

impl ServerApp {
    fn out(&mut self, text: String) {
        (self.sink)(ServerLine::Out(text));
    }

    fn log(&mut self, text: String) {
        (self.sink)(ServerLine::Log(text));
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
            FtEvent::LoggedIn { conn, user } => self.log(format!("{conn}: {user} logged in")),
            FtEvent::LoginFailed {
                conn,
                user,
                failures,
                closed,
            } => self.log(format!(
                "{conn}: login failed for {user:?} ({failures} of {}){}",
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
            FtEvent::Downloaded {
                conn,
                name,
                size,
                digest,
                alg,
            } => {
                self.reads.remove(&conn);
                self.out("Envio completo".into());
                self.log(format!(
                    "{conn}: sent {name} ({size} bytes, {} {digest})",
                    alg.name()
                ));
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
                    self.discard(conn, &message);
                    svc.upload_failed(conn, &message);
                }
            }
            FtEvent::UploadEnd { conn, name, .. } => match self.commit(conn) {
                Ok(()) => svc.upload_committed(conn),
                Err(e) => {
                    let message = format!("cannot store {name}: {e}");
                    self.discard(conn, &message);
                    svc.upload_failed(conn, &message);
                }
            },
            FtEvent::Uploaded {
                conn,
                name,
                size,
                digest,
                alg,
            } => {
                self.out(format!("Recebido: {name}"));
                self.log(format!(
                    "{conn}: stored {name} ({size} bytes, {} {digest})",
                    alg.name()
                ));
            }
            FtEvent::UploadAborted { conn, name, reason } => {
                self.discard(conn, &reason);
                self.log(format!(
                    "{conn}: upload of {name} discarded ({reason}); the old file is unchanged"
                ));
            }
            FtEvent::ProtocolError { conn, reason } => self.log(format!("{conn}: {reason}")),
            FtEvent::Closed { conn, reason } => {
                self.reads.remove(&conn);
                self.discard(conn, &reason);
                self.out("Conexão fechada".into());
                self.log(format!("{conn}: closed ({reason})"));
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
            .and_then(|()| fs::rename(&up.temp, &up.target));
        if result.is_err() {
            let _ = fs::remove_file(&up.temp);
        }
        result
    }

    fn discard(&mut self, conn: ConnId, _why: &str) {
        if let Some(up) = self.writes.remove(&conn) {
            drop(up.file);
            let _ = fs::remove_file(&up.temp);
        }
    }
}

/// Regular files of a folder (not our temporary files), sorted by name.
pub fn list_folder(root: &Path) -> io::Result<Vec<(String, u64)>> {
    let mut entries = Vec::new();
    for entry in fs::read_dir(root)? {
        let entry = entry?;
        let Ok(name) = entry.file_name().into_string() else {
            continue;
        };
        let Ok(meta) = fs::metadata(entry.path()) else {
            continue;
        };
        if meta.is_file() && !is_temp(&name) {
            entries.push((name, meta.len()));
        }
    }
    entries.sort();
    Ok(entries)
}

// ---------------------------------------------------------------- server

/// Options of `commlab ft server`.
#[derive(Debug, Clone, clap::Args)]
pub struct ServerArgs {
    /// Address to listen on.
    #[arg(long, default_value = "127.0.0.1")]
    pub host: String,
    /// Port to listen on (0 picks a free one).
    #[arg(long, default_value_t = PORT)]
    pub port: u16,
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
    /// Which driver runs the server.
    #[arg(long, value_enum, default_value_t = Engine::Std)]
    pub engine: Engine,
    /// The class's raw mode: send this file to every client and close (no
    /// login, no framing), like the handout's server.
    #[arg(long, value_name = "FILE", conflicts_with_all = ["users", "users_file"])]
    pub raw: Option<PathBuf>,
}

/// Starts the protocol server on `listener` (for the command and the
/// tests), after removing the partial uploads an earlier crash left in
/// `root` (logged through `sink`).
pub fn start(
    engine: Engine,
    listener: TcpListener,
    root: &Path,
    users: Users,
    hash: DigestAlg,
    max_file_size: u64,
    mut sink: LineSink,
) -> io::Result<Server<FtServer>> {
    let removed = remove_stale_temps(root)?;
    if removed > 0 {
        sink(ServerLine::Log(format!(
            "removed {removed} partial upload(s) left in {} by an earlier run that did not end cleanly",
            root.display()
        )));
    }
    let mut app = ServerApp {
        root: root.to_owned(),
        users,
        reads: HashMap::new(),
        writes: HashMap::new(),
        buf: Vec::new(),
        sink,
    };
    Server::start_with(
        engine,
        listener,
        FtServer::new(hash, max_file_size),
        move |svc, e| app.on_event(svc, e),
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
    if users.is_empty() {
        bail!("no users: pass --user NAME:PASSWORD or --users FILE (a login is required before any transfer)");
    }
    if !args.root.is_dir() {
        bail!("{} is not a folder", args.root.display());
    }
    // Ctrl-C is handled before the server says it listens.
    let stopped = crate::ctrl_c_channel()?;
    let listener = bind(&args.host, args.port)?;
    let server = start(
        args.engine,
        listener,
        &args.root,
        users,
        args.hash.into(),
        args.max_file_size,
        Box::new(print_line),
    )
    .context("cannot start the server")?;
    announce_listening(server.local_addr());
    log(&format!(
        "serving {} to {} user(s); credentials travel unencrypted, as in FTP. Ctrl-C stops.",
        args.root.display(),
        args.users.len() + usize::from(args.users_file.is_some())
    ));
    crate::serve_until_ctrl_c(
        &server,
        " (uploads in progress are discarded; old files stay)",
        &stopped,
    )
}

fn run_raw_server(args: &ServerArgs, file: &Path) -> anyhow::Result<()> {
    let mut probe = File::open(file).with_context(|| format!("cannot open {}", file.display()))?;
    probe
        .read(&mut [0u8; 1])
        .with_context(|| format!("cannot read {}", file.display()))?;
    // Ctrl-C is handled before the server says it listens.
    let stopped = crate::ctrl_c_channel()?;
    let listener = bind(&args.host, args.port)?;
    let server = start_raw(args.engine, listener, file, Box::new(print_line))
        .context("cannot start the server")?;
    announce_listening(server.local_addr());
    log(&format!(
        "raw mode: every client receives {}, then the connection closes. Ctrl-C stops.",
        file.display()
    ));
    crate::serve_until_ctrl_c(&server, "", &stopped)
}

/// Starts the class's raw mode on `listener`: every client receives
/// `file`, then the connection closes; the class's lines go to `sink`.
pub fn start_raw(
    engine: Engine,
    listener: TcpListener,
    file: &Path,
    mut sink: LineSink,
) -> io::Result<Server<RawFileServer>> {
    let path = file.to_owned();
    let mut open: HashMap<ConnId, File> = HashMap::new();
    let mut buf = vec![0u8; FILE_CHUNK];
    Server::start_with(
        engine,
        listener,
        RawFileServer::new(),
        move |svc, e| match e {
            RawEvent::Connected { conn, peer } => {
                sink(ServerLine::Out(format!(
                    "Conectado por: {}",
                    python_addr(peer)
                )));
                match File::open(&path) {
                    Ok(f) => {
                        open.insert(conn, f);
                    }
                    Err(e) => svc.fail(conn, &format!("cannot open {}: {e}", path.display())),
                }
            }
            RawEvent::NeedData { conn } => {
                let Some(f) = open.get_mut(&conn) else {
                    return;
                };
                match f.read(&mut buf) {
                    Ok(0) => svc.finish(conn),
                    Ok(n) => svc.send_data(Instant::now(), conn, &buf[..n]),
                    Err(e) => svc.fail(conn, &format!("cannot read {}: {e}", path.display())),
                }
            }
            RawEvent::Sent { conn, bytes } => {
                open.remove(&conn);
                sink(ServerLine::Out("Envio completo".into()));
                sink(ServerLine::Out("Conexão fechada".into()));
                sink(ServerLine::Log(format!("{conn}: sent {bytes} bytes")));
            }
            RawEvent::Failed {
                conn,
                bytes,
                reason,
            } => {
                open.remove(&conn);
                sink(ServerLine::Out("Conexão fechada".into()));
                sink(ServerLine::Log(format!(
                    "{conn}: sending stopped after {bytes} bytes: {reason}"
                )));
            }
        },
    )
}

// ---------------------------------------------------------------- client

/// Options of `commlab ft client`.
#[derive(Debug, Clone, clap::Args)]
pub struct ClientArgs {
    /// Server address.
    #[arg(long, default_value = "127.0.0.1")]
    pub host: String,
    /// Server port.
    #[arg(long, default_value_t = PORT)]
    pub port: u16,
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

/// A logged-in client connection.
pub struct FtConnection {
    session: BlockingSession<FtClient>,
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
        let stream = TcpStream::connect((host, port)).with_context(|| {
            format!("cannot connect to {host}:{port} (is the server running? start it with `commlab ft server`)")
        })?;
        let mut c = Self {
            session: BlockingSession::new(stream, FtClient::new(hash)),
        };
        match c.next()? {
            FtClientEvent::Hello { .. } => {}
            FtClientEvent::Error { message, .. } => bail!("{host}:{port}: {message}"),
            other => bail!("{host}:{port} is not a commlab file server (it said {other})"),
        }
        c.session.command(|s| s.login(user, password))??;
        match c.next()? {
            FtClientEvent::Ok(_) => Ok(c),
            FtClientEvent::Error { message, .. } => bail!("{message}"),
            other => bail!("unexpected answer to the login: {other}"),
        }
    }

    fn next(&mut self) -> anyhow::Result<FtClientEvent> {
        match self.session.next_event(ANSWER_TIMEOUT)? {
            Some(FtClientEvent::Closed) | None => bail!("the server closed the connection"),
            Some(e) => Ok(e),
        }
    }

    /// The server's files.
    pub fn list(&mut self) -> anyhow::Result<Vec<(String, u64)>> {
        self.session.command(FtClient::list)??;
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
        self.session.command(|s| s.get(name))??;
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
                }
                Ok(FtClientEvent::Downloaded { size, digest, alg }) => {
                    break file
                        .sync_all()
                        .and_then(|()| fs::rename(&temp, out))
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
        self.session.command(|s| s.put(name, size))??;
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
            self.session.command(|s| s.upload_data(&buf[..n]))??;
            if let Some(b) = &bar {
                b.inc(n as u64);
            }
        }
        if let Some(b) = bar {
            b.finish_and_clear();
        }
        self.session.command(FtClient::upload_end)??;
        match self.next()? {
            FtClientEvent::Uploaded { message, digest } => Ok((message, digest)),
            FtClientEvent::Error { message, .. } => bail!("{message}"),
            other => bail!("unexpected answer to the upload: {other}"),
        }
    }

    /// Says goodbye.
    pub fn quit(mut self) {
        if self.session.command(FtClient::quit).is_ok() {
            let _ = self.session.next_event(Duration::from_secs(2));
        }
    }
}

fn password(args: &ClientArgs) -> anyhow::Result<String> {
    if let Some(p) = &args.password {
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
        return run_raw_client(&args.host, args.port, out);
    }
    let Some(command) = &args.command else {
        bail!("say what to do: get NAME, put PATH, list or roundtrip NAME (see --help)");
    };
    let user = args.user.as_deref().context("--user NAME is required")?;
    let password = password(args)?;
    let hash: DigestAlg = args.hash.into();
    let connect = || FtConnection::open(&args.host, args.port, user, &password, hash);
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

impl ClientArgs {
    fn hash_name(&self) -> &'static str {
        DigestAlg::from(self.hash).name()
    }
}

fn run_raw_client(host: &str, port: u16, out: &Path) -> anyhow::Result<()> {
    let mut stream = TcpStream::connect((host, port))
        .with_context(|| format!("cannot connect to {host}:{port} (is the server running?)"))?;
    let temp = temp_beside(out, "raw");
    let mut file =
        create_temp(&temp).with_context(|| format!("cannot create {}", temp.display()))?;
    println!("Arquivo Aberto");
    println!("Recebendo dados...");
    let started = Instant::now();
    let result = io::copy(&mut stream, &mut file).and_then(|n| file.sync_all().map(|()| n));
    match result {
        Ok(n) => {
            fs::rename(&temp, out).with_context(|| format!("cannot write {}", out.display()))?;
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

// ---------------------------------------------------------------- passwd

/// Options of `commlab ft passwd`.
#[derive(Debug, Clone, clap::Args)]
pub struct PasswdArgs {
    /// The user name.
    pub name: String,
    /// The password (else COMMLAB_PASSWORD, else asked twice without echo).
    #[arg(long, env = "COMMLAB_PASSWORD", hide_env_values = true)]
    pub password: Option<String>,
}

/// Runs `commlab ft passwd NAME`: prints a users-file line.
pub fn run_passwd(args: &PasswdArgs) -> anyhow::Result<()> {
    if args.name.is_empty() || args.name.contains(':') {
        bail!("a user name is not empty and has no ':'");
    }
    let password = match &args.password {
        Some(p) => p.clone(),
        None => {
            let a = rpassword::prompt_password("Senha: ")?;
            let b = rpassword::prompt_password("Repita a senha: ")?;
            if a != b {
                bail!("the passwords differ");
            }
            a
        }
    };
    println!("{}:{}", args.name, hash_password(&password)?);
    Ok(())
}
