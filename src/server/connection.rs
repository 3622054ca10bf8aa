//! One task per connection: our HTTP/1.1 state machine (keep-alive,
//! pipelining, chunked bodies, 100-continue, timeouts, graceful shutdown) on
//! top of the pure codec in `crate::http`, and the per-request path: routing,
//! native answers, body limits, hand-over to Python.
//!
//! The loop is: read until a head parses -> answer it (natively, or by
//! reading the body and waiting for the application) -> write the answer ->
//! next head. Input is one `BytesMut`; a head is split off it without a copy
//! and travels to Python as it is. Output is one `Vec` written with one call,
//! and never held while the task waits for anything ("flush before waiting"),
//! so pipelined answers are written together and nothing is delayed.
//!
//! Why not hyper: see docs/architecture.md ("the HTTP/1.1 connection is ours").

use std::io;
use std::net::SocketAddr;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

use bytes::BytesMut;
use http::{Method, StatusCode, Version};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::sync::{oneshot, watch};
use tokio::time::Instant;

use super::heads::{Incoming, BUSY_LINGER};
use super::native::{self, is_debug_path, STATIC_PREFIX};
use super::reading::BodyError;
use super::shutdown::OpenRequest;
use super::upgrade;
use super::writing::write_all;
use super::{NativeResponse, PendingRequest, Shared};
use crate::clock::Tick;
use crate::http::head::{BodyFraming, HeadError, RequestHead};
use crate::routing::Resolution;

/// Output held back (while pipelined requests are answered) before it is written anyway.
pub(super) const OUTPUT_HIGH_WATER: usize = 64 * 1024;
/// Largest unneeded body read and dropped to keep a connection (see `exchange`).
const SKIPPABLE_BODY: u64 = 64 * 1024;
/// When closing, how long and how much the client may go on sending before
/// the socket is closed (see [`Connection::close_gracefully`]).
const LINGER_TIME: Duration = Duration::from_secs(1);
const LINGER_BYTES: usize = 1024 * 1024;

pub(super) async fn accept_loop(
    listener: tokio::net::TcpListener,
    shared: Arc<Shared>,
    mut stop: watch::Receiver<bool>,
) {
    loop {
        // At max_connections accepting pauses: the kernel's backlog holds the
        // next connections (they are neither refused nor reset) until one closes.
        let slot = tokio::select! {
            slot = Arc::clone(&shared.connection_slots).acquire_owned() => match slot {
                Ok(slot) => slot,
                Err(_) => break,
            },
            _ = stopping(&mut stop) => break,
        };
        tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok((stream, peer)) => {
                    let _ = stream.set_nodelay(true);
                    let shared = Arc::clone(&shared);
                    let stop = stop.clone();
                    tokio::spawn(async move {
                        serve_connection(stream, peer, shared, stop).await;
                        drop(slot);
                    });
                }
                // Out of descriptors or a connection reset before accept: back
                // off a little instead of spinning, then keep serving.
                Err(_) => tokio::time::sleep(Duration::from_millis(10)).await,
            },
            _ = stopping(&mut stop) => break,
        }
    }
}

/// Resolves once `stop` fires: shutdown began (or, for the deadline receiver,
/// the drain deadline passed); at once if it already has.
pub(super) async fn stopping(stop: &mut watch::Receiver<bool>) {
    // The borrow guard is dropped here, before any other await: it is not Send.
    let _ = stop.wait_for(|stopping| *stopping).await;
}

/// Serves one connection until either side closes it. Generic over the
/// stream so tests and benchmarks can drive it through an in-memory pipe.
pub(crate) async fn serve_connection<S>(
    stream: S,
    peer: SocketAddr,
    shared: Arc<Shared>,
    stop: watch::Receiver<bool>,
) where
    S: AsyncRead + AsyncWrite + Unpin,
{
    shared.stats.connections.fetch_add(1, Ordering::SeqCst);
    shared.stats.unstarted.fetch_add(1, Ordering::SeqCst);
    let mut connection = Connection {
        io: stream,
        // Allocated on first use, so a connection that sends nothing costs no buffers.
        input: BytesMut::new(),
        output: Vec::new(),
        peer,
        shared: Arc::clone(&shared),
        stop,
        has_requested: false,
        peer_is_proxy: shared.config.trusted_proxies.contains(peer.ip()),
        idle_deadline: None,
    };
    // An I/O error means the client is gone: there is nobody left to tell.
    let _ = connection.run(&shared).await;
    if !connection.has_requested {
        shared.stats.unstarted.fetch_sub(1, Ordering::SeqCst);
    }
    shared.stats.connections.fetch_sub(1, Ordering::SeqCst);
}

