//! The connection state machine driven through an in-memory pipe, with a
//! stand-in for the Python side that answers from the hand-over queue.

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http::{HeaderMap, HeaderValue, StatusCode};
use tokio::io::{AsyncReadExt, AsyncWriteExt, DuplexStream};

use crate::routing::RouteTable;
use crate::server::{
    serve_stream, Deadlines, Handoff, NativeResponse, PendingRequest, RequestBody, ResponseBody,
    ServerConfig, StreamChunk,
};

/// Routes: `/echo` (any method) echoes; `/stream` streams three chunks;
/// `/abort` streams one chunk and aborts.
fn routes() -> Arc<RouteTable> {
    let mut table = RouteTable::new();
    for (id, pattern) in ["/echo", "/stream", "/abort"].iter().enumerate() {
        for method in ["GET", "POST", "PUT"] {
            table.insert(method, pattern, id).expect("valid route");
        }
    }
    Arc::new(table)
}

/// The application stand-in: answers every handed-over request.
fn answer(pending: PendingRequest) {
    let body = match &pending.body {
        RequestBody::Memory(bytes) => bytes.clone(),
        RequestBody::Spooled(_) => Bytes::from_static(b"<spooled>"),
    };
    let response = match pending.route_id {
        0 => {
            let mut text = format!(
                "{} {} q={:?} body={}:",
                pending.head.method(),
                pending.head.path(),
                pending.head.query(),
                body.len()
            )
            .into_bytes();
            text.extend_from_slice(&body);
            let mut headers = HeaderMap::new();
            headers.insert("content-type", HeaderValue::from_static("text/plain"));
            NativeResponse {
                status: StatusCode::OK,
                headers,
                body: ResponseBody::full(text),
            }
        }
        route => {
            let (sender, receiver) = tokio::sync::mpsc::channel(8);
            tokio::spawn(async move {
                let _ = sender
                    .send(StreamChunk::Data(Bytes::from_static(b"one")))
                    .await;
                if route == 2 {
                    let _ = sender.send(StreamChunk::Abort).await;
                    return;
                }
                tokio::time::sleep(Duration::from_millis(2)).await;
                let _ = sender
                    .send(StreamChunk::Data(Bytes::from_static(b"two")))
                    .await;
                let _ = sender
                    .send(StreamChunk::Data(Bytes::from_static(b"three")))
                    .await;
            });
            NativeResponse {
                status: StatusCode::OK,
                headers: HeaderMap::new(),
                body: ResponseBody::Stream(receiver),
            }
        }
    };
    let _ = pending.reply.send(response);
}

/// Serves one pipe; returns the client end. The responder polls the queue.
fn start(runtime: &tokio::runtime::Runtime, config: ServerConfig) -> DuplexStream {
    start_with_pipe(runtime, config, 1 << 16)
}

/// As [`start`], with a pipe that holds at most `capacity` bytes each way.
fn start_with_pipe(
    runtime: &tokio::runtime::Runtime,
    config: ServerConfig,
    capacity: usize,
) -> DuplexStream {
    let (client, server) = tokio::io::duplex(capacity);
    let handoff: Arc<Handoff<PendingRequest>> = Arc::new(Handoff::new().expect("an eventfd"));
    let peer = "127.0.0.1:40000".parse().expect("address");
    runtime.spawn(serve_stream(
        server,
        peer,
        config,
        routes(),
        Arc::clone(&handoff),
    ));
    runtime.spawn(async move {
        let mut batch = Vec::new();
        loop {
            handoff.take_unstarted(&mut batch);
            for pending in batch.drain(..) {
                handoff.started(pending.queued_at);
                answer(pending);
            }
            handoff.finish_batch();
            tokio::time::sleep(Duration::from_millis(1)).await;
        }
    });
    client
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("a runtime")
}

