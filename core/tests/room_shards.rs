//! The room sharded across event loops, deterministic: several
//! [`ChatServer::sharded`] rooms, one per simulated loop, whose batches a
//! test hands from loop to loop in FIFO order but at any interleaving
//! (proptest picks it), and a name registry answering as the application
//! does. Exactly once, per-sender order, join notices before lines, names
//! unique when taken, members leaving while lines are in flight.

#![allow(clippy::disallowed_methods)] // tests may read the clock to seed a virtual one

use std::collections::{HashMap, HashSet, VecDeque};
use std::time::Instant;

use commlab_core::chat::{RoomBatch, RoomNames, ShardEvent};
use commlab_core::testing::ServicePump;
use commlab_core::{ChatConfig, ChatEvent, ChatMode, ChatServer, ConnId};
use proptest::prelude::*;

#[derive(Debug)]
struct Member {
    shard: usize,
    conn: ConnId,
    open: bool,
    /// The step at which it joined.
    joined: usize,
    guest: String,
    said: u32,
}

/// What one loop hands another, in order.
#[derive(Debug, Clone)]
enum Item {
    Batch(RoomBatch),
    Released(String),
}

/// Loops of one room, the batches between them, the registry of names.
struct Room {
    shards: Vec<ServicePump<ChatServer>>,
    /// `queues[from][to]`: what `from` made, not yet handed to `to`.
    queues: Vec<Vec<VecDeque<Item>>>,
    names: RoomNames,
    members: Vec<Member>,
    next_local: Vec<u64>,
    received: HashMap<ConnId, String>,
    /// Every line said: (member, number, step).
    said: Vec<(usize, u32, usize)>,
    step: usize,
}

impl Room {
    fn new(loops: usize) -> Self {
        let now = Instant::now();
        let shards = (0..loops)
            .map(|_| ServicePump::new(ChatServer::sharded(ChatConfig::new(ChatMode::Room)), now))
            .collect();
        Self {
            shards,
            queues: vec![vec![VecDeque::new(); loops]; loops],
            names: RoomNames::new(),
            members: Vec::new(),
            next_local: vec![1; loops],
            received: HashMap::new(),
            said: Vec::new(),
            step: 0,
        }
    }

    /// Answers shard `s`'s requests as the application does, until none is left.
    fn settle(&mut self, s: usize) {
        loop {
            let events = self.shards[s].take_events();
            if events.is_empty() {
                break;
            }
            for event in events {
                match event {
                    ChatEvent::Shard(ShardEvent::Batch(batch)) => {
                        self.tell_siblings(s, &Item::Batch(batch));
                    }
                    ChatEvent::Shard(ShardEvent::Released { nick }) => {
                        self.names.release(&nick, self.shards.len() - 1);
                        self.tell_siblings(s, &Item::Released(nick));
                    }
                    ChatEvent::Shard(ShardEvent::ClaimName { conn, new, .. }) => {
                        let granted = self.names.claim(&new);
                        let used = self.shards[s].service.answer_name(conn, &new, granted);
                        if granted && !used {
                            self.names.release(&new, 0);
                        }
                        self.shards[s].pump();
                    }
                    ChatEvent::Shard(ShardEvent::Who { conn }) => {
                        let names = self.names.members();
                        self.shards[s].service.answer_who(conn, &names);
                        self.shards[s].pump();
                    }
                    ChatEvent::Connected { nick, .. } => {
                        assert!(self.names.claim(&nick), "{nick} given twice");
                    }
                    _ => {}
                }
            }
        }
        for (id, out) in self.shards[s].take_all() {
            self.received
                .entry(ConnId(id))
                .or_default()
                .push_str(&String::from_utf8_lossy(&out));
        }
    }

    fn tell_siblings(&mut self, s: usize, item: &Item) {
        for (to, queue) in self.queues[s].iter_mut().enumerate() {
            if to != s {
                queue.push_back(item.clone());
            }
        }
    }