pub(super) struct Connection<S> {
    pub(super) io: S,
    /// Bytes received and not yet consumed: the next head, body bytes, or
    /// pipelined requests.
    pub(super) input: BytesMut,
    /// Encoded answers not yet written.
    pub(super) output: Vec<u8>,
    pub(super) peer: SocketAddr,
    pub(super) shared: Arc<Shared>,
    pub(super) stop: watch::Receiver<bool>,
    /// Whether a request head has arrived on this connection.
    pub(super) has_requested: bool,
    /// Whether the peer is a trusted proxy (decided once per connection).
    pub(super) peer_is_proxy: bool,
    /// When an idle connection that left its busy state is closed (the
    /// keep-alive deadline, which the linger does not extend).
    pub(super) idle_deadline: Option<Instant>,
}

/// How a busy period of a connection ended.
enum Busy {
    /// No next request within [`BUSY_LINGER`]: back to the small idle state.
    Idle,
    /// The connection is done (closed, refused, upgraded).
    Done,
}

/// An answer, and where it leaves the request body.
struct Answer {
    response: NativeResponse,
    body: BodyState,
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum BodyState {
    /// Answered before the body was read (404, 405, redirects, static files).
    Unread,
    Read,
    /// The body was refused or the server is stopping: close after the answer.
    Abandoned,
}

impl Answer {
    fn early(response: NativeResponse) -> Answer {
        Answer {
            response,
            body: BodyState::Unread,
        }
    }
}

impl<S: AsyncRead + AsyncWrite + Unpin> Connection<S> {
    /// `shared` is `self.shared`, borrowed apart from `self` so that a
    /// request's bookkeeping can hold it without cloning the `Arc`.
    async fn run(&mut self, shared: &Shared) -> io::Result<()> {
        let mut first = true;
        loop {
            // Idle: only the small state of waiting for a head.
            let head = match self.next_head(first, None).await? {
                Incoming::Head(head) => head,
                Incoming::Closed | Incoming::Lingered => return self.flush().await,
                Incoming::Refused(error) => return Box::pin(self.refuse(error)).await,
            };
            first = false;
            // Busy: answering needs a large state (~2 KB: body reading,
            // middleware, writing) that 10,000 idle connections should not
            // carry. It is boxed once per busy period, not once per request:
            // a connection serving one request after another stays in it.
            match Box::pin(self.serve_busy(head, shared)).await? {
                Busy::Idle => continue,
                Busy::Done => return Ok(()),
            }
        }
    }

    /// Serves `head` and the requests that follow it until the connection
    /// ends or goes [`BUSY_LINGER`] without one.
    async fn serve_busy(&mut self, mut head: RequestHead, shared: &Shared) -> io::Result<Busy> {
        loop {
            // Only apps with WebSocket routes look at upgrades, and only upgrade requests
            // pay for the boxed future of one (upgrade.rs).
            if self.shared.config.websockets.is_some() && upgrade::asks(&head) {
                match Box::pin(self.websocket_upgrade(head)).await? {
                    Some(plain) => head = plain,
                    None => return Ok(Busy::Done),
                }
            }
            if !self.exchange(head, shared).await? {
                Box::pin(self.close_gracefully()).await?;
                return Ok(Busy::Done);
            }
            head = match self.next_head(false, Some(BUSY_LINGER)).await? {
                Incoming::Head(head) => head,
                Incoming::Lingered => return Ok(Busy::Idle),
                Incoming::Closed => {
                    self.flush().await?;
                    return Ok(Busy::Done);
                }
                Incoming::Refused(error) => {
                    Box::pin(self.refuse(error)).await?;
                    return Ok(Busy::Done);
                }
            };
        }
    }