fn config() -> ServerConfig {
    let mut config = ServerConfig::new("127.0.0.1", 0);
    config.max_body_size = 1024;
    let timeout = Duration::from_millis(300);
    config.deadlines = Deadlines {
        header_read: timeout,
        keep_alive: timeout,
        body_read: timeout,
        send: timeout,
    };
    config
}

/// Writes `input` in pieces of `piece` bytes (with a pause between pieces so
/// the server sees them apart), then reads until the server closes.
fn exchange(input: &[u8], piece: usize, config: ServerConfig) -> String {
    let runtime = runtime();
    let mut client = start(&runtime, config);
    runtime.block_on(async move {
        let mut output = Vec::new();
        let (mut reader, mut writer) = tokio::io::split(&mut client);
        let writing = async {
            for part in input.chunks(piece) {
                if writer.write_all(part).await.is_err() {
                    break;
                }
                tokio::task::yield_now().await;
            }
        };
        let reading = async {
            let _ =
                tokio::time::timeout(Duration::from_secs(5), reader.read_to_end(&mut output)).await;
        };
        tokio::join!(writing, reading);
        String::from_utf8_lossy(&output).into_owned()
    })
}

/// The answers with their Date lines removed (the only part that varies).
fn without_dates(text: &str) -> String {
    text.split("\r\n")
        .filter(|line| !line.starts_with("date: "))
        .collect::<Vec<_>>()
        .join("\r\n")
}

const PIPELINE: &[u8] = b"GET /echo?x=1 HTTP/1.1\r\nHost: h\r\n\r\n\
POST /echo HTTP/1.1\r\nHost: h\r\nContent-Length: 5\r\n\r\nhello\
PUT /echo HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n3;x=y\r\nabc\r\n2\r\nde\r\n0\r\nT: 1\r\n\r\n\
POST /missing HTTP/1.1\r\nHost: h\r\nContent-Length: 4\r\n\r\nskip\
HEAD /echo HTTP/1.1\r\nHost: h\r\n\r\n\
GET /stream HTTP/1.1\r\nHost: h\r\n\r\n\
\r\nGET /echo HTTP/1.1\r\nHost: h\r\nConnection: close\r\n\r\n\
GET /never HTTP/1.1\r\nHost: h\r\n\r\n";

#[test]
fn a_pipelined_stream_gets_the_same_answers_however_it_is_cut() {
    let whole = exchange(PIPELINE, PIPELINE.len(), config());
    let expected_order = [
        "GET /echo q=Some(\"x=1\") body=0:",
        "POST /echo q=None body=5:hello",
        "PUT /echo q=None body=5:abcde",
        "HTTP/1.1 404 Not Found",
        "HTTP/1.1 200 OK",
        "transfer-encoding: chunked\r\nconnection: keep-alive",
        "3\r\none\r\n3\r\ntwo\r\n5\r\nthree\r\n0\r\n\r\n",
        "connection: close",
        "GET /echo q=None body=0:",
    ];
    let mut position = 0;
    for expected in expected_order {
        let found = whole[position..]
            .find(expected)
            .unwrap_or_else(|| panic!("{expected:?} not after {position} in {whole}"));
        position += found + expected.len();
    }
    assert!(
        !whole.contains("/never"),
        "served after Connection: close: {whole}"
    );
    assert_eq!(whole.matches("HTTP/1.1 ").count(), 7, "{whole}");
    // The HEAD answer announces the GET's length and sends nothing.
    assert!(
        whole.contains("content-length: 22\r\nconnection: keep-alive"),
        "{whole}"
    );
    let expected = without_dates(&whole);
    for piece in [1, 2, 3, 5, 8, 13, 64, 200] {
        assert_eq!(
            without_dates(&exchange(PIPELINE, piece, config())),
            expected,
            "fed in pieces of {piece}"
        );
    }
}

