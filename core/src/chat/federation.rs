//! What the servers of a federated room say to each other through the
//! broker: one JSON envelope per NATS message on `commlab.room.<NAME>`,
//! tagged with the sending server's id and a per-server sequence number,
//! and the checks a receiving server applies before any of it reaches a
//! client (issue 16).
//!
//! Guarantees of [`Inbound::accept`]: a message that claims this server's
//! own id (the broker never sends a server its own, `echo:false`), that is
//! malformed, or that repeats or goes back in a sender's sequence is
//! refused with a typed reason, so each server's lines reach local
//! clients at most once and in the order sent.

use serde::{Deserialize, Serialize};

use crate::Fault;

/// The subject prefix of every room: `commlab.room.<NAME>`.
pub const SUBJECT_PREFIX: &str = "commlab.room.";
/// Longest envelope accepted, in bytes (a line is at most the room's own
/// line limit; this leaves room for the tags).
pub const MAX_ENVELOPE: usize = 128 * 1024;
/// Longest server id or room name.
pub const MAX_ID: usize = 64;

/// The subject of room `name`, if `name` can be one (letters, digits,
/// `-` and `_`, at most [`MAX_ID`] bytes).
pub fn room_subject(name: &str) -> Option<String> {
    valid_id(name).then(|| format!("{SUBJECT_PREFIX}{name}"))
}

/// Whether `id` can name a server or a room.
pub fn valid_id(id: &str) -> bool {
    !id.is_empty()
        && id.len() <= MAX_ID
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

/// What happened in a room on one server.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "lowercase")]
pub enum RoomUpdate {
    /// `nick` said `text`.
    Line {
        /// Who spoke.
        nick: String,
        /// What they said.
        text: String,
    },
    /// `nick` joined.
    Join {
        /// The newcomer.
        nick: String,
    },
    /// `nick` left.
    Leave {
        /// Who left.
        nick: String,
    },
    /// `old` is now `new`.
    Rename {
        /// The former name.
        old: String,
        /// The new one.
        new: String,
    },
    /// A server's members: on the room's subject, what it has (when it
    /// links, and every [`ANNOUNCE_INTERVAL`](crate::chat::ANNOUNCE_INTERVAL));
    /// on an inbox, the answer to a [`Who`](Self::Who). A long list comes
    /// in parts, all but the last with `more`.
    Members {
        /// Names on the sending server.
        names: Vec<String>,
        /// More parts follow.
        #[serde(default, skip_serializing_if = "std::ops::Not::not")]
        more: bool,
    },
    /// Who is there? (`/who`, or a server that just linked): each server
    /// answers with its [`Members`](Self::Members) on the message's reply
    /// subject.
    Who,
}

/// One message between servers: who sent it, its place in that server's
/// sequence, and what happened.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Envelope {
    /// Format version (1).
    pub v: u32,
    /// The sending server's id.
    pub server: String,
    /// Which run of that server (a number it picked at start): a server
    /// that restarts numbers from 1 again in a new run.
    pub run: u64,
    /// The sender's sequence number in its run: 1, 2, 3...
    pub seq: u64,
    /// What happened.
    #[serde(flatten)]
    pub update: RoomUpdate,
}

impl Envelope {
    /// The envelope as sent (JSON).
    pub fn encode(&self) -> Vec<u8> {
        serde_json::to_vec(self).unwrap_or_default()
    }
}

/// Why another server's message was refused (dropped and counted; the
/// link stays).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EnvelopeError {
    /// Over [`MAX_ENVELOPE`] bytes.
    #[error("a {0}-byte message, over the limit of {MAX_ENVELOPE}")]
    TooLarge(usize),
    /// Not the JSON of an envelope, or a version this server does not know.
    #[error("malformed message: {0}")]
    Malformed(String),
    /// It claims to come from this server (which the broker never echoes).
    #[error("a message claiming this server's own id '{0}'")]
    Impostor(String),
    /// A sequence number already seen from that server, or an older one.
    #[error("a repeated or out-of-order message from {server} (seq {seq}, last {last})")]
    Stale {
        /// The sending server.
        server: String,
        /// Its sequence number.
        seq: u64,
        /// The last one accepted from it.
        last: u64,
    },
}

