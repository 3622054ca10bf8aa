//! One accepted WebSocket connection: the task that reads the client's
//! frames and writes the application's messages, after the 101.
//!
//! One loop, one task: decode whatever input is buffered (answering pings
//! natively), move queued messages from the outbox into the output buffer
//! (compressing them if negotiated), then wait for whichever comes first:
//! input, room to write, new outbox items, the ping timer, shutdown, or the
//! close timeout. Output is written inside that same wait, as far as the
//! socket takes it, so a client that does not read never stops us from
//! reading its close frame, and the outbox (bounded) fills up instead:
//! `send` waits.

use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::BytesMut;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::sync::watch;
use tokio::time::Instant;

use super::decoder::{Decoder, Event as Frame, Failure};
use super::deflate::{Compressor, DeflateParams, COMPRESS_FROM};
use super::frame::{self, close_code, opcode};
use super::hub::{Channel, Event, Hub, Outgoing, RouteOptions, INBOUND_HIGH_WATER};

/// Output buffered before the outbox is left alone until it drains.
const OUTPUT_HIGH_WATER: usize = 256 * 1024;
/// Output beyond which the client's input is not read either (pongs it
/// asks for and never reads must not pile up).
const OUTPUT_HARD_LIMIT: usize = 4 * 1024 * 1024;
/// Outbox items moved per turn of the loop.
const ITEMS_PER_TURN: usize = 64;
const READ_RESERVE: usize = 16 * 1024;
/// Free space for a read while nothing is buffered: idle connections are
/// most connections, so they hold little (an idle input buffer larger than
/// [`IDLE_BUFFER_LIMIT`] is released).
const IDLE_RESERVE: usize = 1024;
const IDLE_BUFFER_LIMIT: usize = 32 * 1024;
/// After the close handshake: how long and how much the client may still
/// send before the socket is closed (see `finish`).
const LINGER_TIME: Duration = Duration::from_secs(1);
const LINGER_BYTES: usize = 1024 * 1024;

/// The parts of a connection the session takes over after the handshake.
pub struct Upgraded<S> {
    pub io: S,
    /// Bytes the client sent after its handshake (possibly whole frames).
    pub input: BytesMut,
    /// The 101 answer, not yet written.
    pub output: Vec<u8>,
    pub deflate: Option<DeflateParams>,
}

struct Session<'h> {
    hub: &'h Hub,
    channel: Arc<Channel>,
    options: &'h RouteOptions,
    decoder: Decoder,
    compressor: Option<Compressor>,
    deflate: Option<DeflateParams>,
    output: Vec<u8>,
    written: usize,
    /// Our close frame is queued: nothing but input is processed any more.
    close_sent: bool,
    close_deadline: Option<Instant>,
    pong_deadline: Option<Instant>,
    /// Ends the loop: the close handshake is over or the connection failed.
    finished: bool,
    /// A protocol failure waiting for the handler to finish the messages
    /// that arrived before it (their answers go out before the close frame),
    /// and how long it waits at most.
    failing: Option<(Failure, Instant)>,
    /// How the connection ended, for the application (first one wins).
    outcome: Option<(u16, String)>,
}

