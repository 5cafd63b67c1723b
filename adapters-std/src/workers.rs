//! The worker pools that run an application's blocking jobs off the
//! connection threads and event loops (both engines use them).

use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::mpsc::{channel, Receiver, Sender};
use std::sync::{Arc, Mutex, PoisonError};
use std::thread;

use commlab_core::Lane;

/// Workers of the [`Lane::Io`] pool: file and database calls mostly wait,
/// so a few suffice, and they never queue behind a burst of hashes.
pub const IO_WORKERS: usize = 4;
/// Stack size of a worker thread (argon2 keeps its memory on the heap).
pub const WORKER_STACK: usize = 256 * 1024;

type Task = Box<dyn FnOnce() + Send>;

/// One lane's threads, started at its first task.
struct Pool {
    name: &'static str,
    size: usize,
    tx: Mutex<Option<Sender<Task>>>,
}

impl Pool {
    fn new(name: &'static str, size: usize) -> Self {
        Self {
            name,
            size: size.max(1),
            tx: Mutex::new(None),
        }
    }

    fn submit(&self, task: Task) {
        let mut tx = self.tx.lock().unwrap_or_else(PoisonError::into_inner);
        let sender = tx.get_or_insert_with(|| {
            let (tx, rx) = channel::<Task>();
            let rx = Arc::new(Mutex::new(rx));
            for i in 0..self.size {
                let rx = Arc::clone(&rx);
                let spawned = thread::Builder::new()
                    .name(format!("{}-{i}", self.name))
                    .stack_size(WORKER_STACK)
                    .spawn(move || work(&rx));
                if let Err(e) = spawned {
                    eprintln!("commlab: cannot start a worker thread: {e}");
                }
            }
            tx
        });
        if let Err(e) = sender.send(task) {
            // Every worker failed to start: run it here rather than lose it.
            (e.0)();
        }
    }
}

/// Takes tasks until every sender is gone. A task that panics is reported
/// and the worker goes on (its connection then times out, as any peer
/// that gets no answer does).
fn work(rx: &Mutex<Receiver<Task>>) {
    loop {
        let task = rx.lock().unwrap_or_else(PoisonError::into_inner).recv();
        let Ok(task) = task else {
            return;
        };
        if catch_unwind(AssertUnwindSafe(task)).is_err() {
            eprintln!("commlab: a worker's job panicked; its connection gets no answer");
        }
    }
}

/// The two bounded pools of one server: [`Lane::Compute`] with a worker
/// per core, [`Lane::Io`] with [`IO_WORKERS`]. Threads start at the first
/// job of their lane and end once the pools are dropped and their queue is
/// empty. The queue itself is bounded by the applications' use: each
/// connection has at most one job in flight.
pub struct Workers {
    compute: Pool,
    io: Pool,
}

impl std::fmt::Debug for Workers {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Workers")
            .field("compute", &self.compute.size)
            .field("io", &self.io.size)
            .finish()
    }
}

impl Default for Workers {
    fn default() -> Self {
        let cores = thread::available_parallelism().map_or(1, std::num::NonZero::get);
        Self::new(cores, IO_WORKERS)
    }
}

impl Workers {
    /// Pools of `compute` and `io` workers (each at least one).
    pub fn new(compute: usize, io: usize) -> Self {
        Self {
            compute: Pool::new("commlab-compute", compute),
            io: Pool::new("commlab-io", io),
        }
    }

    /// Runs `task` on a worker of `lane`.
    pub fn submit(&self, lane: Lane, task: impl FnOnce() + Send + 'static) {
        match lane {
            Lane::Compute => self.compute.submit(Box::new(task)),
            Lane::Io => self.io.submit(Box::new(task)),
        }
    }
}
