//! Who may log in: a users file of argon2 hashes, and `commlab ft passwd`.

use std::collections::HashMap;
use std::fs;
use std::path::Path;

use anyhow::{bail, Context as _};
use argon2::password_hash::{rand_core::OsRng, Output, ParamsString, PasswordHash, SaltString};
use argon2::{Algorithm, Argon2, Block, Params, Version};

/// Who may log in: names with argon2 password hashes.
#[derive(Debug, Default, Clone)]
pub struct Users {
    hashes: HashMap<String, String>,
}

/// Most memory a password hash may make argon2 use (KiB); a users-file
/// hash that asks for more never matches.
pub const MAX_ARGON2_KIB: u32 = 256 * 1024;

thread_local! {
    /// argon2's working memory (19 MiB with the default parameters), one per
    /// thread that hashes, allocated once and reused by every hash and check
    /// on that thread. Allocating it per login made the process grow by that
    /// much with each of the first logins (the allocator keeps such blocks).
    /// Logins are checked on the engine's compute workers, a bounded pool, so
    /// a login flood holds at most a buffer per worker, and the workers hash
    /// in parallel.
    static ARGON2_MEMORY: std::cell::RefCell<Vec<Block>> = const { std::cell::RefCell::new(Vec::new()) };
}

/// Runs argon2 in this thread's working memory.
fn argon2_into(a: &Argon2<'_>, password: &[u8], salt: &[u8], out: &mut [u8]) -> anyhow::Result<()> {
    let blocks = a.params().block_count();
    ARGON2_MEMORY.with_borrow_mut(|memory| {
        if memory.len() < blocks {
            memory.resize(blocks, Block::default());
        }
        a.hash_password_into_with_memory(password, salt, out, &mut memory[..blocks])
            .map_err(|e| anyhow::anyhow!("argon2: {e}"))
    })
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
            .with_context(|| format!("--user takes NAME:PASSWORD, not '{spec}'"))?;
        if name.is_empty() {
            bail!("--user '{spec}': the name is empty");
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
