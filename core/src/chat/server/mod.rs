//! The chat server's state machine.
//!
//! Per connection: connect → (lines)* → close. A connection is closed by
//! its peer (EOF, `/quit`), by a fatal line error (too long), by going over
//! the output cap (slow reader), by the idle timeout, or by shutdown. Each
//! close is reported once as [`ChatEvent::Disconnected`] and, in room mode,
//! announced to the others.

mod federated;
mod presence;
mod shard;

use core::net::SocketAddr;
use std::collections::{HashMap, VecDeque};
use std::time::Instant;

pub use federated::{
    FederationConfig, InvalidId, ANNOUNCE_INTERVAL, MAX_PENDING_WHO, MAX_REMOTE_NAMES, MAX_SERVERS,
    MEMBERS_PART, WHO_DEADLINE, WHO_LATE,
};
pub use presence::{SUMMARY_ABOVE, SUMMARY_INTERVAL};
pub use shard::{RoomBatch, RoomNames, ShardEvent, MAX_IN_FLIGHT};

use super::federation::RoomUpdate;
use super::{ChatConfig, ChatEvent, ChatMode, CloseReason, ConsoleError, MAX_NICK};
use crate::{
    encode_line, BroadcastBatch, ConnId, ConnTable, DeadlineQueue, LineError, LineReader, Overflow,
    Service,
};

/// How much longer than `max_line` a line the server makes may be.
pub const OUT_SLACK: usize = 1024;

const WELCOME: &str = "* welcome, you are ";
/// What a 1:1 chat server tells a client while it talks with another.
const BUSY: &str = "error: this server is chatting with another client; try again later";

/// The room's welcome line for `nick` (the first line a room client gets).
pub fn welcome_line(nick: &str) -> String {
    format!("{WELCOME}{nick}; /nick NAME renames you, /help lists commands")
}

/// The name a room's welcome line gives, if `line` is one.
pub fn welcomed_nick(line: &str) -> Option<&str> {
    line.strip_prefix(WELCOME)?.split(';').next()
}

#[derive(Debug)]
struct Peer {
    reader: LineReader,
    nick: String,
    last_active: Instant,
    spoke: bool,
}

/// The chat server in one of its [`ChatMode`]s, as a sans-IO [`Service`].
///
/// Guarantees: every client's output is capped at `max_backlog` bytes (a
/// client over it is dropped with [`CloseReason::SlowReader`]); every line
/// is bounded by `max_line`; in room mode each line reaches every other open
/// client exactly once, in the order the server received it.
#[derive(Debug)]
pub struct ChatServer {
    cfg: ChatConfig,
    table: ConnTable<Peer>,
    timers: DeadlineQueue,
    events: VecDeque<ChatEvent>,
    partner: Option<ConnId>,
    nicks: HashMap<String, ConnId>,
    doomed: Vec<(ConnId, String, CloseReason)>,
    overflowed: Vec<(ConnId, Overflow)>,
    scratch: Vec<u8>,
    /// Room lines received and not yet queued: they go out together, and
    /// before any other output (so the order stays the order of arrival).
    room_lines: BroadcastBatch,
    stopping: bool,
    /// The federated room's state, when this room spans servers.
    fed: Option<Box<federated::Federation>>,
    /// The sharded room's state, when this room spans event loops.
    shard: Option<shard::Shard>,
    /// Join and leave notices waiting for a summary (large rooms).
    presence: presence::Presence,
}

impl ChatServer {
    /// A server with the given settings.
    pub fn new(cfg: ChatConfig) -> Self {
        Self {
            table: ConnTable::new(cfg.max_backlog),
            cfg,
            timers: DeadlineQueue::new(),
            events: VecDeque::new(),
            partner: None,
            nicks: HashMap::new(),
            doomed: Vec::new(),
            overflowed: Vec::new(),
            scratch: Vec::new(),
            room_lines: BroadcastBatch::default(),
            stopping: false,
            fed: None,
            shard: None,
            presence: presence::Presence::default(),
        }
    }

    /// The mode this server runs in.
    pub fn mode(&self) -> ChatMode {
        self.cfg.mode
    }

    /// Number of open clients.
    pub fn clients(&self) -> usize {
        self.nicks.len()
    }

