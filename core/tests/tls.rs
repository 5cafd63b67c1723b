//! The TLS layer in memory: a TlsSession and a TlsService around the chat,
//! certificates made here by rcgen, time from a TlsClock.

#![allow(clippy::disallowed_methods)] // tests may read the clock to seed a virtual one

use std::sync::Arc;
use std::time::{Duration, Instant};

use commlab_core::chat::{ChatConfig, ChatEvent, ChatMode, ChatServer, CloseReason};
use commlab_core::testing::{Ended, Pair, ServicePump};
use commlab_core::tls::{
    client_config, server_config, CertificateDer, ClientConfig, PrivateKeyDer, RootCertStore,
    ServerConfig, ServerName, TlsClientEvent, TlsClock, TlsError, TlsEvent, TlsService, TlsSession,
    HANDSHAKE_TIMEOUT,
};
use commlab_core::{ChatClient, ClientEvent, ConnId, Service, Session};
use proptest::prelude::*;
use rcgen::{
    BasicConstraints, CertificateParams, CertifiedIssuer, DnType, IsCa, KeyPair, KeyUsagePurpose,
};

/// 2026-12-01, inside the test certificates' validity.
const NOW_UNIX: u64 = 1_796_083_200;
const DAY: u64 = 86_400;

struct Certs {
    ca: CertificateDer<'static>,
    leaf: CertificateDer<'static>,
    key: PrivateKeyDer<'static>,
}

/// A CA and a leaf for `localhost` and 127.0.0.1, valid 2026 to 2027.
fn certs() -> Certs {
    let mut ca = CertificateParams::new(Vec::<String>::new()).unwrap();
    ca.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    ca.distinguished_name.push(DnType::CommonName, "test CA");
    ca.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
    ca.not_before = rcgen::date_time_ymd(2026, 1, 1);
    ca.not_after = rcgen::date_time_ymd(2028, 1, 1);
    let ca = CertifiedIssuer::self_signed(ca, KeyPair::generate().unwrap()).unwrap();
    let mut leaf = CertificateParams::new(vec!["localhost".into(), "127.0.0.1".into()]).unwrap();
    leaf.not_before = rcgen::date_time_ymd(2026, 6, 1);
    leaf.not_after = rcgen::date_time_ymd(2027, 6, 1);
    let key = KeyPair::generate().unwrap();
    let cert = leaf.signed_by(&key, &ca).unwrap();
    Certs {
        ca: ca.der().clone(),
        leaf: cert.der().clone(),
        key: PrivateKeyDer::try_from(key.serialize_der()).unwrap(),
    }
}

fn clock_at(now: Instant, unix: u64) -> TlsClock {
    TlsClock::new(now, Duration::from_secs(unix))
}

fn server(c: &Certs, now: Instant) -> Arc<ServerConfig> {
    server_config(
        vec![c.leaf.clone(), c.ca.clone()],
        c.key.clone_key(),
        &clock_at(now, NOW_UNIX),
    )
    .unwrap()
}

fn client(trust: &CertificateDer<'static>, clock: &TlsClock) -> Arc<ClientConfig> {
    let mut roots = RootCertStore::empty();
    roots.add(trust.clone()).unwrap();
    client_config(roots, clock).unwrap()
}

type Chat = TlsService<ChatServer>;

/// A chat client over TLS to `name`, trusting `trust`, its clock at `unix`.
fn session(
    trust: &CertificateDer<'static>,
    name: &str,
    unix: u64,
    now: Instant,
) -> TlsSession<ChatClient> {
    session_of(ChatClient::default(), trust, name, unix, now)
}

fn session_of(
    inner: ChatClient,
    trust: &CertificateDer<'static>,
    name: &str,
    unix: u64,
    now: Instant,
) -> TlsSession<ChatClient> {
    let clock = clock_at(now, unix);
    TlsSession::new(
        inner,
        client(trust, &clock),
        ServerName::try_from(name.to_owned()).unwrap(),
        clock,
        now,
    )
    .unwrap()
}