    fn join(&mut self, s: usize) -> usize {
        let conn = ConnId::on_loop(u16::try_from(s).unwrap(), self.next_local[s]);
        self.next_local[s] += 1;
        self.shards[s].connect(conn.0);
        let welcome = self.shards[s].take_text(conn.0);
        let guest = commlab_core::chat::welcomed_nick(welcome.lines().next().unwrap_or(""))
            .expect("a welcome line")
            .to_owned();
        self.received.insert(conn, String::new());
        self.members.push(Member {
            shard: s,
            conn,
            open: true,
            joined: self.step,
            guest,
            said: 0,
        });
        self.settle(s);
        self.members.len() - 1
    }

    fn open_member(&self, pick: usize) -> Option<usize> {
        let open: Vec<usize> = (0..self.members.len())
            .filter(|&m| self.members[m].open)
            .collect();
        (!open.is_empty()).then(|| open[pick % open.len()])
    }

    fn input(&mut self, m: usize, line: &str) {
        let Member { shard, conn, .. } = self.members[m];
        self.shards[shard].send(conn.0, format!("{line}\n"));
        self.settle(shard);
    }

    fn say(&mut self, m: usize) {
        self.members[m].said += 1;
        let n = self.members[m].said;
        self.said.push((m, n, self.step));
        self.input(m, &format!("m{m}-{n}"));
    }

    fn leave(&mut self, m: usize) {
        let Member { shard, conn, .. } = self.members[m];
        self.members[m].open = false;
        self.shards[shard].eof(conn.0);
        self.settle(shard);
    }

    /// Hands one batch from `from` to `to`, if one waits.
    fn deliver(&mut self, from: usize, to: usize) {
        match self.queues[from][to].pop_front() {
            Some(Item::Batch(batch)) => {
                self.shards[to].service.sibling_batch(&batch);
                self.shards[to].pump();
                self.settle(to);
            }
            Some(Item::Released(nick)) => self.names.acked(&nick),
            None => {}
        }
    }

    fn deliver_all(&mut self) {
        let n = self.shards.len();
        while self.queues.iter().flatten().any(|q| !q.is_empty()) {
            for from in 0..n {
                for to in 0..n {
                    self.deliver(from, to);
                }
            }
        }
    }
}

#[derive(Debug, Clone)]
enum Op {
    Join(usize),
    Say(usize),
    Leave(usize),
    Rename(usize, usize),
    Who(usize),
    Deliver(usize, usize),
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        2 => (0..3usize).prop_map(Op::Join),
        4 => any::<usize>().prop_map(Op::Say),
        1 => any::<usize>().prop_map(Op::Leave),
        1 => (any::<usize>(), 0..3usize).prop_map(|(m, n)| Op::Rename(m, n)),
        1 => any::<usize>().prop_map(Op::Who),
        4 => (0..3usize, 0..3usize).prop_map(|(a, b)| Op::Deliver(a, b)),
    ]
}

const NAMES: [&str; 3] = ["ana", "bia", "caio"];

/// `(member, number)` of a member's line as another member got it.
fn line_of(text: &str) -> Option<(usize, u32)> {
    let (_, said) = text.split_once(": m")?;
    let (m, n) = said.split_once('-')?;
    Some((m.parse().ok()?, n.parse().ok()?))
}

fn run(ops: &[Op]) -> Room {
    let mut room = Room::new(3);
    for op in ops {
        room.step += 1;
        match *op {
            Op::Join(s) => {
                room.join(s);
            }
            Op::Say(pick) => {
                if let Some(m) = room.open_member(pick) {
                    room.say(m);
                }
            }
            Op::Leave(pick) => {
                if let Some(m) = room.open_member(pick) {
                    room.leave(m);
                }
            }
            Op::Rename(pick, name) => {
                if let Some(m) = room.open_member(pick) {
                    room.input(m, &format!("/nick {}", NAMES[name]));
                }
            }
            Op::Who(pick) => {
                if let Some(m) = room.open_member(pick) {
                    room.input(m, "/who");
                }
            }
            Op::Deliver(from, to) => room.deliver(from, to),
        }
    }
    room.step += 1;
    room.deliver_all();
    room
}

