//! The REST calc: the deployed API's answers byte for byte, Python's int()
//! and float repr, and the client's parser.

use commlab_core::calc::{
    answer_body, parse_answer, parse_int, python_float, python_repr, request_url, Answer,
    AnswerError, CalcError, CalcHandler, CalcNumber, Op,
};
use proptest::prelude::*;

fn get(path: &str) -> (u16, String) {
    let r = CalcHandler::new("/api").route(path);
    (r.status.0, String::from_utf8(r.body).unwrap())
}

#[test]
fn answers_match_the_deployed_api_byte_for_byte() {
    assert_eq!(get("/api/soma/4/5"), (200, r#"{"A soma: ":9}"#.into()));
    assert_eq!(
        get("/api/sub/4/5"),
        (200, r#"{"A subtra\u00e7\u00e3o:":-1}"#.into())
    );
    assert_eq!(
        get("/api/mult/4/5"),
        (200, r#"{"A multiplica\u00e7\u00e3o":20}"#.into())
    );
    assert_eq!(
        get("/api/div/4/5"),
        (200, r#"{"A Divis\u00e3o":0.8}"#.into())
    );
    assert_eq!(
        get("/api/div/4/2"),
        (200, r#"{"A Divis\u00e3o":2.0}"#.into())
    );
    assert_eq!(
        get("/api/soma/%20%2B5%20/-0"),
        (200, r#"{"A soma: ":5}"#.into())
    );
    let (status, body) = get("/api/div/1/0");
    assert_eq!(status, 400);
    assert_eq!(
        body,
        r#"{"Code":"BadRequestError","Message":"division by zero"}"#
    );
    let (status, body) = get("/api/soma/abc/1");
    assert_eq!(status, 400);
    assert!(
        body.contains("invalid literal for int() with base 10: \\\"abc\\\""),
        "{body}"
    );
    assert_eq!(get("/api/pot/2/3").0, 404);
    assert_eq!(get("/api/soma/1").0, 404);
    assert_eq!(get("/outra/soma/1/2").0, 404);
    let (status, index) = get("/api/");
    assert_eq!(status, 200);
    assert!(index.contains("GET /api/soma/{a}/{b}"));
    assert_eq!(CalcHandler::new("").route("/mult/8/5").status.0, 200);
}

#[test]
fn python_int_rules() {
    assert_eq!(parse_int("+5"), Ok(5));
    assert_eq!(parse_int(" 7 "), Ok(7));
    assert_eq!(parse_int("-0"), Ok(0));
    assert_eq!(parse_int("1_000"), Ok(1000));
    assert_eq!(parse_int("-9223372036854775808"), Ok(i64::MIN));
    for bad in [
        "1e3", "", " ", "_1", "1_", "1__0", "0x10", "1.0", "+-1", "٣",
    ] {
        assert!(
            matches!(parse_int(bad), Err(CalcError::NotAnInteger(_))),
            "{bad:?}"
        );
    }
    assert!(matches!(
        parse_int("9223372036854775808"),
        Err(CalcError::TooLarge(_))
    ));
    assert!(matches!(
        parse_int(&"9".repeat(400)),
        Err(CalcError::TooLarge(_))
    ));
}

#[test]
fn python_float_repr() {
    let cases = [
        (0.8, "0.8"),
        (2.0, "2.0"),
        (-0.5, "-0.5"),
        (0.1 + 0.2, "0.30000000000000004"),
        (1e16, "1e+16"),
        (1.5e300, "1.5e+300"),
        (1e-5, "1e-05"),
        (0.0001, "0.0001"),
        (1234567890123456.0, "1234567890123456.0"),
        (123.456, "123.456"),
        (-0.0, "-0.0"),
        (5e-324, "5e-324"),
    ];
    for (x, want) in cases {
        assert_eq!(python_float(x), want, "{x:e}");
    }
}

#[test]
fn client_parses_any_spelling_and_prints_like_python() {
    let a = parse_answer(200, br#"{"A multiplica\u00e7\u00e3o":40}"#).unwrap();
    assert_eq!(
        a,
        Answer {
            key: "A multiplicação".into(),
            value: CalcNumber::Int(40)
        }
    );
    assert_eq!(a.python_dict(), "{'A multiplicação': 40}");
    let a = parse_answer(200, br#"{"resultado": 0.8}"#).unwrap();
    assert_eq!(a.python_dict(), "{'resultado': 0.8}");
    assert_eq!(python_repr("it's"), "\"it's\"");
    assert!(matches!(
        parse_answer(200, b"<html>"),
        Err(AnswerError::NotJson(_))
    ));
    assert!(matches!(
        parse_answer(200, br#"{"a":1,"b":2}"#),
        Err(AnswerError::NoNumber(_))
    ));
    assert!(matches!(
        parse_answer(200, br#"{"a":18446744073709551615}"#),
        Err(AnswerError::TooLarge(_))
    ));
    assert_eq!(
        parse_answer(
            400,
            br#"{"Code":"BadRequestError","Message":"division by zero"}"#
        ),
        Err(AnswerError::Status {
            status: 400,
            message: "division by zero".into()
        })
    );
    assert_eq!(
        parse_answer(500, b"Internal Server Error"),
        Err(AnswerError::Status {
            status: 500,
            message: "Internal Server Error".into()
        })
    );
    assert_eq!(
        request_url("https://x.example/api/", Op::Mult, "8", " 5/"),
        "https://x.example/api/mult/8/%205%2F"
    );
}

proptest! {
    #[test]
    fn server_and_client_agree_with_checked_arithmetic(a in any::<i64>(), b in any::<i64>()) {
        for op in Op::ALL {
            let (status, body) = get(&format!("/api/{}/{a}/{b}", op.name()));
            let want = match op {
                Op::Soma => a.checked_add(b).map(CalcNumber::Int),
                Op::Sub => a.checked_sub(b).map(CalcNumber::Int),
                Op::Mult => a.checked_mul(b).map(CalcNumber::Int),
                #[allow(clippy::cast_precision_loss)]
                Op::Div => (b != 0).then(|| CalcNumber::Float(a as f64 / b as f64)),
            };
            match want {
                Some(v) => {
                    prop_assert_eq!(status, 200);
                    let got = parse_answer(status, body.as_bytes()).unwrap();
                    prop_assert_eq!(got.key, op.key());
                    prop_assert_eq!(got.value, v);
                    prop_assert_eq!(body, answer_body(op, v));
                }
                None => prop_assert_eq!(status, 400),
            }
        }
    }

    #[test]
    fn any_path_gets_an_answer_never_a_panic(path in "\\PC{0,40}") {
        let (status, _) = get(&format!("/api/{path}"));
        prop_assert!([200, 400, 404].contains(&status), "{status}");
    }

    #[test]
    fn any_body_parses_or_gives_a_typed_error(status in 100u16..600, body in proptest::collection::vec(any::<u8>(), 0..100)) {
        let _ = parse_answer(status, &body);
    }

    #[test]
    fn python_float_reads_back_exactly(x in any::<f64>().prop_filter("finite", |x| x.is_finite())) {
        prop_assert_eq!(python_float(x).parse::<f64>().unwrap(), x);
    }
}