    /// A line typed by the operator at the server console.
    ///
    /// Chat mode: sent to the client, once it has spoken. Room mode: sent to
    /// everyone as `server: <text>`. Returns how many clients it went to.
    pub fn console_line(&mut self, _now: Instant, text: &str) -> Result<usize, ConsoleError> {
        let sent = match self.cfg.mode {
            ChatMode::Echo => return Err(ConsoleError::EchoMode),
            ChatMode::Chat => {
                let conn = self.partner.ok_or(ConsoleError::NoClient)?;
                let spoke = self.table.get(conn).is_some_and(|p| p.spoke);
                if !spoke {
                    return Err(ConsoleError::ClientFirst);
                }
                self.encode(text)?;
                self.mirror_terminator(conn);
                self.deliver_scratch(conn);
                1
            }
            ChatMode::Room => {
                if self.nicks.is_empty() {
                    return Err(ConsoleError::NoClient);
                }
                self.encode(&format!("server: {text}"))?;
                let sent = self.broadcast_scratch(None);
                if let Some(id) = self.fed.as_ref().map(|f| f.id.clone()) {
                    self.federate(RoomUpdate::Line {
                        nick: format!("server@{id}"),
                        text: text.to_owned(),
                    });
                }
                sent
            }
        };
        self.settle();
        Ok(sent)
    }

    fn encode(&mut self, text: &str) -> Result<(), LineError> {
        self.scratch.clear();
        encode_line(text, self.out_limit(), &mut self.scratch)
    }

    /// Drops the newline of the encoded line in `scratch` when `conn`
    /// speaks without newlines (the class's client sends each message bare
    /// and prints whatever one read returns, as the class's server
    /// answers): it is answered the way it speaks.
    fn mirror_terminator(&mut self, conn: ConnId) {
        if self
            .table
            .get(conn)
            .is_some_and(|p| p.reader.last_line_unterminated())
        {
            self.scratch.pop();
        }
    }

    /// Sends a server-made line (never over the limit: truncated if it were).
    fn tell(&mut self, conn: ConnId, text: &str) {
        self.tell_as(conn, text, false);
    }

    /// [`tell`](Self::tell), answering as `conn` speaks when `mirror` is
    /// set (see [`mirror_terminator`](Self::mirror_terminator)).
    fn tell_as(&mut self, conn: ConnId, text: &str, mirror: bool) {
        let mut text = text.replace(['\r', '\n'], " ");
        if text.len() > self.out_limit() {
            let mut cut = self.out_limit();
            while !text.is_char_boundary(cut) {
                cut -= 1;
            }
            text.truncate(cut);
        }
        if self.encode(&text).is_ok() {
            if mirror {
                self.mirror_terminator(conn);
            }
            self.deliver_scratch(conn);
        }
    }

    /// Longest line the server sends: a client's line plus a name prefix or
    /// an error text fits.
    fn out_limit(&self) -> usize {
        self.cfg.max_line + OUT_SLACK
    }

    fn deliver_scratch(&mut self, conn: ConnId) {
        self.flush_room_lines();
        if let Err(overflow) = self.table.send(conn, &self.scratch) {
            self.doom(conn, overflow);
        }
    }

    /// Notes a client dropped for not reading (reported by [`settle`](Self::settle)).
    fn doom(&mut self, conn: ConnId, overflow: Overflow) {
        let nick = self.nick_of(conn);
        self.doomed
            .push((conn, nick, CloseReason::SlowReader(overflow)));
    }

    /// Sends the scratch line to every open client but `except`: one pass
    /// over the table, one copy of the line per client.
    /// In a sharded room the line joins the room's batch instead, for the
    /// other loops too (the count is then this loop's open clients).
    fn broadcast_scratch(&mut self, except: Option<ConnId>) -> usize {
        if self.shard.is_some() {
            self.room_lines.push(&self.scratch, except);
            let members = self.nicks.len();
            return members - usize::from(except.is_some_and(|c| self.table.get(c).is_some()));
        }
        self.flush_room_lines();
        let mut overflowed = std::mem::take(&mut self.overflowed);
        let sent = self.table.broadcast(&self.scratch, except, &mut overflowed);
        self.doom_all(overflowed);
        sent
    }

