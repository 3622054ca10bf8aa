//! WebSocket unmasking (target >= 20 GB/s on a cache-resident buffer) beside
//! the byte-by-byte definition, and decoding a stream of small masked
//! messages (the echo benchmark's shape).

use std::hint::black_box;

use bytes::BytesMut;
use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use hyperdjango::websocket::decoder::Decoder;
use hyperdjango::websocket::frame::{opcode, write_header};
use hyperdjango::websocket::mask::{unmask, unmask_bytewise};

const KEY: [u8; 4] = [0x37, 0xfa, 0x21, 0x3d];

fn unmasking(c: &mut Criterion) {
    let mut group = c.benchmark_group("websocket_unmask");
    for size in [4 * 1024, 64 * 1024] {
        let mut data = vec![0x5au8; size];
        group.throughput(Throughput::Bytes(size as u64));
        group.bench_function(format!("vectorised_{}k", size / 1024), |b| {
            b.iter(|| unmask(black_box(&mut data), KEY, 1))
        });
        group.bench_function(format!("bytewise_{}k", size / 1024), |b| {
            b.iter(|| unmask_bytewise(black_box(&mut data), KEY, 1))
        });
    }
    group.finish();
}

fn decoding(c: &mut Criterion) {
    // 1000 masked 32-byte text messages back to back.
    let mut stream = Vec::new();
    for _ in 0..1000 {
        let start = stream.len();
        write_header(&mut stream, true, false, opcode::TEXT, 32);
        stream[start + 1] |= 0x80;
        stream.extend_from_slice(&KEY);
        let payload = stream.len();
        stream.extend_from_slice(b"hello, websocket echo benchmark!");
        unmask(&mut stream[payload..], KEY, 0);
    }
    let mut group = c.benchmark_group("websocket_decode");
    group.throughput(Throughput::Elements(1000));
    group.bench_function("1000_small_text_messages", |b| {
        b.iter(|| {
            let mut decoder = Decoder::new(1 << 24, None);
            let mut input = BytesMut::from(&stream[..]);
            let mut count = 0;
            while let Ok(Some(event)) = decoder.decode(&mut input) {
                black_box(event);
                count += 1;
            }
            assert_eq!(count, 1000);
        })
    });
    group.finish();
}

criterion_group!(benches, unmasking, decoding);
criterion_main!(benches);
