//! The session over an in-memory pipe: what the client sees on the wire and
//! what the application receives through the hub.

use std::net::SocketAddr;
use std::time::Duration;

use bytes::BytesMut;
use tokio::io::{AsyncReadExt, AsyncWriteExt, DuplexStream};

use super::*;
use crate::http::head::{HeadLimits, RequestHead};
use crate::routing::RouteTable;
use crate::websocket::frame::parse_header;
use crate::websocket::hub::{Decision, Queued};
use crate::websocket::mask::unmask;

fn client_frame(opcode: u8, payload: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    frame::write_header(&mut out, true, false, opcode, payload.len());
    out[1] |= 0x80;
    let key = [9, 8, 7, 6];
    out.extend_from_slice(&key);
    let start = out.len();
    out.extend_from_slice(payload);
    unmask(&mut out[start..], key, 0);
    out
}

fn head() -> RequestHead {
    let mut buffer = BytesMut::from("GET /ws HTTP/1.1\r\nHost: x\r\n\r\n");
    RequestHead::parse(&mut buffer, &HeadLimits::default())
        .unwrap()
        .unwrap()
}

struct Harness {
    hub: Arc<Hub>,
    channel: Arc<Channel>,
    client: DuplexStream,
    stop: watch::Sender<bool>,
    buffer: Vec<u8>,
}

impl Harness {
    fn start(options: RouteOptions, early: &[u8]) -> Harness {
        let hub = Arc::new(Hub::new(Arc::new(RouteTable::new()), vec![options]).unwrap());
        let peer: SocketAddr = "127.0.0.1:1".parse().unwrap();
        let (channel, mut decision) = hub.open(0, head(), Vec::new(), peer, None, Vec::new());
        assert!(channel.decide(Decision::Accept(None)));
        assert_eq!(decision.try_recv(), Ok(Decision::Accept(None)));
        let (client, server) = tokio::io::duplex(16 * 1024);
        let (stop, stop_receiver) = watch::channel(false);
        let upgraded = Upgraded {
            io: server,
            input: BytesMut::from(early),
            output: b"HTTP/1.1 101 Switching Protocols\r\n\r\n".to_vec(),
            deflate: None,
        };
        tokio::spawn(run(
            upgraded,
            Arc::clone(&channel),
            Arc::clone(&hub),
            0,
            stop_receiver,
        ));
        Harness {
            hub,
            channel,
            client,
            stop,
            buffer: Vec::new(),
        }
    }

    async fn send(&mut self, data: &[u8]) {
        self.client.write_all(data).await.unwrap();
    }

    /// The next server frame (opcode, payload); skips the 101 first.
    async fn frame(&mut self) -> Option<(u8, Vec<u8>)> {
        loop {
            if self.buffer.starts_with(b"HTTP/1.1 101") {
                if let Some(end) = self.buffer.windows(4).position(|w| w == b"\r\n\r\n") {
                    self.buffer.drain(..end + 4);
                    continue;
                }
            } else if let Ok(Some((header, size))) = parse_header(&self.buffer) {
                let end = size + header.length as usize;
                if self.buffer.len() >= end {
                    let payload = self.buffer[size..end].to_vec();
                    self.buffer.drain(..end);
                    return Some((header.opcode, payload));
                }
            }
            let mut chunk = [0u8; 4096];
            let read = tokio::time::timeout(Duration::from_secs(5), self.client.read(&mut chunk))
                .await
                .expect("server frame in time")
                .unwrap();
            if read == 0 {
                return None;
            }
            self.buffer.extend_from_slice(&chunk[..read]);
        }
    }

