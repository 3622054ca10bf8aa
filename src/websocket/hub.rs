//! What the WebSocket connections of one server share: the hand-over of
//! their events to the application (batched, like requests: one wake-up for
//! everything ready), the outboxes the application writes into, and the
//! publish/subscribe topics.
//!
//! A [`Channel`] is one connection as the application sees it. The
//! application queues whole messages into its outbox; the connection's task
//! (see `session`) encodes and writes them. Publishing encodes a frame once
//! and queues the same bytes in every subscriber's outbox: no call into the
//! application per subscriber.

use std::collections::VecDeque;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use parking_lot::Mutex;
use rustc_hash::FxHashMap;
use tokio::sync::oneshot;

use super::decoder::DEFAULT_MAX_MESSAGE;
use super::doorbell::Doorbell;
use super::frame::{self, opcode};
use crate::http::head::RequestHead;
use crate::routing::RouteTable;
use crate::server::Handoff;

/// Unread messages a connection may hand over before it stops reading from
/// its client (a handler that does not receive must not make us buffer).
pub const INBOUND_HIGH_WATER: usize = 1024 * 1024;
/// Outbox size beyond which `send` waits (a client that does not read).
pub const DEFAULT_MAX_QUEUE: usize = 1024 * 1024;
/// A subscriber whose outbox grows past this many times the limit through
/// publications is closed (1008): fan-out never waits for one slow reader.
const PUBLISH_SLACK: usize = 4;

/// Per-route settings (`@app.websocket(path, ...)`).
#[derive(Clone, Debug)]
pub struct RouteOptions {
    /// Supported subprotocols, in the server's order of preference.
    pub subprotocols: Vec<String>,
    /// Allowed `Origin` values; empty allows any.
    pub origins: Vec<String>,
    pub max_message: usize,
    /// Server pings every `ping_interval`; no pong within `ping_timeout` closes (1011).
    pub ping_interval: Option<Duration>,
    pub ping_timeout: Duration,
    /// Offer permessage-deflate when the client asks for it.
    pub compression: bool,
    /// How long to wait for the client's close frame after ours.
    pub close_timeout: Duration,
    pub max_queue: usize,
}

impl Default for RouteOptions {
    fn default() -> Self {
        RouteOptions {
            subprotocols: Vec::new(),
            origins: Vec::new(),
            max_message: DEFAULT_MAX_MESSAGE,
            ping_interval: None,
            ping_timeout: Duration::from_secs(20),
            compression: true,
            close_timeout: Duration::from_secs(5),
            max_queue: DEFAULT_MAX_QUEUE,
        }
    }
}

/// The application's answer to an upgrade request.
#[derive(Debug, PartialEq, Eq)]
pub enum Decision {
    /// Switch protocols, with this subprotocol.
    Accept(Option<String>),
    /// Answer the handshake with this HTTP status instead.
    Reject(u16),
}

/// A new connection, waiting for the application's [`Decision`].
pub struct Opening {
    pub channel: Arc<Channel>,
    pub route_id: usize,
    pub head: RequestHead,
    /// Path parameter values, decoded, in pattern order.
    pub params: Vec<String>,
    pub peer: SocketAddr,
}

/// What the connections hand to the application.
pub enum Event {
    Open(Box<Opening>),
    Text(u64, String),
    Binary(u64, Vec<u8>),
    /// The connection is over: the close code and reason it ended with
    /// (1005 when the client's close frame had no code, 1006 when the
    /// connection dropped without one).
    Closed(u64, u16, String),
    /// The outbox has room again for a `send` that waited.
    Writable(u64),
}

/// What the application queues for its connection.
pub enum Outgoing {
    Message {
        text: bool,
        payload: Vec<u8>,
    },
    /// An already encoded (uncompressed) frame, shared by every subscriber.
    Frame(Bytes),
    Close(u16, String),
}

/// The result of queueing into an outbox.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Queued {
    Yes,
    /// Over the limit: wait for [`Event::Writable`], then retry.
    Full,
    /// The connection is closing or closed.
    Closed,
}

#[derive(Default)]
struct Outbox {
    items: VecDeque<Outgoing>,
    bytes: usize,
    /// No more items are taken (a close is queued, or the connection ended).
    closed: bool,
    /// A sender was told `Full` and waits for `Writable`.
    wants_writable: bool,
}

