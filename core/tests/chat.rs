//! Chat rules on an in-memory harness: no sockets, a virtual clock.

#![allow(clippy::disallowed_methods)] // tests may read the clock to seed a virtual one

use std::collections::HashMap;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::time::{Duration, Instant};

use commlab_core::chat::{ChatConfig, ChatEvent, ChatMode, ChatServer, CloseReason, ConsoleError};
use commlab_core::testing::{Ended, ServicePump};
use commlab_core::{ConnId, Readiness, Service};

/// The chat server on the test kit's pump.
type Harness = ServicePump<ChatServer>;

fn harness(cfg: ChatConfig) -> Harness {
    ServicePump::new(ChatServer::new(cfg), Instant::now())
}

fn harness_mode(mode: ChatMode) -> Harness {
    harness(ChatConfig::new(mode))
}

#[test]
fn echo_answers_eco() {
    let mut h = harness_mode(ChatMode::Echo);
    h.connect(1);
    h.send(1, "Olá\r\nsegunda\n");
    assert_eq!(h.take_text(1), "Eco=>Olá\nEco=>segunda\n");
    assert!(matches!(
        &h.events[0],
        ChatEvent::Connected {
            conn: ConnId(1),
            ..
        }
    ));
    assert!(matches!(&h.events[1], ChatEvent::Received { line, .. } if line == "Olá"));
    assert_eq!(
        h.service.console_line(h.now, "x"),
        Err(ConsoleError::EchoMode)
    );
}

#[test]
fn echo_answers_the_class_client_without_newline_after_quiet_period() {
    let mut h = harness_mode(ChatMode::Echo);
    h.connect(1);
    h.send(1, "sem newline");
    assert_eq!(h.take_text(1), "");
    h.advance(commlab_core::QUIET_FLUSH);
    // Answered the way it spoke: no newline, as the class's server answers.
    assert_eq!(h.take_text(1), "Eco=>sem newline");
    // A line with a newline gets one back.
    h.send(1, "com newline\n");
    assert_eq!(h.take_text(1), "Eco=>com newline\n");
}

#[test]
fn chat_mode_answers_a_newline_less_client_without_newlines() {
    let mut h = harness_mode(ChatMode::Chat);
    h.connect(1);
    h.send(1, "Olá");
    h.advance(commlab_core::QUIET_FLUSH);
    h.service.console_line(h.now, "Oi, tudo bem?").unwrap();
    h.pump();
    assert_eq!(h.take_text(1), "Oi, tudo bem?");
    h.send(1, "agora com newline\n");
    h.service.console_line(h.now, "certo").unwrap();
    h.pump();
    assert_eq!(h.take_text(1), "certo\n");
}

#[test]
fn chat_client_speaks_first_then_full_duplex() {
    let mut h = harness_mode(ChatMode::Chat);
    assert_eq!(
        h.service.console_line(h.now, "cedo"),
        Err(ConsoleError::NoClient)
    );
    h.connect(1);
    assert_eq!(
        h.service.console_line(h.now, "cedo demais"),
        Err(ConsoleError::ClientFirst)
    );
    h.pump();
    assert_eq!(h.take_text(1), "", "a refused operator line is not sent");
    h.send(1, "oi servidor\n");
    assert!(h
        .events
        .iter()
        .any(|e| matches!(e, ChatEvent::Received { line, .. } if line == "oi servidor")));
    assert_eq!(h.service.console_line(h.now, "oi cliente"), Ok(1));
    assert_eq!(h.service.console_line(h.now, "tudo bem?"), Ok(1));
    h.pump();
    assert_eq!(h.take_text(1), "oi cliente\ntudo bem?\n");
    h.send(1, "sim\n");
    assert_eq!(
        h.service.console_line(h.now, "a\nb"),
        Err(ConsoleError::Line(commlab_core::LineError::EmbeddedNewline))
    );
}

