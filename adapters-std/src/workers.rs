//! The worker pools that run an application's blocking jobs off the
//! connection threads and event loops (both engines use them).

use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{channel, Receiver, Sender};
use std::sync::{Arc, Mutex, PoisonError};
use std::thread::{self, JoinHandle};

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
    threads: Mutex<Vec<JoinHandle<()>>>,
    /// [`Workers::finish`] was called: tasks run where they are submitted
    /// (or, for a lane whose work only matters to a live server, not at
    /// all).
    finished: Arc<AtomicBool>,
    /// Whether this lane's queued tasks still run once finishing (clean-up
    /// must; a password check for a client that is gone need not).
    runs_when_finishing: bool,
}

impl Pool {
    fn new(name: &'static str, size: usize, runs_when_finishing: bool) -> Self {
        Self {
            name,
            size: size.max(1),
            tx: Mutex::new(None),
            threads: Mutex::new(Vec::new()),
            finished: Arc::new(AtomicBool::new(false)),
            runs_when_finishing,
        }
    }

    fn submit(&self, task: Task) {
        if self.finished.load(Ordering::SeqCst) {
            if self.runs_when_finishing {
                task();
            }
            return;
        }
        let mut tx = self.tx.lock().unwrap_or_else(PoisonError::into_inner);
        let sender = tx.get_or_insert_with(|| {
            let (tx, rx) = channel::<Task>();
            let rx = Arc::new(Mutex::new(rx));
            let mut threads = self.threads.lock().unwrap_or_else(PoisonError::into_inner);
            for i in 0..self.size {
                let rx = Arc::clone(&rx);
                let skip = (!self.runs_when_finishing).then(|| Arc::clone(&self.finished));
                let spawned = thread::Builder::new()
                    .name(format!("{}-{i}", self.name))
                    .stack_size(WORKER_STACK)
                    .spawn(move || work(&rx, skip.as_deref()));
                match spawned {
                    Ok(t) => threads.push(t),
                    Err(e) => eprintln!("commlab: cannot start a worker thread: {e}"),
                }
            }
            tx
        });
        if let Err(e) = sender.send(task) {
            // Every worker failed to start: run it here rather than lose it.
            (e.0)();
        }
    }

    /// Lets the queue run out (or be dropped, for a lane that need not
    /// run when finishing) and waits for the workers to end.
    fn finish(&self) {
        self.finished.store(true, Ordering::SeqCst);
        drop(
            self.tx
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .take(),
        );
        let threads =
            std::mem::take(&mut *self.threads.lock().unwrap_or_else(PoisonError::into_inner));
        for t in threads {
            let _ = t.join();
        }
    }
}

/// Takes tasks until every sender is gone (those queued once `skip_once`
/// is set are dropped). A task that panics is reported and the worker
/// goes on (its connection then times out, as any peer that gets no
/// answer does).
fn work(rx: &Mutex<Receiver<Task>>, skip_once: Option<&AtomicBool>) {
    loop {
        let task = rx.lock().unwrap_or_else(PoisonError::into_inner).recv();
        let Ok(task) = task else {
            return;
        };
        if skip_once.is_some_and(|f| f.load(Ordering::SeqCst)) {
            continue;
        }
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
            compute: Pool::new("commlab-compute", compute, false),
            io: Pool::new("commlab-io", io, true),
        }
    }

    /// Called once the server has stopped: the io lane's queued jobs (the
    /// clean-up of uploads cut short by the shutdown) run to the end, the
    /// compute lane's are dropped (a password check for a client that is
    /// gone), and the workers end before this returns. Jobs submitted
    /// later run on the caller's thread (io) or not at all (compute).
    pub fn finish(&self) {
        self.compute.finish();
        self.io.finish();
    }

    /// Runs `task` on a worker of `lane`.
    pub fn submit(&self, lane: Lane, task: impl FnOnce() + Send + 'static) {
        match lane {
            Lane::Compute => self.compute.submit(Box::new(task)),
            Lane::Io => self.io.submit(Box::new(task)),
        }
    }
}
