//! Maps keyed by connection ids, with a cheap hash.
//!
//! Connection ids are numbers the server hands out itself (never chosen by
//! a peer), so they need no flood-resistant hash: one multiplication spreads
//! them over the table. This matters on the hot paths that look up a
//! connection per delivered message.

use std::collections::HashMap;
use std::hash::{BuildHasherDefault, Hasher};

use crate::ConnId;

/// A [`Hasher`] for small integer keys the server assigns itself: a
/// multiplicative (Fibonacci) hash. Not for keys a peer controls.
#[derive(Debug, Default, Clone, Copy)]
pub struct IdHasher(u64);

impl Hasher for IdHasher {
    fn finish(&self) -> u64 {
        self.0
    }

    fn write(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.write_u64(u64::from(b));
        }
    }

    fn write_u64(&mut self, n: u64) {
        self.0 = (self.0.rotate_left(5) ^ n).wrapping_mul(0x9E37_79B9_7F4A_7C15);
    }

    fn write_usize(&mut self, n: usize) {
        self.write_u64(n as u64);
    }
}

/// A `HashMap` keyed by server-assigned ids, hashed with [`IdHasher`].
pub type IdMap<K, V> = HashMap<K, V, BuildHasherDefault<IdHasher>>;

/// A map from [`ConnId`] to `V`.
pub type ConnMap<V> = IdMap<ConnId, V>;
