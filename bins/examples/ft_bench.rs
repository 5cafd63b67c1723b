//! End-to-end file transfer benchmark over loopback: a download with
//! `commlab ft` (both digests, both engines) against a plain
//! `std::io::copy` between two sockets (file → socket → file), the
//! physical reference. Also reports the process's peak memory.
//!
//! ```sh
//! cargo run --release -p commlab --example ft_bench -- 1073741824
//! ```
//!
//! Each figure is the best of three: throughput, and the process's CPU
//! time per MiB (both ends together), with its user-space part (hashing,
//! framing, copying: what commlab's code costs; the rest is the kernel's).
//! The argument is the file size in bytes (default 1 GiB); `--json` adds a
//! last line with every figure as JSON (for `scripts/bench`). It also
//! measures what `sha2` hashes per second on one core, the ceiling of a
//! SHA-256 transfer. Files go to the system's temporary folder and are
//! removed afterwards.

use std::fs::{self, File};
use std::io::{self, Write};
use std::net::{TcpListener, TcpStream};
use std::path::Path;
use std::time::Instant;

use commlab::ft::{FtConnection, Users};
use commlab::Engine;
use commlab_core::filexfer::DigestAlg;

fn peak_rss_mib() -> f64 {
    status_mib("VmHWM:")
}

fn rss_mib() -> f64 {
    status_mib("VmRSS:")
}

fn status_mib(field: &str) -> f64 {
    let status = fs::read_to_string("/proc/self/status").unwrap_or_default();
    let kib: f64 = status
        .lines()
        .find_map(|l| l.strip_prefix(field))
        .and_then(|v| v.trim().trim_end_matches(" kB").parse().ok())
        .unwrap_or(0.0);
    kib / 1024.0
}

/// CPU seconds this process (server, client and every thread) has used,
/// user and system, from `/proc/self/stat` (clock ticks of 1/100 s).
fn cpu_seconds() -> Cpu {
    let stat = fs::read_to_string("/proc/self/stat").unwrap_or_default();
    let fields: Vec<&str> = stat
        .rsplit_once(')')
        .map_or(Vec::new(), |(_, rest)| rest.split_whitespace().collect());
    // After the command: state is field 3, utime 14 and stime 15.
    let ticks = |i: usize| fields.get(i - 3).and_then(|v| v.parse::<f64>().ok());
    Cpu {
        user: ticks(14).unwrap_or(0.0) / 100.0,
        system: ticks(15).unwrap_or(0.0) / 100.0,
    }
}

/// CPU time, split as the kernel counts it.
#[derive(Debug, Clone, Copy)]
struct Cpu {
    /// In commlab's code and the libraries it calls (hashing, copying).
    user: f64,
    /// In the kernel on the process's behalf (sockets, the file system).
    system: f64,
}

impl std::ops::Sub for Cpu {
    type Output = Self;
    fn sub(self, earlier: Self) -> Self {
        Self {
            user: self.user - earlier.user,
            system: self.system - earlier.system,
        }
    }
}

/// Resets the peak so the next reading covers only what follows (Linux).
fn reset_peak() {
    let _ = fs::write("/proc/self/clear_refs", "5");
}

fn make_file(path: &Path, size: u64) -> io::Result<()> {
    let mut f = File::create(path)?;
    let mut block = vec![0u8; 1 << 20];
    let mut x: u64 = 0x9E37_79B9_7F4A_7C15;
    for chunk in block.chunks_mut(8) {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        chunk.copy_from_slice(&x.to_le_bytes()[..chunk.len()]);
    }
    let mut left = size;
    while left > 0 {
        let n = left.min(block.len() as u64) as usize;
        f.write_all(&block[..n])?;
        left -= n as u64;
    }
    f.sync_all()
}

/// file → socket → file with `std::io::copy` on both sides.
fn plain_copy(src: &Path, dst: &Path) -> io::Result<f64> {
    let listener = TcpListener::bind("127.0.0.1:0")?;
    let addr = listener.local_addr()?;
    let src = src.to_owned();
    let sender = std::thread::spawn(move || -> io::Result<()> {
        let (mut sock, _) = listener.accept()?;
        let mut f = File::open(&src)?;
        io::copy(&mut f, &mut sock)?;
        Ok(())
    });
    let started = Instant::now();
    let mut sock = TcpStream::connect(addr)?;
    let mut out = File::create(dst)?;
    io::copy(&mut sock, &mut out)?;
    out.sync_all()?;
    let secs = started.elapsed().as_secs_f64();
    sender
        .join()
        .map_err(|_| io::Error::other("sender panicked"))??;
    Ok(secs)
}

/// SHA-256 of `size` bytes in 1 MiB blocks on this thread: seconds.
fn sha2_alone(size: u64) -> f64 {
    use sha2::Digest;
    let block = vec![0x5Au8; 1 << 20];
    let mut h = sha2::Sha256::new();
    let started = Instant::now();
    let mut left = size;
    while left > 0 {
        let n = left.min(block.len() as u64) as usize;
        h.update(&block[..n]);
        left -= n as u64;
    }
    std::hint::black_box(h.finalize());
    started.elapsed().as_secs_f64()
}

/// One transfer's figures.
#[derive(Debug, Clone, Copy)]
struct Run {
    /// Wall-clock seconds.
    secs: f64,
    /// CPU time of the process (both ends and every thread).
    cpu: Cpu,
}

