//! The three HTTP event formats Lambda hands a function (REST API payload
//! 1.0, HTTP API payload 2.0, Function URL), made as AWS sends them for
//! the class's API, and `calc server`'s own answer to compare with.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};

use commlab_core::http1::{HttpResponse, ResponseDecoder};
use serde_json::{json, Value};

use super::TIMEOUT;

/// A REST API proxy event (payload 1.0), as API Gateway sends the class's
/// API `calc`, stage `api`: `path` without the stage.
pub fn rest_v1(method: &str, path: &str) -> Value {
    json!({
        "resource": "/{proxy+}",
        "path": path,
        "httpMethod": method,
        "headers": {
            "Accept": "*/*",
            "Host": "mrl0vy3w26.execute-api.sa-east-1.amazonaws.com",
            "User-Agent": "python-requests/2.31.0",
            "X-Forwarded-Proto": "https"
        },
        "multiValueHeaders": {"Accept": ["*/*"]},
        "queryStringParameters": null,
        "multiValueQueryStringParameters": null,
        "pathParameters": {"proxy": path.trim_start_matches('/')},
        "stageVariables": null,
        "requestContext": {
            "resourcePath": "/{proxy+}",
            "httpMethod": method,
            "path": format!("/api{path}"),
            "stage": "api",
            "accountId": "123456789012",
            "apiId": "mrl0vy3w26",
            "requestId": "c6af9ac6-7b61-11e6-9a41-93e8deadbeef",
            "identity": {"sourceIp": "203.0.113.5"},
            "protocol": "HTTP/1.1"
        },
        "body": null,
        "isBase64Encoded": false
    })
}

/// An HTTP API event (payload 2.0) on stage `api`: `rawPath` with it.
pub fn http_v2(method: &str, path: &str) -> Value {
    v2(
        method,
        &format!("/api{path}"),
        "abc123.execute-api.sa-east-1.amazonaws.com",
        "api",
    )
}

/// A Function URL event (payload 2.0, no stage).
pub fn function_url(method: &str, path: &str) -> Value {
    v2(
        method,
        path,
        "abcdefghij.lambda-url.sa-east-1.on.aws",
        "$default",
    )
}

pub fn v2(method: &str, raw_path: &str, domain: &str, stage: &str) -> Value {
    json!({
        "version": "2.0",
        "routeKey": "$default",
        "rawPath": raw_path,
        "rawQueryString": "",
        "headers": {"accept": "*/*", "host": domain, "user-agent": "curl/8.5.0"},
        "requestContext": {
            "accountId": "123456789012",
            "apiId": "abc123",
            "domainName": domain,
            "domainPrefix": domain.split('.').next().unwrap_or_default(),
            "http": {
                "method": method,
                "path": raw_path,
                "protocol": "HTTP/1.1",
                "sourceIp": "203.0.113.5",
                "userAgent": "curl/8.5.0"
            },
            "requestId": "JKJaXmPLvHcESHA=",
            "routeKey": "$default",
            "stage": stage,
            "time": "02/Dec/2026:03:10:00 +0000",
            "timeEpoch": 1_796_181_000_000_u64
        },
        "isBase64Encoded": false
    })
}

/// Makes an event for `METHOD path`.
pub type MakeEvent = fn(&str, &str) -> Value;

/// `calc server`'s answer to `METHOD /api{path}`.
pub fn server_answer(addr: SocketAddr, method: &str, path: &str) -> HttpResponse {
    let mut s = TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(TIMEOUT)).unwrap();
    write!(
        s,
        "{method} /api{path} HTTP/1.1\r\nHost: localhost\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
    )
    .unwrap();
    let mut bytes = Vec::new();
    s.read_to_end(&mut bytes).unwrap();
    let mut d = ResponseDecoder::default();
    d.feed(&bytes);
    d.next_response().unwrap().expect("a whole response")
}

pub fn header<'a>(r: &'a HttpResponse, name: &str) -> Option<&'a str> {
    r.headers
        .iter()
        .find(|(n, _)| n.eq_ignore_ascii_case(name))
        .map(|(_, v)| v.as_str())
}

/// A Lambda proxy answer `got` says what `calc server` said in `want`: the
/// status, the `Content-Type`, the body byte for byte, not base64.
pub fn assert_same_answer(got: &Value, want: &HttpResponse, what: &str) {
    assert_eq!(got["statusCode"], want.status, "{what}");
    assert_eq!(
        got["headers"]["Content-Type"].as_str(),
        header(want, "Content-Type"),
        "{what}"
    );
    assert_eq!(got["isBase64Encoded"], false, "{what}");
    assert_eq!(
        got["body"].as_str().unwrap_or_default().as_bytes(),
        &want.body[..],
        "{what}"
    );
}

/// `calc server` under `/api` on a free loopback port, on `engine`: what
/// the function's answers are compared with.
pub fn calc_server(engine: commlab::Engine) -> commlab::Server<commlab_core::calc::CalcServer> {
    commlab::calc::start(
        engine,
        std::net::TcpListener::bind("127.0.0.1:0").unwrap(),
        "/api",
        |_| {},
    )
    .unwrap()
}
