//! Join and leave notices in a large room: past SUMMARY_ABOVE clients they
//! come as one summary a second, every join and leave once, in order, to
//! every member; a join storm costs each member O(1) lines a second, and a
//! newcomer is greeted at once.

#![allow(clippy::disallowed_methods)] // tests may read the clock to seed a virtual one

use commlab_core::chat::{SUMMARY_ABOVE, SUMMARY_INTERVAL};
use commlab_core::testing::ServicePump;
use commlab_core::{ChatConfig, ChatMode, ChatServer};

fn room() -> ServicePump<ChatServer> {
    ServicePump::new(
        ChatServer::new(ChatConfig::new(ChatMode::Room)),
        std::time::Instant::now(),
    )
}

/// The names in `* N joined: a, b; M left: c` lines, by kind, in order.
fn summarized(text: &str) -> (Vec<String>, Vec<String>) {
    let (mut joined, mut left) = (Vec::new(), Vec::new());
    for line in text
        .lines()
        .filter(|l| l.starts_with("* ") && l.contains(": "))
    {
        for part in line[2..].split("; ") {
            let Some((head, names)) = part.split_once(": ") else {
                continue;
            };
            let list = names.split(", ").map(str::to_owned);
            if head.ends_with(" joined") {
                joined.extend(list);
            } else if head.ends_with(" left") {
                left.extend(list);
            }
        }
    }
    (joined, left)
}

#[test]
fn small_rooms_announce_each_join_at_once() {
    let mut p = room();
    p.connect(1);
    p.take_text(1);
    p.connect(2);
    assert_eq!(p.take_text(1), "* guest2 joined\n");
    p.eof(2);
    assert_eq!(p.take_text(1), "* guest2 left\n");
}

#[test]
fn past_the_threshold_joins_and_leaves_come_in_one_summary_a_second_in_order() {
    let mut p = room();
    let first = SUMMARY_ABOVE as u64;
    for id in 1..=first {
        p.connect(id);
    }
    p.take_all();
    // The room is at the threshold: the next joins are summarized.
    let newcomers: Vec<u64> = (first + 1..first + 101).collect();
    for &id in &newcomers {
        p.connect(id);
        // Greeted at once, whatever the storm.
        assert!(p.take_text(id).starts_with("* welcome, you are "));
    }
    p.eof(5);
    p.eof(first + 1);
    assert_eq!(p.take_text(1), "", "nothing before the summary is due");
    p.advance(SUMMARY_INTERVAL);
    let text = p.take_text(1);
    assert_eq!(text.lines().count(), 1, "{text}");
    let (joined, left) = summarized(&text);
    let want: Vec<String> = newcomers.iter().map(|id| format!("guest{id}")).collect();
    assert_eq!(joined, want);
    assert_eq!(left, ["guest5".to_owned(), format!("guest{}", first + 1)]);
    // Every open member got the same summary once.
    for id in 2..=first {
        if id == 5 {
            continue;
        }
        assert_eq!(p.take_text(id), text, "member {id}");
    }
    // Quiet afterwards: no empty summaries.
    p.advance(SUMMARY_INTERVAL * 3);
    assert_eq!(p.take_text(1), "");
}

#[test]
fn a_join_storm_costs_each_member_a_few_lines_not_one_per_join() {
    let mut p = room();
    let storm = 5000u64;
    for id in 1..=storm {
        p.connect(id);
        if id % 1000 == 0 {
            p.advance(SUMMARY_INTERVAL / 4);
        }
    }
    p.advance(SUMMARY_INTERVAL);
    let text = p.take_text(1);
    // The first SUMMARY_ABOVE joins one line each, then about one summary
    // a second (and lines split only past the line limit).
    assert!(
        text.lines().count() <= SUMMARY_ABOVE + 10,
        "{} lines",
        text.lines().count()
    );
    let (joined, _) = summarized(&text);
    let direct: Vec<String> = text
        .lines()
        .filter_map(|l| {
            l.strip_prefix("* ")?
                .strip_suffix(" joined")
                .map(str::to_owned)
        })
        .collect();
    let mut all = direct;
    all.extend(joined);
    let want: Vec<String> = (2..=storm).map(|id| format!("guest{id}")).collect();
    assert_eq!(all, want, "every join once, in order");
}
