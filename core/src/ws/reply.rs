//! The client's half of the message protocol: what a client sends to ask
//! for a sum or a greeting, and what a server's message means, whichever
//! server sent it (commlab in any mode, or the class's Python servers).

use serde_json::{json, Value as Json};

/// The sum request commlab's clients send (numbers as the user typed
/// them; the server reads numeric strings).
pub fn sum_request(a: &str, b: &str) -> String {
    json!({ "op": "sum", "a": a, "b": b }).to_string()
}

/// One message from a WebSocket server, read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ServerMessage {
    /// A sum's result, as the server wrote the number (`7.5`).
    Sum(String),
    /// A JSON greeting (`{"op":"hello","greeting":...}`).
    Greeting(String),
    /// A console line pushed by commlab in sum mode.
    Push(String),
    /// The server's error message (`{"error":...}`).
    Error(String),
    /// Anything else, as received: plain text such as the class servers'
    /// `Ola NAME!` or example 2's pushed lines, or JSON of another shape.
    Text(String),
}

impl ServerMessage {
    /// Reads one text message.
    pub fn parse(text: &str) -> Self {
        let Ok(Json::Object(obj)) = serde_json::from_str::<Json>(text) else {
            return Self::Text(text.to_owned());
        };
        let string = |key: &str| obj.get(key).and_then(Json::as_str).map(str::to_owned);
        if let Some(e) = string("error") {
            return Self::Error(e);
        }
        match obj.get("op").and_then(Json::as_str) {
            Some("sum") => match obj.get("sum") {
                Some(Json::Number(n)) => Self::Sum(n.to_string()),
                _ => Self::Text(text.to_owned()),
            },
            Some("hello") => {
                string("greeting").map_or_else(|| Self::Text(text.to_owned()), Self::Greeting)
            }
            Some("push") => string("text").map_or_else(|| Self::Text(text.to_owned()), Self::Push),
            _ => Self::Text(text.to_owned()),
        }
    }

    /// Whether this is a push (an answer is something else).
    pub fn is_push(&self) -> bool {
        matches!(self, Self::Push(_))
    }
}

#[cfg(test)]
mod tests {
    use super::{sum_request, ServerMessage};
    use crate::ws::{answer, WsMode};
    use proptest::prelude::*;

    proptest! {
        /// A sum asked with the client's request reads back exactly, or as
        /// the server's error; any text reads as something.
        #[test]
        fn sums_read_back_exactly(a in any::<i64>(), b in any::<i64>(), text in ".{0,60}") {
            let got = ServerMessage::parse(&answer(&sum_request(&a.to_string(), &b.to_string())));
            match a.checked_add(b) {
                Some(sum) => prop_assert_eq!(got, ServerMessage::Sum(sum.to_string())),
                None => prop_assert!(matches!(got, ServerMessage::Error(_))),
            }
            let _ = ServerMessage::parse(&text);
        }
    }

    #[test]
    fn reads_what_every_mode_sends() {
        let reply = answer(&sum_request("3", "4,5"));
        assert_eq!(
            ServerMessage::parse(&reply),
            ServerMessage::Sum("7.5".into())
        );
        assert_eq!(
            ServerMessage::parse(&answer(&sum_request("x", "1"))),
            ServerMessage::Error("field \"a\": \"x\" is not a number".into())
        );
        assert_eq!(
            ServerMessage::parse(&WsMode::Sum.push("oi")),
            ServerMessage::Push("oi".into())
        );
        assert_eq!(
            ServerMessage::parse(&answer(r#"{"op":"hello","name":"Ana"}"#)),
            ServerMessage::Greeting("Ola Ana!".into())
        );
        assert_eq!(
            ServerMessage::parse("Ola Marcos!"),
            ServerMessage::Text("Ola Marcos!".into())
        );
        assert_eq!(
            ServerMessage::parse("[1]"),
            ServerMessage::Text("[1]".into())
        );
    }
}
