//! Multipart boundary scanning (target >= 20 GB/s on a cache-resident buffer)
//! and a full parse of a realistic 10 MB upload.

use std::hint::black_box;

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use hyperdjango::http::multipart::{parse, MultipartLimits};
use memchr::memmem::Finder;

const BOUNDARY: &str = "----WebKitFormBoundary7MA4YWxkTrZu0gW";

/// Pseudo-random bytes (xorshift) that never contain the boundary.
fn payload(size: usize) -> Vec<u8> {
    let mut state: u64 = 0x9E37_79B9_7F4A_7C15;
    (0..size)
        .map(|_| {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            (state >> 24) as u8
        })
        .collect()
}

fn upload(size: usize) -> Vec<u8> {
    let mut body = Vec::with_capacity(size + 512);
    body.extend_from_slice(
        format!(
            "--{BOUNDARY}\r\nContent-Disposition: form-data; name=\"title\"\r\n\r\nholiday\r\n"
        )
        .as_bytes(),
    );
    body.extend_from_slice(
        format!("--{BOUNDARY}\r\nContent-Disposition: form-data; name=\"photo\"; filename=\"beach.jpg\"\r\nContent-Type: image/jpeg\r\n\r\n")
            .as_bytes(),
    );
    body.extend_from_slice(&payload(size));
    body.extend_from_slice(format!("\r\n--{BOUNDARY}--\r\n").as_bytes());
    body
}

fn scan(criterion: &mut Criterion) {
    let delimiter = format!("\r\n--{BOUNDARY}");
    let finder = Finder::new(delimiter.as_bytes());
    let mut group = criterion.benchmark_group("multipart");
    let cached = payload(64 * 1024);
    assert!(finder.find(&cached).is_none());
    group.throughput(Throughput::Bytes(cached.len() as u64));
    group.bench_function("boundary scan, 64 KiB cache-resident", |bench| {
        bench.iter(|| black_box(finder.find(black_box(&cached))))
    });
    let body = upload(10 * 1024 * 1024);
    let limits = MultipartLimits::default();
    group.throughput(Throughput::Bytes(body.len() as u64));
    group.bench_function("parse a 10 MB upload (2 parts)", |bench| {
        bench
            .iter(|| black_box(parse(black_box(&body), BOUNDARY, &limits).map(|parts| parts.len())))
    });
    group.finish();
}

criterion_group!(benches, scan);
criterion_main!(benches);
