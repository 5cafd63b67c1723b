//! A room sharded across event loops: each loop's [`ChatServer`] holds its
//! own members, and the room-wide lines it makes (what members say, join,
//! leave and rename notices, summaries, the operator's lines) leave it as
//! [`RoomBatch`]es, already encoded and shared, for the application to hand
//! the other loops ([`Jobs::tell_siblings`](crate::Jobs::tell_siblings)), which
//! queue them for their members with [`ChatServer::sibling_batch`]. No
//! line is encoded twice or copied per loop: every member's queue refers
//! to the same bytes.
//!
//! This is the in-process transport of the room's one design; the broker
//! ([`federated`](super::federated)) is the other, across servers. Both
//! carry the same room-wide updates; the loops skip JSON because they
//! share memory, and settle names when they are taken, not after.
//!
//! Guarantees, given siblings that hand every batch on in the order it
//! was made (the mio engine's loop inboxes do): every room line reaches
//! every member of every loop exactly once; one member's lines keep their
//! order; a member's join notice reaches each loop before its lines. Names
//! are unique when taken: a rename asks the application
//! ([`ShardEvent::ClaimName`]), which holds the room's names in one place
//! and answers at once ([`ChatServer::answer_name`]); `/who` asks it too.

use std::collections::HashMap;
use std::sync::Arc;

use super::ChatServer;
use crate::output_queue::SharedMessages;
use crate::ConnId;

/// Room-wide lines one loop's room made, encoded once and shared: hand it
/// to every other loop's room ([`ChatServer::sibling_batch`]). Cloning
/// shares the bytes.
#[derive(Debug, Clone)]
pub struct RoomBatch(Arc<SharedMessages>);

/// Two batches are equal when they are the same batch (shared bytes).
impl PartialEq for RoomBatch {
    fn eq(&self, other: &Self) -> bool {
        Arc::ptr_eq(&self.0, &other.0)
    }
}

impl Eq for RoomBatch {}

impl RoomBatch {
    /// Bytes in the batch (what each member of another loop is sent).
    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// Whether it holds no bytes.
    pub fn is_empty(&self) -> bool {
        self.0.len() == 0
    }
}

/// What a sharded room asks its application (see [`ChatServer::sharded`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ShardEvent {
    /// Room-wide lines made here: hand them to every other loop's room,
    /// in the order of these events.
    Batch(RoomBatch),
    /// `conn` (now `old`) asked for the name `new`: take it in the room's
    /// registry if free and answer with [`ChatServer::answer_name`].
    ClaimName {
        /// The member.
        conn: ConnId,
        /// Its name now.
        old: String,
        /// The name it asks for.
        new: String,
    },
    /// The name `nick` is no longer this loop's (its holder left or
    /// renamed). The notice saying so is in the batches before this
    /// event: tell every other loop after them, and free the name in the
    /// registry once each has seen it ([`RoomNames::release`]), so no
    /// member anywhere sees a name taken again before it was let go.
    Released {
        /// The name let go.
        nick: String,
    },
    /// 1:1 chat on several loops: `conn` connected; the server talks with
    /// one client at a time, whatever its loop. Take the server's one
    /// conversation for it if free and answer with
    /// [`ChatServer::answer_partner`]; until then it is not read.
    ClaimPartner {
        /// The client.
        conn: ConnId,
    },
    /// 1:1 chat on several loops: the conversation with `conn` ended;
    /// free it for the next client.
    PartnerLeft {
        /// The client that left.
        conn: ConnId,
    },
    /// `conn` asked who is in the room: answer with
    /// [`ChatServer::answer_who`] and every name the registry holds.
    Who {
        /// The member.
        conn: ConnId,
    },
}

/// The sharded room's state inside a [`ChatServer`].
#[derive(Debug, Default)]
pub(super) struct Shard {
    /// Renames waiting for the registry's answer: the name asked for.
    claims: HashMap<ConnId, String>,
    /// Members are not read: the loops are behind with the room's lines.
    pub(super) held: bool,
    /// 1:1 chat: clients waiting to learn whether the conversation is
    /// theirs, with their addresses.
    pub(super) waiting: HashMap<ConnId, core::net::SocketAddr>,
}

/// Most bytes of room lines on their way between a room's loops (each
/// batch counted once per loop it goes to). Past it the application
/// holds every loop's input ([`ChatServer::hold_input`]) until the loops
/// catch up: TCP then slows the senders down, and nothing is dropped.
pub const MAX_IN_FLIGHT: usize = 64 * 1024 * 1024;