/// One WebSocket connection, as the application and the publisher see it.
pub struct Channel {
    pub id: u64,
    pub subprotocol: Option<String>,
    pub offered_protocols: Vec<String>,
    max_queue: usize,
    outbox: Mutex<Outbox>,
    /// Wakes the connection's task: outbox items, or room to read again.
    pub(super) wake: Doorbell,
    decision: Mutex<Option<oneshot::Sender<Decision>>>,
    /// Sizes of messages handed over and not yet taken by the handler (FIFO).
    unread: Mutex<VecDeque<usize>>,
    pub(super) unread_bytes: AtomicUsize,
    pub(super) reading_paused: AtomicBool,
    topics: Mutex<Vec<String>>,
}

impl Channel {
    /// Switches protocols (`Accept`) or refuses; false if already decided.
    pub fn decide(&self, decision: Decision) -> bool {
        match self.decision.lock().take() {
            Some(sender) => sender.send(decision).is_ok(),
            None => false,
        }
    }

    /// Queues a message (see [`Queued`]).
    pub fn send(&self, item: Outgoing) -> Queued {
        let size = match &item {
            Outgoing::Message { payload, .. } => payload.len(),
            Outgoing::Frame(frame) => frame.len(),
            Outgoing::Close(..) => 0,
        };
        let was_empty = {
            let mut outbox = self.outbox.lock();
            if outbox.closed {
                return Queued::Closed;
            }
            if outbox.bytes >= self.max_queue && !matches!(item, Outgoing::Close(..)) {
                outbox.wants_writable = true;
                return Queued::Full;
            }
            if matches!(item, Outgoing::Close(..)) {
                outbox.closed = true;
            }
            outbox.bytes += size;
            outbox.items.push_back(item);
            outbox.items.len() == 1
        };
        if was_empty {
            self.wake.ring();
        }
        Queued::Yes
    }

    /// Queues a published frame: never waits; a subscriber far behind is closed.
    fn publish(&self, frame: &Bytes) -> bool {
        let mut outbox = self.outbox.lock();
        if outbox.closed {
            return false;
        }
        if outbox.bytes > self.max_queue * PUBLISH_SLACK {
            outbox.closed = true;
            outbox.items.push_back(Outgoing::Close(
                frame::close_code::POLICY_VIOLATION,
                "subscriber too slow".into(),
            ));
        } else {
            outbox.bytes += frame.len();
            outbox.items.push_back(Outgoing::Frame(frame.clone()));
        }
        let first = outbox.items.len() == 1;
        drop(outbox);
        if first {
            self.wake.ring();
        }
        true
    }

    /// Takes queued items into `into` while `into` stays under `budget` items.
    /// Returns whether a waiting sender should be told there is room.
    pub(super) fn take_outgoing(&self, into: &mut Vec<Outgoing>, budget: usize) -> bool {
        let mut outbox = self.outbox.lock();
        while into.len() < budget {
            let Some(item) = outbox.items.pop_front() else {
                break;
            };
            outbox.bytes -= match &item {
                Outgoing::Message { payload, .. } => payload.len(),
                Outgoing::Frame(frame) => frame.len(),
                Outgoing::Close(..) => 0,
            };
            into.push(item);
        }
        let room = outbox.wants_writable && outbox.bytes < self.max_queue / 2 + 1;
        if room {
            outbox.wants_writable = false;
        }
        room
    }

    /// Marks the connection over: senders get `Closed` from now on.
    pub(super) fn end(&self) {
        let mut outbox = self.outbox.lock();
        outbox.closed = true;
        outbox.items.clear();
        outbox.bytes = 0;
        self.decision.lock().take();
    }

    /// Records a message handed to the application.
    pub(super) fn handed_over(&self, size: usize) {
        self.unread.lock().push_back(size);
        self.unread_bytes.fetch_add(size, Ordering::SeqCst);
    }

    /// The handler is done with the oldest handed-over message (it asked
    /// for the next one, or ended); reading resumes once the unread ones
    /// fall under the high-water mark.
    pub fn consumed(&self) {
        let Some(size) = self.unread.lock().pop_front() else {
            return;
        };
        let left = self.unread_bytes.fetch_sub(size, Ordering::SeqCst) - size;
        if left < INBOUND_HIGH_WATER && self.reading_paused.load(Ordering::SeqCst) {
            self.wake.ring();
        }
    }
}

/// Shared by every WebSocket connection of a server.
pub struct Hub {
    /// WebSocket routes (method `GET`), separate from the HTTP table: a path
    /// may have both an HTTP handler and a WebSocket handler.
    pub routes: Arc<RouteTable>,
    /// Indexed by route id.
    pub options: Vec<RouteOptions>,
    handoff: Handoff<Event>,
    topics: Mutex<FxHashMap<String, FxHashMap<u64, Arc<Channel>>>>,
    next_id: AtomicU64,
}

impl std::fmt::Debug for Hub {
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        formatter
            .debug_struct("Hub")
            .field("routes", &self.options.len())
            .finish()
    }
}

