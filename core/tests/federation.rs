//! The federated room's envelopes: their JSON, the order and once-only
//! checks, impostors and malformed messages refused and counted.

use commlab_core::chat::federation::{
    room_subject, Envelope, EnvelopeError, Inbound, Outbound, RoomUpdate, MAX_ENVELOPE,
};
use proptest::prelude::*;

fn line(nick: &str, text: &str) -> RoomUpdate {
    RoomUpdate::Line {
        nick: nick.into(),
        text: text.into(),
    }
}

#[test]
fn an_envelope_is_one_json_object_with_its_tags() {
    let mut out = Outbound::new("sala-a", 7);
    let env = out.wrap(line("ana", "olá"));
    let json: serde_json::Value = serde_json::from_slice(&env.encode()).unwrap();
    assert_eq!(
        json,
        serde_json::json!({"v": 1, "server": "sala-a", "run": 7, "seq": 1,
                           "kind": "line", "nick": "ana", "text": "olá"})
    );
    let renamed = out.wrap(RoomUpdate::Rename {
        old: "guest1".into(),
        new: "bia".into(),
    });
    assert_eq!(renamed.seq, 2);
    let mut inbound = Inbound::new("sala-b");
    assert_eq!(inbound.accept(&env.encode()), Ok(env));
    assert_eq!(inbound.accept(&renamed.encode()), Ok(renamed));
}

#[test]
fn repeats_and_old_messages_are_refused_and_a_new_run_starts_over() {
    let mut a = Outbound::new("a", 1);
    let first = a.wrap(line("ana", "1"));
    let second = a.wrap(line("ana", "2"));
    let mut b = Inbound::new("b");
    b.accept(&first.encode()).unwrap();
    b.accept(&second.encode()).unwrap();
    assert_eq!(
        b.accept(&second.encode()),
        Err(EnvelopeError::Stale {
            server: "a".into(),
            seq: 2,
            last: 2
        })
    );
    assert!(matches!(
        b.accept(&first.encode()),
        Err(EnvelopeError::Stale { seq: 1, .. })
    ));
    // The server restarted: a new run numbers from 1.
    let mut again = Outbound::new("a", 2);
    assert!(b
        .accept(&again.wrap(line("ana", "de volta")).encode())
        .is_ok());
    assert_eq!(b.refused(), 2);
}

#[test]
fn impostors_and_malformed_messages_are_refused() {
    let mut b = Inbound::new("b");
    let forged = Outbound::new("b", 1).wrap(line("eve", "sou o b"));
    assert_eq!(
        b.accept(&forged.encode()),
        Err(EnvelopeError::Impostor("b".into()))
    );
    for bad in [
        &b"not json"[..],
        br#"{"v":2,"server":"a","run":1,"seq":1,"kind":"join","nick":"x"}"#,
        br#"{"v":1,"server":"a b","run":1,"seq":1,"kind":"join","nick":"x"}"#,
        br#"{"v":1,"server":"a","run":1,"seq":1,"kind":"shout","nick":"x"}"#,
        br#"{"v":1,"server":"a","run":1,"kind":"join","nick":"x"}"#,
    ] {
        assert!(
            matches!(b.accept(bad), Err(EnvelopeError::Malformed(_))),
            "{}",
            String::from_utf8_lossy(bad)
        );
    }
    let huge = vec![b' '; MAX_ENVELOPE + 1];
    assert_eq!(
        b.accept(&huge),
        Err(EnvelopeError::TooLarge(MAX_ENVELOPE + 1))
    );
    assert_eq!(b.refused(), 7);
}

#[test]
fn room_names_make_subjects_only_when_valid() {
    assert_eq!(room_subject("geral").as_deref(), Some("commlab.room.geral"));
    assert_eq!(
        room_subject("turma_2026-b").as_deref(),
        Some("commlab.room.turma_2026-b")
    );
    for bad in ["", "a.b", "a b", "sala*", "sala>", &"x".repeat(65)] {
        assert_eq!(room_subject(bad), None, "{bad:?}");
    }
}

proptest! {
    #[test]
    fn any_update_goes_through(nick in "\\PC{1,20}", text in "\\PC{0,200}", run in any::<u64>()) {
        let mut out = Outbound::new("a", run);
        let mut inbound = Inbound::new("b");
        for update in [
            line(&nick, &text),
            RoomUpdate::Join { nick: nick.clone() },
            RoomUpdate::Leave { nick: nick.clone() },
            RoomUpdate::Members { names: vec![nick.clone(), text.clone()], more: false },
            RoomUpdate::Who,
        ] {
            let env: Envelope = out.wrap(update);
            prop_assert_eq!(inbound.accept(&env.encode()), Ok(env));
        }
    }

    #[test]
    fn any_bytes_are_an_envelope_or_a_typed_refusal(bytes in proptest::collection::vec(any::<u8>(), 0..400)) {
        let mut inbound = Inbound::new("b");
        let _ = inbound.accept(&bytes);
    }
}
