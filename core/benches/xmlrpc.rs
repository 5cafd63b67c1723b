//! XML-RPC encode and decode: a two-int call, and a 1 MB array of structs.

#![allow(missing_docs)]

use criterion::{criterion_group, criterion_main, Criterion, Throughput};

use commlab_core::xmlrpc::{decode_call, encode_call, Value};

fn big_array() -> Vec<Value> {
    let item = |i: i32| {
        Value::Struct(vec![
            ("nome".into(), Value::String(format!("aluno {i}"))),
            ("matricula".into(), Value::Int(2_213_482 + i)),
            ("media".into(), Value::Double(7.5)),
            ("ativo".into(), Value::Bool(true)),
        ])
    };
    let one = encode_call("x", &[item(0)]).map_or(100, |s| s.len());
    let items: Vec<Value> = (0..).take(1_000_000 / one + 1).map(item).collect();
    vec![Value::Array(items)]
}

fn codec(c: &mut Criterion) {
    let small = vec![Value::Int(20), Value::Int(5)];
    let small_xml = encode_call("add", &small).unwrap_or_default();
    let mut g = c.benchmark_group("xmlrpc_two_ints");
    g.throughput(Throughput::Elements(1));
    g.bench_function("encode", |b| b.iter(|| encode_call("add", &small)));
    g.bench_function("decode", |b| b.iter(|| decode_call(small_xml.as_bytes())));
    g.finish();

    let big = big_array();
    let big_xml = encode_call("echo", &big).unwrap_or_default();
    let mut g = c.benchmark_group("xmlrpc_1mb_array_of_structs");
    g.throughput(Throughput::Bytes(big_xml.len() as u64));
    g.sample_size(20);
    g.bench_function("encode", |b| b.iter(|| encode_call("echo", &big)));
    g.bench_function("decode", |b| b.iter(|| decode_call(big_xml.as_bytes())));
    g.finish();
}

criterion_group!(benches, codec);
criterion_main!(benches);