/// The fastest of some runs, and the least CPU any of them used.
fn best(runs: &[Run]) -> Run {
    let least = |f: fn(&Run) -> f64| runs.iter().map(f).fold(f64::MAX, f64::min);
    Run {
        secs: least(|r| r.secs),
        cpu: Cpu {
            user: least(|r| r.cpu.user),
            system: least(|r| r.cpu.system),
        },
    }
}

/// One download's figures and the peak memory of the process during it.
fn commlab_get(
    engine: Engine,
    alg: DigestAlg,
    root: &Path,
    dst: &Path,
) -> anyhow::Result<(Run, f64)> {
    let mut users = Users::default();
    users.add_plain("bench:bench")?;
    let listener = TcpListener::bind("127.0.0.1:0")?;
    let config = commlab::ft::FtServerConfig {
        hash: alg,
        max_file_size: u64::MAX,
        sink: Box::new(|_| {}),
        ..commlab::ft::FtServerConfig::new(root, users)
    };
    let server = commlab::ft::start(engine, listener, config)?;
    let port = server.local_addr().port();
    let mut c = FtConnection::open("127.0.0.1", port, "bench", "bench", alg)?;
    // Login hashing (argon2 uses 19 MiB by design) is done: measure the transfer.
    reset_peak();
    let before = rss_mib();
    let cpu = cpu_seconds();
    let started = Instant::now();
    c.get("data.bin", dst)?;
    let secs = started.elapsed().as_secs_f64();
    let cpu = cpu_seconds() - cpu;
    let peak = peak_rss_mib();
    if peak > 0.0 {
        eprintln!("  memory: {before:.1} MiB resident before the transfer, peak {peak:.1} MiB (+{:.1} MiB for the transfer)", peak - before);
    }
    c.quit();
    server.shutdown();
    Ok((Run { secs, cpu }, peak))
}

fn main() -> anyhow::Result<()> {
    let json = std::env::args().any(|a| a == "--json");
    let size: u64 = std::env::args()
        .skip(1)
        .find(|a| a != "--json")
        .map_or(Ok(1 << 30), |s| s.parse())?;
    let mut figures = serde_json::Map::new();
    let dir = std::env::temp_dir().join(format!("commlab-ft-bench-{}", std::process::id()));
    fs::create_dir_all(&dir)?;
    let src = dir.join("data.bin");
    make_file(&src, size)?;
    let dst = dir.join("copy.bin");
    let mib = size as f64 / (1024.0 * 1024.0);
    println!(
        "file: {mib:.0} MiB over loopback, client writing to {}",
        dir.display()
    );
    let mut plain = Vec::new();
    for _ in 0..3 {
        let cpu = cpu_seconds();
        let secs = plain_copy(&src, &dst)?;
        plain.push(Run {
            secs,
            cpu: cpu_seconds() - cpu,
        });
        fs::remove_file(&dst)?;
    }
    let plain = best(&plain);
    let best_plain = plain.secs;
    let us_per_mib = |r: Run| (r.cpu.user + r.cpu.system) * 1e6 / mib;
    let user_us_per_mib = |r: Run| r.cpu.user * 1e6 / mib;
    println!(
        "plain std::io::copy: {:.0} MiB/s (best of 3), CPU {:.0} µs/MiB ({:.0} in user space); peak memory so far {:.1} MiB",
        mib / best_plain,
        us_per_mib(plain),
        user_us_per_mib(plain),
        peak_rss_mib()
    );
    let sha2 = mib / (0..3).map(|_| sha2_alone(size)).fold(f64::MAX, f64::min);
    println!("sha2 alone, one core: {sha2:.0} MiB/s (best of 3)");
    figures.insert("size_mib".into(), mib.into());
    figures.insert("plain_mib_s".into(), (mib / best_plain).into());
    figures.insert("plain_cpu_us_per_mib".into(), us_per_mib(plain).into());
    figures.insert(
        "plain_user_us_per_mib".into(),
        user_us_per_mib(plain).into(),
    );
    figures.insert("sha2_mib_s".into(), sha2.into());
    for engine in [Engine::Std, Engine::Mio] {
        for alg in [DigestAlg::Blake3, DigestAlg::Sha256] {
            let mut runs = Vec::new();
            let mut peak = 0.0f64;
            for _ in 0..3 {
                let (run, p) = commlab_get(engine, alg, &dir, &dst)?;
                runs.push(run);
                peak = peak.max(p);
                fs::remove_file(&dst)?;
            }
            let run = best(&runs);
            figures.insert(
                format!("{engine}_{}", alg.name()),
                serde_json::json!({
                    "mib_s": mib / run.secs,
                    "cpu_us_per_mib": us_per_mib(run),
                    "user_us_per_mib": user_us_per_mib(run),
                    "transfer_peak_mib": peak,
                }),
            );
            println!(
                "commlab ft get, engine {engine}, {}: {:.0} MiB/s (best of 3), {:.0}% of plain, CPU {:.0} µs/MiB ({:.0} in user space); peak memory so far {:.1} MiB",
                alg.name(),
                mib / run.secs,
                100.0 * best_plain / run.secs,
                us_per_mib(run),
                user_us_per_mib(run),
                peak_rss_mib()
            );
        }
    }
    println!(
        "peak memory of this process (server and client together): {:.1} MiB",
        peak_rss_mib()
    );
    figures.insert("process_peak_mib".into(), peak_rss_mib().into());
    if json {
        println!("{}", serde_json::Value::Object(figures));
    }
    fs::remove_dir_all(&dir)?;
    Ok(())
}
