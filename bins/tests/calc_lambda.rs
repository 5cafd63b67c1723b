//! `commlab calc lambda` as a process against a fake Lambda Runtime API
//! written here (tests/common/lambda.rs): REST API payload 1.0, HTTP API
//! payload 2.0 and Function URL events for every route and error, each
//! answer compared byte for byte with `calc server`'s for the same
//! request; a payload that is not an event; a passed deadline; a bad
//! configuration (the init error); a Runtime API that goes away; 1,000
//! invocations with the memory flat; and no Runtime API at all.

mod common;

use std::process::{Child, Command, Stdio};

use commlab::Engine;
use common::api_events::{
    assert_same_answer, calc_server, function_url, http_v2, rest_v1, server_answer, MakeEvent,
};
use common::lambda::{FakeEvent, FakeRuntime, Posted};
use proptest::prelude::*;
use serde_json::Value;

/// `commlab calc lambda` against `runtime`, with `env` set.
fn runtime_process(runtime: &FakeRuntime, env: &[(&str, &str)]) -> Child {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_commlab"));
    cmd.args(["calc", "lambda"])
        .env("AWS_LAMBDA_RUNTIME_API", runtime.addr.to_string())
        .env_remove("COMMLAB_CALC_PREFIX")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    for (k, v) in env {
        cmd.env(k, v);
    }
    cmd.spawn().expect("spawn commlab calc lambda")
}

/// Runs every (method, path) in every format through the runtime and
/// checks each answer against `calc server`'s.
fn check_against_server(cases: &[(&str, String)]) {
    let server = calc_server(Engine::Mio);
    let runtime = FakeRuntime::start();
    let mut events = Vec::new();
    let formats: [(&str, MakeEvent); 3] = [("v1", rest_v1), ("v2", http_v2), ("url", function_url)];
    for (n, (method, path)) in cases.iter().enumerate() {
        for (name, make) in formats {
            events.push(FakeEvent::new(
                &format!("{name}-{n}"),
                make(method, path).to_string(),
            ));
        }
    }
    // The v1 path with the stage in works too.
    events.push(FakeEvent::new(
        "v1-staged",
        rest_v1("GET", "/api/soma/4/5").to_string(),
    ));
    let total = events.len();
    runtime.push(events);
    let child = runtime_process(&runtime, &[]);
    let posts = runtime.wait_posts(total);
    runtime.finish();
    let out = child.wait_with_output().unwrap();
    assert!(
        !out.status.success(),
        "it must exit once the Runtime API is gone"
    );
    for p in &posts[..total - 1] {
        let id = p.path.split('/').nth(4).unwrap();
        assert_eq!(
            p.path,
            format!("/2018-06-01/runtime/invocation/{id}/response")
        );
        let n: usize = id.rsplit('-').next().unwrap().parse().unwrap();
        let (method, path) = &cases[n];
        let want = server_answer(server.local_addr(), method, path);
        let got: Value = serde_json::from_slice(&p.body).unwrap();
        assert_same_answer(&got, &want, &format!("{id} {method} {path}"));
    }
    let staged: Value = serde_json::from_slice(&posts[total - 1].body).unwrap();
    assert_eq!(staged["body"], "{\"A soma: \":9}");
    server.shutdown();
}

#[test]
fn every_route_and_error_in_every_event_format_answers_as_calc_server_does() {
    let cases: Vec<(&str, String)> = [
        ("GET", "/soma/4/5"),
        ("GET", "/sub/4/5"),
        ("GET", "/mult/8/5"),
        ("GET", "/div/4/5"),
        ("GET", "/div/1/0"),
        ("GET", "/soma/x/1"),
        ("GET", "/soma/9223372036854775807/1"),
        ("GET", "/pot/2/3"),
        ("GET", "/nada"),
        ("GET", "/"),
        ("POST", "/soma/4/5"),
        ("DELETE", "/div/4/5"),
    ]
    .iter()
    .map(|(m, p)| (*m, (*p).to_owned()))
    .collect();
    check_against_server(&cases);
}

