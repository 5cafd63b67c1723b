//! Join and leave notices in a large room. Up to [`SUMMARY_ABOVE`]
//! clients each join and leave is its own line (`* ana joined`), sent at
//! once; above it they are gathered and sent as one summary a
//! [`SUMMARY_INTERVAL`] (`* 37 joined: ana, bia, ...; 2 left: caio,
//! duda`), so a join storm of n clients costs O(n) lines, not O(n²).
//!
//! Guarantees: every join and leave is announced once, in the order they
//! happened (once summaries start, every notice waits for the next one
//! until it is sent), to every client open when the summary goes out; a
//! summary is split into lines of at most the room's line limit only when
//! its names do not fit in one.

use std::time::{Duration, Instant};

use super::ChatServer;
use crate::chat::ChatMode;
use crate::ConnId;

/// Room size above which joins and leaves are announced in summaries.
pub const SUMMARY_ABOVE: usize = 256;
/// How often a summary goes out, at most.
pub const SUMMARY_INTERVAL: Duration = Duration::from_secs(1);
/// The timer key of the summaries (drivers never pick it).
pub(super) const SUMMARY_TIMER: ConnId = ConnId(u64::MAX - 1);

/// Notices waiting for the next summary.
#[derive(Debug, Default)]
pub(super) struct Presence {
    joined: Vec<String>,
    left: Vec<String>,
    due: Option<Instant>,
    /// The time of the last input (leaves are noticed where no time is
    /// passed in).
    pub(super) now: Option<Instant>,
}

impl Presence {
    fn is_empty(&self) -> bool {
        self.joined.is_empty() && self.left.is_empty()
    }
}

/// The summary lines for `joined` and `left`, each at most `max` bytes
/// (one line when it fits).
fn summary_lines(joined: &[String], left: &[String], max: usize) -> Vec<String> {
    let part =
        |what: &str, names: &[String]| format!("{} {what}: {}", names.len(), names.join(", "));
    let mut parts = Vec::new();
    if !joined.is_empty() {
        parts.push(part("joined", joined));
    }
    if !left.is_empty() {
        parts.push(part("left", left));
    }
    let whole = format!("* {}", parts.join("; "));
    if whole.len() <= max {
        return vec![whole];
    }
    let mut lines = Vec::new();
    for (what, names) in [("joined", joined), ("left", left)] {
        let mut chunk: Vec<String> = Vec::new();
        let mut len = 0;
        for name in names {
            // "* NNNNN what: " plus ", " per name.
            if !chunk.is_empty() && len + name.len() + 2 + what.len() + 16 > max {
                lines.push(format!("* {}", part(what, &chunk)));
                chunk.clear();
                len = 0;
            }
            len += name.len() + 2;
            chunk.push(name.clone());
        }
        if !chunk.is_empty() {
            lines.push(format!("* {}", part(what, &chunk)));
        }
    }
    lines
}

impl ChatServer {
    /// Notes the time of an input (for leaves noticed without one).
    pub(super) fn tick(&mut self, now: Instant) {
        self.presence.now = Some(now);
    }

    /// Announces that `nick` joined (to all but `except`), at once or in
    /// the next summary.
    pub(super) fn notice_join(&mut self, except: Option<ConnId>, nick: &str) {
        self.notice(except, nick, true);
    }

    /// Announces that `nick` left, at once or in the next summary.
    pub(super) fn notice_leave(&mut self, except: Option<ConnId>, nick: &str) {
        self.notice(except, nick, false);
    }

    fn notice(&mut self, except: Option<ConnId>, nick: &str, joined: bool) {
        if self.cfg.mode != ChatMode::Room || !self.cfg.notices || self.stopping {
            return;
        }
        if self.presence.is_empty() && self.nicks.len() <= SUMMARY_ABOVE {
            let what = if joined { "joined" } else { "left" };
            self.announce(except, &format!("* {nick} {what}"));
            return;
        }
        let list = if joined {
            &mut self.presence.joined
        } else {
            &mut self.presence.left
        };
        list.push(nick.to_owned());
        if self.presence.due.is_none() {
            if let Some(now) = self.presence.now {
                let due = now + SUMMARY_INTERVAL;
                self.presence.due = Some(due);
                self.timers.schedule(SUMMARY_TIMER, due);
            }
        }
    }

    /// Sends the summary of the notices waiting (the timer fired).
    pub(super) fn send_summary(&mut self) {
        self.presence.due = None;
        let joined = std::mem::take(&mut self.presence.joined);
        let left = std::mem::take(&mut self.presence.left);
        if self.stopping || (joined.is_empty() && left.is_empty()) {
            return;
        }
        // Through the room's batch: the summary is held once, every
        // member's queue refers to it (a summary of n names to n members
        // is then O(n) memory, not O(n²)).
        self.flush_room_lines();
        for line in summary_lines(&joined, &left, self.out_limit()) {
            if self.encode(&line).is_ok() {
                self.room_lines.push(&self.scratch, None);
            }
        }
        self.flush_room_lines();
    }
}

#[cfg(test)]
mod tests {
    use super::summary_lines;

    fn names(prefix: &str, n: usize) -> Vec<String> {
        (0..n).map(|i| format!("{prefix}{i}")).collect()
    }

    #[test]
    fn one_line_when_it_fits_else_lines_under_the_limit_with_every_name_once() {
        assert_eq!(
            summary_lines(&names("a", 2), &names("b", 1), 100),
            ["* 2 joined: a0, a1; 1 left: b0"]
        );
        assert_eq!(summary_lines(&[], &names("b", 1), 100), ["* 1 left: b0"]);
        let joined = names("guest", 3000);
        let lines = summary_lines(&joined, &names("x", 10), 1000);
        assert!(lines.iter().all(|l| l.len() <= 1000), "{lines:?}");
        let mut seen = Vec::new();
        for l in &lines {
            let (_, list) = l.split_once(": ").unwrap();
            if l.contains(" joined: ") {
                seen.extend(list.split(", ").map(str::to_owned));
            }
        }
        assert_eq!(seen, joined);
    }
}
