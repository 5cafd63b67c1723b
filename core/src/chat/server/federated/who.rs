//! `/who` across servers: a question on the room's subject with a reply
//! subject on the asking server's inbox, answered with each server's
//! members; the asker answers its client when every known server has
//! answered or at [`WHO_DEADLINE`], and passes later answers on with a
//! note for [`WHO_LATE`] more.

use std::collections::{HashMap, HashSet};
use std::time::{Duration, Instant};

use super::{valid_remote_nick, Federation, MAX_REMOTE_NAMES};
use crate::chat::federation::{Envelope, EnvelopeError, RoomUpdate};
use crate::{ChatServer, ConnId};

/// How long `/who` waits for the other servers' answers.
pub const WHO_DEADLINE: Duration = Duration::from_secs(1);
/// How long after [`WHO_DEADLINE`] a late answer is still passed on.
pub const WHO_LATE: Duration = Duration::from_secs(10);
/// Most `/who`s waiting for answers at once.
pub const MAX_PENDING_WHO: usize = 64;

#[derive(Debug)]
pub(super) struct WhoQuery {
    id: u64,
    /// Whether the answer may go before the deadline once every known
    /// server answered: not in the first [`WHO_DEADLINE`] after linking,
    /// while this server is still learning who the others are.
    early: bool,
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

impl WhoQuery {
    /// When this question next needs the room's attention: its deadline,
    /// then the end of its late period.
    pub(super) fn next_deadline(&self) -> Instant {
        if self.answered {
            self.deadline + WHO_LATE
        } else {
            self.deadline
        }
    }
}

impl Federation {
    /// Asks every server who is there; answers come on the inbox.
    pub(super) fn ask(&mut self, now: Instant, conn: Option<ConnId>) {
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
            early: self.linked_at.is_some_and(|at| now >= at + WHO_DEADLINE),
        });
        let env = self.out.wrap(RoomUpdate::Who);
        let reply = format!("{}.{id}", self.inbox);
        self.send(self.subject.clone(), Some(reply), &env);
    }
}

impl ChatServer {
    /// `/who` in a federated room: local names now if unlinked, else
    /// everyone's by the deadline.
    pub(in crate::chat::server) fn federated_who(&mut self, now: Instant, conn: ConnId) -> bool {
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
        if fed.whos.len() >= MAX_PENDING_WHO {
            self.tell(
                conn,
                "error: too many /who questions wait for answers; try again in a moment",
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
    pub(super) fn finish_whos(&mut self, now: Instant) {
        let Some(fed) = &mut self.fed else {
            return;
        };
        let mut ready = Vec::new();
        fed.whos.retain_mut(|q| {
            if !q.answered && ((q.early && q.waiting.is_empty()) || now >= q.deadline) {
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

    /// An answer on this server's inbox, to query `id`.
    pub(super) fn on_answer(&mut self, now: Instant, id: u64, env: Envelope) {
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
        let Some(entry) = Federation::remote_mut(&mut fed.remote, &env.server, now) else {
            return;
        };
        let Some(q) = fed.whos.iter_mut().find(|q| q.id == id) else {
            // The server's own query after linking is done at once; its
            // answers fill the directory (a long list's parts come in
            // order: each part adds).
            if !entry.continuing {
                entry.names.clear();
            }
            entry.continuing = more;
            entry.add(&names);
            for nick in &names {
                self.claim(&env.server, nick);
            }
            return;
        };
        let parts = q.parts.entry(env.server.clone()).or_default();
        let room = MAX_REMOTE_NAMES.saturating_sub(parts.len());
        parts.extend(names.into_iter().take(room));
        if more {
            return;
        }
        let names = q.parts.remove(&env.server).unwrap_or_default();
        q.waiting.remove(&env.server);
        if !q.answered {
            q.names.extend(names.iter().cloned());
        }
        let late = q.answered.then_some(q.conn).flatten();
        entry.names.clear();
        entry.add(&names);
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