/// A chat server in `mode` behind TLS with `c`'s certificate.
fn chat_tls(c: &Certs, mode: ChatMode, now: Instant) -> Chat {
    TlsService::new(
        ChatServer::new(ChatConfig::new(mode)),
        server(c, now),
        clock_at(now, NOW_UNIX),
    )
}

fn tls_pair(
    c: &Certs,
    mode: ChatMode,
    name: &str,
    unix: u64,
    step: usize,
) -> Pair<TlsSession<ChatClient>, Chat> {
    let now = Instant::now();
    let service = chat_tls(c, mode, now);
    Pair::over(
        session(&c.ca, name, unix, now),
        ServicePump::new(service, now),
        step,
    )
}

fn lines(got: &[TlsClientEvent<ClientEvent>]) -> Vec<String> {
    got.iter()
        .filter_map(|e| match e {
            TlsClientEvent::Inner(ClientEvent::Line(l)) => Some(l.clone()),
            _ => None,
        })
        .collect()
}

#[test]
fn a_chat_line_goes_through_and_the_close_is_clean() {
    let c = certs();
    let mut pair = tls_pair(&c, ChatMode::Echo, "localhost", NOW_UNIX, usize::MAX);
    assert!(matches!(
        pair.got.first(),
        Some(TlsClientEvent::Established(info)) if info.version == "TLS 1.3"
            && info.sni.as_deref() == Some("localhost")
    ));
    pair.client.inner_mut().send_line("ping").unwrap();
    pair.client.inner_mut().finish();
    pair.run();
    assert_eq!(lines(&pair.got), ["Eco=>ping"]);
    assert!(pair.client.is_closed(), "{:?}", pair.got);
    // The server saw the close_notify as a clean EOF, not a lost peer.
    let events = pair.server.take_events();
    assert!(events.iter().any(|e| matches!(
        e,
        TlsEvent::Established { info, .. } if info.sni.as_deref() == Some("localhost")
    )));
    assert!(
        events.iter().any(|e| matches!(
            e,
            TlsEvent::Inner(ChatEvent::Disconnected {
                reason: CloseReason::PeerClosed,
                ..
            })
        )),
        "{events:?}"
    );
    assert_eq!(pair.server.ended(1), Some(Ended::Closed));
}

#[test]
fn an_ip_address_name_is_checked_too() {
    let c = certs();
    let pair = tls_pair(&c, ChatMode::Echo, "127.0.0.1", NOW_UNIX, 7);
    assert!(matches!(
        pair.got.first(),
        Some(TlsClientEvent::Established(_))
    ));
}

fn failure(pair: &Pair<TlsSession<ChatClient>, Chat>) -> TlsError {
    pair.got
        .iter()
        .find_map(|e| match e {
            TlsClientEvent::Failed(e) => Some(e.clone()),
            _ => None,
        })
        .unwrap_or_else(|| panic!("no failure in {:?}", pair.got))
}

#[test]
fn a_wrong_name_an_expired_or_early_certificate_and_a_wrong_ca_fail_on_both_sides() {
    let c = certs();
    let cases: [(&str, u64, &str); 3] = [
        ("example.org", NOW_UNIX, "not valid for name"),
        ("localhost", NOW_UNIX + 400 * DAY, "expired"),
        ("localhost", NOW_UNIX - 300 * DAY, "not valid yet"),
    ];
    for (name, unix, says) in cases {
        let mut pair = tls_pair(&c, ChatMode::Echo, name, unix, usize::MAX);
        let err = failure(&pair);
        assert!(matches!(err, TlsError::BadCertificate(_)), "{err:?}");
        assert!(err.to_string().contains(says), "{err} lacks {says:?}");
        assert!(pair.client.is_closed());
        // The server got the client's alert and never told the chat.
        let events = pair.server.take_events();
        assert!(
            events.iter().any(|e| matches!(
                e,
                TlsEvent::Failed {
                    error: TlsError::Refused(_),
                    ..
                }
            )),
            "{events:?}"
        );
        assert!(!events.iter().any(|e| matches!(e, TlsEvent::Inner(_))));
        assert_eq!(pair.server.service.connections(), 0);
    }
    let other = certs();
    let now = Instant::now();
    let session = session(&other.ca, "localhost", NOW_UNIX, now);
    let service = chat_tls(&c, ChatMode::Echo, now);
    let pair = Pair::over(session, ServicePump::new(service, now), usize::MAX);
    // Both CAs bear the same name: the signature gives the wrong one away.
    let err = failure(&pair);
    assert!(matches!(err, TlsError::BadCertificate(_)), "{err:?}");
}

