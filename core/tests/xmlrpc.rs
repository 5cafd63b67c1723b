//! XML-RPC: round trips, hostile documents, the dispatcher, the calculator.

#![allow(clippy::disallowed_methods)] // tests may read the clock to seed a virtual one

use std::time::Instant;

use commlab_core::testing::ServicePump;
use commlab_core::xmlrpc::{
    calculator, decode_call, decode_response, encode_call, encode_response, MethodCall, RpcFault,
    RpcHandler, RpcServer, Value, XmlRpcError, DIVISION_BY_ZERO, DOMAIN_ERROR, INVALID_PARAMS,
    INVALID_REQUEST, METHOD_NOT_FOUND, OVERFLOW, PARSE_ERROR,
};
use proptest::prelude::*;

fn call(method: &str, params: Vec<Value>) -> Result<Value, RpcFault> {
    let body = encode_call(method, &params).unwrap();
    let out = calculator().handle_body(body.as_bytes());
    decode_response(&out).unwrap()
}

fn nested(depth: usize) -> String {
    format!(
        "<?xml version='1.0'?><methodCall><methodName>echo</methodName><params><param>{}{}</param></params></methodCall>",
        "<value><array><data>".repeat(depth),
        "</data></array></value>".repeat(depth)
    )
}

#[test]
fn decodes_what_python_sends() {
    let python = "<?xml version='1.0'?>\n<methodCall>\n<methodName>add</methodName>\n<params>\n<param>\n<value><int>20</int></value>\n</param>\n<param>\n<value><double>5.5</double></value>\n</param>\n<param>\n<value>plain &amp; simple</value>\n</param>\n<param><value><struct>\n<member>\n<name>a</name>\n<value><boolean>1</boolean></value>\n</member>\n</struct></value></param>\n<param><value><nil/></value></param>\n</params>\n</methodCall>\n";
    let call = decode_call(python.as_bytes()).unwrap();
    assert_eq!(call.name, "add");
    assert_eq!(
        call.params,
        vec![
            Value::Int(20),
            Value::Double(5.5),
            Value::String("plain & simple".into()),
            Value::Struct(vec![("a".into(), Value::Bool(true))]),
            Value::Nil,
        ]
    );
}

#[test]
fn hostile_documents_are_refused_with_the_right_code() {
    let bomb = r#"<?xml version="1.0"?><!DOCTYPE lolz [<!ENTITY lol "lol"><!ENTITY lol2 "&lol;&lol;&lol;">]><methodCall><methodName>&lol2;</methodName></methodCall>"#;
    let e = decode_call(bomb.as_bytes()).unwrap_err();
    assert!(matches!(e, XmlRpcError::Forbidden(_)), "{e:?}");
    assert_eq!(e.fault_code(), PARSE_ERROR);
    let undefined = "<methodCall><methodName>&x;</methodName></methodCall>";
    assert!(matches!(
        decode_call(undefined.as_bytes()),
        Err(XmlRpcError::Forbidden(_))
    ));
    assert!(matches!(
        decode_call(b"not xml at all <"),
        Err(XmlRpcError::NotWellFormed(_) | XmlRpcError::Invalid(_))
    ));
    assert!(matches!(
        decode_call(b"\xff\xfe<methodCall/>"),
        Err(XmlRpcError::NotWellFormed(_))
    ));
    let e = decode_call(b"<methodResponse></methodResponse>").unwrap_err();
    assert_eq!(e.fault_code(), INVALID_REQUEST);
    assert!(
        decode_call(nested(64).as_bytes()).is_ok(),
        "64 levels are fine"
    );
    assert_eq!(
        decode_call(nested(10_000).as_bytes()),
        Err(XmlRpcError::TooDeep(100))
    );
    let many = format!(
        "<methodCall><methodName>echo</methodName><params><param><value><array><data>{}</data></array></value></param></params></methodCall>",
        "<value><int>1</int></value>".repeat(250_001)
    );
    assert_eq!(
        decode_call(many.as_bytes()),
        Err(XmlRpcError::TooMany(250_000))
    );
    assert!(matches!(
        decode_call(b"<methodCall><methodName>a</methodName><params><param><value><int>99999999999</int></value></param></params></methodCall>"),
        Err(XmlRpcError::BadValue { kind: "int", .. })
    ));
}

