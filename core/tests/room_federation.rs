//! The federated room's logic, deterministic: several [`ChatServer`]s whose
//! publishes a test broker hands to the others (never back to the sender,
//! as `echo:false` does), on a virtual clock. Lines, notices, names,
//! `/who` with its deadline and late answers, link loss, and what the
//! room drops.

#![allow(clippy::disallowed_methods)] // tests may read the clock to seed a virtual one

use std::time::Duration;

use commlab_core::chat::federation::{Envelope, Outbound, RoomUpdate};
use commlab_core::chat::{FederationConfig, FederationEvent, WHO_DEADLINE};
use commlab_core::nats::{Federated, Message, Publish};
use commlab_core::testing::ServicePump;
use commlab_core::{ChatConfig, ChatEvent, ChatMode, ChatServer};

/// Servers of one room and the broker between them.
struct Federation {
    servers: Vec<ServicePump<ChatServer>>,
    /// Whether server i is linked (gets and sends messages).
    linked: Vec<bool>,
    /// Publishes held back from server i (a slow server).
    held: Vec<bool>,
    stash: Vec<(usize, Publish)>,
}

fn server(id: &str) -> ChatServer {
    let fed = FederationConfig {
        room: "geral".into(),
        server: id.into(),
        run: 7,
    };
    ChatServer::federated(ChatConfig::new(ChatMode::Room), &fed).unwrap()
}

/// Whether a subscription `pattern` (exact, or ending in `.*`) covers `subject`.
fn covers(pattern: &str, subject: &str) -> bool {
    match pattern.strip_suffix(".*") {
        Some(prefix) => subject
            .strip_prefix(prefix)
            .and_then(|r| r.strip_prefix('.'))
            .is_some_and(|r| !r.is_empty() && !r.contains('.')),
        None => pattern == subject,
    }
}

impl Federation {
    fn new(ids: &[&str]) -> Self {
        let now = std::time::Instant::now();
        let mut f = Self {
            servers: ids
                .iter()
                .map(|id| ServicePump::new(server(id), now))
                .collect(),
            linked: vec![false; ids.len()],
            held: vec![false; ids.len()],
            stash: Vec::new(),
        };
        for i in 0..ids.len() {
            f.link(i);
        }
        f
    }

    fn link(&mut self, i: usize) {
        self.linked[i] = true;
        let s = &mut self.servers[i];
        s.service.handle_link_up(s.now);
        s.pump();
        self.deliver();
        // Past the sync after linking (a /who just after it waits for
        // its deadline: see who_just_after_linking_waits_for_its_deadline).
        self.advance(WHO_DEADLINE);
    }

    fn unlink(&mut self, i: usize) {
        self.linked[i] = false;
        let s = &mut self.servers[i];
        s.service.handle_link_down(s.now);
        s.pump();
    }

    /// Moves every publish to the servers subscribed, until none is left.
    fn deliver(&mut self) {
        loop {
            let mut moved = false;
            for i in 0..self.servers.len() {
                while let Some(p) = self.servers[i].service.poll_publish() {
                    moved = true;
                    if !self.linked[i] {
                        continue;
                    }
                    if self.held[i] {
                        self.stash.push((i, p));
                        continue;
                    }
                    self.route(i, &p);
                }
            }
            if !moved {
                return;
            }
        }
    }

    fn route(&mut self, from: usize, p: &Publish) {
        for j in 0..self.servers.len() {
            if j == from || !self.linked[j] {
                continue;
            }
            let s = &mut self.servers[j];
            for (sid, pattern) in s.service.subjects().into_iter().enumerate() {
                if covers(&pattern, &p.subject) {
                    let m = Message {
                        subject: p.subject.clone(),
                        sid: sid as u64 + 1,
                        reply: p.reply.clone(),
                        headers: None,
                        payload: p.payload.clone(),
                    };
                    s.service.handle_message(s.now, m);
                    s.pump();
                }
            }
        }
    }

    /// Lets server i's held publishes go.
    fn release(&mut self, i: usize) {
        self.held[i] = false;
        for (from, p) in std::mem::take(&mut self.stash) {
            self.route(from, &p);
        }
        self.deliver();
    }

    fn connect(&mut self, i: usize, conn: u64) {
        self.servers[i].connect(conn);
        self.deliver();
    }

