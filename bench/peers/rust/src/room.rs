//! A chat room on tokio, as the ecosystem writes one: `LinesCodec` framing
//! and a `broadcast` channel. Speaks commlab's room protocol (welcome line,
//! `nick: text` to every other client), without join/leave notices.
//! Optionally linked to the rooms of other servers through NATS
//! (`async-nats`, echo off), as `commlab chat server --nats` is.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use futures_util::{SinkExt, StreamExt};
use tokio::sync::broadcast;
use tokio_util::codec::{FramedRead, FramedWrite, LinesCodec};

const MAX_LINE: usize = 64 * 1024;
const CHANNEL: usize = 64 * 1024;
/// The subject the linked rooms share.
pub const SUBJECT: &str = "bench.room";

/// One line for the room: the sending client's id (0: another server) and
/// the text as every receiver gets it.
type Line = (u64, Arc<str>);

/// Serves the room on `listener`; names clients `guestN` + `suffix`; with
/// `nats`, publishes each line there and delivers the other servers' lines.
pub async fn serve(
    listener: tokio::net::TcpListener,
    suffix: String,
    nats: Option<async_nats::Client>,
) {
    let (tx, _) = broadcast::channel::<Line>(CHANNEL);
    if let Some(client) = &nats {
        let mut sub = client.subscribe(SUBJECT).await.expect("subscribe");
        let remote = tx.clone();
        tokio::spawn(async move {
            while let Some(m) = sub.next().await {
                if let Ok(text) = std::str::from_utf8(&m.payload) {
                    let _ = remote.send((0, text.into()));
                }
            }
        });
    }
    let next = AtomicU64::new(1);
    crate::serve_each(listener, |socket| {
        let id = next.fetch_add(1, Ordering::Relaxed);
        let tx = tx.clone();
        let mut rx = tx.subscribe();
        let nats = nats.clone();
        let nick = format!("guest{id}{suffix}");
        async move {
            let (r, w) = socket.into_split();
            let mut lines = FramedRead::new(r, LinesCodec::new_with_max_length(MAX_LINE));
            let mut out = FramedWrite::new(w, LinesCodec::new());
            let welcome =
                format!("* welcome, you are {nick}; /nick NAME renames you, /help lists commands");
            if out.send(welcome).await.is_err() {
                return;
            }
            let lagging = nick.clone();
            let writer = tokio::spawn(async move {
                loop {
                    match rx.recv().await {
                        Ok((from, line)) => {
                            if from != id && out.feed(&*line).await.is_err() {
                                return;
                            }
                            while let Ok((from, line)) = rx.try_recv() {
                                if from != id && out.feed(&*line).await.is_err() {
                                    return;
                                }
                            }
                            if SinkExt::<&str>::flush(&mut out).await.is_err() {
                                return;
                            }
                        }
                        Err(broadcast::error::RecvError::Lagged(n)) => {
                            eprintln!("{lagging}: lagged, {n} lines lost");
                        }
                        Err(broadcast::error::RecvError::Closed) => return,
                    }
                }
            });
            let prefix = format!("{nick}: ");
            while let Some(Ok(line)) = lines.next().await {
                let line: Arc<str> = format!("{prefix}{line}").into();
                if let Some(client) = &nats {
                    let _ = client
                        .publish(SUBJECT, line.as_bytes().to_vec().into())
                        .await;
                }
                let _ = tx.send((id, line));
            }
            writer.abort();
        }
    })
    .await;
}
