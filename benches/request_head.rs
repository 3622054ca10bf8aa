//! Request-head work per request for a typical ~700-byte browser request.
//! Target for the whole head: <= 0.5 µs.
//!
//! hyper does the parse, and its parser is private, so this bench reproduces
//! it step by step from hyper 1.12's `proto/h1/role.rs` (`Server::parse`):
//! httparse into uninitialised header slots, header offsets recorded, the
//! read buffer split off and frozen, then the URI and every header value made
//! as *shared* slices of that one buffer (no copies) and the framing headers
//! inspected. The map comes from the previous round, emptied, as hyper
//! reuses the previous response's map (after encoding drained it); two
//! variants show what a fresh map and re-validated values would add.
//!
//! Then our own per-request head work: the framing scanner (the raw-stream
//! second look) and `validate_head`. Finally a check on the reproduction:
//! real hyper serving pipelined requests over an in-memory pipe, the full
//! cycle per request (parse, dispatch, response encode, I/O), which bounds
//! the parse from above.

use std::convert::Infallible;
use std::hint::black_box;
use std::mem::MaybeUninit;
use std::time::{Duration, Instant};

use bytes::{Bytes, BytesMut};
use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use http::header::{CONNECTION, CONTENT_LENGTH, EXPECT, TRANSFER_ENCODING, UPGRADE};
use http::{HeaderMap, HeaderName, HeaderValue, Method, Uri, Version};
use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;
use hyperdjango::http::framing::FramingScanner;
use hyperdjango::http::validate::{validate_head, HeadLimits};
use smallvec::SmallVec;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

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

/// hyper's default header slot count.
const MAX_HEADERS: usize = 100;

/// What hyper's parse hands on: the request line, headers and framing.
struct ParsedHead {
    method: Method,
    uri: Uri,
    version: Version,
    headers: HeaderMap,
    keep_alive: bool,
    content_length: Option<u64>,
}

/// How `hyper_parse` makes header values and finds its map.
#[derive(Clone, Copy)]
struct Variant {
    /// Validate value bytes again (`HeaderValue::from_maybe_shared`) instead
    /// of trusting httparse's check as hyper does.
    revalidate_values: bool,
    /// Start from an empty map instead of the recycled one.
    fresh_map: bool,
}

const AS_HYPER: Variant = Variant {
    revalidate_values: false,
    fresh_map: false,
};

type Span = (usize, usize);