fn check(room: &Room) -> Result<(), TestCaseError> {
    for (r, member) in room.members.iter().enumerate() {
        let text = &room.received[&member.conn];
        let mut seen: HashSet<(usize, u32)> = HashSet::new();
        let mut last: HashMap<usize, u32> = HashMap::new();
        let mut noticed: HashSet<usize> = HashSet::new();
        for line in text.lines() {
            if let Some(joiner) = line
                .strip_prefix("* ")
                .and_then(|l| l.strip_suffix(" joined"))
            {
                if let Some(x) = room.members.iter().position(|m| m.guest == joiner) {
                    noticed.insert(x);
                }
                continue;
            }
            let Some((x, n)) = line_of(line) else {
                continue;
            };
            prop_assert!(x != r, "member {r} got its own line {line:?}");
            prop_assert!(seen.insert((x, n)), "member {r} got {line:?} twice");
            prop_assert!(
                last.get(&x).is_none_or(|&k| k < n),
                "member {r} got {line:?} out of order"
            );
            last.insert(x, n);
            if room.members[x].joined > member.joined {
                prop_assert!(
                    noticed.contains(&x),
                    "member {r} got {line:?} before member {x}'s join notice"
                );
            }
        }
        if member.open {
            for &(x, n, step) in &room.said {
                if x != r && step > member.joined {
                    prop_assert!(
                        seen.contains(&(x, n)),
                        "member {r} (still in the room) never got line m{x}-{n}"
                    );
                }
            }
        }
    }
    // Names: one holder each, and the registry holds exactly the open ones'.
    let mut held = HashSet::new();
    for member in room.members.iter().filter(|m| m.open) {
        let nick = current_nick(room, member);
        prop_assert!(held.insert(nick.clone()), "two members are named {nick}");
    }
    let registry: HashSet<String> = room.names.members().into_iter().collect();
    prop_assert_eq!(&held, &registry);
    Ok(())
}

/// A member's name now: its guest name, then each rename it was told of.
fn current_nick(room: &Room, member: &Member) -> String {
    let mut nick = member.guest.clone();
    for line in room.received[&member.conn].lines() {
        if let Some((old, new)) = line
            .strip_prefix("* ")
            .and_then(|l| l.split_once(" is now "))
        {
            if old == nick {
                nick = new.to_owned();
            }
        }
    }
    nick
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]
    #[test]
    fn any_interleaving_keeps_a_single_rooms_guarantees(ops in proptest::collection::vec(op(), 1..80)) {
        let room = run(&ops);
        check(&room)?;
    }
}

#[test]
fn lines_cross_loops_once_each_in_order_after_the_join_notice() {
    let ops = [
        Op::Join(0),
        Op::Join(1),
        Op::Join(2),
        Op::Deliver(1, 0),
        Op::Say(1),
        Op::Say(1),
        Op::Say(0),
        Op::Deliver(1, 2),
        Op::Say(2),
    ];
    let room = run(&ops);
    check(&room).unwrap();
    let text = &room.received[&room.members[0].conn];
    let join = text.find("* guest1.1 joined").expect(text);
    let first = text.find("guest1.1: m1-1").expect(text);
    assert!(join < first, "{text}");
    assert!(text.find("guest1.1: m1-2").expect(text) > first, "{text}");
}

#[test]
fn two_loops_asking_for_one_name_at_once_give_it_to_one() {
    let mut room = Room::new(2);
    let a = room.join(0);
    let b = room.join(1);
    room.input(a, "/nick ana");
    room.input(b, "/nick ana");
    room.deliver_all();
    let told_a = &room.received[&room.members[a].conn];
    let told_b = &room.received[&room.members[b].conn];
    assert!(told_a.contains("* guest1 is now ana"), "{told_a}");
    assert!(told_b.contains("error: the name ana is taken"), "{told_b}");
    assert!(
        !told_b.contains("is now ana\n* guest1.1 is now ana"),
        "{told_b}"
    );
    // Once the holder leaves, the name is free again, but only once the
    // other loop has seen it go.
    room.leave(a);
    room.input(b, "/nick ana");
    let told_b = &room.received[&room.members[b].conn];
    assert_eq!(
        told_b.matches("error: the name ana is taken").count(),
        2,
        "{told_b}"
    );
    room.deliver_all();
    room.input(b, "/nick ana");
    room.deliver_all();
    let told_b = &room.received[&room.members[b].conn];
    let left = told_b.find("* ana left").expect(told_b);
    assert!(told_b[left..].contains("* guest1.1 is now ana"), "{told_b}");
    assert!(
        room.received[&room.members[b].conn].contains("* guest1.1 is now ana"),
        "{}",
        room.received[&room.members[b].conn]
    );
}

