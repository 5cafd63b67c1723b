//! The application beside a [`Service`]: what answers its events, and the
//! blocking work it hands its driver.
//!
//! A service asks ("check this password", "open this file") through its
//! events; the application answers with commands on the service. An answer
//! that blocks (an argon2 hash, a file read, a database query) must not
//! run where the event arrived, on an event loop or under a driver's lock:
//! the application wraps it in a job with [`Jobs::run`], the driver runs
//! the job on a worker thread, and its result comes back to
//! [`App::on_done`] on the service's side, like an event. Core never runs
//! a job: it only names the types drivers and applications share.

use std::any::Any;
use std::marker::PhantomData;

use crate::Service;

/// Which of the driver's worker pools runs a job.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Lane {
    /// Work that keeps a core busy (a password hash): as many workers as
    /// cores, so a burst of it cannot starve the loops and each job runs
    /// at full speed.
    Compute,
    /// Work that mostly waits (a file or database call): a few workers of
    /// its own, so it never queues behind a burst of compute jobs.
    Io,
}

/// A job with its result type erased: what a driver's worker runs.
pub type Job = Box<dyn FnOnce() -> Box<dyn Any + Send> + Send>;

/// Where jobs go: implemented by each driver over its worker pool. The
/// driver runs `job` on a worker of `lane` and hands its result to the
/// application's `on_done` on the service's side (the loop that owns the
/// service, or under the std engine's lock), never before the call that
/// spawned it has returned.
pub trait Spawn {
    /// Queues `job` on `lane`.
    fn spawn(&mut self, lane: Lane, job: Job);
    /// How many sibling applications there are: the same server's other
    /// event loops, each with a service and application of its own (none
    /// by default: one state for the whole server).
    fn siblings(&self) -> usize {
        0
    }
    /// Hands each sibling a message of `make`'s making, which reaches its
    /// application's [`App::on_sibling`] on its own loop. Messages from one
    /// loop reach each sibling in the order they were posted, never lost
    /// while both loops run (nothing by default: no siblings).
    fn post_siblings(&mut self, make: &mut dyn FnMut() -> Box<dyn Any + Send>) {
        let _ = make;
    }
}

/// The application's handle on the driver's workers while it handles an
/// event: results of type `D` come back to [`App::on_done`].
pub struct Jobs<'a, D> {
    spawn: &'a mut dyn Spawn,
    done: PhantomData<fn(D)>,
}

impl<D> std::fmt::Debug for Jobs<'_, D> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Jobs")
    }
}

impl<'a, D: Send + 'static> Jobs<'a, D> {
    /// Jobs spawned through `spawn`.
    pub fn new(spawn: &'a mut dyn Spawn) -> Self {
        Self {
            spawn,
            done: PhantomData,
        }
    }

    /// Runs `job` on a worker of `lane`; what it returns comes back to
    /// [`App::on_done`]. A job for a connection that closed meanwhile
    /// still comes back: answering a closed connection is ignored by every
    /// service, but what the job opened is the application's to release.
    pub fn run(&mut self, lane: Lane, job: impl FnOnce() -> D + Send + 'static) {
        self.spawn.spawn(
            lane,
            Box::new(move || Box::new(job()) as Box<dyn Any + Send>),
        );
    }

    /// How many siblings [`tell_siblings`](Self::tell_siblings) reaches (the
    /// server's other event loops; 0 on one loop or the std engine).
    pub fn siblings(&self) -> usize {
        self.spawn.siblings()
    }

    /// Sends `message` to the application of every other event loop of
    /// the same server, to its [`App::on_sibling`]: in the order sent,
    /// once each, without blocking (the loops' inboxes are unbounded:
    /// bound what is in flight yourself). Nothing happens without siblings.
    pub fn tell_siblings(&mut self, message: &D)
    where
        D: Clone,
    {
        self.spawn
            .post_siblings(&mut || Box::new(message.clone()) as Box<dyn Any + Send>);
    }
}

/// The application driven beside a service: gets its events, answers them
/// with commands on it, and hands blocking work to [`Jobs`].
///
/// Any `FnMut(&mut S, S::Event)` closure is an `App` that never spawns a
/// job (`Done = ()`).
pub trait App<S: Service>: Send {
    /// What this application's jobs return.
    type Done: Send + 'static;
    /// An event from the service.
    fn on_event(&mut self, service: &mut S, event: S::Event, jobs: &mut Jobs<'_, Self::Done>);
    /// A job finished with `done`. Nothing by default.
    fn on_done(&mut self, service: &mut S, done: Self::Done, jobs: &mut Jobs<'_, Self::Done>) {
        let _ = (service, done, jobs);
    }
    /// A sibling loop's application sent `message` with
    /// [`Jobs::tell_siblings`]. Nothing by default.
    fn on_sibling(
        &mut self,
        service: &mut S,
        message: Self::Done,
        jobs: &mut Jobs<'_, Self::Done>,
    ) {
        let _ = (service, message, jobs);
    }
}

impl<S: Service, F: FnMut(&mut S, S::Event) + Send> App<S> for F {
    type Done = ();
    fn on_event(&mut self, service: &mut S, event: S::Event, _: &mut Jobs<'_, ()>) {
        self(service, event);
    }
}

/// An [`App`] with its result type erased, for a driver to hold boxed
/// (implemented for every `App`).
pub trait AnyApp<S: Service>: Send {
    /// [`App::on_event`].
    fn event(&mut self, service: &mut S, event: S::Event, spawn: &mut dyn Spawn);
    /// [`App::on_done`] with the result of one of this application's jobs
    /// (a result of another type, which no driver produces, is dropped).
    fn done(&mut self, service: &mut S, done: Box<dyn Any + Send>, spawn: &mut dyn Spawn);
    /// [`App::on_sibling`] (a message of another type is dropped).
    fn sibling(&mut self, service: &mut S, message: Box<dyn Any + Send>, spawn: &mut dyn Spawn);
}

impl<S: Service, A: App<S>> AnyApp<S> for A {
    fn event(&mut self, service: &mut S, event: S::Event, spawn: &mut dyn Spawn) {
        self.on_event(service, event, &mut Jobs::new(spawn));
    }

    fn done(&mut self, service: &mut S, done: Box<dyn Any + Send>, spawn: &mut dyn Spawn) {
        if let Ok(done) = done.downcast::<A::Done>() {
            self.on_done(service, *done, &mut Jobs::new(spawn));
        }
    }

    fn sibling(&mut self, service: &mut S, message: Box<dyn Any + Send>, spawn: &mut dyn Spawn) {
        if let Ok(message) = message.downcast::<A::Done>() {
            self.on_sibling(service, *message, &mut Jobs::new(spawn));
        }
    }
}