/// Runs the connection until it closes; the application hears of the end
/// through [`Event::Closed`].
pub async fn run<S>(
    upgraded: Upgraded<S>,
    channel: Arc<Channel>,
    hub: Arc<Hub>,
    route_id: usize,
    mut stop: watch::Receiver<bool>,
) where
    S: AsyncRead + AsyncWrite + Unpin,
{
    let default_options = RouteOptions::default();
    let options = hub.options.get(route_id).unwrap_or(&default_options);
    let Upgraded {
        mut io,
        mut input,
        output,
        deflate,
    } = upgraded;
    let mut session = Session {
        hub: &hub,
        channel,
        options,
        decoder: Decoder::new(options.max_message, deflate.as_ref()),
        compressor: None,
        deflate,
        output,
        written: 0,
        close_sent: false,
        close_deadline: None,
        pong_deadline: None,
        finished: false,
        failing: None,
        outcome: None,
    };
    let mut pinger = options.ping_interval.map(|every| {
        let mut interval = tokio::time::interval_at(Instant::now() + every, every);
        interval.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        interval
    });
    let mut timer = Timer::default();
    let mut outgoing = Vec::new();
    // Once polled, the stop signal has our waker: after that it is polled
    // again only when the watch changed (its poll takes a lock; the probe's
    // check is one atomic load), which keeps it off the per-message path.
    let stop_probe = stop.clone();
    let mut stop_watched = false;
    let stop_signal = stopping(&mut stop);
    tokio::pin!(stop_signal);
    loop {
        session.decode(&mut input);
        if session.finished {
            break;
        }
        session.take_outbox(&mut outgoing);
        if session.settle_failure() {
            break;
        }
        let paused = session.failing.is_some()
            || session.channel.unread_bytes.load(Ordering::SeqCst) >= INBOUND_HIGH_WATER
            || session.output.len() - session.written > OUTPUT_HARD_LIMIT;
        session
            .channel
            .reading_paused
            .store(paused, Ordering::SeqCst);
        if !paused {
            if input.is_empty() {
                if input.capacity() > IDLE_BUFFER_LIMIT {
                    input = BytesMut::new();
                }
                input.reserve(IDLE_RESERVE);
            } else {
                input.reserve(READ_RESERVE);
            }
        }
        timer.set(session.next_deadline());
        // The outbox was left alone (too much output): come back for it
        // once the output is under the mark again.
        let refill = session.output.len() - session.written >= OUTPUT_HIGH_WATER;
        // One hand-written poll instead of `select!` over split halves: no
        // lock around the stream, no per-turn futures, and written output
        // does not end the wait (an answer goes out and the task sleeps
        // again in the same poll).
        let woken = std::future::poll_fn(|cx| {
            while session.written < session.output.len() {
                match Pin::new(&mut io).poll_write(cx, &session.output[session.written..]) {
                    Poll::Ready(Ok(count)) if count > 0 => session.wrote(count),
                    Poll::Ready(_) => return Poll::Ready(Woken::Gone),
                    Poll::Pending => break,
                }
            }
            if refill && session.output.len() - session.written < OUTPUT_HIGH_WATER {
                return Poll::Ready(Woken::Wrote);
            }
            if !paused {
                match std::pin::pin!(io.read_buf(&mut input)).poll(cx) {
                    Poll::Ready(Ok(count)) if count > 0 => return Poll::Ready(Woken::Input),
                    Poll::Ready(_) => return Poll::Ready(Woken::Gone),
                    Poll::Pending => {}
                }
            }
            if session.channel.wake.poll_rung(cx).is_ready() {
                return Poll::Ready(Woken::Rung);
            }
            if !session.close_sent {
                // Completes once: then `close_sent` holds and it is never polled again.
                if !stop_watched || stop_probe.has_changed().unwrap_or(true) {
                    stop_watched = true;
                    if stop_signal.as_mut().poll(cx).is_ready() {
                        return Poll::Ready(Woken::Stopping);
                    }
                }
                if let Some(interval) = pinger.as_mut() {
                    if interval.poll_tick(cx).is_ready() {
                        return Poll::Ready(Woken::Ping);
                    }
                }
            }
            timer.poll(cx).map(|()| Woken::Deadline)
        })
        .await;
        match woken {
            Woken::Input | Woken::Rung | Woken::Wrote => {}
            Woken::Gone => return session.gone().await,
            Woken::Stopping => session.send_close(close_code::GOING_AWAY, "server shutting down"),
            Woken::Ping => session.ping(),
            Woken::Deadline => {
                if session.close_sent {
                    break; // the client never answered our close
                }
                if let Some((failure, _)) = session.failing.take() {
                    session.fail_now(failure); // the handler did not get to its messages
                    break;
                }
                session.fail_now(Failure {
                    code: close_code::INTERNAL_ERROR,
                    reason: "ping timeout",
                });
            }
        }
    }
    session.finish(io).await;
}

/// Why the session's wait ended (output is written inside the wait).
enum Woken {
    Input,
    /// Output went under the high-water mark: the outbox can be taken again.
    Wrote,
    /// The application queued something, or the handler caught up on input.
    Rung,
    /// The client reset or closed the connection, or a write failed.
    Gone,
    Stopping,
    Ping,
    Deadline,
}

