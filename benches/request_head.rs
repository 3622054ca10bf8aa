//! Request-head work per request for a typical ~700-byte browser request:
//! hyper's parse (httparse), our framing scanner, and our head checks.
//! Target for the whole head: <= 0.5 µs.

use std::hint::black_box;

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use http::{HeaderMap, HeaderName, HeaderValue, Uri, Version};
use hyperdjango::http::framing::FramingScanner;
use hyperdjango::http::validate::{validate_head, HeadLimits};

const REQUEST: &[u8] = b"GET /repos/rust-lang/rust/issues?state=open&sort=updated&page=2 HTTP/1.1\r\n\
Host: api.example.com\r\n\
User-Agent: Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0.0.0 Safari/537.36\r\n\
Accept: text/html,application/xhtml+xml,application/xml;q=0.9,image/avif,image/webp,*/*;q=0.8\r\n\
Accept-Language: en-GB,en;q=0.9,de;q=0.8\r\n\
Accept-Encoding: gzip, deflate, br\r\n\
Referer: https://api.example.com/repos/rust-lang/rust\r\n\
Cookie: session=2f8a9c1e4b7d4e6f9a0b1c2d3e4f5a6b; theme=dark; csrftoken=Zx81kLmN0pQrStUvWxYz\r\n\
Connection: keep-alive\r\n\
Upgrade-Insecure-Requests: 1\r\n\
Sec-Fetch-Dest: document\r\n\
Sec-Fetch-Mode: navigate\r\n\
Sec-Fetch-Site: same-origin\r\n\
Cache-Control: max-age=0\r\n\r\n";

fn parse_into_parts(bytes: &[u8]) -> (Uri, HeaderMap) {
    let mut headers = [httparse::EMPTY_HEADER; 64];
    let mut request = httparse::Request::new(&mut headers);
    let status = request.parse(bytes).expect("valid request");
    assert!(status.is_complete());
    let uri: Uri = request.path.unwrap_or("/").parse().expect("valid target");
    let mut map = HeaderMap::with_capacity(request.headers.len());
    for header in request.headers.iter() {
        let name = HeaderName::from_bytes(header.name.as_bytes()).expect("valid name");
        let value = HeaderValue::from_bytes(header.value).expect("valid value");
        map.append(name, value);
    }
    (uri, map)
}

fn head(criterion: &mut Criterion) {
    assert!(
        (650..=800).contains(&REQUEST.len()),
        "{} bytes",
        REQUEST.len()
    );
    let mut group = criterion.benchmark_group("request head (~700 B)");
    group.throughput(Throughput::Bytes(REQUEST.len() as u64));
    group.bench_function("httparse alone (the parse)", |bench| {
        bench.iter(|| {
            let mut headers = [httparse::EMPTY_HEADER; 64];
            let mut request = httparse::Request::new(&mut headers);
            black_box(
                request
                    .parse(black_box(REQUEST))
                    .map(|status| status.is_complete()),
            )
        })
    });
    group.bench_function(
        "httparse + an http::HeaderMap built by copying (an upper bound for hyper)",
        |bench| bench.iter(|| black_box(parse_into_parts(black_box(REQUEST)))),
    );
    group.bench_function("framing scanner (second look)", |bench| {
        bench.iter(|| {
            let mut scanner = FramingScanner::default();
            scanner.feed(black_box(REQUEST));
            black_box(scanner.next_request_refusal())
        })
    });
    let (uri, headers) = parse_into_parts(REQUEST);
    let limits = HeadLimits::default();
    group.bench_function("validate_head", |bench| {
        bench.iter(|| {
            black_box(validate_head(
                Version::HTTP_11,
                black_box(&uri),
                black_box(&headers),
                &limits,
            ))
        })
    });
    group.bench_function("whole head: parse + scan + validate", |bench| {
        bench.iter(|| {
            let mut scanner = FramingScanner::default();
            scanner.feed(black_box(REQUEST));
            let (uri, headers) = parse_into_parts(black_box(REQUEST));
            black_box(
                validate_head(Version::HTTP_11, &uri, &headers, &limits).is_ok()
                    && scanner.next_request_refusal().is_none(),
            )
        })
    });
    group.finish();
}

criterion_group!(benches, head);
criterion_main!(benches);
