//! The Lambda pieces in memory: the three HTTP event formats to a request,
//! the handler's response to the proxy answer, the Runtime API's
//! invocations, and any bytes as an event (an answer or a typed error).

use commlab_core::calc::CalcHandler;
use commlab_core::http1::{Handler, HttpResponse, Request, Response, Status};
use commlab_core::lambda::{
    serve_event, EventError, EventFormat, EventRequest, Invocation, RuntimeError,
};
use proptest::prelude::*;
use serde_json::{json, Value};

fn answer(payload: Value) -> (EventFormat, Value) {
    let mut h = CalcHandler::new("/api");
    let (format, bytes) = serve_event(&mut h, "/api", payload.to_string().as_bytes()).unwrap();
    (format, serde_json::from_slice(&bytes).unwrap())
}

#[test]
fn the_three_formats_are_told_apart_and_reach_the_same_route() {
    let v1 = json!({"httpMethod": "GET", "path": "/soma/4/5", "requestContext": {"stage": "api"}});
    let v2 = json!({"version": "2.0", "rawPath": "/api/soma/4/5",
        "requestContext": {"http": {"method": "GET"}, "domainName": "x.execute-api.sa-east-1.amazonaws.com"}});
    let url = json!({"version": "2.0", "rawPath": "/soma/4/5",
        "requestContext": {"http": {"method": "GET"}, "domainName": "abc.lambda-url.sa-east-1.on.aws"}});
    for (event, format) in [
        (v1, EventFormat::RestV1),
        (v2, EventFormat::HttpApiV2),
        (url, EventFormat::FunctionUrl),
    ] {
        let (got, a) = answer(event);
        assert_eq!(got, format);
        assert_eq!(a["statusCode"], 200);
        assert_eq!(a["body"], "{\"A soma: \":9}");
        assert_eq!(a["headers"]["Content-Type"], "application/json");
        assert_eq!(a["isBase64Encoded"], false);
    }
}

#[test]
fn methods_queries_bodies_and_head() {
    let (_, a) = answer(json!({"httpMethod": "POST", "path": "/soma/4/5"}));
    assert_eq!(a["statusCode"], 405);
    assert_eq!(a["headers"]["Allow"], "GET");
    let (_, a) = answer(json!({"httpMethod": "HEAD", "path": "/soma/4/5"}));
    assert_eq!(
        (a["statusCode"].clone(), a["body"].clone()),
        (json!(200), json!(""))
    );
    let e = EventRequest::parse(
        json!({"version": "2.0", "rawPath": "/x", "rawQueryString": "a=1",
            "requestContext": {"http": {"method": "put"}},
            "body": "aGVsbG8=", "isBase64Encoded": true})
        .to_string()
        .as_bytes(),
    )
    .unwrap();
    assert_eq!(e.request.method, "PUT");
    assert_eq!(e.request.target, "/x?a=1");
    assert_eq!(e.request.body, b"hello");
    let bad = json!({"httpMethod": "GET", "path": "/x", "body": "%%%", "isBase64Encoded": true});
    assert_eq!(
        EventRequest::parse(bad.to_string().as_bytes()),
        Err(EventError::BadBody)
    );
}

/// A handler answering bytes that are not UTF-8.
struct Binary;
impl Handler for Binary {
    fn handle(&mut self, _: &Request) -> Response {
        Response::with_body(Status::OK, "application/octet-stream", vec![0xff, 0, 1])
    }
}

#[test]
fn a_body_that_is_not_text_goes_as_base64() {
    let (_, bytes) =
        serve_event(&mut Binary, "", b"{\"httpMethod\":\"GET\",\"path\":\"/\"}").unwrap();
    let a: Value = serde_json::from_slice(&bytes).unwrap();
    assert_eq!(
        (a["body"].clone(), a["isBase64Encoded"].clone()),
        (json!("/wAB"), json!(true))
    );
}

#[test]
fn payloads_that_are_not_http_events_are_typed_errors() {
    let mut h = CalcHandler::new("/api");
    for (payload, what) in [
        (&b"hello"[..], "not a JSON object"),
        (b"[1,2]", "not a JSON object"),
        (b"{\"Records\":[]}", "not an API Gateway"),
        (
            b"{\"version\":\"2.0\",\"rawPath\":\"/x\"}",
            "requestContext.http.method",
        ),
        (
            b"{\"httpMethod\":\"GET\",\"path\":\"relative\"}",
            "not a request",
        ),
    ] {
        let e = serve_event(&mut h, "/api", payload).unwrap_err();
        assert!(e.to_string().contains(what), "{e}");
        assert_eq!(e.error_type(), "UnsupportedEvent");
    }
    let big = vec![b' '; commlab_core::lambda::MAX_EVENT + 1];
    assert!(matches!(
        serve_event(&mut h, "/api", &big),
        Err(EventError::TooLarge(_))
    ));
}

fn next(status: u16, headers: &[(&str, &str)], body: &str) -> HttpResponse {
    HttpResponse {
        status,
        headers: headers
            .iter()
            .map(|(k, v)| ((*k).into(), (*v).into()))
            .collect(),
        body: body.into(),
    }
}

