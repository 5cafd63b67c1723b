//! The chat server on three event loops (`commlab chat server --mode room
//! --engine mio --threads 3`, and `--mode chat`), as the command runs it:
//! one room whatever loop a member lands on, one conversation whatever
//! loop the client lands on. Every line reaches every other member once, in
//! its sender's order, after the sender's join notice; the operator's
//! lines and `/who` cover every loop; one name asked for on every loop at
//! once goes to one member; members leaving while lines are in flight
//! cost the others nothing.

mod common;

use std::collections::{HashMap, HashSet};
use std::net::SocketAddr;
use std::sync::{Arc, Barrier};

use common::process::Proc;
use common::*;

/// Members at once: three per loop.
const MEMBERS: usize = 9;
const LINES: usize = 30;

fn room() -> (Proc, SocketAddr) {
    let (p, addr) = Proc::commlab_server(&[
        "chat",
        "server",
        "--mode",
        "room",
        "--engine",
        "mio",
        "--threads",
        "3",
    ]);
    p.wait_err("3 event loops");
    (p, addr)
}

/// Runs `each(i, member)` for every member on threads that start together.
fn at_once<T: Send + 'static>(
    members: Vec<(String, LineConn)>,
    each: impl Fn(usize, String, LineConn) -> T + Send + Sync + 'static,
) -> Vec<T> {
    let each = Arc::new(each);
    let barrier = Arc::new(Barrier::new(members.len()));
    let threads: Vec<_> = members
        .into_iter()
        .enumerate()
        .map(|(i, (nick, c))| {
            let (each, barrier) = (Arc::clone(&each), Arc::clone(&barrier));
            std::thread::spawn(move || {
                barrier.wait();
                each(i, nick, c)
            })
        })
        .collect();
    threads
        .into_iter()
        .map(|t| t.join().expect("a member failed"))
        .collect()
}

#[test]
fn a_room_on_three_loops_is_one_room() {
    let (mut p, addr) = room();
    let members: Vec<_> = (0..MEMBERS).map(|_| join_room(addr)).collect();
    let nicks: Vec<String> = members.iter().map(|(n, _)| n.clone()).collect();
    let loops: HashSet<&str> = nicks
        .iter()
        .map(|n| n.split_once('.').map_or("0", |(_, l)| l))
        .collect();
    assert_eq!(loops.len(), 3, "members on every loop: {nicks:?}");
    let members = at_once(members, {
        let nicks = nicks.clone();
        move |i, me, mut c| {
            for k in 0..LINES {
                c.send(&format!("{me} line {k}"));
            }
            let mut seen: HashMap<String, Vec<usize>> = HashMap::new();
            let mut joined: HashSet<String> = HashSet::new();
            let want = (MEMBERS - 1) * LINES;
            let mut got = 0;
            while got < want {
                let line = c.recv().expect("the room closed early");
                if let Some(who) = line
                    .strip_prefix("* ")
                    .and_then(|l| l.strip_suffix(" joined"))
                {
                    joined.insert(who.to_owned());
                    continue;
                }
                let (from, body) = line.split_once(": ").expect("nick: text");
                let (sender, k) = body.split_once(" line ").expect("a test line");
                assert_eq!(from, sender, "the prefix names the real sender");
                assert_ne!(from, me, "a member never gets its own line");
                let later = nicks.iter().position(|n| n == from).expect("a member") > i;
                assert!(
                    !later || joined.contains(from),
                    "{me} got {from}'s line before its join notice"
                );
                seen.entry(from.to_owned())
                    .or_default()
                    .push(k.parse().unwrap());
                got += 1;
            }
            assert_every_line(&seen, &nicks, &me, LINES);
            (me, c)
        }
    });
    // The operator's line reaches every loop; /who lists every loop.
    p.type_in("aviso geral\n");
    let mut members = members;
    for (me, c) in &mut members {
        assert_eq!(
            c.recv_message().as_deref(),
            Some("server: aviso geral"),
            "{me}"
        );
    }
    let (_, first) = &mut members[0];
    first.send("/who");
    let who = first.recv().expect("a /who answer");
    let mut sorted = nicks.clone();
    sorted.sort();
    assert_eq!(who, format!("* {MEMBERS} online: {}", sorted.join(", ")));
    drop(members);
    if !cfg!(windows) {
        assert!(p.interrupt().success(), "{}", p.err.text());
    }
}