#[test]
fn smuggling_attempt_gets_one_refusal_and_a_closed_connection() {
    let stream = b"POST /echo HTTP/1.1\r\nHost: h\r\nContent-Length: 4\r\nTransfer-Encoding: chunked\r\n\r\n\
0\r\n\r\nGET /echo HTTP/1.1\r\nHost: h\r\n\r\n";
    for piece in [1, 7, stream.len()] {
        let answer = exchange(stream, piece, config());
        assert!(
            answer.starts_with("HTTP/1.1 400 Bad Request\r\n"),
            "{answer}"
        );
        assert_eq!(answer.matches("HTTP/1.1").count(), 1, "{answer}");
        assert!(
            answer.ends_with("{\"detail\":\"Both Content-Length and Transfer-Encoding present\"}")
        );
    }
}

#[test]
fn body_limits() {
    // Declared too large: 413 at once, before any body byte.
    let declared = exchange(
        b"POST /echo HTTP/1.1\r\nHost: h\r\nContent-Length: 5000\r\nExpect: 100-continue\r\n\r\n",
        1000,
        config(),
    );
    assert!(declared.starts_with("HTTP/1.1 413 "), "{declared}");
    assert!(!declared.contains("100 Continue"));
    // Chunked past the limit: 413, connection closed.
    let mut chunked =
        b"POST /echo HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n".to_vec();
    for _ in 0..3 {
        chunked.extend_from_slice(b"200\r\n");
        chunked.extend_from_slice(&[b'x'; 512]);
        chunked.extend_from_slice(b"\r\n");
    }
    chunked.extend_from_slice(b"0\r\n\r\nGET /echo HTTP/1.1\r\nHost: h\r\n\r\n");
    let answer = exchange(&chunked, 100, config());
    assert!(answer.starts_with("HTTP/1.1 413 "), "{answer}");
    assert_eq!(answer.matches("HTTP/1.1").count(), 1, "{answer}");
    // Malformed chunking: 400.
    let malformed = exchange(
        b"POST /echo HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabcX",
        4,
        config(),
    );
    assert!(malformed.starts_with("HTTP/1.1 400 "), "{malformed}");
    assert!(malformed.contains("Chunk data must be followed by CRLF"));
}

#[test]
fn continue_is_sent_only_when_the_body_is_awaited() {
    let runtime = runtime();
    let mut client = start(&runtime, config());
    runtime.block_on(async move {
        client
            .write_all(b"POST /echo HTTP/1.1\r\nHost: h\r\nContent-Length: 4\r\nExpect: 100-continue\r\n\r\n")
            .await
            .expect("write");
        let mut interim = vec![0u8; 25];
        client.read_exact(&mut interim).await.expect("interim answer");
        assert_eq!(interim, b"HTTP/1.1 100 Continue\r\n\r\n");
        client.write_all(b"ping").await.expect("write");
        let mut answer = vec![0u8; 4096];
        let read = client.read(&mut answer).await.expect("answer");
        let answer = String::from_utf8_lossy(&answer[..read]);
        assert!(answer.starts_with("HTTP/1.1 200 OK") && answer.ends_with("body=4:ping"), "{answer}");
    });
    // Body sent along with the head: no interim answer.
    let eager = exchange(
        b"POST /echo HTTP/1.1\r\nHost: h\r\nContent-Length: 4\r\nExpect: 100-continue\r\nConnection: close\r\n\r\nping",
        1000,
        config(),
    );
    assert!(eager.starts_with("HTTP/1.1 200 OK"), "{eager}");
}

#[test]
fn unread_bodies_that_cannot_be_skipped_close_the_connection() {
    let answer = exchange(
        b"POST /missing HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n4\r\nskip\r\n0\r\n\r\n\
GET /echo HTTP/1.1\r\nHost: h\r\n\r\n",
        1000,
        config(),
    );
    assert!(answer.starts_with("HTTP/1.1 404 "), "{answer}");
    assert!(answer.contains("connection: close"));
    assert_eq!(answer.matches("HTTP/1.1").count(), 1, "{answer}");
}

