//! The WebSocket sum server on tokio-tungstenite: `{"op":"sum","a":..,"b":..}`
//! in, the same with `"sum"` out (exact 64-bit integer sums).

use futures_util::{SinkExt, StreamExt};
use serde_json::{json, Value};
use tokio_tungstenite::tungstenite::Message;

fn answer(text: &str) -> String {
    let Ok(v) = serde_json::from_str::<Value>(text) else {
        return json!({"error": "not JSON"}).to_string();
    };
    match (v["a"].as_i64(), v["b"].as_i64()) {
        (Some(a), Some(b)) => match a.checked_add(b) {
            Some(s) => json!({"op": "sum", "a": a, "b": b, "sum": s}).to_string(),
            None => json!({"error": "overflow"}).to_string(),
        },
        _ => json!({"error": "a and b must be integers"}).to_string(),
    }
}

#[tokio::main]
async fn main() {
    commlab_peers::serve_each(commlab_peers::listen().await, |socket| async move {
        let Ok(mut ws) = tokio_tungstenite::accept_async(socket).await else {
            return;
        };
        while let Some(Ok(msg)) = ws.next().await {
            let reply = match msg {
                Message::Text(t) => Message::text(answer(&t)),
                Message::Close(_) => return,
                _ => continue,
            };
            if ws.send(reply).await.is_err() {
                return;
            }
        }
    })
    .await;
}
