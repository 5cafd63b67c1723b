//! File transfer framing + hashing throughput in core, for both digests:
//! a 16 MiB upload through the client session into the server service.

#![allow(missing_docs, clippy::disallowed_methods)]

use std::cell::Cell;
use std::rc::Rc;
use std::time::Instant;

use criterion::{criterion_group, criterion_main, Criterion, Throughput};

use commlab_core::filexfer::{DigestAlg, FtClient, FtEvent, FtServer, Hasher};
use commlab_core::testing::{Pair, ServicePump};

const SIZE: usize = 16 * 1024 * 1024;

fn transfer(alg: DigestAlg, data: &[u8]) -> usize {
    let stored = Rc::new(Cell::new(0usize));
    let counted = Rc::clone(&stored);
    let server = ServicePump::new(FtServer::new(alg, u64::MAX), Instant::now()).with_app(
        move |server: &mut FtServer, e| match e {
            FtEvent::Login { conn, .. } => server.login_result(conn, true),
            FtEvent::OpenWrite { conn, name, size } => server.upload_accept(conn, &name, size),
            FtEvent::UploadData { data, .. } => counted.set(counted.get() + data.len()),
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

fn bench(c: &mut Criterion) {
    let data: Vec<u8> = (0..SIZE).map(|i| (i * 31 % 251) as u8).collect();
    let mut g = c.benchmark_group("filexfer_16mib_upload");
    g.throughput(Throughput::Bytes(SIZE as u64));
    g.sample_size(10);
    for alg in [DigestAlg::Blake3, DigestAlg::Sha256] {
        g.bench_function(alg.name(), |b| b.iter(|| transfer(alg, &data)));
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