fn op() -> impl Strategy<Value = String> {
    prop_oneof![
        Just("soma".to_owned()),
        Just("sub".to_owned()),
        Just("mult".to_owned()),
        Just("div".to_owned()),
        "[a-z]{1,5}",
    ]
}

fn operand() -> impl Strategy<Value = String> {
    prop_oneof![
        any::<i64>().prop_map(|n| n.to_string()),
        (-1000i64..1000).prop_map(|n| n.to_string()),
        Just("0".to_owned()),
        "[0-9_]{1,22}",
        "[ +-]?[0-9a-z%]{0,6}",
    ]
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 2, ..ProptestConfig::default() })]

    #[test]
    fn any_operation_and_operands_answer_as_calc_server_does(
        cases in proptest::collection::vec((op(), operand(), operand()), 150),
    ) {
        let cases: Vec<(&str, String)> = cases
            .into_iter()
            .map(|(op, a, b)| ("GET", format!("/{op}/{a}/{b}")))
            .filter(|(_, p)| !p.contains(' '))
            .collect();
        check_against_server(&cases);
    }
}

fn error_of(p: &Posted) -> Value {
    serde_json::from_slice(&p.body).unwrap()
}

#[test]
fn payloads_that_are_not_events_and_passed_deadlines_go_to_the_error_path() {
    let runtime = FakeRuntime::start();
    let mut late = FakeEvent::new("late", rest_v1("GET", "/soma/1/2").to_string());
    late.deadline_ms = Some(1_700_000_000_000); // November 2023: passed
    runtime.push([
        FakeEvent::new("not-json", "hello"),
        FakeEvent::new("not-http", "{\"Records\":[{\"eventSource\":\"aws:s3\"}]}"),
        late,
        FakeEvent::new("fine", rest_v1("GET", "/soma/1/2").to_string()),
    ]);
    let child = runtime_process(&runtime, &[]);
    let posts = runtime.wait_posts(4);
    runtime.finish();
    let out = child.wait_with_output().unwrap();
    let paths: Vec<&str> = posts.iter().map(|p| p.path.as_str()).collect();
    assert_eq!(
        paths,
        [
            "/2018-06-01/runtime/invocation/not-json/error",
            "/2018-06-01/runtime/invocation/not-http/error",
            "/2018-06-01/runtime/invocation/late/error",
            "/2018-06-01/runtime/invocation/fine/response",
        ]
    );
    assert_eq!(error_of(&posts[0])["errorType"], "UnsupportedEvent");
    assert!(error_of(&posts[0])["errorMessage"]
        .as_str()
        .unwrap()
        .contains("not a JSON object"));
    assert_eq!(error_of(&posts[1])["errorType"], "UnsupportedEvent");
    assert_eq!(error_of(&posts[2])["errorType"], "DeadlineExceeded");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("invocation not-http: not an API Gateway"),
        "{stderr}"
    );
}

#[test]
fn a_runtime_api_that_goes_away_ends_the_runtime_with_a_message() {
    let runtime = FakeRuntime::start();
    runtime.push([FakeEvent::new(
        "one",
        rest_v1("GET", "/soma/1/2").to_string(),
    )]);
    let child = runtime_process(&runtime, &[]);
    runtime.wait_posts(1);
    runtime.finish();
    let out = child.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(
        stderr.contains("the Runtime API at http://127.0.0.1:"),
        "{stderr}"
    );
    assert!(stderr.contains("went away"), "{stderr}");
    assert!(!stderr.contains("panicked"), "{stderr}");
}

#[test]
fn a_bad_configuration_is_an_init_error() {
    let runtime = FakeRuntime::start();
    let child = runtime_process(&runtime, &[("COMMLAB_CALC_PREFIX", "/api stage")]);
    let posts = runtime.wait_posts(1);
    let out = child.wait_with_output().unwrap();
    assert_eq!(posts[0].path, "/2018-06-01/runtime/init/error");
    assert_eq!(error_of(&posts[0])["errorType"], "InvalidConfiguration");
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(
        runtime.nexts(),
        0,
        "no invocation fetched after an init error"
    );
}