#[test]
fn one_name_asked_for_on_every_loop_at_once_goes_to_one_member() {
    let (_p, addr) = room();
    for round in 0..5 {
        let name = format!("ana{round}");
        let members: Vec<_> = (0..MEMBERS).map(|_| join_room(addr)).collect();
        // Each member stays until every one has its answer (a winner that
        // left would free the name for the slower ones).
        let outcomes = at_once(members, move |_, me, mut c| {
            c.send(&format!("/nick {name}"));
            loop {
                let line = c.recv().expect("an answer to /nick");
                if line == format!("* {me} is now {name}") {
                    return (true, c);
                }
                if line == format!("error: the name {name} is taken") {
                    return (false, c);
                }
            }
        });
        let outcomes: Vec<bool> = outcomes.into_iter().map(|(won, _)| won).collect();
        let winners = outcomes.iter().filter(|won| **won).count();
        assert_eq!(winners, 1, "round {round}: {outcomes:?}");
    }
}

#[test]
fn members_leaving_with_lines_in_flight_cost_the_others_nothing() {
    let (_p, addr) = room();
    let members: Vec<_> = (0..MEMBERS).map(|_| join_room(addr)).collect();
    let nicks: Vec<String> = members.iter().map(|(n, _)| n.clone()).collect();
    // Members 0..3 talk and stay; 3..9 read a little and vanish mid-stream.
    let stayers: Vec<String> = nicks[..3].to_vec();
    let stayed = at_once(members, move |i, me, mut c| {
        if i >= 3 {
            let _ = c.recv();
            drop(c);
            return None;
        }
        for k in 0..LINES {
            c.send(&format!("{me} line {k}"));
        }
        let mut seen: HashMap<String, usize> = HashMap::new();
        let want = 2 * LINES;
        let mut got = 0;
        while got < want {
            let line = c.recv_message().expect("the room closed early");
            let (from, body) = line.split_once(": ").expect("nick: text");
            if !body.contains(" line ") {
                continue;
            }
            let k: usize = body.rsplit(' ').next().unwrap().parse().unwrap();
            let next = seen.entry(from.to_owned()).or_default();
            assert_eq!(k, *next, "{me} got {from}'s lines out of order");
            *next += 1;
            got += 1;
        }
        assert!(stayers
            .iter()
            .filter(|n| **n != me)
            .all(|n| seen[n] == LINES));
        Some(c)
    });
    // The room is still whole: a newcomer sees the stayers in /who.
    let (nick, mut c) = join_room(addr);
    c.send("/who");
    let who = loop {
        let line = c.recv().expect("a /who answer");
        if line.contains(" online: ") {
            break line;
        }
    };
    let mut here: Vec<&str> = nicks[..3].iter().map(String::as_str).collect();
    here.push(&nick);
    here.sort_unstable();
    assert_eq!(who, format!("* 4 online: {}", here.join(", ")));
    drop(stayed);
}

#[test]
fn the_one_to_one_chat_on_three_loops_talks_with_one_client_at_a_time() {
    let (mut p, addr) = Proc::commlab_server(&[
        "chat",
        "server",
        "--mode",
        "chat",
        "--engine",
        "mio",
        "--threads",
        "3",
    ]);
    p.wait_err("3 event loops");
    let mut first = LineConn::connect(addr);
    p.wait_out("Server conectado por");
    // Two more, which the acceptor hands to the other loops: both busy.
    for _ in 0..2 {
        let mut other = LineConn::connect(addr);
        assert_eq!(
            other.recv().as_deref(),
            Some("error: this server is chatting with another client; try again later")
        );
        other.expect_eof();
    }
    p.type_in("cedo\n");
    p.wait_err("error: the client speaks first");
    first.send("oi");
    p.wait_out("Cliente enviou: oi");
    p.type_in("olá\n");
    first.expect("olá");
    // Once it leaves, the next client has the conversation, on any loop.
    drop(first);
    p.wait_err("closed");
    let mut next = LineConn::connect(addr);
    next.send("de novo");
    p.wait_out("Cliente enviou: de novo");
    p.type_in("bem-vindo\n");
    next.expect("bem-vindo");
}