impl Hub {
    pub fn new(routes: Arc<RouteTable>, options: Vec<RouteOptions>) -> std::io::Result<Hub> {
        Ok(Hub {
            routes,
            options,
            handoff: Handoff::new()?,
            topics: Mutex::new(FxHashMap::default()),
            next_id: AtomicU64::new(1),
        })
    }

    /// The application's doorbell (see [`Handoff::fileno`]).
    pub fn fileno(&self) -> i32 {
        self.handoff.fileno()
    }

    /// Rings for queued events (from the I/O threads' park hook).
    pub fn flush(&self) {
        self.handoff.flush();
    }

    /// Takes every waiting event into `batch`; call [`Hub::finish_batch`] after.
    pub fn take_batch(&self, batch: &mut Vec<Event>) {
        self.handoff.take_batch(batch);
    }

    pub fn finish_batch(&self) {
        self.handoff.finish_batch();
    }

    pub(super) fn push(&self, event: Event) {
        self.handoff.push(event);
    }

    /// Hands a new connection to the application; the receiver gets its decision.
    pub fn open(
        &self,
        route_id: usize,
        head: RequestHead,
        params: Vec<String>,
        peer: SocketAddr,
        subprotocol: Option<String>,
        offered_protocols: Vec<String>,
    ) -> (Arc<Channel>, oneshot::Receiver<Decision>) {
        let (sender, receiver) = oneshot::channel();
        let max_queue = self
            .options
            .get(route_id)
            .map_or(DEFAULT_MAX_QUEUE, |options| options.max_queue);
        let channel = Arc::new(Channel {
            id: self.next_id.fetch_add(1, Ordering::Relaxed),
            subprotocol,
            offered_protocols,
            max_queue,
            outbox: Mutex::new(Outbox::default()),
            wake: Doorbell::default(),
            decision: Mutex::new(Some(sender)),
            unread: Mutex::new(VecDeque::new()),
            unread_bytes: AtomicUsize::new(0),
            reading_paused: AtomicBool::new(false),
            topics: Mutex::new(Vec::new()),
        });
        self.push(Event::Open(Box::new(Opening {
            channel: Arc::clone(&channel),
            route_id,
            head,
            params,
            peer,
        })));
        self.handoff.flush();
        (channel, receiver)
    }

    /// Adds `channel` to `topic` (nothing once the connection has ended).
    pub fn subscribe(&self, channel: &Arc<Channel>, topic: &str) {
        // Under the topics lock: `forget` (after `end`) cannot slip in between.
        let mut topics = self.topics.lock();
        if channel.outbox.lock().closed {
            return;
        }
        let subscribers = topics.entry(topic.to_owned()).or_default();
        if subscribers
            .insert(channel.id, Arc::clone(channel))
            .is_none()
        {
            channel.topics.lock().push(topic.to_owned());
        }
    }

    pub fn unsubscribe(&self, channel: &Channel, topic: &str) {
        let mut topics = self.topics.lock();
        if let Some(subscribers) = topics.get_mut(topic) {
            subscribers.remove(&channel.id);
            if subscribers.is_empty() {
                topics.remove(topic);
            }
        }
        channel.topics.lock().retain(|name| name != topic);
    }

    /// Removes a finished connection from every topic it joined.
    pub(super) fn forget(&self, channel: &Channel) {
        let mut topics = self.topics.lock();
        let joined = std::mem::take(&mut *channel.topics.lock());
        for topic in joined {
            if let Some(subscribers) = topics.get_mut(&topic) {
                subscribers.remove(&channel.id);
                if subscribers.is_empty() {
                    topics.remove(&topic);
                }
            }
        }
    }

    /// Encodes one frame and queues it for every subscriber of `topic`.
    /// Returns how many connections it was queued for.
    pub fn publish(&self, topic: &str, text: bool, payload: &[u8]) -> usize {
        let subscribers: Vec<Arc<Channel>> = match self.topics.lock().get(topic) {
            Some(subscribers) => subscribers.values().cloned().collect(),
            None => return 0,
        };
        let mut encoded = Vec::with_capacity(payload.len() + 10);
        let code = if text { opcode::TEXT } else { opcode::BINARY };
        frame::write_frame(&mut encoded, code, false, payload);
        let encoded = Bytes::from(encoded);
        subscribers
            .iter()
            .filter(|channel| channel.publish(&encoded))
            .count()
    }

    pub fn subscriber_count(&self, topic: &str) -> usize {
        self.topics.lock().get(topic).map_or(0, FxHashMap::len)
    }

    /// Drops queued events (shutdown); pending decisions read as refusals.
    pub fn discard_pending(&self) {
        self.handoff.discard_pending();
    }
}