#[test]
fn timeouts() {
    // Idle: closed without a word.
    let runtime = runtime();
    let mut idle = start(&runtime, config());
    runtime.block_on(async {
        let mut nothing = Vec::new();
        idle.read_to_end(&mut nothing).await.expect("closed");
        assert!(nothing.is_empty());
        // Half a head: 408, then closed.
        let mut partial = start(&runtime, config());
        partial
            .write_all(b"GET /echo HTTP/1.1\r\nHo")
            .await
            .expect("write");
        let mut answer = Vec::new();
        partial.read_to_end(&mut answer).await.expect("closed");
        assert!(
            answer.starts_with(b"HTTP/1.1 408 "),
            "{}",
            String::from_utf8_lossy(&answer)
        );
    });
}

/// Reads until the server closes; the answer and how long that took.
async fn read_until_closed(client: &mut DuplexStream) -> (String, Duration) {
    let started = std::time::Instant::now();
    let mut answer = Vec::new();
    let read = tokio::time::timeout(Duration::from_secs(8), client.read_to_end(&mut answer)).await;
    assert!(read.is_ok(), "the server did not close the connection");
    (
        String::from_utf8_lossy(&answer).into_owned(),
        started.elapsed(),
    )
}

#[test]
fn keep_alive_and_header_deadlines_are_independent() {
    let runtime = runtime();
    runtime.block_on(async {
        let request = b"GET /echo HTTP/1.1\r\nHost: h\r\n\r\n";
        // Idle after an answer: closed silently at keep_alive, not header_read.
        let mut short_idle = config();
        short_idle.deadlines.keep_alive = Duration::from_millis(100);
        short_idle.deadlines.header_read = Duration::from_secs(30);
        let mut client = start(&runtime, short_idle);
        client.write_all(request).await.expect("write");
        let (answer, waited) = read_until_closed(&mut client).await;
        assert!(
            answer.starts_with("HTTP/1.1 200 OK") && !answer.contains(" 408 "),
            "{answer}"
        );
        assert!(waited < Duration::from_secs(8), "{waited:?}");
        // A head trickling in, one byte at a time and never idle for long, is
        // cut at header_read although keep_alive is long: 408.
        let mut slow_head = config();
        slow_head.deadlines.keep_alive = Duration::from_secs(30);
        slow_head.deadlines.header_read = Duration::from_millis(300);
        let mut client = start(&runtime, slow_head);
        client.write_all(request).await.expect("write");
        let trickle = async {
            for byte in b"GET /echo HTTP/1.1\r\nX-Slow: ".iter().cycle().take(200) {
                if client.write_all(&[*byte]).await.is_err() {
                    break;
                }
                tokio::time::sleep(Duration::from_millis(40)).await;
            }
        };
        let mut answers = Vec::new();
        let _ = tokio::time::timeout(Duration::from_secs(8), trickle).await;
        let read =
            tokio::time::timeout(Duration::from_secs(8), client.read_to_end(&mut answers)).await;
        assert!(read.is_ok());
        let answers = String::from_utf8_lossy(&answers);
        assert!(answers.starts_with("HTTP/1.1 200 OK"), "{answers}");
        assert!(answers.contains("HTTP/1.1 408 "), "{answers}");
    });
}

