//! The pieces every service shares: `ConnTable` and `DeadlineQueue`.

#![allow(clippy::disallowed_methods)] // tests may read the clock to seed a virtual one

use std::time::{Duration, Instant};

use commlab_core::{BroadcastBatch, ConnId, ConnTable, DeadlineQueue, Flow, Overflow, Readiness};

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

#[test]
fn conn_table_broadcast_skips_the_sender_and_closing_and_aborts_over_the_cap() {
    let mut t: ConnTable<u8> = ConnTable::new(10);
    for id in 1..=4 {
        t.insert(ConnId(id), 0);
    }
    t.send(ConnId(3), b"12345678").unwrap();
    t.close(ConnId(4));
    while t.poll_ready().is_some() {}
    let mut over = Vec::new();
    let sent = t.broadcast(b"hey", Some(ConnId(1)), &mut over);
    assert_eq!(sent, 2, "to 2 and 3; not the sender 1, not the closing 4");
    assert_eq!(
        over,
        vec![(
            ConnId(3),
            Overflow {
                backlog: 11,
                cap: 10
            }
        )]
    );
    let mut ready: Vec<_> = std::iter::from_fn(|| t.poll_ready()).collect();
    ready.sort_by_key(|(c, _)| c.0);
    assert_eq!(
        ready,
        vec![(ConnId(2), Readiness::Send), (ConnId(3), Readiness::Abort)]
    );
    let mut out = Vec::new();
    let _ = t.poll_transmit(ConnId(2), &mut out, 100);
    assert_eq!(out, b"hey");
    out.clear();
    let _ = t.poll_transmit(ConnId(1), &mut out, 100);
    assert!(out.is_empty(), "the sender got nothing");
}

#[test]
fn conn_table_broadcast_batch_leaves_out_own_messages_and_aborts_over_the_cap() {
    let mut t: ConnTable<u8> = ConnTable::new(10);
    for id in 1..=4 {
        t.insert(ConnId(id), 0);
    }
    t.send(ConnId(3), b"1234").unwrap();
    t.close(ConnId(4));
    while t.poll_ready().is_some() {}
    let mut batch = BroadcastBatch::default();
    batch.push(b"a1\n", Some(ConnId(1)));
    batch.push(b"b2\n", Some(ConnId(2)));
    batch.push(b"s\n", None);
    let mut over = Vec::new();
    t.broadcast_batch(&mut batch, &mut over);
    assert!(batch.is_empty());
    // 3 had 4 bytes queued; 8 more pass its cap of 10.
    assert_eq!(
        over,
        vec![(
            ConnId(3),
            Overflow {
                backlog: 12,
                cap: 10
            }
        )]
    );
    let mut ready: Vec<_> = std::iter::from_fn(|| t.poll_ready()).collect();
    ready.sort_by_key(|(c, _)| c.0);
    assert_eq!(
        ready,
        vec![
            (ConnId(1), Readiness::Send),
            (ConnId(2), Readiness::Send),
            (ConnId(3), Readiness::Abort)
        ]
    );
    let mut take = |id, max| {
        let mut out = Vec::new();
        let _ = t.poll_transmit(ConnId(id), &mut out, max);
        String::from_utf8(out).unwrap()
    };
    assert_eq!(take(1, 100), "b2\ns\n");
    assert_eq!(take(2, 4), "a1\ns");
    assert_eq!(take(2, 100), "\n");
    assert_eq!(take(4, 100), "", "the closing connection got nothing");
}

#[test]
fn id_maps_spread_sequential_ids() {
    use std::hash::{BuildHasher, BuildHasherDefault};
    let b = BuildHasherDefault::<commlab_core::IdHasher>::default();
    let tops: std::collections::HashSet<u64> =
        (0..1000u64).map(|i| b.hash_one(ConnId(i)) >> 57).collect();
    assert!(tops.len() > 100, "the top bits vary: {}", tops.len());
    let mut m: commlab_core::ConnMap<u64> = commlab_core::ConnMap::default();
    for i in 0..10_000 {
        m.insert(ConnId(i), i * 2);
    }
    assert!((0..10_000).all(|i| m.get(&ConnId(i)) == Some(&(i * 2))));
}