#[test]
fn chat_mode_refuses_a_second_client_and_frees_the_seat_on_leave() {
    let mut h = harness_mode(ChatMode::Chat);
    h.connect(1);
    h.connect(2);
    assert!(h.take_text(2).starts_with("error: this server is chatting"));
    assert_eq!(h.ended(2), Some(Ended::Closed));
    assert!(h.events.iter().any(|e| matches!(
        e,
        ChatEvent::Refused {
            reason: CloseReason::Busy,
            ..
        }
    )));
    h.service.handle_eof(h.now, ConnId(1));
    h.pump();
    h.connect(3);
    h.send(3, "agora eu\n");
    assert_eq!(h.service.console_line(h.now, "bem-vindo"), Ok(1));
    h.pump();
    assert_eq!(h.take_text(3), "bem-vindo\n");
}

#[test]
fn room_fans_out_with_nicks_and_notices() {
    let mut h = harness_mode(ChatMode::Room);
    for id in 1..=3 {
        h.connect(id);
    }
    assert!(h.take_text(1).starts_with("* welcome, you are guest1"));
    h.send(1, "/nick ana\n");
    h.send(1, "olá a todos\n");
    let two = h.take_text(2);
    assert!(two.contains("* guest3 joined\n"), "{two}");
    assert!(
        two.ends_with("* guest1 is now ana\nana: olá a todos\n"),
        "{two}"
    );
    assert!(h.take_text(3).ends_with("ana: olá a todos\n"));
    assert!(
        !h.take_text(1).contains("ana: olá"),
        "the sender does not get its own line"
    );
    assert_eq!(h.service.console_line(h.now, "aviso"), Ok(3));
    h.pump();
    assert_eq!(h.take_text(2), "server: aviso\n");
    assert_eq!(h.take_text(1), "server: aviso\n");
    h.send(2, "/quit\n");
    assert_eq!(h.take_text(2), "* bye\n");
    assert!(h.ended(2).is_some());
    assert_eq!(h.take_text(1), "* guest2 left\n");
    assert_eq!(h.take_text(3), "server: aviso\n* guest2 left\n");
    h.send(3, "/nick ana\n");
    assert_eq!(h.take_text(3), "error: the name ana is taken\n");
    h.send(3, "/nick guest9\n");
    assert!(h.take_text(3).contains("reserved"));
    h.send(3, "/who\n");
    assert_eq!(h.take_text(3), "* 2 online: ana, guest3\n");
    h.send(3, "/dance\n");
    assert_eq!(h.take_text(3), "error: unknown command /dance; try /help\n");
}

#[test]
fn too_long_line_gets_an_error_and_a_close() {
    let mut cfg = ChatConfig::new(ChatMode::Echo);
    cfg.max_line = 16;
    let mut h = harness(cfg);
    h.connect(1);
    h.send(1, "x".repeat(40));
    let out = h.take_text(1);
    assert!(
        out.starts_with("error: line 1 is longer than the limit of 16 bytes"),
        "{out}"
    );
    assert_eq!(h.ended(1), Some(Ended::Closed));
    assert!(h.events.iter().any(|e| matches!(
        e,
        ChatEvent::Disconnected {
            reason: CloseReason::LineTooLong(_),
            ..
        }
    )));
}

#[test]
fn invalid_utf8_is_reported_and_the_client_stays() {
    let mut h = harness_mode(ChatMode::Echo);
    h.connect(1);
    h.service.handle_input(h.now, ConnId(1), b"\xc3\x28\nok\n");
    h.pump();
    assert_eq!(
        h.take_text(1),
        "error: line 1 is not valid UTF-8 (first bad byte at offset 0)\nEco=>ok\n"
    );
    assert!(h.ended(1).is_none());
}

#[test]
fn slow_reader_is_dropped_at_the_cap_and_others_are_told() {
    let mut cfg = ChatConfig::new(ChatMode::Room);
    cfg.max_backlog = 1000;
    let mut server = ChatServer::new(cfg);
    let now = Instant::now();
    let peer = SocketAddr::new(IpAddr::V4(Ipv4Addr::LOCALHOST), 1);
    server.handle_connect(now, ConnId(1), peer);
    server.handle_connect(now, ConnId(2), peer);
    // Client 1 never reads: nothing is polled for it while 2 talks.
    let line = format!("{}\n", "y".repeat(99));
    let mut dropped = None;
    for i in 0..20 {
        server.handle_input(now, ConnId(2), line.as_bytes());
        while let Some(e) = server.poll_event() {
            if let ChatEvent::Disconnected { conn, reason, .. } = e {
                dropped = Some((i, conn, reason));
            }
        }
    }
    let (at, conn, reason) = dropped.expect("the deaf client was dropped");
    assert_eq!(conn, ConnId(1));
    assert!(at < 12, "dropped after about 1000 bytes, not at line {at}");
    assert!(matches!(reason, CloseReason::SlowReader(o) if o.cap == 1000));
    assert!(reason.to_string().contains("stopped reading"));
    let mut abort = false;
    while let Some((c, r)) = server.poll_ready() {
        abort |= c == ConnId(1) && r == Readiness::Abort;
    }
    assert!(abort);
    assert_eq!(server.clients(), 1);
}

