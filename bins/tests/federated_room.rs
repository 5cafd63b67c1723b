//! The federated room end to end: `commlab chat server --mode room
//! --nats ...` processes on both engines linked through Debian's
//! `nats-server`, raw line clients (what `nc` is), and a fake broker
//! written here for the faults a real one does not make.
//!
//! Needs `nats-server` (`apt-get install nats-server`; `.ci/run` installs it).

mod common;

use std::collections::HashMap;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::time::{Duration, Instant};

use commlab_core::chat::federation::{Outbound, RoomUpdate};
use common::nats::{broker, broker_on, need_nats_server};
use common::process::{free_port, Proc};
use common::{LineConn, TIMEOUT};

/// A federated room server with id `id` on `engine`, once linked (or,
/// `linked` false, once started).
fn room_server(id: &str, engine: &str, nats: &str, linked: bool) -> (Proc, SocketAddr) {
    let (p, addr) = Proc::commlab_server(&[
        "chat",
        "server",
        "--mode",
        "room",
        "--nats",
        nats,
        "--server-id",
        id,
        "--engine",
        engine,
        "--quiet",
    ]);
    if linked {
        p.wait_err("linked to the broker");
    }
    (p, addr)
}

/// Connects and reads the welcome line: the connection and its name.
fn join(addr: SocketAddr) -> (LineConn, String) {
    let mut c = LineConn::connect(addr);
    let welcome = c.recv().expect("a welcome line");
    let nick = commlab_core::chat::welcomed_nick(&welcome)
        .unwrap_or_else(|| panic!("not a welcome: {welcome:?}"))
        .to_owned();
    (c, nick)
}

/// Reads lines until one satisfies `pick`, within `wait`.
fn until(c: &mut LineConn, what: &str, mut pick: impl FnMut(&str) -> bool) -> String {
    loop {
        let line = c.recv().unwrap_or_else(|| panic!("EOF before {what}"));
        if pick(&line) {
            return line;
        }
    }
}

#[test]
#[ignore = "needs nats-server (apt-get install nats-server); .ci/run installs it"]
fn three_servers_fifty_clients_each_every_line_once_in_order_and_who_lists_all() {
    const PER_SERVER: usize = 50;
    const LINES: usize = 10;
    let (_broker, port) = broker();
    let nats = format!("nats://127.0.0.1:{port}");
    let servers: Vec<(Proc, SocketAddr)> = [("a", "std"), ("b", "mio"), ("c", "std")]
        .iter()
        .map(|(id, engine)| room_server(id, engine, &nats, true))
        .collect();
    // Server by server, so the first clients hear every later join.
    let mut clients = Vec::new();
    for (_, addr) in &servers {
        for _ in 0..PER_SERVER {
            clients.push(join(*addr));
        }
    }
    let total = clients.len();
    let nicks: Vec<String> = clients.iter().map(|(_, n)| n.clone()).collect();
    for (c, nick) in &mut clients {
        for k in 0..LINES {
            c.send(&format!("m {nick} {k}"));
        }
    }
    // Every client reads until it has every other client's lines.
    let readers: Vec<_> = clients
        .into_iter()
        .map(|(mut c, nick)| {
            std::thread::spawn(move || {
                let mut got: HashMap<String, Vec<usize>> = HashMap::new();
                let mut notices = Vec::new();
                let want = (total - 1) * LINES;
                let mut n = 0;
                while n < want {
                    let line = c.recv().unwrap_or_else(|| panic!("{nick}: EOF after {n}"));
                    if line.starts_with("* ") {
                        notices.push(line);
                        continue;
                    }
                    let (from, text) = line.split_once(": ").expect("nick: line");
                    let (sender, k) = text
                        .strip_prefix("m ")
                        .and_then(|t| t.rsplit_once(' '))
                        .unwrap_or_else(|| panic!("{nick}: odd line {line:?}"));
                    assert_eq!(from, sender, "{nick}: {line:?}");
                    assert_ne!(sender, nick, "{nick} got its own line");
                    got.entry(sender.to_owned())
                        .or_default()
                        .push(k.parse().unwrap());
                    n += 1;
                }
                (c, nick, got, notices)
            })
        })
        .collect();
    let mut done = Vec::new();
    for r in readers {
        done.push(r.join().expect("a reader failed"));
    }
    let in_order: Vec<usize> = (0..LINES).collect();
    for (_, nick, got, _) in &done {
        assert_eq!(got.len(), total - 1, "{nick} heard {} senders", got.len());
        for (sender, ks) in got {
            assert_eq!(ks, &in_order, "{nick} got {sender}'s lines as {ks:?}");
        }
    }
    // The first client on a heard every client of b and c join.
    let first_notices = &done[0].3;
    for nick in &nicks[PER_SERVER..] {
        let joined = format!("* {nick} joined");
        assert!(
            first_notices.contains(&joined),
            "{} missed {joined:?}",
            done[0].1
        );
    }
    // /who lists all 150 names.
    let (c, _, _, _) = &mut done[0];
    c.send("/who");
    let who = until(c, "/who's answer", |l| l.contains(" online: "));
    let prefix = format!("* {total} online: ");
    let list = who
        .strip_prefix(&prefix)
        .unwrap_or_else(|| panic!("{who:?}"));
    let mut listed: Vec<&str> = list.split(", ").collect();
    listed.sort_unstable();
    let mut all: Vec<&str> = nicks.iter().map(String::as_str).collect();
    all.sort_unstable();
    assert_eq!(listed, all);
    // A leave on c reaches a.
    let (leaver, leaver_nick, _, _) = done.pop().unwrap();
    drop(leaver);
    let left = format!("* {leaver_nick} left");
    until(&mut done[0].0, &left, |l| l == left);
}

