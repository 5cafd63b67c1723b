//! The federated room: a [`ChatServer`] in room mode whose lines, joins,
//! leaves and renames cross to the rooms of the same name on other
//! servers, through a broker ([`BrokerLink`](crate::nats::BrokerLink)
//! carries it; this module is the room's side of [`Federated`]).
//!
//! Guarantees: lines from other servers reach local clients as local
//! lines do (`nick: line`, under the same per-client output caps), each
//! sender's in order and at most once ([`Inbound`]); a name is held by one
//! client across the servers that can see each other (a clash found after
//! an outage is settled for the server with the smaller id, the other
//! client becoming `name@server`); `/who` asks every server and answers
//! by [`WHO_DEADLINE`], later answers following with a note.

use std::collections::{HashMap, HashSet, VecDeque};
use std::time::{Duration, Instant};

use super::ChatServer;
use crate::chat::federation::{
    inbox_prefix, room_subject, valid_id, Envelope, EnvelopeError, Inbound, Outbound, RoomUpdate,
};
use crate::chat::{ChatEvent, FederationEvent, MAX_NICK};
use crate::nats::{Federated, Message, Publish};
use crate::ConnId;

/// How long `/who` waits for the other servers' answers.
pub const WHO_DEADLINE: Duration = Duration::from_secs(1);
/// How long after [`WHO_DEADLINE`] a late answer is still passed on.
pub const WHO_LATE: Duration = Duration::from_secs(10);
/// How often a server tells the room its members (a server not heard
/// from for three intervals is taken to be gone, its names freed).
pub const ANNOUNCE_INTERVAL: Duration = Duration::from_secs(30);
/// Most names in one members message (longer lists come in parts).
pub const MEMBERS_PART: usize = 500;
/// The timer key of the room's own deadlines (drivers never pick it).
pub(super) const ROOM_TIMER: ConnId = ConnId(u64::MAX);

/// A room name or server id that cannot be one.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0:?} cannot name a room or a server: use 1 to 64 letters, digits, '-' or '_'")]
pub struct InvalidId(pub String);

/// Which federated room this server is part of.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FederationConfig {
    /// The room's name (its subject is `commlab.room.<NAME>`).
    pub room: String,
    /// This server's id, unique among the room's servers.
    pub server: String,
    /// This run's number (random, picked by the driver at start): tells a
    /// restarted server's messages from its old ones.
    pub run: u64,
}

#[derive(Debug)]
struct Remote {
    names: HashSet<String>,
    /// A members list in parts is being received (the next part adds).
    continuing: bool,
    heard: Instant,
}

#[derive(Debug)]
struct WhoQuery {
    id: u64,
    /// Who asked (`None`: the server itself, syncing after it linked).
    conn: Option<ConnId>,
    deadline: Instant,
    /// Servers expected and not yet complete.
    waiting: HashSet<String>,
    /// Parts received, by server.
    parts: HashMap<String, Vec<String>>,
    names: Vec<String>,
    answered: bool,
}

/// The federation's state inside a [`ChatServer`].
#[derive(Debug)]
pub(super) struct Federation {
    pub(super) id: String,
    subject: String,
    inbox: String,
    out: Outbound,
    inbound: Inbound,
    pub(super) up: bool,
    was_up: bool,
    remote: HashMap<String, Remote>,
    whos: Vec<WhoQuery>,
    next_query: u64,
    publishes: VecDeque<Publish>,
    next_announce: Option<Instant>,
}

impl Federation {
    pub(super) fn new(cfg: &FederationConfig) -> Result<Self, InvalidId> {
        let subject = room_subject(&cfg.room).ok_or_else(|| InvalidId(cfg.room.clone()))?;
        if !valid_id(&cfg.server) {
            return Err(InvalidId(cfg.server.clone()));
        }
        Ok(Self {
            id: cfg.server.clone(),
            subject,
            inbox: inbox_prefix(&cfg.server, cfg.run),
            out: Outbound::new(&cfg.server, cfg.run),
            inbound: Inbound::new(&cfg.server),
            up: false,
            was_up: false,
            remote: HashMap::new(),
            whos: Vec::new(),
            next_query: 1,
            publishes: VecDeque::new(),
            next_announce: None,
        })
    }

    /// The server holding `nick`, if another one does.
    pub(super) fn holder(&self, nick: &str) -> Option<&str> {
        self.remote
            .iter()
            .find(|(_, r)| r.names.contains(nick))
            .map(|(s, _)| s.as_str())
    }

    /// Queues `update` for the room's subject (dropped while unlinked).
    pub(super) fn publish(&mut self, update: RoomUpdate) {
        if self.up {
            let env = self.out.wrap(update);
            self.send(self.subject.clone(), None, &env);
        }
    }