fn tls_service(c: &Certs, now: Instant) -> ServicePump<Chat> {
    ServicePump::new(chat_tls(c, ChatMode::Echo, now), now)
}

fn failed_with(pump: &mut ServicePump<Chat>) -> TlsError {
    pump.take_events()
        .into_iter()
        .find_map(|e| match e {
            TlsEvent::Failed { error, .. } => Some(error),
            _ => None,
        })
        .expect("a failure event")
}

#[test]
fn plaintext_http_gets_a_plaintext_400_and_garbage_is_not_tls() {
    let c = certs();
    let mut pump = tls_service(&c, Instant::now());
    pump.connect(1);
    pump.send(1, "GET / HTTP/1.1\r\nHost: x\r\n\r\n");
    let answer = pump.take_text(1);
    assert!(
        answer.starts_with("HTTP/1.1 400 Bad Request\r\n"),
        "{answer}"
    );
    assert!(answer.contains("This port speaks TLS"));
    assert_eq!(pump.ended(1), Some(Ended::Closed));
    assert_eq!(failed_with(&mut pump), TlsError::PlainHttp);

    pump.connect(2);
    pump.send(2, "hello\n");
    assert_eq!(failed_with(&mut pump), TlsError::NotTls(b'h'));
    assert_eq!(pump.ended(2), Some(Ended::Closed));
    assert_eq!(pump.service.connections(), 0);
}

#[test]
fn a_slow_or_cut_handshake_is_closed_and_others_are_served() {
    let c = certs();
    let now = Instant::now();
    let mut pump = tls_service(&c, now);
    pump.connect(1);
    pump.advance(HANDSHAKE_TIMEOUT + Duration::from_millis(1));
    assert_eq!(failed_with(&mut pump), TlsError::HandshakeTimeout);
    assert_eq!(pump.ended(1), Some(Ended::Closed));

    // Half a ClientHello, then EOF.
    let mut session = session(&c.ca, "localhost", NOW_UNIX, pump.now);
    let mut hello = Vec::new();
    session.poll_transmit(&mut hello);
    pump.connect(2);
    pump.send(2, &hello[..hello.len() / 2]);
    pump.eof(2);
    assert_eq!(failed_with(&mut pump), TlsError::HandshakeCut);
    assert_eq!(pump.ended(2), Some(Ended::Closed));
    assert_eq!(pump.service.connections(), 0);
}

#[test]
fn a_stream_cut_without_close_notify_is_a_lost_connection() {
    let c = certs();
    let mut pair = tls_pair(&c, ChatMode::Echo, "localhost", NOW_UNIX, usize::MAX);
    pair.client.inner_mut().send_line("ping").unwrap();
    pair.run();
    // TCP EOF with no close_notify.
    pair.server.eof(1);
    let events = pair.server.take_events();
    assert!(
        events.iter().any(|e| matches!(
            e,
            TlsEvent::Inner(ChatEvent::Disconnected {
                reason: CloseReason::Lost(why),
                ..
            }) if why.contains("close_notify")
        )),
        "{events:?}"
    );
}

#[test]
fn the_server_closes_with_close_notify_and_the_client_sees_eof() {
    let c = certs();
    let mut pair = tls_pair(&c, ChatMode::Echo, "localhost", NOW_UNIX, usize::MAX);
    pair.server.shutdown();
    pair.run();
    assert!(
        pair.got
            .iter()
            .any(|e| matches!(e, TlsClientEvent::Inner(ClientEvent::Closed(None)))),
        "{:?}",
        pair.got
    );
    assert!(!pair
        .got
        .iter()
        .any(|e| matches!(e, TlsClientEvent::Failed(_))));
}

