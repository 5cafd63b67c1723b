//! File transfer framing + hashing throughput in core, for both digests:
//! a 16 MiB upload through the client session into the server service.

#![allow(missing_docs, clippy::disallowed_methods)]

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::time::Instant;

use criterion::{criterion_group, criterion_main, Criterion, Throughput};

use commlab_core::filexfer::{DigestAlg, FtClient, FtEvent, FtServer, Hasher};
use commlab_core::{ConnId, Service, Session};

const SIZE: usize = 16 * 1024 * 1024;

fn transfer(alg: DigestAlg, data: &[u8]) -> usize {
    let now = Instant::now();
    let c = ConnId(1);
    let mut server = FtServer::new(alg, u64::MAX);
    let mut client = FtClient::new(alg);
    server.handle_connect(now, c, SocketAddr::new(IpAddr::V4(Ipv4Addr::LOCALHOST), 1));
    let mut wire = Vec::new();
    let mut stored = 0usize;
    let mut pump = |server: &mut FtServer, client: &mut FtClient, wire: &mut Vec<u8>| loop {
        wire.clear();
        while server.poll_ready().is_some() {}
        let _ = server.poll_transmit(c, wire, usize::MAX);
        client.handle_input(now, wire);
        while client.poll_event().is_some() {}
        let down = wire.len();
        wire.clear();
        client.poll_transmit(wire);
        server.handle_input(now, c, wire);
        let up = wire.len();
        while let Some(e) = server.poll_event() {
            match e {
                FtEvent::Login { conn, .. } => server.login_result(conn, true),
                FtEvent::OpenWrite { conn, name, size } => server.upload_accept(conn, &name, size),
                FtEvent::UploadData { data, .. } => stored += data.len(),
                FtEvent::UploadEnd { conn, .. } => server.upload_committed(conn),
                _ => {}
            }
        }
        if down == 0 && up == 0 {
            break;
        }
    };
    pump(&mut server, &mut client, &mut wire);
    let _ = client.login("a", "b");
    pump(&mut server, &mut client, &mut wire);
    let _ = client.put("f", data.len() as u64);
    pump(&mut server, &mut client, &mut wire);
    for chunk in data.chunks(256 * 1024) {
        let _ = client.upload_data(chunk);
        pump(&mut server, &mut client, &mut wire);
    }
    let _ = client.upload_end();
    pump(&mut server, &mut client, &mut wire);
    assert_eq!(stored, data.len(), "the whole file went through");
    stored
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