impl EnvelopeError {
    /// Who is at fault: the other server (or whoever wrote in its name).
    pub fn fault(&self) -> Fault {
        match self {
            Self::TooLarge(_) => Fault::Limit,
            Self::Stale { .. } => Fault::PeerOrder,
            _ => Fault::PeerData,
        }
    }
}

/// The inbox subjects of run `run` of server `id`: answers to its
/// questions come on `<prefix>.<N>`; it subscribes to `<prefix>.*`.
pub fn inbox_prefix(id: &str, run: u64) -> String {
    format!("_INBOX.commlab.{id}.{run}")
}

/// Numbers this server's outgoing envelopes.
#[derive(Debug, Clone)]
pub struct Outbound {
    server: String,
    run: u64,
    seq: u64,
}

impl Outbound {
    /// Envelopes from server `id` in run `run` (a number the driver picks
    /// at start, random: core has no randomness), numbered from 1.
    pub fn new(id: &str, run: u64) -> Self {
        Self {
            server: id.to_owned(),
            run,
            seq: 0,
        }
    }

    /// An answer to one server's question (on its inbox): outside the
    /// sequence (number 0), since the room's other servers never see it.
    pub fn reply(&self, update: RoomUpdate) -> Envelope {
        Envelope {
            v: 1,
            server: self.server.clone(),
            run: self.run,
            seq: 0,
            update,
        }
    }

    /// The next envelope, carrying `update`.
    pub fn wrap(&mut self, update: RoomUpdate) -> Envelope {
        self.seq += 1;
        Envelope {
            v: 1,
            server: self.server.clone(),
            run: self.run,
            seq: self.seq,
            update,
        }
    }
}

/// Checks other servers' envelopes: well-formed, not ours, in order.
#[derive(Debug)]
pub struct Inbound {
    own: String,
    /// The run and last sequence number accepted, by server id.
    last: std::collections::HashMap<String, (u64, u64)>,
    /// Refused so far.
    refused: u64,
}

impl Inbound {
    /// Checks for server `own`.
    pub fn new(own: &str) -> Self {
        Self {
            own: own.to_owned(),
            last: std::collections::HashMap::new(),
            refused: 0,
        }
    }

    /// The envelope in `payload` if it may reach local clients.
    pub fn accept(&mut self, payload: &[u8]) -> Result<Envelope, EnvelopeError> {
        let result = self.check(payload);
        if result.is_err() {
            self.refused += 1;
        }
        result
    }

    /// An answer on this server's inbox, if well-formed and not ours
    /// (answers are outside the sequence: see [`Outbound::reply`]).
    pub fn accept_reply(&mut self, payload: &[u8]) -> Result<Envelope, EnvelopeError> {
        let result = self.parse(payload);
        if result.is_err() {
            self.refused += 1;
        }
        result
    }

    fn parse(&self, payload: &[u8]) -> Result<Envelope, EnvelopeError> {
        if payload.len() > MAX_ENVELOPE {
            return Err(EnvelopeError::TooLarge(payload.len()));
        }
        let env: Envelope =
            serde_json::from_slice(payload).map_err(|e| EnvelopeError::Malformed(e.to_string()))?;
        if env.v != 1 {
            return Err(EnvelopeError::Malformed(format!("version {}", env.v)));
        }
        if !valid_id(&env.server) {
            return Err(EnvelopeError::Malformed("bad server id".into()));
        }
        if env.server == self.own {
            return Err(EnvelopeError::Impostor(env.server));
        }
        Ok(env)
    }

    fn check(&mut self, payload: &[u8]) -> Result<Envelope, EnvelopeError> {
        let env = self.parse(payload)?;
        // A new run of a server (it restarted) starts its numbers anew.
        match self.last.get(&env.server) {
            Some(&(run, last)) if run == env.run && env.seq <= last => {
                return Err(EnvelopeError::Stale {
                    server: env.server,
                    seq: env.seq,
                    last,
                });
            }
            _ => {}
        }
        self.last.insert(env.server.clone(), (env.run, env.seq));
        Ok(env)
    }

    /// Messages refused so far.
    pub fn refused(&self) -> u64 {
        self.refused
    }

    /// Forgets what a server said (it left the federation).
    pub fn forget(&mut self, server: &str) {
        self.last.remove(server);
    }
}
