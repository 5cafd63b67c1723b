//! One scenario over loopback on both engines, and on three event loops of
//! the mio one: echo, chat, room, slow reader, long lines, idle clients.

mod common;

use std::io::Write;
use std::time::Duration;

use commlab_core::chat::{ChatConfig, ChatEvent, ChatMode, CloseReason, ConsoleError};
use commlab_core::ChatServer;
use common::*;

/// The operator's line in the 1:1 chat, as the command types it: on every
/// loop, the one holding the client sending it.
fn chat_line(server: &commlab::Server<ChatServer>, text: &str) -> Result<usize, ConsoleError> {
    let text = text.to_owned();
    let results = server
        .command_all(move |s, now| s.console_line(now, &text))
        .unwrap();
    let sent: Vec<usize> = results
        .iter()
        .filter_map(|r| r.as_ref().ok().copied())
        .collect();
    match sent.as_slice() {
        [n] => Ok(*n),
        [] => results
            .into_iter()
            .find(|r| *r != Err(ConsoleError::NoClient))
            .unwrap_or(Err(ConsoleError::NoClient)),
        _ => panic!("the line went out on {} loops", sent.len()),
    }
}

#[test]
fn echo_answers_every_line_on_both_engines() {
    for (engine, loops) in SETUPS {
        let (server, events) = start_on(engine, loops, ChatConfig::new(ChatMode::Echo));
        let mut c = LineConn::connect(server.local_addr());
        c.send("olá");
        c.expect("Eco=>olá");
        c.stream.write_all(b"crlf\r\nduas\nlinhas\n").unwrap();
        c.expect("Eco=>crlf");
        c.expect("Eco=>duas");
        c.expect("Eco=>linhas");
        let line = wait_event(&events, |e| match e {
            ChatEvent::Received { line, .. } => Some(line.clone()),
            _ => None,
        });
        assert_eq!(line, "olá", "engine {engine}");
        // The class's client.py sends without a newline, and is answered
        // without one.
        c.stream.write_all(b"sem fim").unwrap();
        c.expect_bytes("Eco=>sem fim");
        c.stream.shutdown(std::net::Shutdown::Write).unwrap();
        c.expect_eof();
        server.shutdown();
    }
}

#[test]
fn chat_is_full_duplex_and_the_client_speaks_first_on_both_engines() {
    for (engine, loops) in SETUPS {
        let (server, events) = start_on(engine, loops, ChatConfig::new(ChatMode::Chat));
        let mut c = LineConn::connect(server.local_addr());
        wait_event(&events, |e| {
            matches!(e, ChatEvent::Connected { .. }).then_some(())
        });
        let early = chat_line(&server, "cedo");
        assert_eq!(early, Err(ConsoleError::ClientFirst), "engine {engine}");
        c.send("oi");
        let got = wait_event(&events, |e| match e {
            ChatEvent::Received { line, .. } => Some(line.clone()),
            _ => None,
        });
        assert_eq!(got, "oi");
        // Both directions without waiting for each other.
        for i in 0..50 {
            chat_line(&server, &format!("op {i}")).unwrap();
            c.send(&format!("cli {i}"));
        }
        for i in 0..50 {
            c.expect(&format!("op {i}"));
        }
        for i in 0..50 {
            let got = wait_event(&events, |e| match e {
                ChatEvent::Received { line, .. } => Some(line.clone()),
                _ => None,
            });
            assert_eq!(got, format!("cli {i}"));
        }
        // The refused early line was never sent.
        c.stream.shutdown(std::net::Shutdown::Write).unwrap();
        c.expect_eof();
        server.shutdown();
    }
}

