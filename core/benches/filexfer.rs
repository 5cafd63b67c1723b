//! File transfer framing + hashing throughput in core, for both digests:
//! a 16 MiB upload through the client session into the server service,
//! and a download the other way in reads of 64 KiB (what the drivers read
//! at once), where each copy of the content shows.

#![allow(missing_docs, clippy::disallowed_methods)]

use std::cell::Cell;
use std::rc::Rc;
use std::time::Instant;

use criterion::{criterion_group, criterion_main, Criterion, Throughput};

use commlab_core::filexfer::{DigestAlg, FtClient, FtClientEvent, FtEvent, FtServer, Hasher};
use commlab_core::testing::{self, Pair, ServicePump};
use commlab_core::{ConnId, Flow, Service as _, Session as _};

const SIZE: usize = 16 * 1024 * 1024;

/// What a driver reads from a socket at once.
const READ: usize = 64 * 1024;

/// What the server's application reads from a file at once.
const FILE_READ: usize = 256 * 1024;

fn transfer(alg: DigestAlg, data: &[u8]) -> usize {
    let stored = Rc::new(Cell::new(0usize));
    let counted = Rc::clone(&stored);
    let server = ServicePump::new(FtServer::new(alg, u64::MAX), Instant::now()).with_app(
        move |server: &mut FtServer, e| match e {
            FtEvent::Login { conn, .. } => server.login_result(conn, true),
            FtEvent::OpenWrite { conn, name, size } => server.upload_accept(conn, &name, size),
            FtEvent::UploadData { conn, data } => {
                counted.set(counted.get() + data.len());
                server.recycle(conn, data);
            }
            FtEvent::UploadEnd { conn, .. } => server.upload_committed(conn),
            _ => {}
        },
    );
    let mut p = Pair::over(FtClient::new(alg), server, usize::MAX);
    let _ = p.client.login("a", "b");
    p.run();
    let _ = p.client.put("f", data.len() as u64);
    p.run();
    for chunk in data.chunks(256 * 1024) {
        let _ = p.client.upload_data(chunk);
        p.run();
    }
    let _ = p.client.upload_end();
    p.run();
    assert_eq!(stored.get(), data.len(), "the whole file went through");
    stored.get()
}

/// The server's application for a download: serves `file` in reads of
/// [`FILE_READ`], as `commlab ft server` reads a file.
fn serve(server: &mut FtServer, e: FtEvent, file: &[u8], sent: &mut usize) {
    match e {
        FtEvent::Login { conn, .. } => server.login_result(conn, true),
        FtEvent::OpenRead { conn, name } => {
            *sent = 0;
            server.download_begin(conn, &name, file.len() as u64);
        }
        FtEvent::NeedData { conn } => {
            let chunk = &file[*sent..(*sent + FILE_READ).min(file.len())];
            if chunk.is_empty() {
                server.download_eof(conn);
            } else {
                *sent += chunk.len();
                server.download_data(conn, chunk);
            }
        }
        _ => {}
    }
}

/// Downloads `file` as a driver moves it: the server's output in writes
/// of at most [`READ`] bytes, each read at once by the client, which
/// gives every payload back once counted. Returns the bytes received.
fn download(alg: DigestAlg, file: &[u8]) -> usize {
    let now = Instant::now();
    let conn = ConnId(1);
    let mut server = FtServer::new(alg, u64::MAX);
    let mut client = FtClient::new(alg);
    server.handle_connect(now, conn, testing::peer(1));
    let (mut wire, mut sent, mut received) = (Vec::with_capacity(READ), 0, 0);
    let _ = client.login("a", "b");
    let mut asked = false;
    loop {
        while let Some(e) = server.poll_event() {
            serve(&mut server, e, file, &mut sent);
        }
        let mut moved = false;
        while let Some((c, _)) = server.poll_ready() {
            loop {
                let flow = server.poll_transmit(c, &mut wire, READ);
                if wire.is_empty() {
                    break;
                }
                client.handle_input(now, &wire);
                wire.clear();
                moved = true;
                if flow == Flow::Close {
                    break;
                }
            }
        }
        while let Some(e) = client.poll_event() {
            match e {
                FtClientEvent::Ok(_) if !asked => {
                    asked = true;
                    let _ = client.get("f");
                }
                FtClientEvent::Data(bytes) => {
                    received += bytes.len();
                    client.recycle(bytes);
                }
                FtClientEvent::Downloaded { .. } => {
                    assert_eq!(received, file.len(), "the whole file came back");
                    return received;
                }
                FtClientEvent::DownloadFailed(why) => panic!("download failed: {why}"),
                _ => {}
            }
        }
        client.poll_transmit(&mut wire);
        if !wire.is_empty() {
            server.handle_input(now, conn, &wire);
            wire.clear();
            moved = true;
        }
        assert!(moved, "the download stalled");
    }
}

fn bench(c: &mut Criterion) {
    let data: Vec<u8> = (0..SIZE).map(|i| (i * 31 % 251) as u8).collect();
    let mut g = c.benchmark_group("filexfer_16mib_upload");
    g.throughput(Throughput::Bytes(SIZE as u64));
    g.sample_size(10);
    for alg in [DigestAlg::Blake3, DigestAlg::Sha256] {
        g.bench_function(alg.name(), |b| b.iter(|| transfer(alg, &data)));
    }
    g.finish();
    let mut g = c.benchmark_group("filexfer_16mib_download_64k_reads");
    g.throughput(Throughput::Bytes(SIZE as u64));
    g.sample_size(10);
    for alg in [DigestAlg::Blake3, DigestAlg::Sha256] {
        g.bench_function(alg.name(), |b| b.iter(|| download(alg, &data)));
    }
    g.finish();
    let mut g = c.benchmark_group("digest_16mib");
    g.throughput(Throughput::Bytes(SIZE as u64));
    g.sample_size(10);
    for alg in [DigestAlg::Blake3, DigestAlg::Sha256] {
        g.bench_function(alg.name(), |b| {
            b.iter(|| {
                let mut h = Hasher::new(alg);
                h.update(&data);
                h.finish()
            })
        });
    }
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