    fn send(&mut self, subject: String, reply: Option<String>, env: &Envelope) {
        self.publishes.push_back(Publish {
            subject,
            reply,
            payload: env.encode(),
        });
    }

    /// Queues this server's members on `subject` (in parts).
    fn send_members(&mut self, subject: &str, mut names: Vec<String>, reply: bool) {
        names.sort_unstable();
        let parts: Vec<&[String]> = if names.is_empty() {
            vec![&[]]
        } else {
            names.chunks(MEMBERS_PART).collect()
        };
        let last = parts.len() - 1;
        for (i, part) in parts.into_iter().enumerate() {
            let update = RoomUpdate::Members {
                names: part.to_vec(),
                more: i < last,
            };
            let env = if reply {
                self.out.reply(update)
            } else {
                self.out.wrap(update)
            };
            self.send(subject.to_owned(), None, &env);
        }
    }

    /// Asks every server who is there; answers come on the inbox.
    fn ask(&mut self, now: Instant, conn: Option<ConnId>) {
        let id = self.next_query;
        self.next_query += 1;
        self.whos.push(WhoQuery {
            id,
            conn,
            deadline: now + WHO_DEADLINE,
            waiting: self.remote.keys().cloned().collect(),
            parts: HashMap::new(),
            names: Vec::new(),
            answered: false,
        });
        let env = self.out.wrap(RoomUpdate::Who);
        let reply = format!("{}.{id}", self.inbox);
        self.send(self.subject.clone(), Some(reply), &env);
    }

    /// The earliest of the room's own deadlines.
    fn next_deadline(&self) -> Option<Instant> {
        let whos = self.whos.iter().map(|q| {
            if q.answered {
                q.deadline + WHO_LATE
            } else {
                q.deadline
            }
        });
        whos.chain(self.next_announce).min()
    }
}

/// Whether another server's client name can be shown (a local name, or
/// one made `name@server`).
fn valid_remote_nick(nick: &str) -> bool {
    !nick.is_empty()
        && nick.len() <= MAX_NICK + 1 + crate::chat::federation::MAX_ID
        && nick
            .chars()
            .all(|c| c.is_alphanumeric() || "-_.@".contains(c))
}

impl ChatServer {
    /// A room-mode server that is one of the servers of the federated
    /// room `fed` (link it with a [`BrokerLink`](crate::nats::BrokerLink)).
    /// New clients are named `guestN@SERVER`, so they never clash.
    pub fn federated(cfg: crate::ChatConfig, fed: &FederationConfig) -> Result<Self, InvalidId> {
        let mut server = Self::new(crate::ChatConfig {
            mode: crate::ChatMode::Room,
            ..cfg
        });
        server.fed = Some(Box::new(Federation::new(fed)?));
        Ok(server)
    }

    /// Whether this room is linked to the other servers now.
    pub fn is_linked(&self) -> bool {
        self.fed.as_ref().is_some_and(|f| f.up)
    }

    /// Queues `update` for the other servers, if federated and linked.
    pub(super) fn federate(&mut self, update: RoomUpdate) {
        if let Some(fed) = &mut self.fed {
            fed.publish(update);
        }
    }

    /// Tells every local client `text` (link news: sent whatever the
    /// notices setting, since it changes what the room is).
    fn notify_all(&mut self, text: &str) {
        if !self.stopping && !self.nicks.is_empty() && self.encode(text).is_ok() {
            self.broadcast_scratch(None);
        }
    }

    fn local_names(&self) -> Vec<String> {
        self.nicks.keys().cloned().collect()
    }

    fn reschedule_room(&mut self) {
        if let Some(at) = self.fed.as_ref().and_then(|f| f.next_deadline()) {
            self.timers.schedule(ROOM_TIMER, at);
        }
    }

    /// `/who` in a federated room: local names now if unlinked, else
    /// everyone's by the deadline.
    pub(super) fn federated_who(&mut self, now: Instant, conn: ConnId) -> bool {
        let Some(fed) = &mut self.fed else {
            return false;
        };
        if !fed.up {
            let list = who_line(self.local_names(), &[]);
            self.tell(
                conn,
                &format!("{list} (this server only: the link to the other servers is down)"),
            );
            return true;
        }
        fed.ask(now, Some(conn));
        self.finish_whos(now);
        self.reschedule_room();
        true
    }

