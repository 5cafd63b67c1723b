//! End-to-end file transfer benchmark over loopback: a download with
//! `commlab ft` (both digests, both engines) against a plain
//! `std::io::copy` between two sockets (file → socket → file), the
//! physical reference. Also reports the process's peak memory.
//!
//! ```sh
//! cargo run --release -p commlab --example ft_bench -- 1073741824
//! ```
//!
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

/// Seconds of one download and the peak memory of the process during it.
fn commlab_get(
    engine: Engine,
    alg: DigestAlg,
    root: &Path,
    dst: &Path,
) -> anyhow::Result<(f64, f64)> {
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
    let started = Instant::now();
    c.get("data.bin", dst)?;
    let secs = started.elapsed().as_secs_f64();
    let peak = peak_rss_mib();
    if peak > 0.0 {
        eprintln!("  memory: {before:.1} MiB resident before the transfer, peak {peak:.1} MiB (+{:.1} MiB for the transfer)", peak - before);
    }
    c.quit();
    server.shutdown();
    Ok((secs, peak))
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
        plain.push(plain_copy(&src, &dst)?);
        fs::remove_file(&dst)?;
    }
    let best_plain = plain.iter().copied().fold(f64::MAX, f64::min);
    println!(
        "plain std::io::copy: {:.0} MiB/s (best of 3); peak memory so far {:.1} MiB",
        mib / best_plain,
        peak_rss_mib()
    );
    let sha2 = mib / (0..3).map(|_| sha2_alone(size)).fold(f64::MAX, f64::min);
    println!("sha2 alone, one core: {sha2:.0} MiB/s (best of 3)");
    figures.insert("size_mib".into(), mib.into());
    figures.insert("plain_mib_s".into(), (mib / best_plain).into());
    figures.insert("sha2_mib_s".into(), sha2.into());
    for engine in [Engine::Std, Engine::Mio] {
        for alg in [DigestAlg::Blake3, DigestAlg::Sha256] {
            let mut runs = Vec::new();
            let mut peak = 0.0f64;
            for _ in 0..3 {
                let (secs, p) = commlab_get(engine, alg, &dir, &dst)?;
                runs.push(secs);
                peak = peak.max(p);
                fs::remove_file(&dst)?;
            }
            let best = runs.iter().copied().fold(f64::MAX, f64::min);
            figures.insert(
                format!("{engine}_{}", alg.name()),
                serde_json::json!({"mib_s": mib / best, "transfer_peak_mib": peak}),
            );
            println!(
                "commlab ft get, engine {engine}, {}: {:.0} MiB/s (best of 3), {:.0}% of plain; peak memory so far {:.1} MiB",
                alg.name(),
                mib / best,
                100.0 * best_plain / best,
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