impl ChatServer {
    /// A room that is one shard of a room spread across event loops:
    /// `cfg.mode` should be [`Room`](crate::ChatMode::Room). It holds its
    /// own members; the room-wide lines it makes leave it as
    /// [`RoomBatch`]es ([`ShardEvent::Batch`]) for the application to
    /// hand every other loop, which queue them with
    /// [`sibling_batch`](Self::sibling_batch).
    ///
    /// Given siblings that hand every batch on in the order it was made,
    /// every room line reaches every member of every loop exactly once,
    /// one member's lines keep their order, and a member's join notice
    /// reaches each loop before its lines. Names are unique when taken:
    /// a rename asks the application's [`RoomNames`]
    /// ([`ShardEvent::ClaimName`]), and `/who` asks it too.
    ///
    /// In [`Chat`](crate::ChatMode::Chat) mode a shard talks with the
    /// server's one client only when the application says the
    /// conversation is free ([`ShardEvent::ClaimPartner`]); the operator's
    /// line goes to every loop and the one holding the client sends it.
    pub fn sharded(cfg: crate::ChatConfig) -> Self {
        let mut server = Self::new(cfg);
        server.shard = Some(Shard::default());
        server
    }

    /// Whether this room is a shard of one spread across loops.
    pub fn is_sharded(&self) -> bool {
        self.shard.is_some()
    }

    /// Another loop's room-wide lines: queued for every open member here,
    /// under the same output caps as local lines (a member over its cap is
    /// dropped as a slow reader).
    pub fn sibling_batch(&mut self, batch: &RoomBatch) {
        self.flush_room_lines();
        let mut overflowed = std::mem::take(&mut self.overflowed);
        self.table.broadcast_shared(&batch.0, &mut overflowed);
        self.doom_all(overflowed);
        self.settle();
    }

    /// Stops (`true`) or resumes reading members' input: the application
    /// holds it while more than [`MAX_IN_FLIGHT`] bytes of room lines are
    /// on their way between loops. Lines already read still go out.
    pub fn hold_input(&mut self, held: bool) {
        if let Some(shard) = self.shard.as_mut() {
            shard.held = held;
        }
    }

    /// The registry's answer to [`ShardEvent::ClaimName`]: `granted` if
    /// the name was free and is now held for `conn`. Returns whether the
    /// name is in use: false when `conn` left, renamed otherwise or never
    /// asked meanwhile, and then a granted name is the registry's to free.
    pub fn answer_name(&mut self, conn: ConnId, new: &str, granted: bool) -> bool {
        let asked = self
            .shard
            .as_mut()
            .and_then(|s| s.claims.remove(&conn))
            .is_some_and(|asked| asked == new);
        let Some(old) = self.table.get(conn).map(|p| p.nick.clone()) else {
            return false;
        };
        if !asked {
            return false;
        }
        if !granted {
            self.tell(conn, &format!("error: the name {new} is taken"));
            self.settle();
            return false;
        }
        self.force_rename(conn, &old, new);
        self.settle();
        true
    }

    /// The registry's answer to [`ShardEvent::Who`]: every name in the
    /// room (sorted here), told to `conn` as a local `/who` is.
    pub fn answer_who(&mut self, conn: ConnId, names: &[String]) {
        let mut names: Vec<&str> = names.iter().map(String::as_str).collect();
        names.sort_unstable();
        let list = format!("* {} online: {}", names.len(), names.join(", "));
        self.tell(conn, &list);
        self.settle();
    }

    /// Asks the registry for `new` on behalf of `conn` (a sharded room's
    /// rename, once the name is known valid): false when not sharded.
    pub(super) fn shard_claim(&mut self, conn: ConnId, old: &str, new: &str) -> bool {
        let Some(shard) = self.shard.as_mut() else {
            return false;
        };
        if shard.claims.contains_key(&conn) {
            self.tell(conn, "error: a rename is already under way");
            return true;
        }
        shard.claims.insert(conn, new.to_owned());
        self.events
            .push_back(super::ChatEvent::Shard(ShardEvent::ClaimName {
                conn,
                old: old.to_owned(),
                new: new.to_owned(),
            }));
        true
    }

    /// Tells the application that `nick` is let go, after the batch that
    /// carries the notice (sharded rooms only).
    pub(super) fn shard_released(&mut self, nick: &str) {
        if self.shard.is_none() {
            return;
        }
        self.flush_room_lines();
        self.events
            .push_back(super::ChatEvent::Shard(ShardEvent::Released {
                nick: nick.to_owned(),
            }));
    }

    /// 1:1 chat on several loops: `conn` (already in the table) waits for
    /// the application's word on the conversation.
    pub(super) fn ask_partner(&mut self, conn: ConnId, peer: core::net::SocketAddr) {
        if let Some(shard) = self.shard.as_mut() {
            shard.waiting.insert(conn, peer);
            self.events
                .push_back(super::ChatEvent::Shard(ShardEvent::ClaimPartner { conn }));
        }
    }

    /// Whether `conn` waits for [`answer_partner`](Self::answer_partner).
    pub(super) fn is_waiting(&self, conn: ConnId) -> bool {
        self.shard
            .as_ref()
            .is_some_and(|s| s.waiting.contains_key(&conn))
    }