#[test]
fn calculator_semantics() {
    use Value::{Double, Int, I8};
    assert_eq!(call("add", vec![Int(20), Int(5)]), Ok(Int(25)));
    assert_eq!(
        call("add", vec![Int(i32::MAX), Int(1)]),
        Ok(I8(i64::from(i32::MAX) + 1))
    );
    assert_eq!(call("sub", vec![Int(4), Int(5)]), Ok(Int(-1)));
    assert_eq!(call("mul", vec![Int(8), Double(0.5)]), Ok(Double(4.0)));
    assert_eq!(call("div", vec![Int(15), Int(10)]), Ok(Double(1.5)));
    assert_eq!(call("div", vec![Int(10), Int(5)]), Ok(Double(2.0)));
    assert_eq!(call("pow", vec![Int(2), Int(-1)]), Ok(Double(0.5)));
    assert_eq!(call("pow", vec![Int(2), Int(62)]), Ok(I8(1 << 62)));
    assert_eq!(call("pow", vec![Int(-1), I8(i64::MAX)]), Ok(Int(-1)));
    let code = |r: Result<Value, RpcFault>| r.unwrap_err().code;
    assert_eq!(code(call("mul", vec![I8(i64::MAX), Int(2)])), OVERFLOW);
    assert_eq!(code(call("pow", vec![Int(2), Int(64)])), OVERFLOW);
    assert_eq!(code(call("mul", vec![Double(1e308), Int(10)])), OVERFLOW);
    assert_eq!(code(call("div", vec![Int(1), Int(0)])), DIVISION_BY_ZERO);
    assert_eq!(
        code(call("div", vec![Double(1.0), Double(0.0)])),
        DIVISION_BY_ZERO
    );
    assert_eq!(code(call("pow", vec![Int(0), Int(-2)])), DIVISION_BY_ZERO);
    assert_eq!(code(call("pow", vec![Int(-8), Double(0.5)])), DOMAIN_ERROR);
    let f = call("add", vec![Int(1)]).unwrap_err();
    assert_eq!(f.code, INVALID_PARAMS);
    assert_eq!(
        f.message,
        "add(x, y) expects 2 numbers (int or double), got 1 arguments"
    );
    let f = call("add", vec![Int(1), Value::String("2".into())]).unwrap_err();
    assert_eq!(
        f.message,
        "add(x, y) expects 2 numbers (int or double); argument 2 is a string"
    );
    assert_eq!(code(call("nope", vec![])), METHOD_NOT_FOUND);
    let all = call("calc", vec![Int(20), Int(5)]).unwrap();
    assert_eq!(all.member("pow"), Some(&Int(3_200_000)));
    assert_eq!(all.member("div"), Some(&Double(4.0)));
    assert_eq!(code(call("calc", vec![Int(1), Int(0)])), DIVISION_BY_ZERO);
}

#[test]
fn introspection_and_multicall() {
    let names = call("system.listMethods", vec![]).unwrap();
    let Value::Array(names) = names else { panic!() };
    for m in [
        "add",
        "calc",
        "div",
        "mul",
        "pow",
        "sub",
        "system.multicall",
    ] {
        assert!(names.contains(&Value::String(m.into())), "{m}");
    }
    let help = call("system.methodHelp", vec![Value::String("div".into())]).unwrap();
    assert!(matches!(help, Value::String(h) if h.contains("true division")));
    let sig = call("system.methodSignature", vec![Value::String("add".into())]).unwrap();
    assert!(matches!(&sig, Value::Array(s) if s.len() == 5));
    let entry = |m: &str, p: Vec<Value>| {
        Value::Struct(vec![
            ("methodName".into(), Value::String(m.into())),
            ("params".into(), Value::Array(p)),
        ])
    };
    let results = call(
        "system.multicall",
        vec![Value::Array(vec![
            entry("add", vec![Value::Int(1), Value::Int(2)]),
            entry("div", vec![Value::Int(1), Value::Int(0)]),
            entry("system.multicall", vec![Value::Array(vec![])]),
        ])],
    )
    .unwrap();
    let Value::Array(r) = results else { panic!() };
    assert_eq!(r[0], Value::Array(vec![Value::Int(3)]));
    assert_eq!(
        r[1].member("faultCode"),
        Some(&Value::Int(DIVISION_BY_ZERO))
    );
    assert_eq!(r[2].member("faultCode"), Some(&Value::Int(INVALID_PARAMS)));
}

fn leaf() -> impl Strategy<Value = Value> {
    prop_oneof![
        any::<i32>().prop_map(Value::Int),
        any::<i64>().prop_map(Value::I8),
        any::<bool>().prop_map(Value::Bool),
        "[^\u{0}]{0,20}".prop_map(Value::String),
        any::<f64>()
            .prop_filter("NaN is not equal to itself", |f| !f.is_nan())
            .prop_map(Value::Double),
        "[0-9]{8}T[0-9]{2}:[0-9]{2}:[0-9]{2}".prop_map(Value::DateTime),
        proptest::collection::vec(any::<u8>(), 0..20).prop_map(Value::Base64),
        Just(Value::Nil),
        Just(Value::String("<&]]>\r\n\t x".into())),
    ]
}

