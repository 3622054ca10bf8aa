//! Request-head work per request for a typical ~700-byte browser request.
//! Target for the whole head: <= 0.5 µs.
//!
//! "hyperdjango: RequestHead::parse" is the head as the server processes it:
//! the bytes arrive in the connection's read buffer, httparse parses them, the
//! framing/Host/limit checks run on the same pass, header spans are recorded
//! and the head is split off the buffer as a shared slice (what Python's
//! `Request` later reads from). Everything but the socket read.
//!
//! Two yardsticks run beside it: httparse alone (the floor), and hyper 1.12's
//! `Server::parse` reproduced step by step from `proto/h1/role.rs` (what the
//! head cost when hyper served our connections): the URI and a `HeaderMap`
//! of shared slices, a `HeaderName` per line, the previous map recycled.
//!
//! Then two cross-checks that bound the parse from above: real hyper and our
//! own connection loop, each serving 64 pipelined copies of the request over
//! an in-memory pipe, the whole cycle per request (parse, dispatch or route,
//! encode the answer, pipe I/O).

use std::convert::Infallible;
use std::hint::black_box;
use std::mem::MaybeUninit;
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::{Bytes, BytesMut};
use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use http::header::{CONNECTION, CONTENT_LENGTH, EXPECT, TRANSFER_ENCODING, UPGRADE};
use http::{HeaderMap, HeaderName, HeaderValue, Method, Uri, Version};
use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;
use hyperdjango::http::head::{HeadLimits, RequestHead};
use hyperdjango::routing::RouteTable;
use hyperdjango::server::{serve_stream, Handoff, ServerConfig};
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

type Span = (usize, usize);

/// hyper 1.12's `Server::parse`, step for step (see the module docs).
/// `recycled` is the emptied map of the previous round.
fn hyper_parse(buf: &mut BytesMut, recycled: &mut HeaderMap) -> Option<ParsedHead> {
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
    let mut headers = std::mem::take(recycled);
    headers.reserve(header_count);
    let mut keep_alive = version == Version::HTTP_11;
    let mut content_length = None;
    for &((name_start, name_end), (value_start, value_end)) in &indices[..header_count] {
        let name = HeaderName::from_bytes(&slice[name_start..name_end]).ok()?;
        let value_bytes = slice.slice(value_start..value_end);
        // SAFETY: httparse accepted these bytes as a header value, which is
        // exactly hyper's justification for the same call.
        let value = unsafe { HeaderValue::from_maybe_shared_unchecked(value_bytes) };
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
    let parsed = hyper_parse(&mut buf, &mut recycled).expect("the sample request parses");
    assert_eq!(parsed.headers.len(), 13);
    assert_eq!(parsed.uri.path(), "/repos/rust-lang/rust/issues");
    assert!(parsed.keep_alive && parsed.content_length.is_none());
    assert_eq!(
        (parsed.method, parsed.version),
        (Method::GET, Version::HTTP_11)
    );
    receive(&mut buf);
    let ours = RequestHead::parse(&mut buf, &HeadLimits::default())
        .expect("valid")
        .expect("complete");
    assert_eq!(ours.header_count(), 13);
    assert_eq!(ours.path(), "/repos/rust-lang/rust/issues");
    assert!(ours.keep_alive() && buf.is_empty());
    drop(ours);

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
    let limits = HeadLimits::default();
    group.bench_function(
        "hyperdjango: RequestHead::parse (parse + checks + spans, split off)",
        |bench| {
            bench.iter(|| {
                receive(&mut buf);
                let head = RequestHead::parse(black_box(&mut buf), &limits);
                black_box(head.map(|head| head.map(|head| head.header_count())))
            })
        },
    );
    group.bench_function("yardstick: hyper's Server::parse, reproduced", |bench| {
        bench.iter(|| {
            receive(&mut buf);
            let head = hyper_parse(black_box(&mut buf), &mut recycled);
            black_box(head.map(|head| recycle(head, &mut recycled)))
        })
    });
    group.finish();

    let mut group = criterion.benchmark_group("full cycle in memory, 64 pipelined");
    group.throughput(Throughput::Elements(1));
    group.bench_function(
        "real hyper (parse, dispatch, empty 200, pipe I/O)",
        |bench| bench.iter_custom(|count| pipelined(count, Peer::Hyper)),
    );
    group.bench_function(
        "hyperdjango connection (parse, route miss, 404 JSON, pipe I/O)",
        |bench| bench.iter_custom(|count| pipelined(count, Peer::Hyperdjango)),
    );
    group.finish();
}

#[derive(Clone, Copy)]
enum Peer {
    Hyper,
    Hyperdjango,
}

/// Serves `count` pipelined copies of the sample request over an in-memory
/// pipe (a current-thread runtime, so one core does both ends) and returns
/// the time taken.
fn pipelined(count: u64, peer: Peer) -> Duration {
    const BATCH: u64 = 64;
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .build()
        .expect("a tokio runtime");
    runtime.block_on(async move {
        let (mut client, server) = tokio::io::duplex(1 << 20);
        let connection = match peer {
            Peer::Hyper => {
                let service = service_fn(|request: hyper::Request<Incoming>| async move {
                    black_box(request.headers().len());
                    Ok::<_, Infallible>(hyper::Response::new(http_body_util::Empty::<Bytes>::new()))
                });
                tokio::spawn(async move {
                    let _ = http1::Builder::new()
                        .writev(false)
                        .serve_connection(TokioIo::new(server), service)
                        .await;
                })
            }
            Peer::Hyperdjango => {
                let handoff = Arc::new(Handoff::new().expect("an eventfd"));
                let routes = Arc::new(RouteTable::default());
                let config = ServerConfig::new("127.0.0.1", 0);
                let peer_address = "127.0.0.1:50000".parse().expect("address");
                tokio::spawn(serve_stream(server, peer_address, config, routes, handoff))
            }
        };
        // One request first, to learn the (fixed) response length.
        client.write_all(REQUEST).await.expect("write");
        let mut reply = vec![0u8; 4096];
        let first = client.read(&mut reply).await.expect("read");
        assert!(reply.starts_with(b"HTTP/1.1 "), "an HTTP/1.1 answer");
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
                assert!(read > 0, "the server closed the pipe");
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