#[test]
fn a_renamed_slow_reader_is_dropped_by_its_name_and_leaves_the_room() {
    let mut cfg = ChatConfig::new(ChatMode::Room);
    cfg.max_backlog = 1000;
    cfg.notices = false;
    let mut h = harness(cfg);
    h.connect(1);
    h.send(1, "/nick deaf\n");
    h.connect(2);
    h.connect(3);
    h.events.clear();
    let line = format!("{}\n", "z".repeat(99));
    for _ in 0..20 {
        // 1 and 2 read nothing now; 3 talks.
        h.service.handle_input(h.now, ConnId(3), line.as_bytes());
        while let Some(e) = h.service.poll_event() {
            h.events.push(e);
        }
    }
    let gone: Vec<(u64, String)> = h
        .events
        .iter()
        .filter_map(|e| match e {
            ChatEvent::Disconnected {
                conn,
                nick,
                reason: CloseReason::SlowReader(_),
            } => Some((conn.0, nick.clone())),
            _ => None,
        })
        .collect();
    assert_eq!(gone.len(), 2, "{gone:?}");
    assert!(gone.contains(&(1, "deaf".to_owned())), "{gone:?}");
    assert_eq!(h.service.clients(), 1);
    h.pump();
    h.take_text(3);
    h.send(3, "/who\n");
    assert!(
        h.take_text(3).contains("1 online"),
        "the deaf nick is free again"
    );
}

#[test]
fn idle_clients_time_out_on_the_virtual_clock() {
    let mut cfg = ChatConfig::new(ChatMode::Room);
    cfg.idle_timeout = Some(Duration::from_secs(10));
    let mut h = harness(cfg);
    h.connect(1);
    h.connect(2);
    h.advance(Duration::from_secs(6));
    h.send(2, "ainda aqui\n");
    h.advance(Duration::from_secs(4));
    assert!(h.ended(1).is_some());
    assert!(h.ended(2).is_none());
    assert!(h
        .take_text(1)
        .ends_with("error: idle for 10 s; closing the connection\n"));
    assert_eq!(
        h.service.poll_timeout(),
        Some(h.now + Duration::from_secs(6))
    );
    h.advance(Duration::from_secs(6));
    assert!(h.ended(2).is_some());
    assert_eq!(h.service.poll_timeout(), None);
}

#[test]
fn shutdown_says_goodbye_and_closes_everyone() {
    let mut h = harness_mode(ChatMode::Room);
    h.connect(1);
    h.connect(2);
    h.take_text(1);
    h.service.handle_shutdown(h.now);
    h.pump();
    assert_eq!(h.take_text(1), "* server shutting down\n");
    assert!(h.ended(1).is_some() && h.ended(2).is_some());
    assert_eq!(h.service.connections(), 0);
}

#[test]
fn client_session_round_trip_with_server() {
    use commlab_core::{ChatClient, ClientEvent, Session};
    let mut h = harness_mode(ChatMode::Echo);
    h.connect(1);
    let mut client = ChatClient::default();
    client.send_line("ping").unwrap();
    let mut wire = Vec::new();
    client.poll_transmit(&mut wire);
    h.service.handle_input(h.now, ConnId(1), &wire);
    h.pump();
    client.handle_input(h.now, h.take_text(1).as_bytes());
    assert_eq!(
        client.poll_event(),
        Some(ClientEvent::Line("Eco=>ping".into()))
    );
    client.finish();
    assert!(client.wants_write_shutdown());
    assert!(client.send_line("late").is_err());
    client.handle_eof(h.now);
    assert_eq!(client.poll_event(), Some(ClientEvent::Closed(None)));
    assert!(client.is_closed());
}

