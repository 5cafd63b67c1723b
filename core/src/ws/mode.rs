//! What a WebSocket server says: the exercise's sums, or the class's
//! examples 1 (hello) and 2 (push) exactly as the handout's Python servers
//! answer.

use super::{answer, error_reply, push_message};

/// The message protocol a [`WsServer`](super::WsServer) speaks.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum WsMode {
    /// The exercise: every text message is answered by [`answer`] (sums in
    /// JSON or plain text, hello in JSON); console lines go out as JSON
    /// `{"op":"push","text":...}` for commlab's page.
    #[default]
    Sum,
    /// The class's example 1: a text message NAME is answered with the
    /// plain text `Ola NAME!`, as its `server.py` does.
    Hello,
    /// The class's example 2: console lines go to every client as plain
    /// text (what the class's `client.html` lists); what clients send is
    /// only reported, never answered.
    Push,
}

/// Example 1's greeting for `name`: `Ola NAME!`, the name as sent.
pub fn greeting(name: &str) -> String {
    format!("Ola {name}!")
}

impl WsMode {
    /// The mode's name as the command line spells it.
    pub fn name(self) -> &'static str {
        match self {
            Self::Sum => "sum",
            Self::Hello => "hello",
            Self::Push => "push",
        }
    }

    /// The answer to one text message (`None`: the mode answers nothing).
    pub fn reply(self, text: &str) -> Option<String> {
        match self {
            Self::Sum => Some(answer(text)),
            Self::Hello => Some(greeting(text)),
            Self::Push => None,
        }
    }

    /// The answer to one binary message: one holding UTF-8 is read as the
    /// same text would be; other bytes get an error in the mode's format.
    pub fn reply_binary(self, bytes: &[u8]) -> Option<String> {
        match std::str::from_utf8(bytes) {
            Ok(text) => self.reply(text),
            Err(e) => {
                let why = format!(
                    "a binary message must hold UTF-8 text (bad byte at offset {})",
                    e.valid_up_to()
                );
                match self {
                    Self::Sum => Some(error_reply(why)),
                    Self::Hello => Some(format!("erro: {why}")),
                    Self::Push => None,
                }
            }
        }
    }

    /// A console line as this mode pushes it.
    pub fn push(self, line: &str) -> String {
        match self {
            Self::Sum => push_message(line),
            Self::Hello | Self::Push => line.to_owned(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::WsMode;

    #[test]
    fn each_mode_answers_as_its_class_program() {
        assert_eq!(
            WsMode::Hello.reply("Marcos").as_deref(),
            Some("Ola Marcos!")
        );
        assert_eq!(WsMode::Push.reply("oi"), None);
        assert_eq!(WsMode::Sum.reply("3 4").as_deref(), Some("7"));
        assert_eq!(
            WsMode::Sum.reply_binary(b"3 4").as_deref(),
            Some("7"),
            "binary UTF-8 is text"
        );
        assert!(WsMode::Sum
            .reply_binary(&[0xff, 0])
            .is_some_and(|r| r.contains("offset 0")));
        assert_eq!(WsMode::Push.push("Olá"), "Olá");
        assert_eq!(WsMode::Sum.push("Olá"), r#"{"op":"push","text":"Olá"}"#);
    }
}
