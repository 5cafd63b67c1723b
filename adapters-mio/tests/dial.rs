//! The mio driver's outgoing connections: the suite both engines share,
//! `adapter-suite/dial.rs`.

#![allow(clippy::disallowed_methods)]

use commlab_mio as engine;

#[path = "../../adapter-suite/dial.rs"]
mod suite;