    fn say(&mut self, i: usize, conn: u64, line: &str) {
        self.servers[i].send(conn, format!("{line}\n"));
        self.deliver();
    }

    fn advance(&mut self, by: Duration) {
        for s in &mut self.servers {
            s.advance(by);
        }
        self.deliver();
    }

    fn lines(&mut self, i: usize, conn: u64) -> Vec<String> {
        self.servers[i]
            .take_text(conn)
            .lines()
            .map(str::to_owned)
            .collect()
    }
}

#[test]
fn lines_and_notices_cross_servers_exactly_once_in_order() {
    let mut f = Federation::new(&["a", "b", "c"]);
    f.connect(0, 1);
    f.say(0, 1, "/nick ana");
    f.connect(1, 1);
    f.say(1, 1, "/nick bia");
    f.connect(2, 1);
    for n in 0..20 {
        f.say(0, 1, &format!("linha {n}"));
    }
    f.servers[2].eof(1);
    f.deliver();
    let bia = f.lines(1, 1);
    let said: Vec<&String> = bia.iter().filter(|l| l.starts_with("ana: ")).collect();
    let want: Vec<String> = (0..20).map(|n| format!("ana: linha {n}")).collect();
    assert_eq!(said, want.iter().collect::<Vec<_>>(), "{bia:?}");
    assert!(bia.contains(&"* guest1@c joined".to_owned()), "{bia:?}");
    assert!(bia.contains(&"* guest1@c left".to_owned()), "{bia:?}");
    let ana = f.lines(0, 1);
    assert!(ana.contains(&"* guest1@b is now bia".to_owned()), "{ana:?}");
    assert!(
        !ana.iter().any(|l| l.starts_with("ana: ")),
        "own lines echoed: {ana:?}"
    );
}

#[test]
fn names_are_unique_across_servers() {
    let mut f = Federation::new(&["a", "b"]);
    f.connect(0, 1);
    f.say(0, 1, "/nick ana");
    f.connect(1, 1);
    f.say(1, 1, "/nick ana");
    let b = f.lines(1, 1);
    assert!(
        b.contains(&"error: the name ana is taken (on server a)".to_owned()),
        "{b:?}"
    );
    // New clients are guestN@SERVER: never the same on two servers.
    assert!(b[0].contains("guest1@b"), "{b:?}");
}

#[test]
fn a_clash_found_after_an_outage_is_settled_for_the_smaller_id() {
    let mut f = Federation::new(&["a", "b"]);
    f.unlink(0);
    f.unlink(1);
    f.connect(0, 1);
    f.say(0, 1, "/nick ana");
    f.connect(1, 1);
    f.say(1, 1, "/nick ana");
    f.lines(0, 1);
    f.lines(1, 1);
    f.link(0);
    f.link(1);
    let a = f.lines(0, 1);
    let b = f.lines(1, 1);
    assert!(!a.iter().any(|l| l.contains("you are now")), "{a:?}");
    assert!(
        b.contains(&"* the name ana is also on server a: you are now ana@b".to_owned()),
        "{b:?}"
    );
    assert!(a.contains(&"* ana is now ana@b".to_owned()), "{a:?}");
    f.say(1, 1, "oi");
    assert_eq!(f.lines(0, 1), ["ana@b: oi"]);
}

#[test]
fn who_lists_every_server_and_a_slow_one_after_the_deadline() {
    let mut f = Federation::new(&["a", "b", "c"]);
    for (i, name) in ["ana", "bia", "caio"].iter().enumerate() {
        f.connect(i, 1);
        f.say(i, 1, &format!("/nick {name}"));
    }
    f.lines(0, 1);
    f.say(0, 1, "/who");
    assert_eq!(f.lines(0, 1), ["* 3 online: ana, bia, caio"]);

    // c is slow: its answer comes after the deadline, with a note.
    f.held[2] = true;
    f.say(0, 1, "/who");
    assert!(f.lines(0, 1).is_empty(), "answered before the deadline");
    f.advance(WHO_DEADLINE);
    assert_eq!(
        f.lines(0, 1),
        ["* 2 online: ana, bia (no answer yet from server c; late answers follow)"]
    );
    f.release(2);
    assert_eq!(
        f.lines(0, 1),
        ["* late answer from server c (1 online there): caio"]
    );
}