/// The room over TLS, bytes cut at `step`, says what it says in clear.
fn room_transcript(tls: Option<&Certs>, lines_in: &[String], step: usize) -> Vec<String> {
    let now = Instant::now();
    let cfg = ChatConfig::new(ChatMode::Echo);
    let mut client = ChatClient::default();
    for l in lines_in {
        client.send_line(l).unwrap();
    }
    client.finish();
    match tls {
        None => {
            let mut pair = Pair::over(client, ServicePump::new(ChatServer::new(cfg), now), step);
            pair.run();
            pair.got
                .iter()
                .filter_map(|e| match e {
                    ClientEvent::Line(l) => Some(l.clone()),
                    _ => None,
                })
                .collect()
        }
        Some(c) => {
            let session = session_of(client, &c.ca, "localhost", NOW_UNIX, now);
            let service = chat_tls(c, ChatMode::Echo, now);
            let mut pair = Pair::over(session, ServicePump::new(service, now), step);
            pair.run();
            assert!(pair.client.is_closed(), "{:?}", pair.got);
            lines(&pair.got)
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(24))]
    #[test]
    fn tls_says_what_plaintext_says_at_any_split(
        input in proptest::collection::vec("[a-zA-Z0-9 çã]{0,300}", 1..12),
        step in 1usize..3000,
    ) {
        static CERTS: std::sync::OnceLock<Certs> = std::sync::OnceLock::new();
        let c = CERTS.get_or_init(certs);
        let clear = room_transcript(None, &input, step);
        let tls = room_transcript(Some(c), &input, step);
        prop_assert_eq!(clear, tls);
    }
}

#[test]
fn a_big_reply_is_taken_in_bounded_steps() {
    // The driver takes at most 100 bytes per transmit: ciphertext and
    // plaintext still come out whole and in order.
    let c = certs();
    let now = Instant::now();
    let service = chat_tls(&c, ChatMode::Echo, now);
    let session = session(&c.ca, "localhost", NOW_UNIX, now);
    let mut pair = Pair::over(
        session,
        ServicePump::new(service, now).with_max_transmit(100),
        usize::MAX,
    );
    let long = "x".repeat(40_000);
    pair.client.inner_mut().send_line(&long).unwrap();
    pair.run();
    assert_eq!(lines(&pair.got), [format!("Eco=>{long}")]);
    assert!(pair.server.service.is_open(ConnId(1)));
}

#[test]
fn the_fuzz_entry_takes_garbage_and_a_real_client_hello() {
    let now = Instant::now();
    commlab_core::fuzzing::tls_service(
        b"\x00hello\xff\x16\x03\x01\x00\x05abcde\xff\x0f\xff\x13",
        now,
    );
    // A real ClientHello for localhost, then time out.
    let c = certs();
    let mut session = session(&c.ca, "localhost", NOW_UNIX, now);
    let mut hello = vec![1u8];
    session.poll_transmit(&mut hello);
    commlab_core::fuzzing::tls_service(&hello, now);
}

#[test]
fn a_connection_the_inner_service_dials_passes_in_clear() {
    use commlab_core::testing::{peer, Dialer, DialerEvent};
    use commlab_core::{Flow, Readiness};
    let now = Instant::now();
    let c = certs();
    let mut tls = TlsService::new(
        Dialer::new(peer(9)),
        server(&c, now),
        clock_at(now, NOW_UNIX),
    );
    let dial = tls.poll_dial().expect("the inner service's dial");
    tls.handle_dialed(now, dial.token, ConnId(5), dial.addr);
    assert_eq!(tls.poll_ready(), Some((ConnId(5), Readiness::Send)));
    let mut out = Vec::new();
    assert_eq!(tls.poll_transmit(ConnId(5), &mut out, 1024), Flow::Open);
    assert_eq!(out, b"hello\n", "plaintext, no TLS record");
    tls.handle_input(now, ConnId(5), b"back\n");
    let events: Vec<_> = std::iter::from_fn(|| tls.poll_event()).collect();
    assert_eq!(
        events,
        [
            TlsEvent::Inner(DialerEvent::Dialed(ConnId(5))),
            TlsEvent::Inner(DialerEvent::Line("back".into()))
        ]
    );
    assert!(tls.is_open(ConnId(5)));
    assert_eq!(tls.connections(), 1);
}