#[test]
#[ignore = "needs nats-server (apt-get install nats-server); .ci/run installs it"]
fn a_broker_that_dies_leaves_local_rooms_working_and_the_federation_resumes_within_6_s() {
    let (broker, port) = broker();
    let nats = format!("nats://127.0.0.1:{port}");
    let (_a, a_addr) = room_server("a", "mio", &nats, true);
    let (_b, b_addr) = room_server("b", "std", &nats, true);
    let (mut a1, a1_nick) = join(a_addr);
    let (mut a2, _) = join(a_addr);
    let (mut b1, _) = join(b_addr);
    a1.send("antes");
    let from_a1 = format!("{a1_nick}: antes");
    until(&mut b1, "antes", |l| l == from_a1);

    drop(broker);
    for c in [&mut a1, &mut a2, &mut b1] {
        until(c, "the lost notice", |l| {
            l == "* link to the other servers lost"
        });
    }
    a1.send("durante");
    let during = format!("{a1_nick}: durante");
    until(&mut a2, "durante", |l| l == during);

    let _broker = broker_on(port);
    let back = Instant::now();
    for c in [&mut a1, &mut b1] {
        until(c, "linked again", |l| l == "* linked again");
    }
    let took = back.elapsed();
    assert!(
        took <= Duration::from_secs(6),
        "the federation took {took:?} to resume"
    );
    // Once b has synced with a again, a's next line crosses; the one
    // from the outage is not replayed.
    b1.send("/who");
    let who = until(&mut b1, "who", |l| l.contains(" online: "));
    assert!(who.starts_with("* 3 online: "), "{who}");
    a1.send("depois");
    let next = b1.recv_message();
    assert_eq!(next, Some(format!("{a1_nick}: depois")));
}

#[test]
#[ignore = "needs nats-server (apt-get install nats-server); .ci/run installs it"]
fn a_server_started_before_the_broker_serves_locally_then_links() {
    need_nats_server();
    let port = free_port();
    let nats = format!("127.0.0.1:{port}");
    let (a, a_addr) = room_server("a", "std", &nats, false);
    let (b, b_addr) = room_server("b", "mio", &nats, false);
    for s in [&a, &b] {
        s.wait_err("serving as a local room until it answers");
    }
    let (mut a1, a1_nick) = join(a_addr);
    let (mut a2, _) = join(a_addr);
    a1.send("só aqui");
    let local = format!("{a1_nick}: só aqui");
    until(&mut a2, "the local line", |l| l == local);

    let _broker = broker_on(port);
    for s in [&a, &b] {
        s.wait_err("linked to the broker");
    }
    until(&mut a1, "linked", |l| l == "* linked to the other servers");
    let (mut b1, _) = join(b_addr);
    a1.send("agora junto");
    let crossed = format!("{a1_nick}: agora junto");
    until(&mut b1, "the crossed line", |l| l == crossed);
}