    /// Queues the room lines waiting in the batch, each for every open
    /// client but its sender. Called before any other output or change to
    /// the table, and when the driver polls.
    fn flush_room_lines(&mut self) {
        if self.room_lines.is_empty() {
            return;
        }
        if self.shard.is_some() {
            self.flush_shared();
            return;
        }
        let mut overflowed = std::mem::take(&mut self.overflowed);
        self.table
            .broadcast_batch(&mut self.room_lines, &mut overflowed);
        self.doom_all(overflowed);
    }

    /// Before the driver takes anything out: the waiting room lines are
    /// queued and the clients they overflowed are reported.
    fn catch_up(&mut self) {
        self.flush_room_lines();
        self.settle();
    }

    /// Dooms every overflowed connection; keeps the list's memory.
    fn doom_all(&mut self, mut overflowed: Vec<(ConnId, Overflow)>) {
        for (conn, overflow) in overflowed.drain(..) {
            self.doom(conn, overflow);
        }
        self.overflowed = overflowed;
    }

    fn announce(&mut self, except: Option<ConnId>, text: &str) {
        if self.cfg.mode == ChatMode::Room
            && self.cfg.notices
            && !self.stopping
            && self.encode(text).is_ok()
        {
            self.broadcast_scratch(except);
        }
    }

    /// The name of a connection the table still holds, open or closing.
    fn nick_of(&self, conn: ConnId) -> String {
        self.table
            .get_any(conn)
            .map(|p| p.nick.clone())
            .unwrap_or_else(|| Self::guest_name(conn))
    }

    /// Closes an open connection after its output is flushed, and reports it.
    fn close(&mut self, conn: ConnId, reason: CloseReason) {
        self.flush_room_lines();
        let Some(nick) = self.table.get(conn).map(|p| p.nick.clone()) else {
            return;
        };
        self.table.close(conn);
        self.forget(conn, nick, reason);
    }

    /// Bookkeeping for a connection that is no longer open.
    fn forget(&mut self, conn: ConnId, nick: String, reason: CloseReason) {
        if self.nicks.get(&nick) != Some(&conn) {
            return;
        }
        self.nicks.remove(&nick);
        self.timers.cancel(conn);
        if self.partner == Some(conn) {
            self.partner = None;
            self.partner_left(conn);
        }
        self.events.push_back(ChatEvent::Disconnected {
            conn,
            nick: nick.clone(),
            reason,
        });
        self.notice_leave(Some(conn), &nick);
        self.shard_released(&nick);
        self.federate(RoomUpdate::Leave { nick });
    }

    /// Reports the clients dropped for overflowing while lines were delivered
    /// (which may drop more: the loop runs until none is left).
    fn settle(&mut self) {
        while let Some((conn, nick, reason)) = self.doomed.pop() {
            self.forget(conn, nick, reason);
        }
    }

