//! The chat server on several event loops (`commlab chat server --mode
//! room` or `--mode chat` on the mio engine, a loop per core): each loop's
//! [`ChatServer::sharded`] holds its clients, and this application ties
//! the loops into one room, or one conversation in the 1:1 chat (which
//! loop holds the server's one client is kept here too).
//! It hands each loop's [`RoomBatch`]es to the others
//! ([`Jobs::tell_siblings`]), keeps the room's names in one [`RoomNames`]
//! behind a lock held for one call at a time (a claim, a release, a
//! listing: never while anything blocks), and frees a name only once
//! every loop has seen it let go. What is on its way between loops is
//! bounded: past [`MAX_IN_FLIGHT`] bytes every loop stops reading its
//! members until the others catch up.

use std::io;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, PoisonError};

use commlab_core::chat::{ChatConfig, ChatEvent, RoomBatch, RoomNames, ShardEvent, MAX_IN_FLIGHT};
use commlab_core::trace::Tracer;
use commlab_core::{App, ChatServer, ConnId, Jobs};

use crate::tls::ServerTls;
use crate::Engine;
use crate::{Listeners, Server};

/// What one loop's room hands the others, in order.
#[derive(Debug, Clone)]
pub enum RoomMessage {
    /// Room-wide lines, already encoded.
    Batch(RoomBatch),
    /// A name let go (after the batch with its notice).
    Released(String),
    /// What is in flight fell back under [`MAX_IN_FLIGHT`]: read on.
    Drained,
}

/// One loop's application in a sharded room: answers the room's requests
/// and passes every other event to `show`.
pub struct ShardedRoom<F> {
    names: Arc<Mutex<RoomNames>>,
    /// 1:1 chat: the client the server talks with, whatever its loop.
    partner: Arc<Mutex<Option<ConnId>>>,
    /// Bytes of batches sent and not yet queued by their loops.
    in_flight: Arc<AtomicUsize>,
    /// Past this many bytes in flight, input is held ([`MAX_IN_FLIGHT`]).
    max_in_flight: usize,
    show: F,
}

impl<F> ShardedRoom<F> {
    fn names(&self) -> std::sync::MutexGuard<'_, RoomNames> {
        // The registry stays consistent between calls: a panic elsewhere
        // cannot leave it half-changed.
        self.names.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

impl<F: FnMut(&mut ChatServer, ChatEvent) + Send> App<ChatServer> for ShardedRoom<F> {
    type Done = RoomMessage;

    fn on_event(
        &mut self,
        room: &mut ChatServer,
        event: ChatEvent,
        jobs: &mut Jobs<'_, RoomMessage>,
    ) {
        match event {
            ChatEvent::Shard(ShardEvent::Batch(batch)) => {
                let adds = batch.len() * jobs.siblings();
                let before = self.in_flight.fetch_add(adds, Ordering::SeqCst);
                if before + adds > self.max_in_flight {
                    // Whoever takes it back under the cap says so.
                    room.hold_input(true);
                }
                jobs.tell_siblings(&RoomMessage::Batch(batch));
            }
            ChatEvent::Shard(ShardEvent::Released { nick }) => {
                self.names().release(&nick, jobs.siblings());
                jobs.tell_siblings(&RoomMessage::Released(nick));
            }
            ChatEvent::Shard(ShardEvent::ClaimName { conn, new, .. }) => {
                let granted = self.names().claim(&new);
                if !room.answer_name(conn, &new, granted) && granted {
                    self.names().release(&new, 0);
                }
            }
            ChatEvent::Shard(ShardEvent::ClaimPartner { conn }) => {
                let mut partner = self.partner.lock().unwrap_or_else(PoisonError::into_inner);
                let granted = partner.is_none();
                if granted {
                    *partner = Some(conn);
                }
                if !room.answer_partner(conn, granted) && granted {
                    *partner = None;
                }
            }
            ChatEvent::Shard(ShardEvent::PartnerLeft { conn }) => {
                let mut partner = self.partner.lock().unwrap_or_else(PoisonError::into_inner);
                if *partner == Some(conn) {
                    *partner = None;
                }
            }
            ChatEvent::Shard(ShardEvent::Who { conn }) => {
                let names = self.names().members();
                room.answer_who(conn, &names);
            }
            event => {
                if let ChatEvent::Connected { nick, .. } = &event {
                    // Guest names are unique by construction (they carry
                    // the loop): the claim only records it.
                    self.names().claim(nick);
                }
                (self.show)(room, event);
            }
        }
    }

    fn on_sibling(
        &mut self,
        room: &mut ChatServer,
        message: RoomMessage,
        jobs: &mut Jobs<'_, RoomMessage>,
    ) {
        match message {
            RoomMessage::Batch(batch) => {
                room.sibling_batch(&batch);
                let before = self.in_flight.fetch_sub(batch.len(), Ordering::SeqCst);
                let cap = self.max_in_flight;
                if before > cap && before - batch.len() <= cap {
                    room.hold_input(false);
                    jobs.tell_siblings(&RoomMessage::Drained);
                }
            }
            RoomMessage::Released(nick) => self.names().acked(&nick),
            RoomMessage::Drained => room.hold_input(false),
        }
    }
}

/// Serves one room (or, in chat mode, one conversation) with `cfg` on
/// `loops` event loops of `engine` (the std
/// engine, a thread per connection, keeps one state: one shard), every
/// loop's events that are not the room's own requests going to a clone of
/// `show`. `tracer` sees the first loop (run one to trace).
pub fn start(
    engine: Engine,
    listeners: impl Into<Listeners>,
    loops: usize,
    cfg: &ChatConfig,
    show: impl FnMut(&mut ChatServer, ChatEvent) + Send + Clone + 'static,
    tracer: Option<Tracer>,
    tls: Option<&ServerTls>,
) -> io::Result<Server<ChatServer>> {
    start_capped(
        engine,
        listeners,
        loops,
        cfg,
        MAX_IN_FLIGHT,
        show,
        tracer,
        tls,
    )
}

/// [`start`], holding input past `max_in_flight` bytes between loops
/// instead of [`MAX_IN_FLIGHT`] (a test makes the hold happen at once).
#[allow(clippy::too_many_arguments)]
pub fn start_capped(
    engine: Engine,
    listeners: impl Into<Listeners>,
    loops: usize,
    cfg: &ChatConfig,
    max_in_flight: usize,
    show: impl FnMut(&mut ChatServer, ChatEvent) + Send + Clone + 'static,
    tracer: Option<Tracer>,
    tls: Option<&ServerTls>,
) -> io::Result<Server<ChatServer>> {
    let names = Arc::new(Mutex::new(RoomNames::new()));
    let partner = Arc::new(Mutex::new(None));
    let in_flight = Arc::new(AtomicUsize::new(0));
    let make = |_| {
        Ok((
            ChatServer::sharded(cfg.clone()),
            ShardedRoom {
                names: Arc::clone(&names),
                partner: Arc::clone(&partner),
                in_flight: Arc::clone(&in_flight),
                max_in_flight,
                show: show.clone(),
            },
        ))
    };
    Server::start_loops(engine, listeners, loops, make, tracer, tls)
}