#[test]
fn a_room_without_notices_sends_only_messages() {
    let mut cfg = ChatConfig::new(ChatMode::Room);
    cfg.notices = false;
    let mut h = harness(cfg);
    h.connect(1);
    h.connect(2);
    assert!(h.take_text(1).starts_with("* welcome, you are guest1"));
    h.take_text(2);
    h.send(2, "oi\n");
    assert_eq!(
        h.take_text(1),
        "guest2: oi\n",
        "no join notice before the message"
    );
    h.send(2, "/quit\n");
    assert_eq!(h.take_text(1), "", "no leave notice");
}

#[test]
fn client_reports_lines_bad_lines_a_partial_last_line_then_closed() {
    use commlab_core::{ChatClient, ClientEvent, LineError, Session};
    let now = Instant::now();
    let mut client = ChatClient::new(16, None);
    client.handle_input(now, b"oi\r\n\xff\xfe\ntchau\nsem fim");
    client.handle_eof(now);
    assert!(
        !client.is_closed(),
        "closed only once its last event is read"
    );
    assert_eq!(client.poll_event_ref(), Some(ClientEvent::Line("oi")));
    assert!(matches!(
        client.poll_event_ref(),
        Some(ClientEvent::BadLine(LineError::InvalidUtf8 { line: 2, .. }))
    ));
    assert_eq!(client.poll_event(), Some(ClientEvent::Line("tchau".into())));
    assert_eq!(client.poll_event_ref(), Some(ClientEvent::Line("sem fim")));
    assert_eq!(client.poll_event_ref(), Some(ClientEvent::Closed(None)));
    assert!(client.is_closed());
    assert_eq!(client.poll_event_ref(), None);
    assert!(client.send_line("late").is_err());
}

#[test]
fn client_closes_on_a_line_over_its_limit_and_drops_unsent_output() {
    use commlab_core::{ChatClient, ClientEvent, LineError, Session};
    let now = Instant::now();
    let mut client = ChatClient::new(4, None);
    client.send_line("oi").unwrap();
    client.handle_input(now, b"ok\nlonger than four\nnever read\n");
    assert_eq!(client.poll_event(), Some(ClientEvent::Line("ok".into())));
    assert_eq!(
        client.poll_event(),
        Some(ClientEvent::Closed(Some(LineError::TooLong {
            line: 2,
            limit: 4
        })))
    );
    assert!(client.is_closed());
    assert_eq!(client.poll_event(), None);
    let mut wire = Vec::new();
    client.poll_transmit(&mut wire);
    assert!(wire.is_empty(), "output of a closed session is dropped");
}

proptest::proptest! {
    /// Decoding when polled gives the same events whether the client is
    /// polled after every piece (borrowed lines) or once at the end (owned).
    #[test]
    fn client_events_do_not_depend_on_when_it_is_polled(
        bytes in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..300),
        cuts in proptest::collection::vec(0usize..300, 0..6),
        max in 1usize..24,
    ) {
        use commlab_core::{ChatClient, ClientEvent, Session};
        let now = Instant::now();
        let mut eager = ChatClient::new(max, None);
        let mut lazy = ChatClient::new(max, None);
        let mut got_eager = Vec::new();
        let mut cuts: Vec<usize> = cuts.into_iter().map(|c| c.min(bytes.len())).collect();
        cuts.sort_unstable();
        let mut at = 0;
        for cut in cuts.into_iter().chain([bytes.len()]) {
            eager.handle_input(now, &bytes[at..cut]);
            lazy.handle_input(now, &bytes[at..cut]);
            at = cut;
            while let Some(e) = eager.poll_event_ref() {
                got_eager.push(e.into_owned());
            }
        }
        eager.handle_eof(now);
        lazy.handle_eof(now);
        while let Some(e) = eager.poll_event_ref() {
            got_eager.push(e.into_owned());
        }
        let got_lazy: Vec<ClientEvent> = std::iter::from_fn(|| lazy.poll_event()).collect();
        proptest::prop_assert_eq!(&got_eager, &got_lazy);
        proptest::prop_assert!(matches!(got_lazy.last(), Some(ClientEvent::Closed(_))));
        proptest::prop_assert!(eager.is_closed() && lazy.is_closed());
    }
}

