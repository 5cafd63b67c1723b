//! The handout's own programs (`bins/tests/class/`, transcribed as the
//! class wrote them) and the Python that runs them.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Mutex;

/// The version of Python's `websockets` the class's WebSocket examples run
/// on: their handlers take `(websocket, path)`, the API `websockets.serve`
/// had until version 14 (the handout is from April 2024, when 12.0 was
/// current).
pub const WEBSOCKETS: &str = "websockets==12.0";

/// A class program, by its path under `bins/tests/class/`.
pub fn class_program(rel: &str) -> PathBuf {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/class")
        .join(rel);
    assert!(path.is_file(), "missing class program {}", path.display());
    path
}

fn check_python(python: &Path) {
    let ok = Command::new(python)
        .arg("--version")
        .output()
        .is_ok_and(|o| o.status.success());
    assert!(
        ok,
        "{} is needed to run the class's Python programs: install Python 3 (apt-get install python3)",
        python.display()
    );
}

/// `python3` running a class program that needs only the standard library.
pub fn python(program: &str) -> Command {
    check_python(Path::new("python3"));
    let mut cmd = Command::new("python3");
    cmd.arg(class_program(program));
    cmd
}

static VENV: Mutex<()> = Mutex::new(());

/// The Python of a virtual environment under `target/` with [`WEBSOCKETS`]
/// installed (made on first use; needs PyPI once).
pub fn websockets_python() -> PathBuf {
    let version = WEBSOCKETS.trim_start_matches("websockets==");
    venv_python(
        "class-python",
        WEBSOCKETS,
        &format!("import websockets, sys; sys.exit(websockets.__version__ != '{version}')"),
    )
}

/// The Python of the virtual environment `target/tmp/NAME` with
/// `requirement` installed (made on first use, when `check`, Python code,
/// fails there; needs PyPI once). Fails saying how to make it by hand.
pub fn venv_python(name: &str, requirement: &str, check: &str) -> PathBuf {
    let _one_at_a_time = VENV.lock().unwrap_or_else(|e| e.into_inner());
    let venv = Path::new(env!("CARGO_TARGET_TMPDIR")).join(name);
    let python = venv.join("bin/python");
    let has = |python: &Path| {
        Command::new(python)
            .args(["-c", check])
            .status()
            .is_ok_and(|s| s.success())
    };
    if python.exists() && has(&python) {
        return python;
    }
    check_python(Path::new("python3"));
    let how = format!(
        "python3 -m venv {0} && {0}/bin/pip install {requirement}",
        venv.display()
    );
    let made = Command::new("python3")
        .args(["-m", "venv", "--clear"])
        .arg(&venv)
        .output()
        .expect("python3 runs");
    assert!(
        made.status.success(),
        "cannot make a virtual environment for {requirement} ({}); run: {how}",
        String::from_utf8_lossy(&made.stderr).trim()
    );
    let pip = Command::new(venv.join("bin/pip"))
        .args([
            "install",
            "--quiet",
            "--disable-pip-version-check",
            requirement,
        ])
        .output()
        .expect("pip runs");
    assert!(
        pip.status.success() && has(&python),
        "cannot install Python's {requirement} (it needs PyPI once): {}; run: {how}",
        String::from_utf8_lossy(&pip.stderr).trim()
    );
    python
}

/// A class program run by the Python that has `websockets`.
pub fn websockets_program(program: &str) -> Command {
    let mut cmd = Command::new(websockets_python());
    cmd.arg(class_program(program));
    cmd
}