#[test]
fn who_lists_every_loops_members() {
    let mut room = Room::new(3);
    let a = room.join(0);
    room.join(1);
    room.join(2);
    room.input(a, "/who");
    let told = &room.received[&room.members[a].conn];
    assert!(
        told.contains("* 3 online: guest1, guest1.1, guest1.2"),
        "{told}"
    );
}

#[test]
fn a_member_leaving_with_lines_in_flight_costs_nobody_else_a_line() {
    let mut room = Room::new(2);
    let a = room.join(0);
    let b = room.join(1);
    let c = room.join(1);
    room.say(a);
    room.say(a);
    room.leave(b);
    room.say(a);
    room.deliver_all();
    let told_c = &room.received[&room.members[c].conn];
    for n in 1..=3 {
        assert!(told_c.contains(&format!("guest1: m{a}-{n}")), "{told_c}");
    }
    assert!(told_c.contains("* guest1.1 left"), "{told_c}");
}

#[test]
fn guest_names_of_other_loops_are_reserved() {
    let mut room = Room::new(2);
    let a = room.join(0);
    room.input(a, "/nick guest7.3");
    let told = &room.received[&room.members[a].conn];
    assert!(told.contains("reserved"), "{told}");
}

#[test]
fn the_one_to_one_chat_across_loops_talks_with_the_client_the_registry_names() {
    let now = Instant::now();
    let mut loops: Vec<_> = (0..2)
        .map(|_| ServicePump::new(ChatServer::sharded(ChatConfig::new(ChatMode::Chat)), now))
        .collect();
    let mut partner: Option<ConnId> = None;
    // What the application does with a loop's requests.
    let answer = |pump: &mut ServicePump<ChatServer>, partner: &mut Option<ConnId>| {
        let mut other = Vec::new();
        for event in pump.take_events() {
            match event {
                ChatEvent::Shard(ShardEvent::ClaimPartner { conn }) => {
                    let granted = partner.is_none();
                    if granted {
                        *partner = Some(conn);
                    }
                    if !pump.service.answer_partner(conn, granted) && granted {
                        *partner = None;
                    }
                    pump.pump();
                }
                ChatEvent::Shard(ShardEvent::PartnerLeft { conn }) if *partner == Some(conn) => {
                    *partner = None;
                }
                e => other.push(e),
            }
        }
        other.extend(pump.take_events());
        other
    };
    let a = ConnId::on_loop(0, 1);
    let b = ConnId::on_loop(1, 1);
    loops[0].connect(a.0);
    // Input before the answer waits for it.
    loops[0].send(a.0, "oi\n");
    let events = answer(&mut loops[0], &mut partner);
    assert!(
        matches!(events[0], ChatEvent::Connected { conn, .. } if conn == a),
        "{events:?}"
    );
    assert!(
        matches!(&events[1], ChatEvent::Received { line, .. } if line == "oi"),
        "{events:?}"
    );
    loops[1].connect(b.0);
    let events = answer(&mut loops[1], &mut partner);
    assert!(
        matches!(events[0], ChatEvent::Refused { conn, .. } if conn == b),
        "{events:?}"
    );
    assert!(loops[1]
        .take_text(b.0)
        .contains("chatting with another client"));
    assert_eq!(
        loops[1].service.console_line(now, "ola"),
        Err(commlab_core::chat::ConsoleError::NoClient)
    );
    assert_eq!(loops[0].service.console_line(now, "ola"), Ok(1));
    loops[0].pump();
    assert_eq!(loops[0].take_text(a.0), "ola\n");
    // Once it leaves, the conversation is free for a client of any loop.
    loops[0].eof(a.0);
    answer(&mut loops[0], &mut partner);
    assert_eq!(partner, None);
    let c = ConnId::on_loop(1, 2);
    loops[1].connect(c.0);
    let events = answer(&mut loops[1], &mut partner);
    assert!(
        matches!(events[0], ChatEvent::Connected { conn, .. } if conn == c),
        "{events:?}"
    );
}