    fn reschedule(&mut self, conn: ConnId) {
        let Some(peer) = self.table.get(conn) else {
            return;
        };
        let idle = self.cfg.idle_timeout.map(|d| peer.last_active + d);
        let next = match (idle, peer.reader.poll_timeout()) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        };
        if let Some(at) = next {
            self.timers.schedule(conn, at);
        }
    }

    /// Takes every complete line out of `conn`'s reader and acts on it.
    fn drain_lines(&mut self, now: Instant, conn: ConnId) {
        loop {
            let Some(peer) = self.table.get_mut(conn) else {
                return;
            };
            match peer.reader.next_line() {
                Ok(Some(line)) => self.on_line(now, conn, line),
                Ok(None) => return,
                Err(error) if error.is_fatal() => {
                    self.tell(conn, &format!("error: {error}; closing the connection"));
                    self.close(conn, CloseReason::LineTooLong(error));
                    return;
                }
                Err(error) => {
                    self.tell(conn, &format!("error: {error}"));
                    self.events.push_back(ChatEvent::BadLine { conn, error });
                }
            }
        }
    }

    fn on_line(&mut self, now: Instant, conn: ConnId, line: String) {
        let nick = self.nick_of(conn);
        match self.cfg.mode {
            ChatMode::Echo => self.tell_as(conn, &format!("Eco=>{line}"), true),
            ChatMode::Chat => {
                if let Some(peer) = self.table.get_mut(conn) {
                    peer.spoke = true;
                }
            }
            ChatMode::Room => {
                if line.starts_with('/') {
                    self.room_command(now, conn, &nick, &line);
                    return;
                }
                if self.encode(&format!("{nick}: {line}")).is_ok() {
                    self.room_lines.push(&self.scratch, Some(conn));
                    if self.room_lines.len() >= self.cfg.max_backlog {
                        // Past this every receiver would overflow anyway.
                        self.flush_room_lines();
                    }
                    if self.fed.is_some() {
                        self.federate(RoomUpdate::Line {
                            nick: nick.clone(),
                            text: line.clone(),
                        });
                    }
                } else {
                    self.tell(conn, "error: line too long once prefixed with your name");
                }
            }
        }
        self.events
            .push_back(ChatEvent::Received { conn, nick, line });
    }

    fn room_command(&mut self, now: Instant, conn: ConnId, nick: &str, line: &str) {
        let mut words = line.split_whitespace();
        let command = words.next().unwrap_or_default();
        let arg = words.next();
        match (command, arg, words.next()) {
            ("/nick", Some(new), None) => self.rename(conn, nick, new),
            ("/nick", _, _) => self.tell(conn, "error: usage: /nick NAME"),
            ("/quit", _, _) => {
                self.tell(conn, "* bye");
                self.close(conn, CloseReason::Quit);
            }
            ("/who", _, _) if self.federated_who(now, conn) || self.shard_who(conn) => {}
            ("/who", _, _) => {
                let mut names: Vec<&str> = self.nicks.keys().map(String::as_str).collect();
                names.sort_unstable();
                let list = format!("* {} online: {}", names.len(), names.join(", "));
                self.tell(conn, &list);
            }
            ("/help", _, _) => self.tell(
                conn,
                "* commands: /nick NAME (rename), /who (list), /quit (leave), /help",
            ),
            _ => self.tell(
                conn,
                &format!("error: unknown command {command}; try /help"),
            ),
        }
    }

    fn rename(&mut self, conn: ConnId, old: &str, new: &str) {
        if new.is_empty()
            || new.len() > MAX_NICK
            || !new
                .chars()
                .all(|c| c.is_alphanumeric() || "-_.".contains(c))
        {
            self.tell(
                conn,
                &format!(
                    "error: a name is 1 to {MAX_NICK} bytes of letters, digits, '-', '_' or '.'"
                ),
            );
            return;
        }
        if new == old {
            return;
        }
        if shard::is_guest_name(new) {
            self.tell(conn, "error: names guestN are reserved for new clients");
            return;
        }
        if self.nicks.contains_key(new) {
            self.tell(conn, &format!("error: the name {new} is taken"));
            return;
        }
        if let Some(server) = self.fed.as_ref().and_then(|f| f.holder(new)) {
            let text = format!("error: the name {new} is taken (on server {server})");
            self.tell(conn, &text);
            return;
        }
        if self.shard_claim(conn, old, new) {
            return;
        }
        self.force_rename(conn, old, new);
    }

    /// Renames `conn` from `old` to `new` (checked by the caller), and
    /// tells the room and the other servers.
    fn force_rename(&mut self, conn: ConnId, old: &str, new: &str) {
        self.nicks.remove(old);
        self.nicks.insert(new.to_owned(), conn);
        if let Some(peer) = self.table.get_mut(conn) {
            peer.nick = new.to_owned();
        }
        self.announce(None, &format!("* {old} is now {new}"));
        self.events.push_back(ChatEvent::Renamed {
            conn,
            old: old.to_owned(),
            new: new.to_owned(),
        });
        self.shard_released(old);
        self.federate(RoomUpdate::Rename {
            old: old.to_owned(),
            new: new.to_owned(),
        });
    }

    fn refuse_at(
        &mut self,
        now: Instant,
        conn: ConnId,
        peer: SocketAddr,
        reason: CloseReason,
        text: &str,
    ) {
        self.flush_room_lines();
        self.table.insert(conn, self.new_peer(conn, now));
        self.tell(conn, text);
        self.table.close(conn);
        self.events
            .push_back(ChatEvent::Refused { conn, peer, reason });
    }

    fn new_peer(&self, conn: ConnId, now: Instant) -> Peer {
        Peer {
            reader: LineReader::new(self.cfg.max_line, self.cfg.quiet_flush),
            nick: match &self.fed {
                Some(fed) => format!("guest{}@{}", conn.0, fed.id),
                None => Self::guest_name(conn),
            },
            last_active: now,
            spoke: false,
        }
    }
}

