//! `load ft`: parallel uploads of generated files and downloads back,
//! digests checked both ways.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use commlab_mio::ClientDriver;

use super::{check_clients, Report, TURN};

/// Deterministic file content for `load ft` (the same bytes for a given
/// client and offset).
fn fill(buf: &mut [u8], client: usize, offset: u64) {
    for (j, b) in buf.iter_mut().enumerate() {
        let x = offset + j as u64;
        *b = (x.wrapping_mul(2_654_435_761) >> 13) as u8 ^ client as u8;
    }
}

/// Runs the file transfer load: upload then download back, per client.
pub fn ft(
    addr: SocketAddr,
    user: &str,
    password: &str,
    size: u64,
    parallel: usize,
    timeout: Duration,
) -> anyhow::Result<Report> {
    use commlab_core::filexfer::{DigestAlg, FtClient, FtClientEvent, Hasher};
    #[derive(Clone, Copy, PartialEq, Eq)]
    enum Step {
        Hello,
        Login,
        Uploading,
        Ending,
        Downloading,
        Done,
    }
    check_clients(parallel)?;
    let mut report = Report::new("ft", parallel);
    let sessions = (0..parallel)
        .map(|_| FtClient::new(DigestAlg::Blake3))
        .collect();
    let mut d = ClientDriver::connect(addr, sessions)?;
    let start = Instant::now();
    let deadline = start + timeout;
    let mut step = vec![Step::Hello; parallel];
    let mut offset = vec![0u64; parallel];
    let mut received = vec![0u64; parallel];
    let mut started = vec![start; parallel];
    let mut expected_digest = vec![String::new(); parallel];
    let mut moved = 0u64;
    let mut buf = vec![0u8; 256 * 1024];
    report.expected = 2 * parallel as u64;
    while step.iter().any(|s| *s != Step::Done) && Instant::now() < deadline {
        let mut to_start: Vec<usize> = Vec::new();
        d.turn(TURN, |i, s, e| match (step[i], e) {
            (Step::Hello, FtClientEvent::Hello { .. }) => {
                let _ = s.login(user, password);
                step[i] = Step::Login;
            }
            (Step::Login, FtClientEvent::Ok(_)) => {
                let _ = s.put(&format!("commlab-load-{i}.bin"), size);
            }
            (Step::Login, FtClientEvent::UploadReady { .. }) => {
                step[i] = Step::Uploading;
                started[i] = Instant::now();
            }
            (Step::Ending, FtClientEvent::Uploaded { digest, .. }) => {
                if digest == expected_digest[i] {
                    report.ok += 1;
                } else {
                    report.wrong += 1;
                }
                report.record(started[i]);
                to_start.push(i);
            }
            (Step::Downloading, FtClientEvent::Data(data)) => {
                received[i] += data.len() as u64;
                moved += data.len() as u64;
            }
            (
                Step::Downloading,
                FtClientEvent::Downloaded {
                    size: got, digest, ..
                },
            ) => {
                if got == size && digest == expected_digest[i] {
                    report.ok += 1;
                } else {
                    report.wrong += 1;
                }
                report.record(started[i]);
                step[i] = Step::Done;
            }
            (_, FtClientEvent::DownloadReady { .. }) => {}
            (_, FtClientEvent::DownloadFailed(_)) => {
                report.wrong += 1;
                step[i] = Step::Done;
            }
            (_, FtClientEvent::Error { .. } | FtClientEvent::Closed) if step[i] != Step::Done => {
                report.errors += 1;
                step[i] = Step::Done;
            }
            _ => {}
        })?;
        for i in to_start {
            let s = d.session_mut(i);
            if s.get(&format!("commlab-load-{i}.bin")).is_ok() {
                step[i] = Step::Downloading;
                started[i] = Instant::now();
            }
            d.flush(i);
        }
        // Keep every upload's output topped up (at most about 1 MiB queued).
        for i in 0..parallel {
            if step[i] != Step::Uploading {
                continue;
            }
            let s = d.session_mut(i);
            while s.pending_output() < 1024 * 1024 && offset[i] < size {
                let n = (size - offset[i]).min(buf.len() as u64) as usize;
                fill(&mut buf[..n], i, offset[i]);
                let _ = s.upload_data(&buf[..n]);
                offset[i] += n as u64;
                moved += n as u64;
            }
            if offset[i] == size {
                let mut h = Hasher::new(DigestAlg::Blake3);
                let mut at = 0u64;
                while at < size {
                    let n = (size - at).min(buf.len() as u64) as usize;
                    fill(&mut buf[..n], i, at);
                    h.update(&buf[..n]);
                    at += n as u64;
                }
                expected_digest[i] = commlab_core::filexfer::hex(&h.finish());
                let _ = s.upload_end();
                step[i] = Step::Ending;
            }
            d.flush(i);
        }
    }
    report.elapsed = start.elapsed();
    report.lost = report
        .expected
        .saturating_sub(report.ok + report.wrong + report.errors);
    let secs = report.elapsed.as_secs_f64().max(1e-9);
    eprintln!(
        "[commlab] moved {:.1} MiB in {secs:.2} s: {:.0} MiB/s",
        moved as f64 / 1048576.0,
        moved as f64 / 1048576.0 / secs
    );
    Ok(report)
}