fn rss_kib(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.split_whitespace().next())
        .and_then(|v| v.parse().ok())
        .unwrap()
}

#[test]
#[cfg_attr(
    windows,
    ignore = "reads the process's memory in /proc, which Windows has not"
)]
fn a_thousand_invocations_in_a_row_keep_the_memory_flat() {
    let runtime = FakeRuntime::start();
    let event = |n: usize| {
        let path = format!("/mult/{n}/{}", n % 7);
        FakeEvent::new(&format!("e{n}"), http_v2("GET", &path).to_string())
    };
    runtime.push((0..100).map(event));
    let child = runtime_process(&runtime, &[]);
    runtime.wait_posts(100);
    let warm = rss_kib(child.id());
    runtime.push((100..1000).map(event));
    let posts = runtime.wait_posts(1000);
    let after = rss_kib(child.id());
    runtime.finish();
    let _ = child.wait_with_output();
    assert!(posts.iter().all(|p| p.path.ends_with("/response")));
    assert!(
        after <= warm + 512,
        "memory grew from {warm} KiB to {after} KiB over 900 invocations"
    );
}

#[test]
fn outside_lambda_it_says_what_it_needs() {
    let out = Command::new(env!("CARGO_BIN_EXE_commlab"))
        .args(["calc", "lambda"])
        .env_remove("AWS_LAMBDA_RUNTIME_API")
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(stderr.lines().count(), 1, "{stderr}");
    assert!(stderr.contains("AWS_LAMBDA_RUNTIME_API"), "{stderr}");
}

#[test]
fn named_bootstrap_without_arguments_it_is_the_lambda_runtime() {
    let dir = std::env::temp_dir().join(format!("commlab-bootstrap-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let bootstrap = dir.join("bootstrap");
    std::fs::copy(env!("CARGO_BIN_EXE_commlab"), &bootstrap).unwrap();
    let runtime = FakeRuntime::start();
    runtime.push([FakeEvent::new(
        "boot",
        rest_v1("GET", "/div/4/5").to_string(),
    )]);
    let child = Command::new(&bootstrap)
        .env("AWS_LAMBDA_RUNTIME_API", runtime.addr.to_string())
        .env_remove("COMMLAB_CALC_PREFIX")
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let posts = runtime.wait_posts(1);
    runtime.finish();
    let _ = child.wait_with_output();
    let _ = std::fs::remove_dir_all(&dir);
    let answer: Value = serde_json::from_slice(&posts[0].body).unwrap();
    assert_eq!(answer["body"], "{\"A Divis\\u00e3o\":0.8}");
}

/// cfn-lint, AWS's CloudFormation linter (with SAM's transform), pinned.
const CFN_LINT: &str = "cfn-lint==1.58.0";

#[test]
#[cfg_attr(
    windows,
    ignore = "runs cfn-lint under python3, which the Windows test run has not"
)]
fn the_sam_template_passes_cfn_lint_and_reproduces_the_class_s_api() {
    let python = common::class::venv_python("cfn-lint", CFN_LINT, "import cfnlint");
    let template = concat!(env!("CARGO_MANIFEST_DIR"), "/../docs/lambda/template.yaml");
    let out = Command::new(python.with_file_name("cfn-lint"))
        .arg(template)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "cfn-lint: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    let text = std::fs::read_to_string(template).unwrap();
    for want in [
        "Name: calc",
        "StageName: api",
        "Runtime: provided.al2023",
        "Handler: bootstrap",
        "CodeUri: ../../target/lambda/commlab/bootstrap.zip",
    ] {
        assert!(text.contains(want), "the template lacks {want:?}");
    }
    for op in ["soma", "sub", "mult", "div"] {
        assert!(
            text.contains(&format!("Path: /{op}/{{a}}/{{b}}")),
            "no route for {op}"
        );
    }
}
