//! `commlab calc lambda` under the Rust ecosystem's own Lambda emulator,
//! cargo-lambda (PyPI's wheel, installed on first use into a virtual
//! environment under `target/`): `cargo lambda watch --only-lambda-apis`
//! on a free port, the runtime started with the environment the emulator
//! prints (`AWS_LAMBDA_RUNTIME_API=http://127.0.0.1:PORT/.rt`: a scheme and
//! a path prefix), and events sent with `cargo lambda invoke --data-file`.
//! Every answer equals `calc server`'s to the same request, and the
//! function keeps serving after each event, errors included.

mod common;

use std::path::PathBuf;
use std::process::{Command, Output};

use commlab::Engine;
use common::api_events::{
    assert_same_answer, calc_server, function_url, http_v2, rest_v1, server_answer, MakeEvent,
};
use common::class::venv_python;
use common::process::{free_port, Proc};
use serde_json::Value;

/// The cargo-lambda release the test runs (PyPI's wheel).
const CARGO_LAMBDA: &str = "cargo-lambda==1.9.2";

/// The `cargo-lambda` binary of the test's virtual environment.
fn cargo_lambda() -> PathBuf {
    let python = venv_python(
        "cargo-lambda",
        CARGO_LAMBDA,
        "import os, sys; sys.exit(not os.path.exists(os.path.join(sys.prefix, 'bin', 'cargo-lambda')))",
    );
    python.with_file_name("cargo-lambda")
}

/// `cargo lambda invoke` with `event` as its data file.
fn invoke(bin: &PathBuf, port: u16, dir: &std::path::Path, name: &str, event: &Value) -> Output {
    let file = dir.join(format!("{name}.json"));
    std::fs::write(&file, event.to_string()).unwrap();
    Command::new(bin)
        .args([
            "lambda",
            "invoke",
            "-A",
            "127.0.0.1",
            "-P",
            &port.to_string(),
        ])
        .arg("--data-file")
        .arg(&file)
        .output()
        .unwrap()
}

#[test]
#[cfg_attr(
    windows,
    ignore = "installs cargo-lambda with python3's pip, which the Windows test run has not"
)]
fn every_event_answers_under_cargo_lambda_as_calc_server_does() {
    let bin = cargo_lambda();
    let port = free_port();
    let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("cargo-lambda-events");
    std::fs::create_dir_all(&dir).unwrap();
    // The emulator wants a Cargo package to stand in: this one.
    let watch = Proc::spawn(
        "cargo lambda watch",
        Command::new(&bin)
            .args([
                "lambda",
                "watch",
                "--only-lambda-apis",
                "-A",
                "127.0.0.1",
                "-P",
            ])
            .arg(port.to_string())
            .current_dir(env!("CARGO_MANIFEST_DIR")),
    );
    let told = watch.wait_out("starting Runtime server");
    // The variables it says the function MUST have.
    let env: Vec<(String, String)> = told
        .lines()
        .filter_map(|l| l.trim().strip_prefix("INFO "))
        .filter_map(|l| l.split_once('='))
        .filter(|(k, _)| k.starts_with("AWS_LAMBDA_"))
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .collect();
    let api = env
        .iter()
        .find(|(k, _)| k == "AWS_LAMBDA_RUNTIME_API")
        .unwrap_or_else(|| panic!("the emulator named no Runtime API:\n{told}"));
    assert!(api.1.contains("/.rt"), "{api:?}: a prefix to keep");
    let mut runtime = Command::new(env!("CARGO_BIN_EXE_commlab"));
    runtime
        .args(["calc", "lambda"])
        .env_remove("COMMLAB_CALC_PREFIX");
    for (k, v) in &env {
        runtime.env(k, v);
    }
    let runtime = Proc::spawn("commlab calc lambda", &mut runtime);
    runtime.wait_err("serving /api through the Runtime API at http://127.0.0.1:");

    let server = calc_server(Engine::Std);
    let cases = [
        ("GET", "/soma/4/5"),
        ("GET", "/sub/4/5"),
        ("GET", "/mult/8/5"),
        ("GET", "/div/4/5"),
        ("GET", "/div/1/0"),
        ("GET", "/soma/x/1"),
        ("GET", "/nada"),
    ];
    let formats: [(&str, MakeEvent); 3] = [("v1", rest_v1), ("v2", http_v2), ("url", function_url)];
    for (n, (method, path)) in cases.iter().enumerate() {
        let want = server_answer(server.local_addr(), method, path);
        for (name, make) in formats {
            let out = invoke(
                &bin,
                port,
                &dir,
                &format!("{name}-{n}"),
                &make(method, path),
            );
            let stdout = String::from_utf8_lossy(&out.stdout);
            assert!(
                out.status.success(),
                "{name} {method} {path}: {}\n{stdout}",
                String::from_utf8_lossy(&out.stderr)
            );
            let got: Value = serde_json::from_str(stdout.trim())
                .unwrap_or_else(|e| panic!("{name} {method} {path}: {e}: {stdout}"));
            assert_same_answer(&got, &want, &format!("{name} {method} {path}"));
        }
    }
    // Not an API event at all: the function's error, with its type.
    let out = invoke(
        &bin,
        port,
        &dir,
        "not-an-event",
        &serde_json::json!({"hello": "world"}),
    );
    assert!(!out.status.success());
    let said = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(said.contains("UnsupportedEvent"), "{said}");
    // And it keeps serving.
    let out = invoke(&bin, port, &dir, "after", &rest_v1("GET", "/soma/1/1"));
    let got: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(got["body"], "{\"A soma: \":2}");
    server.shutdown();
    drop((runtime, watch));
}
