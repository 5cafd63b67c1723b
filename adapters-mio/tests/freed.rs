//! The mio driver closed connections held open by silent clients are freed within LINGER (alone in its test binary: it counts the process's threads and descriptors): the suite both engines share,
//! `adapter-suite/freed.rs`.

use commlab_mio as engine;

#[path = "../../adapter-suite/freed.rs"]
mod suite;
