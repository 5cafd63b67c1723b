//! Load-shaped correctness (not timing): 200 clients in a room on each
//! engine (and on three event loops of the mio one), each sends 20 lines; every client receives every other client's
//! lines, each sender's in order, none lost, none duplicated.

mod common;

use std::collections::HashMap;
use std::sync::{Arc, Barrier};

use commlab::{Engine, Server};
use commlab_core::chat::{ChatConfig, ChatMode};
use commlab_core::ChatServer;
use common::*;

const CLIENTS: usize = 200;
const LINES: usize = 20;

fn room_load(server: Server<ChatServer>) {
    let addr = server.local_addr();
    let mut conns = Vec::new();
    for _ in 0..CLIENTS {
        let (nick, c) = join_room(addr);
        conns.push((nick, c));
    }
    let nicks: Vec<String> = conns.iter().map(|(n, _)| n.clone()).collect();
    let barrier = Arc::new(Barrier::new(CLIENTS));
    let threads: Vec<_> = conns
        .into_iter()
        .map(|(me, mut c)| {
            let barrier = Arc::clone(&barrier);
            let nicks = nicks.clone();
            std::thread::spawn(move || {
                barrier.wait();
                for k in 0..LINES {
                    c.send(&format!("{me} line {k}"));
                }
                let mut seen: HashMap<String, Vec<usize>> = HashMap::new();
                let want = (CLIENTS - 1) * LINES;
                let mut got = 0;
                while got < want {
                    let line = c.recv_message().expect("connection closed early");
                    let (from, body) = line.split_once(": ").expect("nick: text");
                    let (sender, k) = body.split_once(" line ").expect("body names sender and k");
                    assert_eq!(from, sender, "the prefix names the real sender");
                    assert_ne!(from, me, "a client never gets its own line");
                    seen.entry(from.to_owned())
                        .or_default()
                        .push(k.parse().unwrap());
                    got += 1;
                }
                assert_every_line(&seen, &nicks, &me, LINES);
                c
            })
        })
        .collect();
    let conns: Vec<LineConn> = threads.into_iter().map(|t| t.join().unwrap()).collect();
    assert_eq!(server.connections(), CLIENTS);
    server.shutdown();
    drop(conns);
}

#[test]
fn room_200_clients_20_lines_std() {
    room_load(start_mode(Engine::Std, ChatMode::Room).0);
}

#[test]
fn room_200_clients_20_lines_mio() {
    room_load(start_mode(Engine::Mio, ChatMode::Room).0);
}

#[test]
fn room_200_clients_20_lines_mio_on_3_loops() {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let cfg = ChatConfig::new(ChatMode::Room);
    let server =
        commlab::room_shards::start(Engine::Mio, listener, 3, &cfg, |_, _| {}, None, None).unwrap();
    assert_eq!(server.loops(), 3);
    room_load(server);
}

#[test]
fn room_200_clients_20_lines_on_3_loops_holding_input_past_every_batch() {
    // A cap of one byte: every batch sent holds every loop's input until
    // the loops have queued it. Nothing is lost, nothing stalls.
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let cfg = ChatConfig::new(ChatMode::Room);
    let server = commlab::room_shards::start_capped(
        Engine::Mio,
        listener,
        3,
        &cfg,
        1,
        |_, _| {},
        None,
        None,
    )
    .unwrap();
    room_load(server);
}
