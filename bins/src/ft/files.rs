//! The server's folder: names resolved inside it, the temporary files an
//! upload or download is written to until it is verified, the listing.

use std::fs::{self, File};
use std::io;
use std::path::{Path, PathBuf};

use commlab_core::filexfer::{self, code};

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
pub(super) fn temp_path(dir: &Path, name: &str, tag: &str) -> PathBuf {
    dir.join(filexfer::temp_name(name, std::process::id(), tag))
}

/// The temporary file a download into `out` goes to (same folder, hidden).
pub(super) fn temp_beside(out: &Path, tag: &str) -> PathBuf {
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

/// Puts the verified temporary file `temp` (already synced) in place of
/// `target`, atomically: a reader sees the old file or the new one, never
/// a mix, and a crash leaves one or the other.
///
/// On Unix, `rename(2)` replaces the name in one step, and the folder is
/// then synced so that the new name survives a power loss too. On Windows,
/// `std::fs::rename` is `MoveFileExW` with `MOVEFILE_REPLACE_EXISTING`: on
/// NTFS the replace is one journalled metadata operation, so readers and a
/// crash of the process still see the old file or the new one; what
/// Windows does not promise is that the rename itself is on disk when it
/// returns (std asks for no `MOVEFILE_WRITE_THROUGH`, and a folder cannot
/// be synced there), so after a power loss the old file may come back
/// whole, its temporary upload removed by the next server.
pub(super) fn replace(temp: &Path, target: &Path) -> io::Result<()> {
    fs::rename(temp, target)?;
    sync_folder_of(target)
}

/// Syncs the folder holding `path` (Unix; nothing to do on Windows).
#[cfg(unix)]
fn sync_folder_of(path: &Path) -> io::Result<()> {
    let dir = path
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    File::open(dir)?.sync_all()
}

/// Syncs the folder holding `path` (Unix; nothing to do on Windows).
#[cfg(not(unix))]
fn sync_folder_of(_path: &Path) -> io::Result<()> {
    Ok(())
}

/// Creates a temporary file and holds an exclusive lock on it while it is
/// written: the lock ends with the process, however it ends, which is how
/// [`remove_stale_temps`] tells a crash's leftovers from a live transfer.
/// A stale file of the same name (a crashed process whose id came back)
/// is replaced.
pub(super) fn create_temp(path: &Path) -> io::Result<File> {
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

/// The next piece of a file being sent, read on a worker: the file comes
/// back with it, to be read on from where it stopped.
pub(super) struct Chunk {
    /// The file, at the position after the bytes read.
    pub(super) file: File,
    /// The bytes read (the first `read` of them).
    pub(super) buf: Vec<u8>,
    /// How many bytes the read gave (0 at the end), or why it failed.
    pub(super) read: io::Result<usize>,
}

impl Chunk {
    /// Reads at most [`FILE_CHUNK`](super::FILE_CHUNK) bytes of `file`.
    pub(super) fn read_next(mut file: File) -> Self {
        use std::io::Read as _;
        let mut buf = vec![0u8; super::FILE_CHUNK];
        let read = file.read(&mut buf);
        Self { file, buf, read }
    }
}
