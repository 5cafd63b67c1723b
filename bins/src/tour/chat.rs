//! The tour of exercise 1: the class's echo, the chat, the room.

use commlab_core::trace::Wire;
use std::io::{Read as _, Write as _};
use std::net::{SocketAddr, TcpStream};

use anyhow::{bail, Context as _};
use commlab_core::chat::{ChatConfig, ChatMode, ClientEvent, ConsoleError};
use commlab_core::{ChatClient, ChatServer};
use commlab_std::BlockingSession;

use super::{Transcript, STEP_TIMEOUT};
use crate::chat::describe;
use crate::{Engine, Server, ServerLine};

/// A scripted chat client.
struct Peer {
    name: String,
    session: BlockingSession<ChatClient>,
    log: Transcript,
}

impl Peer {
    fn connect(addr: SocketAddr, name: &str, log: &Transcript) -> anyhow::Result<Self> {
        let stream = TcpStream::connect(addr).with_context(|| format!("{name} cannot connect"))?;
        Ok(Self {
            name: name.to_owned(),
            session: BlockingSession::new(stream, ChatClient::default()),
            log: log.clone(),
        })
    }

    fn say(&mut self, line: &str) -> anyhow::Result<()> {
        self.log.push(format!("{:<6} > {line}", self.name));
        self.session.command(|c| c.send_line(line))??;
        Ok(())
    }

    fn next_line(&mut self) -> anyhow::Result<Option<String>> {
        match self.session.next_event(STEP_TIMEOUT)? {
            Some(ClientEvent::Line(line)) => {
                self.log.push(format!("{:<6} < {line}", self.name));
                Ok(Some(line))
            }
            Some(ClientEvent::Closed(_)) | None => Ok(None),
            Some(ClientEvent::BadLine(e)) => {
                bail!("{}: a bad line from the server: {e}", self.name)
            }
        }
    }

    fn expect(&mut self, want: &str) -> anyhow::Result<()> {
        match self.next_line()? {
            Some(line) if line == want => {
                self.log.check();
                Ok(())
            }
            Some(line) => bail!("{} expected '{want}', got '{line}'", self.name),
            None => bail!("{} expected '{want}', got nothing", self.name),
        }
    }

    fn expect_prefix(&mut self, want: &str) -> anyhow::Result<()> {
        match self.next_line()? {
            Some(line) if line.starts_with(want) => {
                self.log.check();
                Ok(())
            }
            Some(line) => bail!(
                "{} expected a line starting '{want}', got '{line}'",
                self.name
            ),
            None => bail!(
                "{} expected a line starting '{want}', got nothing",
                self.name
            ),
        }
    }

    fn expect_closed(&mut self) -> anyhow::Result<()> {
        match self.next_line()? {
            None => {
                self.log
                    .push(format!("{:<6} : connection closed", self.name));
                self.log.check();
                Ok(())
            }
            Some(line) => bail!(
                "{} expected the connection to close, got '{line}'",
                self.name
            ),
        }
    }

    fn leave(mut self) -> anyhow::Result<()> {
        self.session.command(ChatClient::finish)?;
        self.expect_closed()
    }
}

fn start_chat(
    engine: Engine,
    mode: ChatMode,
    log: &Transcript,
) -> anyhow::Result<Server<ChatServer>> {
    let listener = std::net::TcpListener::bind(("127.0.0.1", 0))?;
    let sink = log.clone();
    let server = Server::start_traced(
        engine,
        listener,
        ChatServer::new(ChatConfig::new(mode)),
        move |_, e| match describe(mode, &e) {
            ServerLine::Out(text) => sink.push(format!("server | {text}")),
            ServerLine::Log(text) => sink.push(format!("server : {text}")),
        },
        log.tracer(Wire::Lines),
    )?;
    Ok(server)
}

fn operator(
    server: &Server<ChatServer>,
    log: &Transcript,
    text: &str,
) -> anyhow::Result<Result<usize, ConsoleError>> {
    log.push(format!("{:<6} > {text}", "server"));
    let owned = text.to_owned();
    let sent = server.command(move |s, now| s.console_line(now, &owned))?;
    if let Err(e) = &sent {
        log.push(format!("server : refused: {e}"));
    }
    Ok(sent)
}