/// hyper 1.12's `Server::parse`, step for step (see the module docs).
/// `recycled` is the emptied map of the previous round.
fn hyper_parse(
    buf: &mut BytesMut,
    recycled: &mut HeaderMap,
    variant: Variant,
) -> Option<ParsedHead> {
    let mut slots = [MaybeUninit::<httparse::Header<'_>>::uninit(); MAX_HEADERS];
    // hyper keeps these in uninitialised memory too; a SmallVec avoids
    // zeroing 100 slots without unsafe code here.
    let mut indices: SmallVec<[(Span, Span); MAX_HEADERS]> = SmallVec::new();
    let (length, method, path_range, version, header_count) = {
        let bytes: &[u8] = buf.as_ref();
        let mut request = httparse::Request::new(&mut []);
        let status = httparse::ParserConfig::default()
            .parse_request_with_uninit_headers(&mut request, bytes, &mut slots)
            .ok()?;
        let length = match status {
            httparse::Status::Complete(length) => length,
            httparse::Status::Partial => return None,
        };
        let method = Method::from_bytes(request.method?.as_bytes()).ok()?;
        let path = request.path?;
        let base = bytes.as_ptr() as usize;
        let path_start = path.as_ptr() as usize - base;
        let version = if request.version? == 1 {
            Version::HTTP_11
        } else {
            Version::HTTP_10
        };
        for header in request.headers.iter() {
            let name_start = header.name.as_ptr() as usize - base;
            let value_start = header.value.as_ptr() as usize - base;
            indices.push((
                (name_start, name_start + header.name.len()),
                (value_start, value_start + header.value.len()),
            ));
        }
        (
            length,
            method,
            path_start..path_start + path.len(),
            version,
            request.headers.len(),
        )
    };
    let slice = buf.split_to(length).freeze();
    let uri = Uri::from_maybe_shared(slice.slice(path_range)).ok()?;
    let mut headers = if variant.fresh_map {
        HeaderMap::new()
    } else {
        std::mem::take(recycled)
    };
    headers.reserve(header_count);
    let mut keep_alive = version == Version::HTTP_11;
    let mut content_length = None;
    for &((name_start, name_end), (value_start, value_end)) in &indices[..header_count] {
        let name = HeaderName::from_bytes(&slice[name_start..name_end]).ok()?;
        let value_bytes = slice.slice(value_start..value_end);
        let value = if variant.revalidate_values {
            HeaderValue::from_maybe_shared(value_bytes).ok()?
        } else {
            // SAFETY: httparse accepted these bytes as a header value, which
            // is exactly hyper's justification for the same call.
            unsafe { HeaderValue::from_maybe_shared_unchecked(value_bytes) }
        };
        if name == TRANSFER_ENCODING || name == EXPECT || name == UPGRADE {
            black_box(&value);
        } else if name == CONTENT_LENGTH {
            content_length = value.to_str().ok()?.parse().ok();
        } else if name == CONNECTION {
            keep_alive &= !value.as_bytes().eq_ignore_ascii_case(b"close");
        }
        headers.append(name, value);
    }
    Some(ParsedHead {
        method,
        uri,
        version,
        headers,
        keep_alive,
        content_length,
    })
}

/// The end of the request's life as hyper sees it: everything dropped, the
/// map emptied and kept for the next parse. Returns the header count.
fn recycle(head: ParsedHead, recycled: &mut HeaderMap) -> usize {
    let mut headers = head.headers;
    let count = headers.len();
    headers.clear();
    *recycled = headers;
    count
}

/// The request arriving in hyper's long-lived read buffer: the stand-in for
/// the socket read's copy, inside the measurement (so, if anything, high).
fn receive(buf: &mut BytesMut) {
    buf.extend_from_slice(REQUEST);
}

fn head(criterion: &mut Criterion) {
    assert!(
        (650..=800).contains(&REQUEST.len()),
        "{} bytes",
        REQUEST.len()
    );
    let mut buf = BytesMut::with_capacity(8192);
    let mut recycled = HeaderMap::new();
    receive(&mut buf);
    let parsed = hyper_parse(&mut buf, &mut recycled, AS_HYPER).expect("the sample request parses");
    assert_eq!(parsed.headers.len(), 13);
    assert_eq!(parsed.uri.path(), "/repos/rust-lang/rust/issues");
    assert!(parsed.keep_alive && parsed.content_length.is_none());
    assert_eq!(parsed.method, Method::GET);

    let mut group = criterion.benchmark_group("request head (~700 B)");
    group.throughput(Throughput::Bytes(REQUEST.len() as u64));
    group.bench_function("httparse alone", |bench| {
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
    let variants = [
        ("hyper's parse, reproduced", AS_HYPER),
        (
            "hyper's parse, fresh map (pessimistic)",
            Variant {
                fresh_map: true,
                ..AS_HYPER
            },
        ),
        (
            "hyper's parse, fresh map + values re-validated (pessimistic)",
            Variant {
                fresh_map: true,
                revalidate_values: true,
            },
        ),
    ];
    for (label, variant) in variants {
        group.bench_function(label, |bench| {
            bench.iter(|| {
                receive(&mut buf);
                let head = hyper_parse(black_box(&mut buf), &mut recycled, variant);
                black_box(head.map(|head| recycle(head, &mut recycled)))
            })
        });
    }
    group.bench_function("framing scanner (second look)", |bench| {
        bench.iter(|| {
            let mut scanner = FramingScanner::default();
            scanner.feed(black_box(REQUEST));
            black_box(scanner.next_request_refusal())
        })
    });
    let limits = HeadLimits::default();
    group.bench_function("validate_head", |bench| {
        bench.iter(|| {
            black_box(validate_head(
                parsed.version,
                black_box(&parsed.uri),
                black_box(&parsed.headers),
                &limits,
            ))
        })
    });
    group.bench_function(
        "whole head: hyper's parse + scanner + validate_head",
        |bench| {
            bench.iter(|| {
                receive(&mut buf);
                let mut scanner = FramingScanner::default();
                scanner.feed(black_box(REQUEST));
                let ok =
                    hyper_parse(black_box(&mut buf), &mut recycled, AS_HYPER).is_some_and(|head| {
                        let ok =
                            validate_head(head.version, &head.uri, &head.headers, &limits).is_ok();
                        recycle(head, &mut recycled);
                        ok
                    });
                black_box(ok && scanner.next_request_refusal().is_none())
            })
        },
    );
    group.finish();

    let mut group = criterion.benchmark_group("real hyper, in memory");
    group.throughput(Throughput::Elements(1));
    group.bench_function(
        "full cycle per request (64 pipelined; parse, dispatch, encode, pipe I/O)",
        |bench| bench.iter_custom(pipelined_through_hyper),
    );
    group.finish();
}

/// Serves `count` pipelined copies of the sample request with real hyper over
/// an in-memory pipe (a current-thread runtime, so one core does both ends)
/// and returns the time taken.
fn pipelined_through_hyper(count: u64) -> Duration {
    const BATCH: u64 = 64;
    let runtime = tokio::runtime::Builder::new_current_thread()
        .build()
        .expect("a tokio runtime");
    runtime.block_on(async move {
        let (mut client, server) = tokio::io::duplex(1 << 20);
        let service = service_fn(|request: hyper::Request<Incoming>| async move {
            black_box(request.headers().len());
            Ok::<_, Infallible>(hyper::Response::new(http_body_util::Empty::<Bytes>::new()))
        });
        let connection = tokio::spawn(
            http1::Builder::new()
                .writev(false)
                .serve_connection(TokioIo::new(server), service),
        );
        // One request first, to learn the (fixed) response length.
        client.write_all(REQUEST).await.expect("write");
        let mut reply = vec![0u8; 4096];
        let first = client.read(&mut reply).await.expect("read");
        assert!(
            reply.starts_with(b"HTTP/1.1 200 OK\r\n"),
            "hyper answered 200"
        );
        let mut batch = Vec::with_capacity(REQUEST.len() * BATCH as usize);
        for _ in 0..BATCH {
            batch.extend_from_slice(REQUEST);
        }
        let started = Instant::now();
        let mut remaining = count;
        while remaining > 0 {
            let now = remaining.min(BATCH);
            client
                .write_all(&batch[..REQUEST.len() * now as usize])
                .await
                .expect("write");
            let mut expected = first * now as usize;
            while expected > 0 {
                let read = client.read(&mut reply).await.expect("read");
                assert!(read > 0, "hyper closed the pipe");
                expected = expected.saturating_sub(read);
            }
            remaining -= now;
        }
        let elapsed = started.elapsed();
        drop(client);
        let _ = connection.await;
        elapsed
    })
}

criterion_group!(benches, head);
criterion_main!(benches);