#[test]
fn a_stalled_body_gets_408_and_a_slow_one_is_not_cut() {
    let runtime = runtime();
    runtime.block_on(async {
        let head = b"POST /echo HTTP/1.1\r\nHost: h\r\nContent-Length: 8\r\n\r\n";
        // Stalls after half the body: 408, and the handler never ran.
        let mut client = start(&runtime, config());
        client.write_all(head).await.expect("write");
        client.write_all(b"half").await.expect("write");
        let (answer, _) = read_until_closed(&mut client).await;
        assert!(answer.starts_with("HTTP/1.1 408 "), "{answer}");
        assert!(!answer.contains("body="), "the handler ran: {answer}");
        // Eight bytes 100 ms apart: 800 ms in all, more than body_read
        // (300 ms), but never stalling that long: answered.
        let mut client = start(&runtime, config());
        client.write_all(head).await.expect("write");
        for byte in b"12345678" {
            tokio::time::sleep(Duration::from_millis(100)).await;
            client.write_all(&[*byte]).await.expect("write");
        }
        let (answer, _) = read_until_closed(&mut client).await;
        assert!(answer.starts_with("HTTP/1.1 200 OK"), "{answer}");
        assert!(answer.ends_with("body=8:12345678"), "{answer}");
    });
}

#[test]
fn a_client_that_stops_reading_is_let_go() {
    let runtime = runtime();
    runtime.block_on(async {
        // The answer (head + 900-byte echo) does not fit the 512-byte pipe.
        let mut client = start_with_pipe(&runtime, config(), 512);
        let body = [b'x'; 900];
        let head = format!(
            "POST /echo HTTP/1.1\r\nHost: h\r\nContent-Length: {}\r\n\r\n",
            body.len()
        );
        client.write_all(head.as_bytes()).await.expect("write head");
        client.write_all(&body).await.expect("write body");
        // Read nothing for longer than the timeout (300 ms) ...
        tokio::time::sleep(Duration::from_millis(800)).await;
        // ... then the server has given up: what fitted in the pipe, then the end.
        let mut received = Vec::new();
        let read =
            tokio::time::timeout(Duration::from_secs(5), client.read_to_end(&mut received)).await;
        assert!(read.is_ok(), "the server still holds the connection");
        assert!(received.starts_with(b"HTTP/1.1 200 OK") && received.len() < 1000);
    });
}

#[test]
fn streams_to_http_10_end_with_the_connection_and_aborts_cut_it() {
    let old = exchange(
        b"GET /stream HTTP/1.0\r\nConnection: keep-alive\r\n\r\nGET /echo HTTP/1.0\r\n\r\n",
        1000,
        config(),
    );
    assert!(old.starts_with("HTTP/1.0 200 OK\r\n"), "{old}");
    assert!(old.contains("connection: close") && !old.contains("transfer-encoding"));
    assert!(old.ends_with("\r\n\r\nonetwothree"), "{old}");
    let aborted = exchange(
        b"GET /abort HTTP/1.1\r\nHost: h\r\n\r\nGET /echo HTTP/1.1\r\nHost: h\r\n\r\n",
        1000,
        config(),
    );
    assert!(
        aborted.ends_with("3\r\none\r\n"),
        "no last chunk: {aborted}"
    );
    assert_eq!(aborted.matches("HTTP/1.1").count(), 1);
}