/// The fake broker's side of one connection: `INFO`, then the client's
/// `CONNECT`, `SUB`s and `PING` answered; returns the stream and the sid
/// of the room's subscription.
fn fake_handshake(listener: &TcpListener) -> (TcpStream, BufReader<TcpStream>, String) {
    let (mut s, _) = listener.accept().expect("the server dials the fake broker");
    s.set_read_timeout(Some(TIMEOUT)).unwrap();
    s.write_all(b"INFO {\"server_id\":\"FAKE\",\"server_name\":\"fake\",\"max_payload\":4096}\r\n")
        .unwrap();
    let mut r = BufReader::new(s.try_clone().unwrap());
    let mut sid = None;
    loop {
        let mut line = String::new();
        assert!(r.read_line(&mut line).unwrap() > 0, "EOF in the handshake");
        if let Some(rest) = line.strip_prefix("SUB commlab.room.geral ") {
            sid = Some(rest.trim().to_owned());
        }
        if line == "PING\r\n" {
            break;
        }
    }
    s.write_all(b"PONG\r\n").unwrap();
    (s, r, sid.expect("a SUB on the room's subject"))
}

fn msg(sid: &str, payload: &[u8]) -> Vec<u8> {
    let mut m = format!("MSG commlab.room.geral {sid} {}\r\n", payload.len()).into_bytes();
    m.extend_from_slice(payload);
    m.extend_from_slice(b"\r\n");
    m
}

/// Reads until the server closes the fake broker's connection.
fn closed(r: &mut BufReader<TcpStream>) {
    let mut sink = Vec::new();
    let _ = r.read_to_end(&mut sink);
}

#[test]
fn a_fake_broker_s_forgeries_garbage_and_oversized_messages_never_reach_clients() {
    for engine in ["std", "mio"] {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let nats = listener.local_addr().unwrap().to_string();
        let (server, addr) = Proc::commlab_server(&[
            "chat",
            "server",
            "--mode",
            "room",
            "--nats",
            &nats,
            "--room",
            "geral",
            "--server-id",
            "a",
            "--engine",
            engine,
        ]);
        let (mut s, mut r, sid) = fake_handshake(&listener);
        server.wait_err("linked to the broker fake");
        let (mut c1, c1_nick) = join(addr);
        let (mut c2, _) = join(addr);
        let line = |nick: &str, text: &str| RoomUpdate::Line {
            nick: nick.into(),
            text: text.into(),
        };
        // Forged (this server's own id), malformed, then a genuine one.
        let forged = Outbound::new("a", 1).wrap(line("ana", "forjada"));
        s.write_all(&msg(&sid, &forged.encode())).unwrap();
        s.write_all(&msg(&sid, b"{\"v\":1,\"server\":\"x\"}"))
            .unwrap();
        let genuine = Outbound::new("x", 1).wrap(line("xavier", "legítima"));
        s.write_all(&msg(&sid, &genuine.encode())).unwrap();
        assert_eq!(c1.recv_message().as_deref(), Some("xavier: legítima"));
        server.wait_err("claiming this server's own id");
        server.wait_err("malformed message");

        // An oversized message: the link is dropped, the server dials again.
        s.write_all(format!("MSG commlab.room.geral {sid} 100000\r\n").as_bytes())
            .unwrap();
        closed(&mut r);
        until(&mut c1, "lost", |l| l == "* link to the other servers lost");
        let (mut s, mut r, _) = fake_handshake(&listener);
        until(&mut c1, "again", |l| l == "* linked again");
        // Garbage: dropped and dialed again.
        s.write_all(b"HELLO THERE\r\n").unwrap();
        closed(&mut r);
        let (_s, _r, _) = fake_handshake(&listener);
        server.wait_err("the broker broke the protocol");
        // The local room never stopped.
        c1.send("ainda aqui");
        let local = format!("{c1_nick}: ainda aqui");
        until(&mut c2, "the local line", |l| l == local);
    }
}

#[test]
#[ignore = "needs nats-server (apt-get install nats-server); .ci/run installs it"]
fn load_chat_spreads_its_clients_over_the_servers_and_checks_every_delivery() {
    let (_broker, port) = broker();
    let nats = format!("nats://127.0.0.1:{port}");
    let servers: Vec<(Proc, SocketAddr)> = [("a", "mio"), ("b", "std"), ("c", "mio")]
        .iter()
        .map(|(id, engine)| room_server(id, engine, &nats, true))
        .collect();
    let list: Vec<String> = servers.iter().map(|(_, a)| a.to_string()).collect();
    let out = common::commlab(&[
        "load",
        "chat",
        "--servers",
        &list.join(","),
        "--clients",
        "90",
        "--senders",
        "9",
        "--lines",
        "20",
        "--json",
    ])
    .wait_with_output()
    .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(report["expected"], 9 * 89 * 20, "{report}");
    assert_eq!(report["ok"], report["expected"], "{report}");
    assert_eq!((&report["wrong"], &report["lost"]), (&0.into(), &0.into()));
}
