//! The federated room's options (`--nats`, `--room`, `--server-id`) and
//! how its link and federation events read in the server's log.

use std::net::{SocketAddr, ToSocketAddrs};

use anyhow::{bail, Context as _};
use commlab_core::chat::{FederationConfig, FederationEvent};
use commlab_core::nats::{LinkError, LinkEvent};

use crate::url::Endpoint;

/// NATS's default client port.
pub const NATS_PORT: u16 = 4222;
/// The room's name when `--room` is not given.
pub const DEFAULT_ROOM: &str = "main";

/// Options of a room that spans servers (`#[command(flatten)]`).
#[derive(Debug, Clone, Default, clap::Args)]
pub struct RoomLinkArgs {
    /// Room mode: link this room to the rooms of the same name on other
    /// servers through the NATS broker at this URL (nats://HOST:PORT);
    /// repeat it for a cluster's seed list (tried in turn).
    #[arg(long, value_name = "URL")]
    pub nats: Vec<String>,
    /// With --nats: the room's name (its subject is commlab.room.NAME).
    #[arg(long, value_name = "NAME", default_value = DEFAULT_ROOM)]
    pub room: String,
    /// With --nats: this server's id, unique among the room's servers
    /// (default: HOSTNAME-PORT).
    #[arg(long, value_name = "ID")]
    pub server_id: Option<String>,
}

impl RoomLinkArgs {
    /// The seed addresses `--nats` names (each URL resolved now; every
    /// address it has is a seed).
    pub fn seeds(&self) -> anyhow::Result<Vec<SocketAddr>> {
        let mut seeds = Vec::new();
        for url in &self.nats {
            let with_scheme = if url.contains("://") {
                url.clone()
            } else {
                format!("nats://{url}")
            };
            let e = Endpoint::parse(
                &with_scheme,
                "nats://127.0.0.1:4222",
                |scheme| match scheme {
                    "nats" => Ok(NATS_PORT),
                    "tls" => {
                        bail!("{url}: a TLS link to the broker is not supported yet; use nats://")
                    }
                    other => {
                        bail!("{url}: the scheme {other}:// is not NATS's; use nats://HOST:PORT")
                    }
                },
            )?;
            let found: Vec<SocketAddr> = (e.host.as_str(), e.port)
                .to_socket_addrs()
                .with_context(|| format!("cannot resolve the broker's host in {url}"))?
                .collect();
            if found.is_empty() {
                bail!("the broker's host in {url} has no address");
            }
            seeds.extend(found);
        }
        Ok(seeds)
    }

    /// The federation `--room` and `--server-id` describe, for a server
    /// listening on `port`.
    pub fn federation(&self, port: u16) -> FederationConfig {
        let server = self
            .server_id
            .clone()
            .unwrap_or_else(|| default_server_id(port));
        FederationConfig {
            room: self.room.clone(),
            server,
            run: run_number(),
        }
    }
}

/// `HOSTNAME-PORT` (the machine's host name, from `gethostname` on Unix
/// and `GetComputerNameExW` on Windows), with every byte an id cannot hold
/// made `-`; `local-PORT` where the name is empty.
pub fn default_server_id(port: u16) -> String {
    let host = gethostname::gethostname().to_string_lossy().into_owned();
    server_id_for(&host, port)
}

/// [`default_server_id`] for the host name `host`.
fn server_id_for(host: &str, port: u16) -> String {
    let host: String = host
        .trim()
        .chars()
        .map(|c| if c.is_ascii_alphanumeric() { c } else { '-' })
        .take(40)
        .collect();
    format!("{}-{port}", if host.is_empty() { "local" } else { &host })
}

/// A number for this run, different from the last one's (the time and
/// the process id: a restarted server's messages are told from its old ones).
pub fn run_number() -> u64 {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos() as u64);
    nanos ^ (u64::from(std::process::id()) << 48)
}

/// How a link event reads in the log (`None`: not worth a line).
pub fn describe_link(event: &LinkEvent) -> Option<String> {
    Some(match event {
        LinkEvent::Dialing(_) => return None,
        LinkEvent::Up {
            addr,
            broker,
            version,
        } => format!(
            "linked to the broker {broker} at {addr}{}",
            version
                .as_ref()
                .map(|v| format!(" (NATS {v})"))
                .unwrap_or_default()
        ),
        LinkEvent::Down {
            addr,
            reason,
            attempt,
            retry_in,
        } => {
            // A broker that stays away is logged at attempts 1, 2, 4, 8...
            if !attempt.is_power_of_two() {
                return None;
            }
            let local = if matches!(reason, LinkError::Dial(_)) && *attempt == 1 {
                "; serving as a local room until it answers"
            } else {
                ""
            };
            format!(
                "broker link to {addr} down: {reason}{local} (attempt {attempt}; next in {} ms)",
                retry_in.as_millis()
            )
        }
        LinkEvent::BrokerError(e) => format!("the broker refused an operation: {e}"),
        LinkEvent::NotPublished(e) => format!("a message was not published: {e}"),
        _ => "broker link: an event this version does not describe".to_owned(),
    })
}

/// How a federation event reads in the log (`None`: not worth a line).
pub fn describe_federation(event: &FederationEvent) -> Option<String> {
    Some(match event {
        FederationEvent::Refused { error, total } => {
            if !total.is_power_of_two() {
                return None;
            }
            format!("dropped a message from the broker: {error} ({total} dropped so far)")
        }
        FederationEvent::NameClash {
            nick,
            server,
            renamed,
        } => {
            format!("the name {nick} is also on server {server}: the local client is now {renamed}")
        }
        FederationEvent::ServerGone { server, names } => {
            format!("server {server} has not been heard from: its {names} names are freed")
        }
        _ => "federation: an event this version does not describe".to_owned(),
    })
}

#[cfg(test)]
mod tests {
    use super::{default_server_id, server_id_for};

    #[test]
    fn the_default_id_is_this_machines_name_and_the_port() {
        let name = gethostname::gethostname().to_string_lossy().into_owned();
        assert!(!name.trim().is_empty(), "this machine has a host name");
        assert_eq!(default_server_id(50009), server_id_for(&name, 50009));
        assert_ne!(default_server_id(50009), "local-50009");
    }

    #[test]
    fn bytes_an_id_cannot_hold_become_dashes() {
        assert_eq!(server_id_for("lab pc.ufx\n", 8), "lab-pc-ufx-8");
        assert_eq!(server_id_for("  ", 8), "local-8");
        assert_eq!(server_id_for(&"a".repeat(90), 1).len(), 42);
    }
}