#[test]
fn who_while_unlinked_says_it_is_local_only() {
    let mut f = Federation::new(&["a", "b"]);
    f.connect(0, 1);
    f.connect(1, 1);
    f.unlink(0);
    let lines = f.lines(0, 1);
    assert!(
        lines.contains(&"* link to the other servers lost".to_owned()),
        "{lines:?}"
    );
    f.say(0, 1, "/who");
    assert_eq!(
        f.lines(0, 1),
        ["* 1 online: guest1@a (this server only: the link to the other servers is down)"]
    );
    f.link(0);
    assert!(f.lines(0, 1).contains(&"* linked again".to_owned()));
    f.say(0, 1, "/who");
    assert_eq!(f.lines(0, 1), ["* 2 online: guest1@a, guest1@b"]);
}

#[test]
fn lines_of_an_outage_are_not_replayed() {
    let mut f = Federation::new(&["a", "b"]);
    f.connect(0, 1);
    f.connect(1, 1);
    f.unlink(0);
    f.say(0, 1, "perdida");
    f.link(0);
    f.say(0, 1, "entregue");
    let b: Vec<String> = f
        .lines(1, 1)
        .into_iter()
        .filter(|l| l.starts_with("guest1@a: "))
        .collect();
    assert_eq!(b, ["guest1@a: entregue"]);
}

/// Sends `payload` to server `i` on the room's subject, as if another
/// server published it.
fn inject(f: &mut Federation, i: usize, payload: &[u8]) {
    let s = &mut f.servers[i];
    let m = Message {
        subject: "commlab.room.geral".into(),
        sid: 1,
        reply: None,
        headers: None,
        payload: payload.to_vec(),
    };
    s.service.handle_message(s.now, m);
    s.pump();
}

#[test]
fn forged_malformed_and_repeated_messages_are_dropped_and_counted() {
    let mut f = Federation::new(&["a", "b"]);
    f.connect(0, 1);
    f.lines(0, 1);
    f.servers[0].events.clear();
    let line = |nick: &str, text: &str| RoomUpdate::Line {
        nick: nick.into(),
        text: text.into(),
    };
    // Claims to be a itself.
    let forged = Outbound::new("a", 1).wrap(line("ana", "falso"));
    inject(&mut f, 0, &forged.encode());
    inject(&mut f, 0, b"{not json");
    inject(&mut f, 0, &vec![b' '; 200 * 1024]);
    let mut other = Outbound::new("x", 1);
    let first = other.wrap(line("xavier", "um"));
    inject(&mut f, 0, &first.encode());
    inject(&mut f, 0, &first.encode());
    let bad_name = other.wrap(line("spa ce", "dois"));
    inject(&mut f, 0, &bad_name.encode());
    // A newline inside a text cannot split it into two lines.
    let sneaky: Envelope = other.wrap(line("xavier", "tres\n* server shutting down"));
    inject(&mut f, 0, &sneaky.encode());
    assert_eq!(
        f.lines(0, 1),
        ["xavier: um", "xavier: tres * server shutting down"]
    );
    let totals: Vec<u64> = f.servers[0]
        .events
        .iter()
        .filter_map(|e| match e {
            ChatEvent::Federation(FederationEvent::Refused { total, .. }) => Some(*total),
            _ => None,
        })
        .collect();
    assert_eq!(totals.len(), 5, "{:?}", f.servers[0].events);
}

#[test]
fn a_silent_server_is_forgotten_and_its_names_freed() {
    let mut f = Federation::new(&["a", "b"]);
    f.connect(1, 1);
    f.say(1, 1, "/nick bia");
    f.connect(0, 1);
    f.unlink(1);
    // a is still linked but hears nothing from b any more.
    f.linked[1] = false;
    f.advance(commlab_core::chat::ANNOUNCE_INTERVAL * 4);
    assert!(f.servers[0].events.iter().any(|e| matches!(
        e,
        ChatEvent::Federation(FederationEvent::ServerGone { server, names: 1 }) if server == "b"
    )));
    f.lines(0, 1);
    f.say(0, 1, "/nick bia");
    assert!(f.lines(0, 1).contains(&"* guest1@a is now bia".to_owned()));
}

