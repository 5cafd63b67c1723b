//! The mio driver over loopback: lines back for many clients, a half-close, a slow reader dropped, commands, several listeners, the cap: the suite both engines share,
//! `adapter-suite/loopback.rs`.

use commlab_mio as engine;

#[path = "../../adapter-suite/loopback.rs"]
mod suite;