    /// Answers a head that could not be accepted, and closes.
    async fn refuse(&mut self, error: HeadError) -> io::Result<()> {
        self.shared
            .stats
            .native_errors
            .fetch_add(1, Ordering::Relaxed);
        let refusal = NativeResponse::detail(error.status, error.reason);
        // The version is unknown or untrusted: answer as HTTP/1.1 (RFC 9110 §6.2).
        self.write_answer(Version::HTTP_11, false, refusal, false, false)
            .await?;
        self.close_gracefully().await
    }

    /// Answers one request. Returns whether the connection stays open.
    async fn exchange(&mut self, head: RequestHead, shared: &Shared) -> io::Result<bool> {
        self.shared.stats.requests.fetch_add(1, Ordering::Relaxed);
        let version = head.version();
        let is_head_request = head.method() == Method::HEAD;
        let framing = head.framing();
        let expects_continue = head.expects_continue();
        let mut keep_alive = head.keep_alive();
        // Open until the whole answer is written (a stream to its end), so a
        // graceful shutdown waits for it.
        let _open = OpenRequest::enter(shared);
        let secure = self.secure(&head);
        // Cloning `None` costs nothing: no built-ins, no work.
        let answer = match self.shared.config.native_middleware.clone() {
            None => self.answer(head, shared).await?,
            Some(chain) => {
                let (run, early) = chain.before(&head, self.peer);
                let mut answer = match early {
                    Some(response) => Answer::early(response),
                    None => self.answer(head, shared).await?,
                };
                chain.after(&run, &mut answer.response);
                answer
            }
        };
        // A body the answer did not need (a 404, a redirect) is skipped if it
        // is small and on its way; otherwise the connection closes after it.
        let unread_body = match (answer.body, framing) {
            (BodyState::Read, _) | (BodyState::Unread, BodyFraming::Empty) => 0,
            (BodyState::Unread, BodyFraming::Length(length))
                if length <= SKIPPABLE_BODY && !expects_continue =>
            {
                length
            }
            (BodyState::Unread, _) | (BodyState::Abandoned, _) => {
                keep_alive = false;
                0
            }
        };
        keep_alive &= !self.stopping();
        let kept = self
            .write_answer(
                version,
                is_head_request,
                answer.response,
                keep_alive,
                secure,
            )
            .await?;
        if !kept {
            return Ok(false);
        }
        if unread_body > 0 {
            return Box::pin(self.skip_body(unread_body)).await;
        }
        Ok(true)
    }

    /// Routes the request and produces its answer: natively, or from the
    /// application after the body is read and the request handed over.
    async fn answer(&mut self, head: RequestHead, shared: &Shared) -> io::Result<Answer> {
        let config = &shared.config;
        let path = head.path();
        if is_debug_path(path) && !config.catch_all {
            if config.prod {
                return Ok(Answer::early(native::not_found()));
            }
            if path == "/debug/performance" {
                return Ok(Answer::early(native::performance_page(shared)));
            }
        }
        if path.starts_with(STATIC_PREFIX) && !config.catch_all {
            if let Some(root) = config.static_root.as_ref().filter(|_| !config.prod) {
                if head.method() == Method::GET || head.method() == Method::HEAD {
                    self.flush().await?;
                    let response = Box::pin(native::serve_static(root.clone(), head)).await;
                    return Ok(Answer::early(response));
                }
            }
        }

        let routed = match shared.routes.load().resolve(head.method().as_str(), path) {
            _ if config.catch_all => Ok((0, Vec::new())),
            Resolution::Found { route_id, params } => Ok((
                route_id,
                params
                    .iter()
                    .map(|(_, value, _)| value.into_owned())
                    .collect(),
            )),
            Resolution::NotFound => {
                // A plain request for a WebSocket-only route: 426, not 404.
                let upgrade = config.websockets.as_ref();
                let required = upgrade.and_then(|hub| upgrade::upgrade_required(hub, path));
                Err(required.unwrap_or_else(native::not_found))
            }
            Resolution::MethodNotAllowed { allow } => {
                Err(native::method_not_allowed(head.method(), allow))
            }
            Resolution::RedirectSlash { location } => {
                Err(native::redirect(&location, head.query()))
            }
        };
        // With middleware, the router's answers go through it like any other
        // request (CORS preflights, security headers on a 404); without, they
        // stay native and cost nothing more.
        let (route_id, params, router_answer) = match routed {
            Ok((route_id, params)) => (route_id, params, None),
            Err(answer) if config.router_answers_to_application => {
                (0, Vec::new(), Some(Box::new(answer)))
            }
            Err(answer) => return Ok(Answer::early(answer)),
        };

        let body = match self.read_body(&head).await {
            Ok(body) => body,
            Err(BodyError::Refuse(refusal)) => {
                return Ok(Answer {
                    response: *refusal,
                    body: BodyState::Abandoned,
                })
            }
            Err(BodyError::Gone(error)) => return Err(error),
        };
        let (reply, answer) = oneshot::channel();
        // Latency is kept per route (debug mode only); a router answer passed
        // through middleware has none.
        let latency = (!config.prod && router_answer.is_none())
            .then(|| (shared.route_latency.load_full(), std::time::Instant::now()));
        let queued_at = Tick::now();
        let offered = shared.handoff.offer(
            PendingRequest {
                route_id,
                head,
                body,
                params,
                peer: self.peer,
                reply,
                router_answer,
                queued_at,
            },
            queued_at,
        );
        if offered.is_err() {
            shared.stats.shed.fetch_add(1, Ordering::Relaxed);
            return Ok(Answer {
                response: native::overloaded(),
                body: BodyState::Read,
            });
        }
        let _in_flight = InFlight::enter(shared);
        self.flush().await?;
        Ok(match answer.await {
            Ok(response) => {
                if let Some((table, since)) = latency.as_ref() {
                    if let Some(histogram) = table.get(route_id) {
                        histogram.record(since.elapsed());
                    }
                }
                Answer {
                    response,
                    body: BodyState::Read,
                }
            }
            // The dispatcher dropped the request: the server is shutting down.
            Err(_) => Answer {
                response: NativeResponse::detail(
                    StatusCode::SERVICE_UNAVAILABLE,
                    "Service Unavailable",
                ),
                body: BodyState::Abandoned,
            },
        })
    }