#[test]
fn the_fuzz_entry_takes_envelopes_and_garbage() {
    let now = std::time::Instant::now();
    let env = Outbound::new("x", 1).wrap(RoomUpdate::Line {
        nick: "xavier".into(),
        text: "oi".into(),
    });
    let mut data = vec![3u8];
    data.extend_from_slice(&env.encode());
    commlab_core::fuzzing::room_link(&data, now);
    commlab_core::fuzzing::room_link(b"\x05MSG commlab.room.fuzz 1 99999999999\r\n", now);
    commlab_core::fuzzing::room_link(b"\x00-ERR 'Stale Connection'\r\n", now);
}

proptest::proptest! {
    #[test]
    fn any_bytes_from_the_broker_leave_the_local_room_working(
        bytes in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..600),
    ) {
        commlab_core::fuzzing::room_link(&bytes, std::time::Instant::now());
    }
}

#[test]
fn pending_whos_and_other_servers_are_bounded() {
    use commlab_core::chat::{MAX_PENDING_WHO, MAX_SERVERS};
    let mut f = Federation::new(&["a", "b"]);
    f.connect(0, 1);
    f.lines(0, 1);
    f.held[1] = true;
    for _ in 0..MAX_PENDING_WHO {
        f.say(0, 1, "/who");
    }
    assert!(f.lines(0, 1).is_empty());
    f.say(0, 1, "/who");
    assert_eq!(
        f.lines(0, 1),
        ["error: too many /who questions wait for answers; try again in a moment"]
    );
    f.advance(WHO_DEADLINE);
    assert_eq!(f.lines(0, 1).len(), MAX_PENDING_WHO);

    // A broker naming ever more servers: past the bound their messages
    // are refused, and the room does not grow.
    f.servers[0].events.clear();
    for n in 0..MAX_SERVERS + 10 {
        let env = Outbound::new(&format!("s{n}"), 1).wrap(RoomUpdate::Join {
            nick: format!("n{n}"),
        });
        inject(&mut f, 0, &env.encode());
    }
    let refused = f.servers[0]
        .events
        .iter()
        .filter(|e| matches!(e, ChatEvent::Federation(FederationEvent::Refused { .. })))
        .count();
    // b is known already: MAX_SERVERS - 1 new ones fit.
    assert_eq!(refused, 11);
}

#[test]
fn a_flood_from_other_servers_meets_the_same_per_client_cap() {
    use commlab_core::chat::CloseReason;
    use commlab_core::{ConnId, Service};
    // Driven by hand: client 1's output is never taken (it does not read).
    let mut room = server("a");
    let now = std::time::Instant::now();
    room.handle_connect(now, ConnId(1), commlab_core::testing::peer(1));
    room.handle_link_up(now);
    let mut other = Outbound::new("x", 1);
    let text = "z".repeat(60 * 1024);
    let mut dropped = None;
    for _ in 0..40 {
        let env = other.wrap(RoomUpdate::Line {
            nick: "xavier".into(),
            text: text.clone(),
        });
        let m = Message {
            subject: "commlab.room.geral".into(),
            sid: 1,
            reply: None,
            headers: None,
            payload: env.encode(),
        };
        room.handle_message(now, m);
        while room.poll_ready().is_some() {}
        while let Some(e) = room.poll_event() {
            if let ChatEvent::Disconnected { reason, .. } = e {
                dropped = Some(reason);
            }
        }
    }
    assert!(
        matches!(dropped, Some(CloseReason::SlowReader(_))),
        "{dropped:?}"
    );
    assert_eq!(room.clients(), 0);
}

#[test]
fn who_just_after_linking_waits_for_its_deadline() {
    let mut f = Federation::new(&["a", "b"]);
    f.connect(1, 1);
    f.say(1, 1, "/nick bia");
    f.connect(0, 1);
    f.unlink(0);
    f.lines(0, 1);
    // Relinked, a does not know b yet when its client asks at once; the
    // answer waits for the deadline and has b's names.
    f.linked[0] = true;
    let s = &mut f.servers[0];
    s.service.handle_link_up(s.now);
    s.pump();
    f.say(0, 1, "/who");
    let early = f.lines(0, 1);
    assert!(!early.iter().any(|l| l.contains(" online: ")), "{early:?}");
    f.advance(WHO_DEADLINE);
    assert_eq!(f.lines(0, 1), ["* 2 online: bia, guest1@a"]);
}