#[test]
fn random_pipelines_are_answered_exactly_and_in_order() {
    let mut random = crate::test_random::Rng(0x5DEE_CE66_D1CE_4E5B);
    // Body bytes that look like framing, to catch any confusion of data and syntax.
    let alphabet = b"ab\r\n0;:GET /HTTP1.";
    for case in 0..60 {
        let mut stream = Vec::new();
        let mut expected = Vec::new();
        let requests = 1 + random.below(6);
        for index in 0..requests {
            let body: Vec<u8> = (0..random.below(300))
                .map(|_| alphabet[random.below(alphabet.len())])
                .collect();
            let close = if index + 1 == requests {
                "Connection: close\r\n"
            } else {
                ""
            };
            let method = match random.below(3) {
                0 => {
                    stream.extend_from_slice(
                        format!("GET /echo HTTP/1.1\r\nHost: h\r\n{close}\r\n").as_bytes(),
                    );
                    expected.push("GET /echo q=None body=0:".to_owned());
                    continue;
                }
                1 => {
                    let head = format!(
                        "POST /echo HTTP/1.1\r\nHost: h\r\nContent-Length: {}\r\n{close}\r\n",
                        body.len()
                    );
                    stream.extend_from_slice(head.as_bytes());
                    stream.extend_from_slice(&body);
                    "POST"
                }
                _ => {
                    stream.extend_from_slice(format!("PUT /echo HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n{close}\r\n").as_bytes());
                    let mut rest = &body[..];
                    while !rest.is_empty() {
                        let size = (1 + random.below(64)).min(rest.len());
                        let extension = if random.below(4) == 0 { ";n=v" } else { "" };
                        stream.extend_from_slice(format!("{size:X}{extension}\r\n").as_bytes());
                        stream.extend_from_slice(&rest[..size]);
                        stream.extend_from_slice(b"\r\n");
                        rest = &rest[size..];
                    }
                    stream.extend_from_slice(if random.below(2) == 0 {
                        b"0\r\n\r\n"
                    } else {
                        b"0\r\nX-T: 1\r\n\r\n"
                    });
                    "PUT"
                }
            };
            expected.push(format!(
                "{method} /echo q=None body={}:{}",
                body.len(),
                String::from_utf8_lossy(&body)
            ));
        }
        let piece = 1 + random.below(50);
        let answers = exchange(&stream, piece, config());
        assert_eq!(
            answers.matches("HTTP/1.1 200 OK").count(),
            requests,
            "case {case}, piece {piece}: {answers}"
        );
        let mut position = 0;
        for echo in &expected {
            let found = answers[position..].find(echo.as_str()).unwrap_or_else(|| {
                panic!("case {case}, piece {piece}: {echo:?} missing in {answers}")
            });
            position += found + echo.len();
        }
        assert!(
            answers.ends_with(expected.last().map_or("", String::as_str)),
            "case {case}"
        );
    }
}

/// A client that leaves while a stream waits for the application ends the
/// stream at once: the application's sender sees the channel closed and the
/// hand-over queue is told, with no further chunk ever produced.
#[test]
fn a_client_leaving_a_waiting_stream_is_noticed_at_once() {
    let runtime = runtime();
    runtime.block_on(async {
        let (mut client, server) = tokio::io::duplex(1 << 16);
        let handoff: Arc<Handoff<PendingRequest>> = Arc::new(Handoff::new().expect("an eventfd"));
        let peer = "127.0.0.1:40000".parse().expect("address");
        tokio::spawn(serve_stream(
            server,
            peer,
            config(),
            routes(),
            Arc::clone(&handoff),
        ));
        client
            .write_all(b"GET /stream HTTP/1.1\r\nHost: h\r\n\r\n")
            .await
            .expect("write");
        let mut batch = Vec::new();
        while batch.is_empty() {
            tokio::time::sleep(Duration::from_millis(1)).await;
            handoff.take_batch(&mut batch);
        }
        let (sender, receiver) = tokio::sync::mpsc::channel(8);
        let pending = batch.remove(0);
        let _ = pending.reply.send(NativeResponse {
            status: StatusCode::OK,
            headers: HeaderMap::new(),
            body: ResponseBody::Stream(receiver),
        });
        sender
            .send(StreamChunk::Data(Bytes::from_static(b"first")))
            .await
            .expect("the stream is open");
        let mut received = Vec::new();
        while !received.ends_with(b"first\r\n") {
            let mut buffer = [0u8; 1024];
            let read = client.read(&mut buffer).await.expect("read");
            assert!(read > 0, "closed early");
            received.extend_from_slice(&buffer[..read]);
        }
        assert!(!handoff.take_streams_closed());
        drop(client);
        // The stream is idle: only watching the socket can notice this.
        tokio::time::timeout(Duration::from_secs(2), sender.closed())
            .await
            .expect("the stream noticed the client leaving");
        let mut told = false;
        for _ in 0..200 {
            told = handoff.take_streams_closed();
            if told {
                break;
            }
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        assert!(told, "the consumer was not told");
    });
}
