//! Debian's `nats-server` on an ephemeral loopback port, for the broker
//! tests (`apt-get install nats-server`; `.ci/run` installs it).

use std::process::Command;

use super::process::{free_port, wait_listening, Proc};

/// Fails with how to install `nats-server` when it is missing.
pub fn need_nats_server() {
    let found = Command::new("nats-server").arg("--version").output();
    assert!(
        found.is_ok_and(|o| o.status.success()),
        "nats-server is needed for the broker tests: apt-get install nats-server"
    );
}

/// `nats-server` on `port` of 127.0.0.1, once it listens.
pub fn broker_on(port: u16) -> Proc {
    need_nats_server();
    let p = Proc::spawn(
        "nats-server",
        Command::new("nats-server").args(["-a", "127.0.0.1", "-p", &port.to_string()]),
    );
    wait_listening(port);
    p
}

/// `nats-server` on a free port: the process and its port.
pub fn broker() -> (Proc, u16) {
    let port = free_port();
    (broker_on(port), port)
}