    /// Answers the `/who`s whose servers all answered or whose deadline
    /// passed; forgets those past their late period.
    fn finish_whos(&mut self, now: Instant) {
        let Some(fed) = &mut self.fed else {
            return;
        };
        let mut ready = Vec::new();
        fed.whos.retain_mut(|q| {
            if !q.answered && (q.waiting.is_empty() || now >= q.deadline) {
                q.answered = true;
                ready.push((q.conn, std::mem::take(&mut q.names), q.waiting.clone()));
            }
            !(q.answered && (q.waiting.is_empty() || now >= q.deadline + WHO_LATE))
        });
        for (conn, names, missing) in ready {
            let Some(conn) = conn else { continue };
            let mut all = self.local_names();
            all.extend(names);
            let mut missing: Vec<String> = missing.into_iter().collect();
            missing.sort_unstable();
            self.tell(conn, &who_line(all, &missing));
        }
    }

    fn on_room_timer(&mut self, now: Instant) {
        self.finish_whos(now);
        let names = self.local_names();
        let mut gone = Vec::new();
        if let Some(fed) = &mut self.fed {
            if fed.up && fed.next_announce.is_some_and(|at| at <= now) {
                let subject = fed.subject.clone();
                fed.send_members(&subject, names, false);
                fed.next_announce = Some(now + ANNOUNCE_INTERVAL);
            }
            let expiry = ANNOUNCE_INTERVAL * 3;
            fed.remote.retain(|server, r| {
                let keep = r.heard + expiry > now;
                if !keep {
                    gone.push((server.clone(), r.names.len()));
                }
                keep
            });
        }
        for (server, names) in gone {
            self.events
                .push_back(ChatEvent::Federation(FederationEvent::ServerGone {
                    server,
                    names,
                }));
        }
        self.reschedule_room();
    }

    /// The room's timer fired (called from `handle_timeout`).
    pub(super) fn handle_room_timer(&mut self, now: Instant) {
        self.on_room_timer(now);
    }

    fn refused(&mut self, error: EnvelopeError) {
        let total = self.fed.as_ref().map_or(0, |f| f.inbound.refused());
        self.events
            .push_back(ChatEvent::Federation(FederationEvent::Refused {
                error,
                total,
            }));
    }

    /// Another server claims `nick`: a local client with that name gives
    /// way if `server`'s id is the smaller (the other side does the same
    /// the other way round, so exactly one keeps it).
    fn claim(&mut self, server: &str, nick: &str) {
        let Some(fed) = &self.fed else { return };
        let Some(&conn) = self.nicks.get(nick) else {
            return;
        };
        if server >= fed.id.as_str() {
            return;
        }
        let renamed = format!("{nick}@{}", fed.id);
        self.tell(
            conn,
            &format!("* the name {nick} is also on server {server}: you are now {renamed}"),
        );
        self.force_rename(conn, nick, &renamed);
        self.events
            .push_back(ChatEvent::Federation(FederationEvent::NameClash {
                nick: nick.to_owned(),
                server: server.to_owned(),
                renamed,
            }));
    }

    fn on_remote(&mut self, now: Instant, env: Envelope, reply: Option<String>) {
        let server = env.server;
        let names_ok = match &env.update {
            RoomUpdate::Line { nick, .. }
            | RoomUpdate::Join { nick }
            | RoomUpdate::Leave { nick } => valid_remote_nick(nick),
            RoomUpdate::Rename { old, new } => valid_remote_nick(old) && valid_remote_nick(new),
            RoomUpdate::Members { names, .. } => names.iter().all(|n| valid_remote_nick(n)),
            RoomUpdate::Who => true,
        };
        if !names_ok {
            self.refused(EnvelopeError::Malformed(format!(
                "a name that cannot be one, from {server}"
            )));
            return;
        }
        let Some(fed) = &mut self.fed else { return };
        let entry = fed.remote.entry(server.clone()).or_insert_with(|| Remote {
            names: HashSet::new(),
            continuing: false,
            heard: now,
        });
        entry.heard = now;
        match env.update {
            RoomUpdate::Line { nick, text } => {
                entry.names.insert(nick.clone());
                let text = text.replace(['\r', '\n'], " ");
                if self.encode(&format!("{nick}: {text}")).is_ok() {
                    self.room_lines.push(&self.scratch, None);
                    if self.room_lines.len() >= self.cfg.max_backlog {
                        self.flush_room_lines();
                    }
                }
            }
            RoomUpdate::Join { nick } => {
                entry.names.insert(nick.clone());
                self.claim(&server, &nick);
                self.announce(None, &format!("* {nick} joined"));
            }
            RoomUpdate::Leave { nick } => {
                if entry.names.remove(&nick) {
                    self.announce(None, &format!("* {nick} left"));
                }
            }
            RoomUpdate::Rename { old, new } => {
                entry.names.remove(&old);
                entry.names.insert(new.clone());
                self.claim(&server, &new);
                self.announce(None, &format!("* {old} is now {new}"));
            }
            RoomUpdate::Members { names, more } => {
                if !entry.continuing {
                    entry.names.clear();
                }
                entry.continuing = more;
                entry.names.extend(names.iter().cloned());
                for nick in &names {
                    self.claim(&server, nick);
                }
            }
            RoomUpdate::Who => {
                let names = self.local_names();
                if let (Some(fed), Some(reply)) = (&mut self.fed, reply) {
                    fed.send_members(&reply, names, true);
                }
            }
        }
    }