impl Service for ChatServer {
    type Event = ChatEvent;

    fn handle_connect(&mut self, now: Instant, conn: ConnId, peer: SocketAddr) {
        self.tick(now);
        if self.nicks.len() >= self.cfg.max_clients {
            let text = format!(
                "error: the server is full ({} clients); try again later",
                self.cfg.max_clients
            );
            self.refuse_at(now, conn, peer, CloseReason::Full, &text);
            return;
        }
        if self.cfg.mode == ChatMode::Chat && self.partner.is_some() {
            self.refuse_at(now, conn, peer, CloseReason::Busy, BUSY);
            return;
        }
        let state = self.new_peer(conn, now);
        let nick = state.nick.clone();
        self.flush_room_lines();
        self.table.insert(conn, state);
        if self.cfg.mode == ChatMode::Chat && self.shard.is_some() {
            // The conversation may be another loop's: ask.
            self.ask_partner(conn, peer);
            return;
        }
        self.nicks.insert(nick.clone(), conn);
        if self.cfg.mode == ChatMode::Chat {
            self.partner = Some(conn);
        }
        self.events.push_back(ChatEvent::Connected {
            conn,
            peer,
            nick: nick.clone(),
        });
        if self.cfg.mode == ChatMode::Room {
            self.tell(conn, &welcome_line(&nick));
            self.notice_join(Some(conn), &nick);
            self.federate(RoomUpdate::Join { nick });
        }
        self.reschedule(conn);
        self.settle();
    }

    fn handle_input(&mut self, now: Instant, conn: ConnId, bytes: &[u8]) {
        self.tick(now);
        let Some(peer) = self.table.get_mut(conn) else {
            return;
        };
        peer.reader.handle_input(now, bytes);
        peer.last_active = now;
        if self.is_waiting(conn) {
            return;
        }
        self.drain_lines(now, conn);
        self.reschedule(conn);
        self.settle();
    }

    fn handle_eof(&mut self, now: Instant, conn: ConnId) {
        self.tick(now);
        let Some(peer) = self.table.get_mut(conn) else {
            return;
        };
        peer.reader.handle_eof();
        self.drain_lines(now, conn);
        self.close(conn, CloseReason::PeerClosed);
        self.settle();
    }

    fn handle_lost(&mut self, now: Instant, conn: ConnId, error: &str) {
        self.tick(now);
        self.flush_room_lines();
        let Some(nick) = self.table.get(conn).map(|p| p.nick.clone()) else {
            self.table.remove(conn);
            return;
        };
        self.table.remove(conn);
        self.forget(conn, nick, CloseReason::Lost(error.to_owned()));
        self.settle();
    }

    fn handle_timeout(&mut self, now: Instant) {
        self.tick(now);
        while let Some(conn) = self.timers.pop_due(now) {
            if conn == federated::ROOM_TIMER {
                self.handle_room_timer(now);
                continue;
            }
            if conn == presence::SUMMARY_TIMER {
                self.send_summary();
                continue;
            }
            let Some(peer) = self.table.get_mut(conn) else {
                continue;
            };
            if let Some(idle) = self.cfg.idle_timeout {
                if peer.last_active + idle <= now {
                    self.tell(
                        conn,
                        &format!(
                            "error: idle for {}; closing the connection",
                            super::human(idle)
                        ),
                    );
                    self.close(conn, CloseReason::Idle(idle));
                    continue;
                }
            }
            peer.reader.handle_timeout(now);
            self.drain_lines(now, conn);
            self.reschedule(conn);
        }
        self.settle();
    }

    fn handle_shutdown(&mut self, _now: Instant) {
        self.stopping = true;
        for conn in self.table.open_ids() {
            self.tell(conn, "* server shutting down");
            self.close(conn, CloseReason::Shutdown);
        }
        self.settle();
    }

    fn wants_input(&self, conn: ConnId) -> bool {
        self.shard
            .as_ref()
            .is_none_or(|shard| !shard.held && !shard.waiting.contains_key(&conn))
    }

    crate::conn_table::table_outputs!(before: catch_up);
}
