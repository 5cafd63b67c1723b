//! The XML-RPC server and the page/WebSocket server run one HTTP
//! connection machine, so the same bytes get the same HTTP errors from
//! both, whatever the split points.

#![allow(clippy::disallowed_methods)] // tests may read the clock to seed a virtual one

use std::time::{Duration, Instant};

use commlab_core::http1::{MAX_BODY, MAX_HEAD, MAX_HEADERS, REQUEST_TIMEOUT};
use commlab_core::testing::{Ended, ServicePump};
use commlab_core::ws::WsServer;
use commlab_core::xmlrpc::{calculator, RpcHandler, RpcServer};
use commlab_core::Service;
use proptest::prelude::*;

/// Requests each server must refuse (or wait on) before any routing.
fn refused() -> impl Strategy<Value = String> {
    prop_oneof![
        // 431: the head is too large.
        (0usize..3).prop_map(|pad| format!(
            "POST /RPC2 HTTP/1.1\r\nX-Pad: {}\r\n\r\n",
            "a".repeat(MAX_HEAD + pad)
        )),
        // 431: too many headers.
        (1usize..4).prop_map(|extra| {
            let headers: String = (0..MAX_HEADERS + extra)
                .map(|i| format!("X-{i}: v\r\n"))
                .collect();
            format!("GET / HTTP/1.1\r\n{headers}\r\n")
        }),
        // 413: a body over the limit, announced.
        (1u64..1000).prop_map(|extra| format!(
            "POST / HTTP/1.1\r\nContent-Length: {}\r\n\r\n",
            MAX_BODY as u64 + extra
        )),
        // 100 Continue, then 408 for the body that never comes whole.
        (0usize..50).prop_map(|n| format!(
            "POST / HTTP/1.1\r\nExpect: 100-continue\r\nContent-Length: 100\r\n\r\n{}",
            "x".repeat(n)
        )),
        // 408: a head never finished.
        "[a-zA-Z/ ]{1,40}".prop_map(|s| format!("GET {s}")),
    ]
}

/// What `bytes` (cut at `cuts`) get once the request timeout has passed.
fn answer<S: Service>(service: S, bytes: &[u8], cuts: &[usize]) -> (String, Option<Ended>) {
    let mut pump = ServicePump::new(service, Instant::now());
    pump.connect(1);
    pump.send_split(1, bytes, cuts);
    pump.advance(REQUEST_TIMEOUT + Duration::from_secs(1));
    (pump.take_text(1), pump.ended(1))
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    #[test]
    fn both_servers_answer_the_same_http_errors(
        req in refused(),
        cuts in proptest::collection::vec(any::<usize>(), 0..6),
    ) {
        let rpc = answer(RpcServer::new(RpcHandler::new(calculator())), req.as_bytes(), &cuts);
        let ws = answer(WsServer::new(), req.as_bytes(), &cuts);
        prop_assert_eq!(&rpc, &ws);
        let (out, ended) = rpc;
        let statuses: Vec<&str> = out
            .match_indices("HTTP/1.1 ")
            .map(|(i, _)| &out[i + 9..i + 12])
            .collect();
        prop_assert!(
            matches!(statuses.as_slice(), ["431"] | ["413"] | ["408"] | ["100", "408"]),
            "{:?} for {:?}", statuses, &req[..req.len().min(60)]
        );
        prop_assert_eq!(ended, Some(Ended::Closed));
    }
}