    /// An answer on this server's inbox, to query `id`.
    fn on_answer(&mut self, now: Instant, id: u64, env: Envelope) {
        let RoomUpdate::Members { names, more } = env.update else {
            return;
        };
        if !names.iter().all(|n| valid_remote_nick(n)) {
            self.refused(EnvelopeError::Malformed(format!(
                "a name that cannot be one, from {}",
                env.server
            )));
            return;
        }
        let Some(fed) = &mut self.fed else { return };
        let entry = fed
            .remote
            .entry(env.server.clone())
            .or_insert_with(|| Remote {
                names: HashSet::new(),
                continuing: false,
                heard: now,
            });
        entry.heard = now;
        let Some(q) = fed.whos.iter_mut().find(|q| q.id == id) else {
            // The server's own query after linking is done at once; its
            // answers fill the directory (a long list's parts come in
            // order: each part adds).
            if !entry.continuing {
                entry.names.clear();
            }
            entry.continuing = more;
            entry.names.extend(names.iter().cloned());
            for nick in &names {
                self.claim(&env.server, nick);
            }
            return;
        };
        q.parts.entry(env.server.clone()).or_default().extend(names);
        if more {
            return;
        }
        let names = q.parts.remove(&env.server).unwrap_or_default();
        q.waiting.remove(&env.server);
        if !q.answered {
            q.names.extend(names.iter().cloned());
        }
        let late = q.answered.then_some(q.conn).flatten();
        entry.names = names.iter().cloned().collect();
        for nick in &names {
            self.claim(&env.server, nick);
        }
        if let Some(conn) = late {
            let mut names = names;
            names.sort_unstable();
            self.tell(
                conn,
                &format!(
                    "* late answer from server {} ({} online there): {}",
                    env.server,
                    names.len(),
                    names.join(", ")
                ),
            );
        }
        self.finish_whos(now);
    }
}

/// `/who`'s answer: `* N online: a, b, c`, noting the servers that did
/// not answer in time.
fn who_line(mut names: Vec<String>, missing: &[String]) -> String {
    names.sort_unstable();
    names.dedup();
    let mut line = format!("* {} online: {}", names.len(), names.join(", "));
    if !missing.is_empty() {
        line.push_str(&format!(
            " (no answer yet from server {}; late answers follow)",
            missing.join(", ")
        ));
    }
    line
}

impl Federated for ChatServer {
    fn subjects(&self) -> Vec<String> {
        self.fed
            .as_ref()
            .map(|f| vec![f.subject.clone(), format!("{}.*", f.inbox)])
            .unwrap_or_default()
    }

    fn handle_link_up(&mut self, now: Instant) {
        let names = self.local_names();
        let Some(fed) = &mut self.fed else { return };
        fed.up = true;
        let again = fed.was_up;
        fed.was_up = true;
        // Tell the others who is here, and ask who is there.
        let subject = fed.subject.clone();
        fed.send_members(&subject, names, false);
        fed.ask(now, None);
        fed.next_announce = Some(now + ANNOUNCE_INTERVAL);
        self.notify_all(if again {
            "* linked again"
        } else {
            "* linked to the other servers"
        });
        self.reschedule_room();
        self.settle();
    }

    fn handle_link_down(&mut self, _now: Instant) {
        let Some(fed) = &mut self.fed else { return };
        fed.up = false;
        fed.next_announce = None;
        fed.remote.clear();
        self.notify_all("* link to the other servers lost");
        self.settle();
    }

    fn handle_message(&mut self, now: Instant, message: Message) {
        let Some(fed) = &mut self.fed else { return };
        if message.subject == fed.subject {
            match fed.inbound.accept(&message.payload) {
                Ok(env) => self.on_remote(now, env, message.reply),
                Err(e) => self.refused(e),
            }
        } else if let Some(id) = message
            .subject
            .strip_prefix(fed.inbox.as_str())
            .and_then(|rest| rest.strip_prefix('.'))
            .and_then(|n| n.parse::<u64>().ok())
        {
            match fed.inbound.accept_reply(&message.payload) {
                Ok(env) => self.on_answer(now, id, env),
                Err(e) => self.refused(e),
            }
        }
        self.reschedule_room();
        self.settle();
    }

    fn poll_publish(&mut self) -> Option<Publish> {
        self.fed.as_mut()?.publishes.pop_front()
    }
}
