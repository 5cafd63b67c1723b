//! A chat room on tokio, as the ecosystem writes one: `LinesCodec` framing
//! and a `broadcast` channel. Speaks commlab's room protocol (welcome line,
//! `nick: text` to every other client), without join/leave notices.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use futures_util::{SinkExt, StreamExt};
use tokio::sync::broadcast;
use tokio_util::codec::{FramedRead, FramedWrite, LinesCodec};

const MAX_LINE: usize = 64 * 1024;
const CHANNEL: usize = 64 * 1024;

#[tokio::main]
async fn main() {
    let listener = commlab_peers::listen().await;
    let (tx, _) = broadcast::channel::<(u64, Arc<str>)>(CHANNEL);
    let next = AtomicU64::new(1);
    commlab_peers::serve_each(listener, |socket| {
        let id = next.fetch_add(1, Ordering::Relaxed);
        let tx = tx.clone();
        let mut rx = tx.subscribe();
        async move {
            let (r, w) = socket.into_split();
            let mut lines = FramedRead::new(r, LinesCodec::new_with_max_length(MAX_LINE));
            let mut out = FramedWrite::new(w, LinesCodec::new());
            let nick = format!("guest{id}");
            let welcome =
                format!("* welcome, you are {nick}; /nick NAME renames you, /help lists commands");
            if out.send(welcome).await.is_err() {
                return;
            }
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
                            eprintln!("{nick}: lagged, {n} lines lost");
                        }
                        Err(broadcast::error::RecvError::Closed) => return,
                    }
                }
            });
            let prefix = format!("guest{id}: ");
            while let Some(Ok(line)) = lines.next().await {
                let _ = tx.send((id, format!("{prefix}{line}").into()));
            }
            writer.abort();
        }
    })
    .await;
}
