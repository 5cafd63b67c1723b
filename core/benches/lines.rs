//! Line decoding throughput (MB/s) of the core's `LineDecoder`.

#![allow(missing_docs)]

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};

use commlab_core::LineDecoder;

fn input(line_len: usize, total: usize) -> Vec<u8> {
    let mut line = "a".repeat(line_len);
    line.push('\n');
    line.as_bytes()
        .iter()
        .copied()
        .cycle()
        .take(total)
        .collect()
}

fn decode(c: &mut Criterion) {
    let mut group = c.benchmark_group("line_decode");
    for line_len in [16usize, 80, 1024] {
        let data = input(line_len, 1 << 20);
        group.throughput(Throughput::Bytes(data.len() as u64));
        group.bench_with_input(BenchmarkId::new("whole", line_len), &data, |b, data| {
            b.iter(|| {
                let mut d = LineDecoder::default();
                d.feed(data);
                let mut n = 0;
                while let Ok(Some(line)) = d.next_line() {
                    n += line.len();
                }
                n
            });
        });
        group.bench_with_input(BenchmarkId::new("4k_reads", line_len), &data, |b, data| {
            b.iter(|| {
                let mut d = LineDecoder::default();
                let mut n = 0;
                for chunk in data.chunks(4096) {
                    d.feed(chunk);
                    while let Ok(Some(line)) = d.next_line() {
                        n += line.len();
                    }
                }
                n
            });
        });
    }
    group.finish();
}

criterion_group!(benches, decode);
criterion_main!(benches);