    /// Reads more of a body (writing pending output first), waiting at most
    /// `body_read` for the next bytes. `Ok(0)` when the client closed.
    pub(super) async fn fill(&mut self, reserve: usize) -> io::Result<usize> {
        self.flush().await?;
        self.input.reserve(reserve);
        let timeout = self.shared.config.deadlines.body_read;
        match tokio::time::timeout(timeout, self.io.read_buf(&mut self.input)).await {
            Ok(read) => read,
            Err(_) => Err(io::Error::new(
                io::ErrorKind::TimedOut,
                "the client stopped sending",
            )),
        }
    }

    /// Writes everything pending.
    pub(super) async fn flush(&mut self) -> io::Result<()> {
        if !self.output.is_empty() {
            let timeout = self.shared.config.deadlines.send;
            write_all(&mut self.io, &self.output, timeout).await?;
            self.output.clear();
        }
        Ok(())
    }

    pub(super) fn stopping(&self) -> bool {
        *self.stop.borrow()
    }

    /// Resolves once shutdown has begun.
    pub(super) async fn until_stopping(&mut self) {
        stopping(&mut self.stop).await
    }

    /// Closes after the last answer. The write side is shut first and what
    /// the client still sends (an unread body, pipelined requests) is read
    /// and dropped for a moment: closing a socket with unread input makes the
    /// kernel send a reset, which can destroy the answer before the client
    /// reads it.
    pub(super) async fn close_gracefully(&mut self) -> io::Result<()> {
        self.flush().await?;
        self.io.shutdown().await?;
        let drain = async {
            let mut discarded = 0;
            while discarded < LINGER_BYTES {
                self.input.clear();
                match self.io.read_buf(&mut self.input).await {
                    Ok(0) | Err(_) => break,
                    Ok(read) => discarded += read,
                }
            }
        };
        let _ = tokio::time::timeout(LINGER_TIME, drain).await;
        Ok(())
    }
}

/// Counts a request as in flight until its answer is back or its client left.
struct InFlight<'a>(&'a Shared);

impl<'a> InFlight<'a> {
    fn enter(shared: &'a Shared) -> Self {
        shared.stats.in_flight.fetch_add(1, Ordering::SeqCst);
        InFlight(shared)
    }
}

impl Drop for InFlight<'_> {
    fn drop(&mut self) {
        self.0.stats.in_flight.fetch_sub(1, Ordering::SeqCst);
    }
}

#[cfg(test)]
#[path = "connection_tests.rs"]
mod tests;