/// One step of a room's life, for the model test below.
#[derive(Debug, Clone)]
enum RoomStep {
    Join,
    /// Client (index among those who joined) sends this many lines in one read.
    Say(usize, usize),
    Who(usize),
    Leave(usize),
    Pump,
}

fn room_step() -> impl proptest::strategy::Strategy<Value = RoomStep> {
    use proptest::prelude::*;
    prop_oneof![
        1 => Just(RoomStep::Join),
        4 => (0usize..6, 1usize..4).prop_map(|(c, n)| RoomStep::Say(c, n)),
        1 => (0usize..6).prop_map(RoomStep::Who),
        1 => (0usize..6).prop_map(RoomStep::Leave),
        2 => Just(RoomStep::Pump),
    ]
}

proptest::proptest! {
    /// Every room line and notice reaches every other client open when the
    /// server took it, once, in the order the server took them; nobody gets
    /// what came before it joined or after it left (checked against a model,
    /// with output taken at arbitrary points).
    #[test]
    fn room_lines_and_notices_follow_the_order_of_arrival(
        steps in proptest::collection::vec(room_step(), 1..60),
    ) {
        let mut h = harness_mode(ChatMode::Room);
        let mut joined: Vec<u64> = Vec::new();
        let mut open: Vec<u64> = Vec::new();
        let mut want: HashMap<u64, String> = HashMap::new();
        let mut got: HashMap<u64, String> = HashMap::new();
        let mut said = 0;
        let collect = |h: &mut Harness, got: &mut HashMap<u64, String>| {
            h.pump();
            for (id, out) in h.take_all() {
                got.entry(id).or_default().push_str(&String::from_utf8(out).unwrap());
            }
        };
        for step in steps {
            match step {
                RoomStep::Join => {
                    let id = joined.len() as u64 + 1;
                    for other in &open {
                        want.entry(*other).or_default().push_str(&format!("* guest{id} joined\n"));
                    }
                    h.service.handle_connect(h.now, ConnId(id), SocketAddr::new(IpAddr::V4(Ipv4Addr::LOCALHOST), 1));
                    joined.push(id);
                    open.push(id);
                }
                RoomStep::Say(c, n) => {
                    let Some(&id) = joined.get(c) else { continue };
                    let mut input = String::new();
                    for _ in 0..n {
                        said += 1;
                        input.push_str(&format!("L {said}\n"));
                        if open.contains(&id) {
                            for other in open.iter().filter(|&&o| o != id) {
                                want.entry(*other).or_default().push_str(&format!("guest{id}: L {said}\n"));
                            }
                        }
                    }
                    h.service.handle_input(h.now, ConnId(id), input.as_bytes());
                }
                RoomStep::Who(c) => {
                    let Some(&id) = joined.get(c) else { continue };
                    h.service.handle_input(h.now, ConnId(id), b"/who\n");
                }
                RoomStep::Leave(c) => {
                    let Some(&id) = joined.get(c) else { continue };
                    if open.contains(&id) {
                        open.retain(|&o| o != id);
                        for other in &open {
                            want.entry(*other).or_default().push_str(&format!("* guest{id} left\n"));
                        }
                    }
                    h.service.handle_eof(h.now, ConnId(id));
                }
                RoomStep::Pump => collect(&mut h, &mut got),
            }
        }
        collect(&mut h, &mut got);
        for id in joined {
            // Only what the room relays: messages and join/leave notices.
            let relayed: String = got
                .get(&id)
                .map(|text| {
                    text.lines()
                        .filter(|l| l.starts_with("guest") || l.ends_with(" joined") || l.ends_with(" left"))
                        .map(|l| format!("{l}\n"))
                        .collect()
                })
                .unwrap_or_default();
            proptest::prop_assert_eq!(&relayed, want.get(&id).map_or("", String::as_str), "client {}", id);
        }
    }
}

#[test]
fn the_welcome_line_gives_back_the_name() {
    use commlab_core::chat::{welcome_line, welcomed_nick};
    assert_eq!(welcomed_nick(&welcome_line("guest7")), Some("guest7"));
    assert_eq!(welcomed_nick("* guest7 joined"), None);
}
