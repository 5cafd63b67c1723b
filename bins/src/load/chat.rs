//! `load chat`: a room's lines to every other client, in order, once.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use anyhow::bail;
use commlab_core::chat::ClientEvent;
use commlab_core::ChatClient;
use commlab_mio::ClientDriver;

use super::report::micros;
use super::{check_clients, Report, TURN};

/// Runs the chat load, client `i` on server `addrs[i % addrs.len()]`
/// (several servers: one federated room).
pub fn chat(
    addrs: &[SocketAddr],
    clients: usize,
    senders: usize,
    lines: usize,
    timeout: Duration,
) -> anyhow::Result<Report> {
    check_clients(clients)?;
    if senders == 0 || senders > clients {
        bail!("--senders must be between 1 and --clients ({clients})");
    }
    let sessions = (0..clients)
        .map(|_| ChatClient::new(commlab_core::MAX_LINE + commlab_core::chat::OUT_SLACK, None))
        .collect();
    let mut d = ClientDriver::connect_spread(addrs, sessions)?;
    let deadline = Instant::now() + timeout;
    let mut nick: Vec<Option<String>> = vec![None; clients];
    let mut report = Report::new("chat", clients);
    // Phase 1: everyone is in the room.
    while nick.iter().any(Option::is_none) {
        if Instant::now() > deadline {
            bail!(
                "only {} of {clients} clients were welcomed in time (is the server in room mode?)",
                nick.iter().flatten().count()
            );
        }
        d.turn(TURN, |i, _, e| match e {
            ClientEvent::Line(l) => {
                if let Some(name) = commlab_core::chat::welcomed_nick(&l) {
                    nick[i] = Some(name.to_owned());
                }
            }
            ClientEvent::Closed(_) => report.errors += 1,
            _ => {}
        })?;
        if report.errors > 0 {
            bail!("{} clients were disconnected while joining", report.errors);
        }
    }
    // Phase 2: the senders send their lines; every other client must get them.
    let start = Instant::now();
    for (i, s) in d.sessions_mut().take(senders) {
        for k in 0..lines {
            s.send_line(&format!("L {i} {k} {}", micros(start.elapsed())))?;
        }
    }
    d.flush_all();
    report.expected = (senders as u64) * (clients as u64 - 1) * lines as u64;
    // next[i * senders + s]: the line client i expects next from sender s.
    let mut next = vec![0usize; clients * senders];
    while report.ok + report.wrong < report.expected && Instant::now() < deadline {
        d.turn_ready(TURN, |i, session| {
            // Lines carry their send time in microseconds since `start`.
            let now = micros(start.elapsed());
            while let Some(event) = session.poll_event_ref() {
                match event {
                    ClientEvent::Line(l) if l.starts_with("* ") => {}
                    ClientEvent::Line(l) => match parse_delivery(l) {
                        Some((sender, k, t))
                            if sender < senders
                                && sender != i
                                && next[i * senders + sender] == k =>
                        {
                            next[i * senders + sender] += 1;
                            report.ok += 1;
                            report.record_us(now.saturating_sub(t));
                        }
                        _ => report.wrong += 1,
                    },
                    ClientEvent::Closed(_) => report.errors += 1,
                    _ => {}
                }
            }
        })?;
    }
    report.elapsed = start.elapsed();
    report.lost = report.expected.saturating_sub(report.ok + report.wrong);
    Ok(report)
}

/// Reads `NICK: L SENDER K MICROS` (what `chat` sends, as the room relays
/// it) in one pass: plain decimal numbers of at most 19 digits (so they
/// cannot overflow), one space apart, nothing else.
fn parse_delivery(line: &str) -> Option<(usize, usize, u64)> {
    let bytes = line.as_bytes();
    let colon = bytes.iter().position(|&b| b == b':')?;
    let rest = bytes[colon..].strip_prefix(b": L ")?;
    let mut numbers = [0u64; 3];
    let mut field = 0;
    let mut digits = 0;
    for &b in rest {
        match b {
            b'0'..=b'9' if digits < 19 => {
                numbers[field] = numbers[field] * 10 + u64::from(b - b'0');
                digits += 1;
            }
            b' ' if digits > 0 && field < 2 => {
                field += 1;
                digits = 0;
            }
            _ => return None,
        }
    }
    let [sender, k, t] = numbers;
    (field == 2 && digits > 0).then_some((
        usize::try_from(sender).ok()?,
        usize::try_from(k).ok()?,
        t,
    ))
}

#[cfg(test)]
mod tests {
    use super::parse_delivery;

    #[test]
    fn deliveries_parse_only_in_the_exact_form_sent() {
        assert_eq!(parse_delivery("guest7: L 3 14 1500"), Some((3, 14, 1500)));
        assert_eq!(parse_delivery("a: L 0 0 18446744073709551615"), None); // 20 digits
        assert_eq!(
            parse_delivery("a: L 0 0 9999999999999999999"),
            Some((0, 0, 9_999_999_999_999_999_999))
        );
        for wrong in [
            "guest7: L 3 14",
            "guest7: L 3 14 1500 9",
            "guest7: L 3 +14 1500",
            "guest7: L 3  14 1500",
            "guest7: L 3 14 15x0",
            "guest7: M 3 14 1500",
            "guest7 L 3 14 1500",
            "",
        ] {
            assert_eq!(parse_delivery(wrong), None, "{wrong:?}");
        }
    }
}
