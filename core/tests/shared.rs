//! The pieces every service shares: `ConnTable` and `DeadlineQueue`.

#![allow(clippy::disallowed_methods)] // tests may read the clock to seed a virtual one

use std::time::{Duration, Instant};

use commlab_core::{ConnId, ConnTable, DeadlineQueue, Flow, Overflow, Readiness};

#[test]
fn conn_table_queues_signals_once_and_closes_after_flush() {
    let mut t: ConnTable<&str> = ConnTable::new(10);
    t.insert(ConnId(1), "a");
    t.send(ConnId(1), b"abc").unwrap();
    t.send(ConnId(1), b"def").unwrap();
    assert_eq!(t.poll_ready(), Some((ConnId(1), Readiness::Send)));
    assert_eq!(t.poll_ready(), None, "one signal for many sends");
    let mut out = Vec::new();
    assert_eq!(t.poll_transmit(ConnId(1), &mut out, 4), Flow::Open);
    assert_eq!(out, b"abcd");
    t.close(ConnId(1));
    assert_eq!(t.get(ConnId(1)), None, "closing connections are not open");
    assert!(t.open_ids().is_empty());
    t.send(ConnId(1), b"ignored").unwrap();
    out.clear();
    assert_eq!(t.poll_transmit(ConnId(1), &mut out, 100), Flow::Close);
    assert_eq!(out, b"ef");
    assert!(t.is_empty());
}

#[test]
fn conn_table_aborts_over_the_cap() {
    let mut t: ConnTable<()> = ConnTable::new(10);
    t.insert(ConnId(7), ());
    t.send(ConnId(7), b"123456").unwrap();
    assert_eq!(
        t.send(ConnId(7), b"78901"),
        Err(Overflow {
            backlog: 11,
            cap: 10
        })
    );
    assert_eq!(t.poll_ready(), Some((ConnId(7), Readiness::Abort)));
    assert!(t.is_empty());
    let mut out = Vec::new();
    assert_eq!(t.poll_transmit(ConnId(7), &mut out, 100), Flow::Close);
    assert!(out.is_empty());
}

#[test]
fn deadline_queue_fires_in_order_and_only_moves_earlier() {
    let t0 = Instant::now();
    let s = Duration::from_secs(1);
    let mut q = DeadlineQueue::new();
    q.schedule(ConnId(1), t0 + 5 * s);
    q.schedule(ConnId(2), t0 + 3 * s);
    q.schedule(ConnId(1), t0 + 9 * s); // later: ignored
    q.schedule(ConnId(1), t0 + 2 * s); // earlier: replaces
    assert_eq!(q.next(), Some(t0 + 2 * s));
    assert_eq!(q.pop_due(t0 + s), None);
    assert_eq!(q.pop_due(t0 + 10 * s), Some(ConnId(1)));
    assert_eq!(q.pop_due(t0 + 10 * s), Some(ConnId(2)));
    assert_eq!(q.pop_due(t0 + 10 * s), None, "the stale entry of 1 is gone");
    q.schedule(ConnId(3), t0 + s);
    q.cancel(ConnId(3));
    assert_eq!(q.next(), None);
}