    /// The application's answer to [`ShardEvent::ClaimPartner`]: `granted`
    /// if the conversation is now `conn`'s. Refused, the client is told
    /// the server is busy and closed. Returns whether `conn` holds the
    /// conversation: false when refused or gone meanwhile, and then a
    /// granted conversation is the application's to free.
    pub fn answer_partner(&mut self, conn: ConnId, granted: bool) -> bool {
        let Some(peer) = self.shard.as_mut().and_then(|s| s.waiting.remove(&conn)) else {
            return false;
        };
        let Some(nick) = self.table.get(conn).map(|p| p.nick.clone()) else {
            return false;
        };
        if !granted || self.partner.is_some() {
            self.tell(conn, super::BUSY);
            self.table.close(conn);
            self.events.push_back(super::ChatEvent::Refused {
                conn,
                peer,
                reason: crate::chat::CloseReason::Busy,
            });
            self.settle();
            return false;
        }
        self.nicks.insert(nick.clone(), conn);
        self.partner = Some(conn);
        self.events
            .push_back(super::ChatEvent::Connected { conn, peer, nick });
        if let Some(now) = self.presence.now {
            self.drain_lines(now, conn);
            self.reschedule(conn);
        }
        self.settle();
        true
    }

    /// 1:1 chat on several loops: tells the application the conversation
    /// with `conn` is over.
    pub(super) fn partner_left(&mut self, conn: ConnId) {
        if self.shard.is_some() {
            self.events
                .push_back(super::ChatEvent::Shard(ShardEvent::PartnerLeft { conn }));
        }
    }

    /// Asks the registry who is in the room: false when not sharded.
    pub(super) fn shard_who(&mut self, conn: ConnId) -> bool {
        if self.shard.is_none() {
            return false;
        }
        self.events
            .push_back(super::ChatEvent::Shard(ShardEvent::Who { conn }));
        true
    }

    /// Queues the room lines waiting for every local member and hands the
    /// same shared bytes to the application for the other loops.
    pub(super) fn flush_shared(&mut self) {
        let messages = self.room_lines.take_shared();
        let mut overflowed = std::mem::take(&mut self.overflowed);
        self.table.broadcast_shared(&messages, &mut overflowed);
        self.doom_all(overflowed);
        self.events
            .push_back(super::ChatEvent::Shard(ShardEvent::Batch(RoomBatch(
                messages,
            ))));
    }

    /// A connection's first name: `guestN` on the first loop, `guestN.L`
    /// on loop `L` (so names made on different loops never meet).
    pub(super) fn guest_name(conn: ConnId) -> String {
        match conn.loop_index() {
            0 => format!("guest{}", conn.local()),
            index => format!("guest{}.{index}", conn.local()),
        }
    }
}

/// Whether `name` is one the server gives new clients (`guestN`,
/// `guestN.L`), which nobody may take.
pub(super) fn is_guest_name(name: &str) -> bool {
    let digits = |p: &str| !p.is_empty() && p.bytes().all(|b| b.is_ascii_digit());
    name.strip_prefix("guest")
        .is_some_and(|rest| match rest.split_once('.') {
            _ if rest.is_empty() => true,
            Some((n, index)) => digits(n) && digits(index),
            None => digits(rest),
        })
}

/// A name in [`RoomNames`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Hold {
    /// A member has it.
    Member,
    /// Let go; free once this many more loops have seen that.
    Freeing(usize),
}

/// The names of a room spread across loops, kept in one place by the
/// application (behind a lock it holds only for one call): guest names
/// as members connect, claimed names as they are asked for. A name let
/// go stays taken until every other loop has seen its release, so each
/// loop's members see it let go before anyone takes it again.
#[derive(Debug, Default)]
pub struct RoomNames {
    held: HashMap<String, Hold>,
}

impl RoomNames {
    /// An empty registry.
    pub fn new() -> Self {
        Self::default()
    }

    /// Takes `name` for a member; false if it is held or being let go.
    pub fn claim(&mut self, name: &str) -> bool {
        if self.held.contains_key(name) {
            return false;
        }
        self.held.insert(name.to_owned(), Hold::Member);
        true
    }

    /// Lets `name` go, once `siblings` other loops have seen that
    /// ([`acked`](Self::acked)): at once with none.
    pub fn release(&mut self, name: &str, siblings: usize) {
        if siblings == 0 {
            self.held.remove(name);
        } else if let Some(hold) = self.held.get_mut(name) {
            *hold = Hold::Freeing(siblings);
        }
    }

    /// One more loop has seen `name` let go.
    pub fn acked(&mut self, name: &str) {
        if let Some(Hold::Freeing(left)) = self.held.get_mut(name) {
            *left -= 1;
            if *left == 0 {
                self.held.remove(name);
            }
        }
    }

    /// The names members hold now (in no order).
    pub fn members(&self) -> Vec<String> {
        self.held
            .iter()
            .filter(|(_, hold)| **hold == Hold::Member)
            .map(|(name, _)| name.clone())
            .collect()
    }
}