#[test]
fn invocations_are_read_from_the_runtime_api_s_answer() {
    let inv = Invocation::from_response(&next(
        200,
        &[
            (
                "lambda-runtime-aws-request-id",
                "8476a536-e9f4-11e8-9739-2dfe598c3fcd",
            ),
            ("Lambda-Runtime-Deadline-Ms", "1542409706888"),
            (
                "Lambda-Runtime-Trace-Id",
                "Root=1-5bef4de7-ad49b0e87f6ef6c87fc2e700",
            ),
        ],
        "{}",
    ))
    .unwrap();
    assert_eq!(
        inv.response_path(),
        "/2018-06-01/runtime/invocation/8476a536-e9f4-11e8-9739-2dfe598c3fcd/response"
    );
    assert_eq!(inv.remaining_ms(1_542_409_706_000), Some(888));
    assert_eq!(inv.remaining_ms(1_542_409_707_000), Some(0));
    // cargo-lambda's emulator sends its timeout (600000 ms), not a Unix
    // time: no deadline, rather than one missed in 1970.
    let emulated = Invocation::from_response(&next(
        200,
        &[
            ("lambda-runtime-aws-request-id", "a-1"),
            ("lambda-runtime-deadline-ms", "600000"),
        ],
        "{}",
    ))
    .unwrap();
    assert_eq!(emulated.deadline_ms, None);
    assert_eq!(emulated.remaining_ms(1_542_409_707_000), None);
    assert_eq!(
        inv.trace_id.as_deref(),
        Some("Root=1-5bef4de7-ad49b0e87f6ef6c87fc2e700")
    );
    assert_eq!(
        Invocation::from_response(&next(200, &[], "{}")),
        Err(RuntimeError::NoRequestId)
    );
    let sneaky = next(
        200,
        &[("Lambda-Runtime-Aws-Request-Id", "../../init/error")],
        "{}",
    );
    assert!(matches!(
        Invocation::from_response(&sneaky),
        Err(RuntimeError::BadRequestId(_))
    ));
    assert!(matches!(
        Invocation::from_response(&next(500, &[], "oops")),
        Err(RuntimeError::Status { status: 500, .. })
    ));
}

proptest! {
    #[test]
    fn any_bytes_are_an_answer_or_a_typed_error(bytes in proptest::collection::vec(any::<u8>(), 0..500)) {
        let mut h = CalcHandler::new("/api");
        let _ = serve_event(&mut h, "/api", &bytes);
    }

    #[test]
    fn any_v1_path_answers_as_the_router_does(path in prop_oneof!["/[a-z0-9/%.-]{0,30}", "/api(/[a-z0-9]{0,6}){0,3}"]) {
        let mut h = CalcHandler::new("/api");
        let event = json!({"httpMethod": "GET", "path": path.clone()});
        let (_, bytes) = serve_event(&mut h, "/api", event.to_string().as_bytes()).unwrap();
        let a: Value = serde_json::from_slice(&bytes).unwrap();
        let staged = if path == "/api" || path.starts_with("/api/") {
            path.clone()
        } else {
            format!("/api{path}")
        };
        let want = h.route(&staged);
        prop_assert_eq!(a["statusCode"].as_u64(), Some(u64::from(want.status.0)));
        prop_assert_eq!(a["body"].as_str().unwrap().as_bytes(), &want.body[..]);
    }
}

#[test]
fn the_fuzz_entry_takes_events_and_garbage() {
    commlab_core::fuzzing::lambda_event(b"{\"httpMethod\":\"GET\",\"path\":\"/div/1/0\"}");
    commlab_core::fuzzing::lambda_event(b"\xff\xfe");
}

#[test]
fn the_runtime_api_address_is_read_as_aws_runtimes_read_it() {
    use commlab_core::lambda::{ApiAddrError, RuntimeApi, NEXT_PATH};
    // Lambda's own form.
    let api = RuntimeApi::parse("127.0.0.1:9001").unwrap();
    assert_eq!(api.base_url(), "http://127.0.0.1:9001");
    assert_eq!(api.path(NEXT_PATH), "/2018-06-01/runtime/invocation/next");
    // cargo-lambda's: a scheme and a prefix kept in front of every path.
    let api = RuntimeApi::parse("http://127.0.0.1:9000/.rt").unwrap();
    assert_eq!(api.base_url(), "http://127.0.0.1:9000");
    assert_eq!(
        api.path(NEXT_PATH),
        "/.rt/2018-06-01/runtime/invocation/next"
    );
    assert_eq!(api.to_string(), "http://127.0.0.1:9000/.rt");
    assert_eq!(
        RuntimeApi::parse("localhost:9000/.rt/").unwrap().path("/x"),
        "/.rt/x"
    );
    assert_eq!(
        RuntimeApi::parse("[::1]:9001").unwrap().base_url(),
        "http://[::1]:9001"
    );
    // Values that cannot be used, each with its reason.
    assert_eq!(RuntimeApi::parse(""), Err(ApiAddrError::Empty));
    assert_eq!(RuntimeApi::parse("http://"), Err(ApiAddrError::Empty));
    assert!(matches!(
        RuntimeApi::parse("https://127.0.0.1:9001"),
        Err(ApiAddrError::Scheme(_))
    ));
    for bad in [
        "127.0.0.1",
        "127.0.0.1:http",
        ":9001",
        "h:0",
        "[::1]",
        "h:70000/x",
    ] {
        assert!(
            matches!(RuntimeApi::parse(bad), Err(ApiAddrError::NoPort(_))),
            "{bad}"
        );
    }
    for bad in ["h:1 /x", "h:1/x?y", "h:1/a\tb"] {
        assert!(
            matches!(RuntimeApi::parse(bad), Err(ApiAddrError::Malformed(_))),
            "{bad:?}"
        );
    }
}

proptest! {
    #[test]
    fn any_runtime_api_value_gives_an_address_or_a_reason(value in "\\PC{0,60}") {
        if let Ok(api) = commlab_core::lambda::RuntimeApi::parse(&value) {
            prop_assert!(api.base_url().starts_with("http://"));
            prop_assert!(api.path("/n").ends_with("/n"));
        }
    }
}