fn value() -> impl Strategy<Value = Value> {
    leaf().prop_recursive(5, 64, 6, |inner| {
        prop_oneof![
            proptest::collection::vec(inner.clone(), 0..6).prop_map(Value::Array),
            proptest::collection::vec(("[^\u{0}]{0,8}", inner), 0..6).prop_map(Value::Struct),
        ]
    })
}

/// Sends `body` as an HTTP request to an in-memory RpcServer in the given
/// pieces and returns the response body.
fn over_http(body: &str, cuts: &[usize]) -> Vec<u8> {
    let mut wire = format!(
        "POST /RPC2 HTTP/1.1\r\nHost: x\r\nContent-Type: text/xml\r\nContent-Length: {}\r\n\r\n",
        body.len()
    )
    .into_bytes();
    wire.extend_from_slice(body.as_bytes());
    let mut server = ServicePump::new(
        RpcServer::new(RpcHandler::new(calculator())),
        Instant::now(),
    );
    server.connect(1);
    server.send_split(1, &wire, cuts);
    assert_eq!(server.ended(1), None, "the connection stays open");
    let out = server.take_output(1);
    let text = String::from_utf8(out).unwrap();
    let (head, body) = text.split_once("\r\n\r\n").unwrap();
    assert!(head.starts_with("HTTP/1.1 200 OK\r\n"), "{head}");
    body.as_bytes().to_vec()
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(200))]

    #[test]
    fn values_round_trip_through_calls_and_responses(v in value()) {
        let body = encode_call("echo", std::slice::from_ref(&v)).unwrap();
        prop_assert_eq!(decode_call(body.as_bytes()).unwrap(), MethodCall { name: "echo".into(), params: vec![v.clone()] });
        let resp = encode_response(&Ok(v.clone())).unwrap();
        prop_assert_eq!(decode_response(resp.as_bytes()).unwrap(), Ok(v));
    }

    #[test]
    fn values_round_trip_over_a_split_http_stream(
        v in value(),
        cuts in proptest::collection::vec(any::<usize>(), 0..8),
    ) {
        let body = encode_call("echo", std::slice::from_ref(&v)).unwrap();
        prop_assert_eq!(decode_response(&over_http(&body, &cuts)).unwrap(), Ok(v));
    }

    #[test]
    fn multicall_results_round_trip_and_any_value_gives_results_or_a_typed_error(
        results in proptest::collection::vec(prop_oneof![
            value().prop_map(Ok),
            (any::<i32>(), ".{0,20}").prop_map(|(c, m)| Err(commlab_core::xmlrpc::RpcFault::new(c, m))),
        ], 0..6),
        other in value(),
    ) {
        use commlab_core::xmlrpc::decode_multicall;
        let answer = Value::Array(results.iter().map(|r| match r {
            Ok(v) => Value::Array(vec![v.clone()]),
            Err(f) => f.to_value(),
        }).collect());
        prop_assert_eq!(decode_multicall(answer, results.len()).unwrap(), results);
        let _ = decode_multicall(other, 1);
    }

    #[test]
    fn any_bytes_give_a_call_or_a_typed_error(bytes in proptest::collection::vec(any::<u8>(), 0..400)) {
        let _ = decode_call(&bytes);
        let _ = decode_response(&bytes);
    }

    #[test]
    fn faults_round_trip(code in any::<i32>(), message in "[^\u{0}]{0,40}") {
        let f = RpcFault::new(code, message);
        let resp = encode_response(&Err(f.clone())).unwrap();
        prop_assert_eq!(decode_response(resp.as_bytes()).unwrap(), Err(f));
    }
}

#[test]
fn long_and_multibyte_tag_names_are_reported_not_matched() {
    let long = "string".repeat(10);
    let doc = format!(
        "<methodCall><methodName>m</methodName><params><param><value><{long}>x</{long}></value></param></params></methodCall>"
    );
    let e = decode_call(doc.as_bytes()).unwrap_err().to_string();
    assert!(e.contains("unknown value type <stringstring"), "{e}");
    assert!(e.contains('…'), "a cut name says so: {e}");
    let wide = "é".repeat(20);
    let doc = format!(
        "<methodCall><methodName>m</methodName><params><param><value><{wide}>x</{wide}></value></param></params></methodCall>"
    );
    let e = decode_call(doc.as_bytes()).unwrap_err().to_string();
    assert!(e.contains("unknown value type <éé"), "{e}");
    let split = "<methodCall><methodName>a&amp;b</methodName><params><param><value><string>x&lt;<![CDATA[y]]>z</string></value></param></params></methodCall>";
    let call = decode_call(split.as_bytes()).unwrap();
    assert_eq!(call.name, "a&b");
    assert_eq!(call.params, vec![Value::String("x<yz".into())]);
}