    /// Events the application would receive, waiting up to a few seconds for `count`.
    async fn events(&self, count: usize) -> Vec<Event> {
        let mut all = Vec::new();
        for _ in 0..500 {
            let mut batch = Vec::new();
            self.hub.take_batch(&mut batch);
            self.hub.finish_batch();
            all.extend(
                batch
                    .into_iter()
                    .filter(|event| !matches!(event, Event::Open(_))),
            );
            if all.len() >= count {
                break;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        all
    }
}

fn close_code_of(payload: &[u8]) -> u16 {
    u16::from_be_bytes([payload[0], payload[1]])
}

#[tokio::test]
async fn messages_pings_and_the_close_handshake() {
    // A frame sent together with the handshake is already in the input.
    let mut harness = Harness::start(
        RouteOptions::default(),
        &client_frame(opcode::TEXT, b"early"),
    );
    harness.send(&client_frame(opcode::PING, b"hi")).await;
    assert_eq!(harness.frame().await, Some((opcode::PONG, b"hi".to_vec())));
    harness
        .send(&client_frame(opcode::BINARY, &[1, 2, 3]))
        .await;
    let events = harness.events(2).await;
    assert!(matches!(&events[0], Event::Text(_, text) if text == "early"));
    assert!(matches!(&events[1], Event::Binary(_, data) if data == &[1, 2, 3]));
    let message = Outgoing::Message {
        text: true,
        payload: b"from the app".to_vec(),
    };
    assert_eq!(harness.channel.send(message), Queued::Yes);
    assert_eq!(
        harness.frame().await,
        Some((opcode::TEXT, b"from the app".to_vec()))
    );
    let mut close = 4001u16.to_be_bytes().to_vec();
    close.extend_from_slice(b"done");
    harness.send(&client_frame(opcode::CLOSE, &close)).await;
    let (code, payload) = harness.frame().await.unwrap();
    assert_eq!((code, close_code_of(&payload)), (opcode::CLOSE, 4001));
    // Exactly one close frame, then the end of the stream.
    assert_eq!(harness.frame().await, None);
    let events = harness.events(1).await;
    assert!(matches!(&events[0], Event::Closed(_, 4001, reason) if reason == "done"));
    let late = Outgoing::Message {
        text: true,
        payload: Vec::new(),
    };
    assert_eq!(harness.channel.send(late), Queued::Closed);
}

#[tokio::test]
async fn a_protocol_violation_sends_its_code_then_closes() {
    let mut harness = Harness::start(RouteOptions::default(), b"");
    harness.send(&client_frame(0x3, b"")).await;
    let (code, payload) = harness.frame().await.unwrap();
    assert_eq!((code, close_code_of(&payload)), (opcode::CLOSE, 1002));
    assert_eq!(harness.frame().await, None);
    let events = harness.events(1).await;
    assert!(matches!(&events[0], Event::Closed(_, 1002, _)));
}

#[tokio::test]
async fn the_application_closes_and_waits_for_the_client() {
    let mut harness = Harness::start(RouteOptions::default(), b"");
    let close = Outgoing::Close(1000, "bye".into());
    assert_eq!(harness.channel.send(close), Queued::Yes);
    let (code, payload) = harness.frame().await.unwrap();
    assert_eq!(
        (code, close_code_of(&payload), &payload[2..]),
        (opcode::CLOSE, 1000, &b"bye"[..])
    );
    // Data after our close is dropped; the client's close ends it.
    harness.send(&client_frame(opcode::TEXT, b"ignored")).await;
    harness
        .send(&client_frame(opcode::CLOSE, &1000u16.to_be_bytes()))
        .await;
    assert_eq!(harness.frame().await, None);
    let events = harness.events(1).await;
    assert_eq!(events.len(), 1);
    assert!(matches!(&events[0], Event::Closed(_, 1000, _)));
}

#[tokio::test]
async fn shutdown_closes_with_1001() {
    let mut harness = Harness::start(RouteOptions::default(), b"");
    harness.stop.send(true).unwrap();
    let (code, payload) = harness.frame().await.unwrap();
    assert_eq!((code, close_code_of(&payload)), (opcode::CLOSE, 1001));
    harness
        .send(&client_frame(opcode::CLOSE, &1001u16.to_be_bytes()))
        .await;
    assert_eq!(harness.frame().await, None);
}

#[tokio::test]
async fn send_is_refused_while_the_client_does_not_read_then_resumes() {
    let options = RouteOptions {
        max_queue: 64 * 1024,
        ..RouteOptions::default()
    };
    let mut harness = Harness::start(options, b"");
    let mut queued = 0;
    loop {
        let message = Outgoing::Message {
            text: false,
            payload: vec![7; 16 * 1024],
        };
        match harness.channel.send(message) {
            Queued::Yes => queued += 1,
            Queued::Full => break,
            Queued::Closed => panic!("closed"),
        }
        tokio::task::yield_now().await;
        assert!(queued < 1000, "the outbox never filled up");
    }
    // Reading makes room: the application hears `Writable`.
    for _ in 0..queued {
        assert_eq!(
            harness.frame().await.map(|(code, _)| code),
            Some(opcode::BINARY)
        );
    }
    let events = harness.events(1).await;
    assert!(events
        .iter()
        .any(|event| matches!(event, Event::Writable(_))));
}

#[tokio::test]
async fn publish_encodes_once_for_every_subscriber() {
    let mut first = Harness::start(RouteOptions::default(), b"");
    let hub = Arc::clone(&first.hub);
    hub.subscribe(&first.channel, "news");
    hub.subscribe(&first.channel, "news");
    assert_eq!(hub.subscriber_count("news"), 1);
    assert_eq!(hub.publish("news", true, b"headline"), 1);
    assert_eq!(hub.publish("other", true, b"nobody"), 0);
    assert_eq!(
        first.frame().await,
        Some((opcode::TEXT, b"headline".to_vec()))
    );
    hub.unsubscribe(&first.channel, "news");
    assert_eq!(hub.subscriber_count("news"), 0);
    // A connection that ends leaves its topics.
    hub.subscribe(&first.channel, "news");
    first.send(&client_frame(opcode::CLOSE, &[])).await;
    assert_eq!(first.frame().await, Some((opcode::CLOSE, Vec::new())));
    assert_eq!(first.frame().await, None);
    for _ in 0..100 {
        if hub.subscriber_count("news") == 0 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert_eq!(hub.subscriber_count("news"), 0);
}