/// The session's one deadline (close handshake, failure patience, pong),
/// re-armed only when it changes: most turns of the loop have none.
#[derive(Default)]
struct Timer {
    at: Option<Instant>,
    sleep: Option<Pin<Box<tokio::time::Sleep>>>,
}

impl Timer {
    fn set(&mut self, at: Option<Instant>) {
        if at == self.at {
            return;
        }
        self.at = at;
        match (at, self.sleep.as_mut()) {
            (None, _) => self.sleep = None,
            (Some(at), Some(sleep)) => sleep.as_mut().reset(at),
            (Some(at), None) => self.sleep = Some(Box::pin(tokio::time::sleep_until(at))),
        }
    }

    fn poll(&mut self, cx: &mut Context<'_>) -> Poll<()> {
        match self.sleep.as_mut() {
            Some(sleep) => sleep.as_mut().poll(cx),
            None => Poll::Pending,
        }
    }
}

/// Resolves once the server begins shutting down.
async fn stopping(stop: &mut watch::Receiver<bool>) {
    // The guard is dropped here, before any other await: it is not Send.
    let _ = stop.wait_for(|stopping| *stopping).await;
}

impl Session<'_> {
    /// Handles every complete event in `input`.
    fn decode(&mut self, input: &mut BytesMut) {
        while !self.finished && self.failing.is_none() {
            match self.decoder.decode(input) {
                Ok(Some(event)) => self.on_frame(event),
                Ok(None) => return,
                Err(failure) => self.fail(failure),
            }
        }
    }

    fn on_frame(&mut self, event: Frame) {
        let id = self.channel.id;
        match event {
            // After our close frame, data is no longer delivered (RFC 6455 §5.5.1).
            Frame::Text(text) if !self.close_sent => {
                self.channel.handed_over(text.len());
                self.hub.push(Event::Text(id, text));
            }
            Frame::Binary(data) if !self.close_sent => {
                self.channel.handed_over(data.len());
                self.hub.push(Event::Binary(id, data));
            }
            Frame::Ping(payload) if !self.close_sent => {
                frame::write_frame(&mut self.output, opcode::PONG, false, &payload);
            }
            Frame::Pong(_) => self.pong_deadline = None,
            Frame::Close(close) => {
                let (code, reason) = close.unwrap_or((close_code::NO_STATUS, String::new()));
                self.outcome.get_or_insert((code, reason));
                if !self.close_sent {
                    // Echo the client's code (none if it sent none).
                    let echoed = (code != close_code::NO_STATUS).then_some(code);
                    frame::write_close(&mut self.output, echoed, "");
                    self.close_sent = true;
                }
                self.finished = true;
            }
            _ => {}
        }
    }

    /// Fails the connection. Messages decoded before the violation were
    /// handed over already: the close frame waits (briefly) until the
    /// handler has taken them, so its answers to them go out first.
    fn fail(&mut self, failure: Failure) {
        if self.close_sent || self.channel.unread_bytes.load(Ordering::SeqCst) == 0 {
            return self.fail_now(failure);
        }
        let patience = Instant::now() + self.options.close_timeout;
        self.failing.get_or_insert((failure, patience));
        self.finished = false;
    }

    /// Sends the failure's close frame once the handler has caught up.
    /// True when the loop should end.
    fn settle_failure(&mut self) -> bool {
        if self.failing.is_some() && self.channel.unread_bytes.load(Ordering::SeqCst) == 0 {
            if let Some((failure, _)) = self.failing.take() {
                self.fail_now(failure);
                return true;
            }
        }
        false
    }

    fn next_deadline(&self) -> Option<Instant> {
        self.close_deadline
            .or(self.failing.as_ref().map(|(_, at)| *at))
            .or(self.pong_deadline)
    }

    /// Fails the connection now: our close frame with the code, then the end.
    fn fail_now(&mut self, failure: Failure) {
        if !self.close_sent {
            frame::write_close(&mut self.output, Some(failure.code), failure.reason);
            self.close_sent = true;
        }
        self.outcome
            .get_or_insert((failure.code, failure.reason.to_owned()));
        self.finished = true;
    }

    fn send_close(&mut self, code: u16, reason: &str) {
        if self.close_sent {
            return;
        }
        frame::write_close(&mut self.output, Some(code), reason);
        self.close_sent = true;
        self.close_deadline = Some(Instant::now() + self.options.close_timeout);
        // Nothing more will be taken from the outbox.
        self.channel.end();
    }

    fn ping(&mut self) {
        if self.pong_deadline.is_none() {
            self.pong_deadline = Some(Instant::now() + self.options.ping_timeout);
        }
        frame::write_frame(&mut self.output, opcode::PING, false, b"hyperdjango");
    }

    fn wrote(&mut self, count: usize) {
        self.written += count;
        if self.written == self.output.len() {
            self.output.clear();
            self.written = 0;
            if self.output.capacity() > IDLE_BUFFER_LIMIT {
                self.output = Vec::new(); // after a large message: let it go
            }
        }
    }

    /// Moves queued messages into the output buffer while it has room.
    fn take_outbox(&mut self, outgoing: &mut Vec<Outgoing>) {
        if self.close_sent || self.output.len() - self.written >= OUTPUT_HIGH_WATER {
            return;
        }
        if self.channel.take_outgoing(outgoing, ITEMS_PER_TURN) {
            self.hub.push(Event::Writable(self.channel.id));
        }
        if outgoing.len() == ITEMS_PER_TURN {
            // More may be queued: come back round without waiting.
            self.channel.wake.ring();
        }
        for item in outgoing.drain(..) {
            match item {
                Outgoing::Message { text, payload } => self.encode(text, &payload),
                Outgoing::Frame(frame) => self.output.extend_from_slice(&frame),
                Outgoing::Close(code, reason) => {
                    self.send_close(code, &reason);
                    break;
                }
            }
        }
    }

    fn encode(&mut self, text: bool, payload: &[u8]) {
        let code = if text { opcode::TEXT } else { opcode::BINARY };
        if let Some(params) = self
            .deflate
            .as_ref()
            .filter(|_| payload.len() >= COMPRESS_FROM)
        {
            let compressor = self
                .compressor
                .get_or_insert_with(|| Compressor::new(params));
            let mut compressed = Vec::with_capacity(payload.len() / 2 + 16);
            if compressor.compress(payload, &mut compressed).is_ok() {
                frame::write_frame(&mut self.output, code, true, &compressed);
                return;
            }
        }
        frame::write_frame(&mut self.output, code, false, payload);
    }

    /// The client vanished (reset, or closed without a close frame).
    async fn gone(mut self) {
        self.outcome
            .get_or_insert((close_code::ABNORMAL, String::new()));
        self.report();
    }

    fn report(&mut self) {
        self.channel.end();
        self.hub.forget(&self.channel);
        let (code, reason) = self
            .outcome
            .take()
            .unwrap_or((close_code::ABNORMAL, String::new()));
        self.hub.push(Event::Closed(self.channel.id, code, reason));
    }

    /// Writes what is left (our close frame), closes our side, and reads
    /// until the client closes too: closing with unread input would send a
    /// reset that can destroy the close frame before the client reads it.
    async fn finish<S>(mut self, mut io: S)
    where
        S: AsyncRead + AsyncWrite + Unpin,
    {
        self.report();
        let pending = &self.output[self.written..];
        let flushed = tokio::time::timeout(self.options.close_timeout, async {
            io.write_all(pending).await?;
            io.shutdown().await
        })
        .await;
        if !matches!(flushed, Ok(Ok(()))) {
            return;
        }
        let drain = async {
            let mut discarded = 0;
            let mut scratch = BytesMut::with_capacity(READ_RESERVE);
            while discarded < LINGER_BYTES {
                scratch.clear();
                match io.read_buf(&mut scratch).await {
                    Ok(0) | Err(_) => break,
                    Ok(read) => discarded += read,
                }
            }
        };
        let _ = tokio::time::timeout(LINGER_TIME, drain).await;
    }
}

#[cfg(test)]
#[path = "session_tests.rs"]
mod tests;