/// The class example: echo, including the class's Python client that sends
/// no newline.
pub(super) fn echo(engine: Engine, log: &Transcript) -> anyhow::Result<()> {
    let server = start_chat(engine, ChatMode::Echo, log)?;
    let addr = server.local_addr();
    let mut client = Peer::connect(addr, "client", log)?;
    log.wait_server("Server conectado por ('127.0.0.1', ")?;
    client.say("Olá, servidor")?;
    client.expect("Eco=>Olá, servidor")?;
    log.wait_server("Cliente enviou: Olá, servidor")?;
    client.say("segunda mensagem")?;
    client.expect("Eco=>segunda mensagem")?;

    // The handout's client.py sends without a newline and waits for a reply.
    let mut raw = TcpStream::connect(addr)?;
    raw.set_read_timeout(Some(STEP_TIMEOUT))?;
    log.push("py-cli > sem newline   (raw bytes, as the class's client.py sends)".into());
    raw.write_all("sem newline".as_bytes())?;
    let mut buf = [0u8; 1024];
    let n = raw.read(&mut buf)?;
    let reply = String::from_utf8_lossy(&buf[..n]).into_owned();
    log.push(format!(
        "py-cli < {reply}   (no newline, as the class's server answers)"
    ));
    if reply != "Eco=>sem newline" {
        bail!("the class-style client got '{reply}'");
    }
    log.check();
    client.leave()?;
    server.shutdown();
    Ok(())
}

/// The exercise: one client and the operator, client first, full duplex.
pub(super) fn chat(engine: Engine, log: &Transcript) -> anyhow::Result<()> {
    let server = start_chat(engine, ChatMode::Chat, log)?;
    let addr = server.local_addr();
    let mut client = Peer::connect(addr, "client", log)?;
    log.wait_server("Server conectado por ('127.0.0.1', ")?;
    // The server knows the client (it printed so): the operator may not
    // speak first.
    match server.command(|s, now| s.console_line(now, "Olá?"))? {
        Err(ConsoleError::ClientFirst) => {}
        Err(e) => {
            bail!("the operator's first line should be refused as the client's turn, got: {e}")
        }
        Ok(_) => bail!("the operator's first line should be refused, but it was sent"),
    }
    log.push(format!("{:<6} > Olá?", "server"));
    log.push(format!("server : refused: {}", ConsoleError::ClientFirst));
    log.check();
    client.say("Oi, servidor!")?;
    log.wait_server("Cliente enviou: Oi, servidor!")?;
    operator(&server, log, "Oi, cliente! Tudo bem?")?.context("operator line refused")?;
    client.expect("Oi, cliente! Tudo bem?")?;
    // Full duplex: both speak before either reads.
    operator(&server, log, "Vou te mandar um arquivo.")?.context("operator line refused")?;
    client.say("Tudo ótimo, e aí?")?;
    client.expect("Vou te mandar um arquivo.")?;
    log.wait_server("Cliente enviou: Tudo ótimo, e aí?")?;
    // A second client is turned away while the first is chatting.
    let mut other = Peer::connect(addr, "outro", log)?;
    other.expect("error: this server is chatting with another client; try again later")?;
    other.expect_closed()?;
    client.leave()?;
    server.shutdown();
    Ok(())
}

/// The room: three clients, names, fan-out, an operator line, a leave.
pub(super) fn room(engine: Engine, log: &Transcript) -> anyhow::Result<()> {
    let server = start_chat(engine, ChatMode::Room, log)?;
    let addr = server.local_addr();
    let mut ana = Peer::connect(addr, "ana", log)?;
    ana.expect_prefix("* welcome, you are guest1;")?;
    let mut bia = Peer::connect(addr, "bia", log)?;
    bia.expect_prefix("* welcome, you are guest2;")?;
    ana.expect("* guest2 joined")?;
    let mut caio = Peer::connect(addr, "caio", log)?;
    caio.expect_prefix("* welcome, you are guest3;")?;
    ana.expect("* guest3 joined")?;
    bia.expect("* guest3 joined")?;
    let mut peers = [ana, bia, caio];
    for i in 0..peers.len() {
        let (old, new) = (format!("guest{}", i + 1), peers[i].name.clone());
        peers[i].say(&format!("/nick {new}"))?;
        for j in 0..peers.len() {
            peers[(i + j) % 3].expect(&format!("* {old} is now {new}"))?;
        }
    }
    let [mut ana, mut bia, mut caio] = peers;
    ana.say("Olá, sala!")?;
    bia.expect("ana: Olá, sala!")?;
    caio.expect("ana: Olá, sala!")?;
    log.wait_server("ana: Olá, sala!")?;
    let sent = operator(&server, log, "Bem-vindos à sala.")?.context("operator line refused")?;
    if sent != 3 {
        bail!("the operator's line reached {sent} clients, not 3");
    }
    for peer in [&mut ana, &mut bia, &mut caio] {
        peer.expect("server: Bem-vindos à sala.")?;
    }
    caio.say("/quit")?;
    caio.expect("* bye")?;
    caio.expect_closed()?;
    ana.expect("* caio left")?;
    bia.expect("* caio left")?;
    bia.say("Tchau, ana.")?;
    ana.expect("bia: Tchau, ana.")?;
    server.shutdown();
    ana.expect("* server shutting down")?;
    bia.expect("* server shutting down")?;
    Ok(())
}
