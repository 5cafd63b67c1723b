//! The mio driver keeps serving after the process runs out of file
//! descriptors (alone in its test binary: it lowers the process's limit):
//! the suite both engines share, `adapter-suite/file_descriptors.rs`.
//! Unix only: see there why.

#![cfg(unix)]

use commlab_mio as engine;

#[path = "../../adapter-suite/file_descriptors.rs"]
mod suite;