#[test]
fn room_fans_out_on_both_engines() {
    for (engine, loops) in SETUPS {
        let (server, events) = start_on(engine, loops, ChatConfig::new(ChatMode::Room));
        let addr = server.local_addr();
        let (first, mut a) = join_room(addr);
        let (_, mut b) = join_room(addr);
        let (third, mut c) = join_room(addr);
        a.send("/nick ana");
        a.expect_after_notices(&format!("* {first} is now ana"));
        b.send("/nick bia");
        a.send("olá");
        assert_eq!(b.recv_message().as_deref(), Some("ana: olá"));
        assert_eq!(c.recv_message().as_deref(), Some("ana: olá"));
        // Typed on the first loop; its batch reaches the others.
        let sent = server
            .command(|s, now| s.console_line(now, "aviso"))
            .unwrap();
        if loops == 1 {
            assert_eq!(sent, Ok(3));
        } else {
            assert!(sent.is_ok(), "{sent:?}");
        }
        for conn in [&mut a, &mut b, &mut c] {
            assert_eq!(conn.recv_message().as_deref(), Some("server: aviso"));
        }

        c.send("/quit");
        // bia's rename may still be in flight: it races ana's line.
        c.expect_after_notices("* bye");
        c.expect_eof();
        // A client that just vanishes is reported and announced.
        drop(b);
        a.expect_after_notices("* bia left");
        let (nick, reason) = wait_event(&events, |e| match e {
            ChatEvent::Disconnected { nick, reason, .. } if *nick != third => {
                Some((nick.clone(), reason.clone()))
            }
            _ => None,
        });
        // Unread input makes the kernel reset the socket: either way it is reported.
        assert_eq!(nick, "bia");
        assert!(
            matches!(reason, CloseReason::PeerClosed | CloseReason::Lost(_)),
            "{reason:?}"
        );
        server.shutdown();
        assert_eq!(a.recv_message(), None, "engine {engine}");
    }
}

#[test]
fn a_slow_reader_is_dropped_and_the_server_stays_bounded_on_both_engines() {
    for (engine, loops) in SETUPS {
        let mut cfg = ChatConfig::new(ChatMode::Room);
        cfg.max_backlog = 64 * 1024;
        let (server, events) = start_on(engine, loops, cfg);
        let addr = server.local_addr();
        // The deaf client connects and never reads.
        let deaf = LineConn::connect(addr);
        let (me, mut talker) = join_room(addr);
        let line = "z".repeat(60_000);
        let mut dropped = None;
        // Loopback buffers hold a few MiB; 40 MiB is far past them plus the cap.
        for _ in 0..700 {
            talker.send(&line);
            if let Ok(ChatEvent::Disconnected { reason, .. }) = events.try_recv() {
                dropped = Some(reason);
                break;
            }
        }
        let reason = dropped.unwrap_or_else(|| {
            wait_event(&events, |e| match e {
                ChatEvent::Disconnected { reason, .. } => Some(reason.clone()),
                _ => None,
            })
        });
        assert!(
            matches!(reason, CloseReason::SlowReader(o) if o.cap == 64 * 1024),
            "engine {engine}: {reason:?}"
        );
        // The talker is still served.
        talker.send("/who");
        let who = loop {
            let l = talker.recv().unwrap();
            if l.starts_with("* 1 online") {
                break l;
            }
        };
        assert_eq!(who, format!("* 1 online: {me}"));
        drop(deaf);
        server.shutdown();
    }
}

#[test]
fn a_line_over_64_kib_gets_an_error_and_a_close_on_both_engines() {
    for (engine, loops) in SETUPS {
        let (server, _events) = start_on(engine, loops, ChatConfig::new(ChatMode::Echo));
        let mut c = LineConn::connect(server.local_addr());
        c.stream.write_all(&vec![b'x'; 70 * 1024]).unwrap();
        let err = c.recv().unwrap();
        assert_eq!(
            err,
            "error: line 1 is longer than the limit of 65536 bytes; closing the connection"
        );
        c.expect_eof();
        server.shutdown();
    }
}

#[test]
fn idle_clients_are_disconnected_on_both_engines() {
    for (engine, loops) in SETUPS {
        let mut cfg = ChatConfig::new(ChatMode::Echo);
        cfg.idle_timeout = Some(Duration::from_millis(300));
        let (server, _events) = start_on(engine, loops, cfg);
        let mut c = LineConn::connect(server.local_addr());
        c.expect("error: idle for 300 ms; closing the connection");
        c.expect_eof();
        server.shutdown();
    }
}
