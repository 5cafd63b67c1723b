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

mod who;

use who::WhoQuery;
pub use who::{MAX_PENDING_WHO, WHO_DEADLINE, WHO_LATE};

use super::ChatServer;
use crate::chat::federation::{
    inbox_prefix, room_subject, valid_id, Envelope, EnvelopeError, Inbound, Outbound, RoomUpdate,
};
use crate::chat::{ChatEvent, FederationEvent, MAX_NICK};
use crate::nats::{Federated, Message, Publish};
use crate::ConnId;

/// How often a server tells the room its members (a server not heard
/// from for three intervals is taken to be gone, its names freed).
pub const ANNOUNCE_INTERVAL: Duration = Duration::from_secs(30);
/// Most names in one members message (longer lists come in parts).
pub const MEMBERS_PART: usize = 500;
/// Most other servers one server keeps track of (a broker that names
/// more is refused past it).
pub const MAX_SERVERS: usize = 256;
/// Most names kept for one other server.
pub const MAX_REMOTE_NAMES: usize = crate::chat::MAX_CLIENTS;
/// The timer key of the room's own deadlines (drivers never pick it).
pub(super) const ROOM_TIMER: ConnId = ConnId(u64::MAX);

/// A room name or server id that cannot be one.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("'{0}' cannot name a room or a server: use 1 to 64 letters, digits, '-' or '_'")]
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

impl Remote {
    /// Adds names, up to [`MAX_REMOTE_NAMES`].
    fn add<'a>(&mut self, names: impl IntoIterator<Item = &'a String>) {
        for nick in names {
            if self.names.len() >= MAX_REMOTE_NAMES {
                return;
            }
            self.names.insert(nick.clone());
        }
    }
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
    /// When the link last came up.
    linked_at: Option<Instant>,
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
            linked_at: None,
        })
    }

    /// Server `server`'s entry in `remote`, made if there is room for one more.
    fn remote_mut<'a>(
        remote: &'a mut HashMap<String, Remote>,
        server: &str,
        now: Instant,
    ) -> Option<&'a mut Remote> {
        if !remote.contains_key(server) && remote.len() >= MAX_SERVERS {
            return None;
        }
        let entry = remote.entry(server.to_owned()).or_insert_with(|| Remote {
            names: HashSet::new(),
            continuing: false,
            heard: now,
        });
        entry.heard = now;
        Some(entry)
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

    /// The earliest of the room's own deadlines.
    fn next_deadline(&self) -> Option<Instant> {
        let whos = self.whos.iter().map(WhoQuery::next_deadline);
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
        let Some(entry) = Federation::remote_mut(&mut fed.remote, &server, now) else {
            self.refused(EnvelopeError::Malformed(format!(
                "from {server}, one server more than the {MAX_SERVERS} this one keeps track of"
            )));
            return;
        };
        match env.update {
            RoomUpdate::Line { nick, text } => {
                entry.add([&nick]);
                let text = text.replace(['\r', '\n'], " ");
                if self.encode(&format!("{nick}: {text}")).is_ok() {
                    self.room_lines.push(&self.scratch, None);
                    if self.room_lines.len() >= self.cfg.max_backlog {
                        self.flush_room_lines();
                    }
                }
            }
            RoomUpdate::Join { nick } => {
                entry.add([&nick]);
                self.claim(&server, &nick);
                self.notice_join(None, &nick);
            }
            RoomUpdate::Leave { nick } => {
                if entry.names.remove(&nick) {
                    self.notice_leave(None, &nick);
                }
            }
            RoomUpdate::Rename { old, new } => {
                entry.names.remove(&old);
                entry.add([&new]);
                self.claim(&server, &new);
                self.announce(None, &format!("* {old} is now {new}"));
            }
            RoomUpdate::Members { names, more } => {
                if !entry.continuing {
                    entry.names.clear();
                }
                entry.continuing = more;
                entry.add(&names);
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
        fed.linked_at = Some(now);
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
        self.tick(now);
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
