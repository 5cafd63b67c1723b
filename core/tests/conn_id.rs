//! Connection ids carry their event loop (`ConnId::on_loop`): the loop and
//! the number come back apart for any pair, ids of different loops never
//! meet, and the first loop's ids read as they always did.

use commlab_core::ConnId;
use proptest::prelude::*;

const LOCAL: u64 = (1 << ConnId::LOOP_SHIFT) - 1;

proptest! {
    #[test]
    fn loop_and_number_come_back_apart(index: u16, n in 0..=LOCAL) {
        let id = ConnId::on_loop(index, n);
        prop_assert_eq!(id.loop_index(), index);
        prop_assert_eq!(id.local(), n);
    }

    #[test]
    fn ids_of_different_loops_differ(a: u16, b: u16, n in 0..=LOCAL, m in 0..=LOCAL) {
        prop_assume!(a != b);
        prop_assert_ne!(ConnId::on_loop(a, n), ConnId::on_loop(b, m));
    }
}

#[test]
fn the_first_loop_reads_as_before_and_the_others_name_their_loop() {
    assert_eq!(ConnId::on_loop(0, 7), ConnId(7));
    assert_eq!(ConnId::on_loop(0, 7).to_string(), "#7");
    assert_eq!(ConnId::on_loop(2, 7).to_string(), "#2.7");
}
