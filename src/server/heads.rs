//! Waiting for request heads: the idle and busy waits of a connection, the
//! header and keep-alive deadlines, the small idle read buffer, and shutdown
//! while idle.

use std::io;
use std::sync::atomic::Ordering;
use std::time::Duration;

use bytes::BytesMut;
use http::StatusCode;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite};
use tokio::time::Instant;

use super::connection::{stopping, Connection};
use crate::http::head::{oversized_head, HeadError, RequestHead};

/// Free space kept in the read buffer before each read of a head under way.
const READ_RESERVE: usize = 8 * 1024;
/// An idle connection waits with a read buffer this small (paid by every
/// idle connection), enough for the heads of most API clients; a longer head
/// takes one more read, into `READ_RESERVE`. 10,000 idle connections then
/// hold 5 MB of read buffers (80 MB at 8 KiB each).
const IDLE_READ: usize = 512;
/// How long a connection that answered waits for its next request in the
/// busy state (see `Connection::run`) before settling into the idle one:
/// longer than the gap between the requests of a busy client (well under a
/// millisecond under load), short enough that a burst of new connections
/// does not hold thousands of busy states at once (10,000 idle after a
/// burst: 68 MB RSS at 20 ms, 72 MB at 50 ms, 84 MB at 250 ms).
pub(super) const BUSY_LINGER: Duration = Duration::from_millis(20);
/// An idle connection's answer buffer larger than this is given back.
const IDLE_OUTPUT_KEEP: usize = 4096;
/// When the server stops, how long a connection that has not sent its first
/// request yet may still send it (see [`Connection::next_head`]).
const FIRST_REQUEST_GRACE: Duration = Duration::from_secs(1);

/// What arrived where a request head was expected.
pub(super) enum Incoming {
    Head(RequestHead),
    /// The client closed, went idle past the timeout, or the server is
    /// stopping and the connection was between requests.
    Closed,
    Refused(HeadError),
    /// Nothing arrived within the busy linger: the connection is idle.
    Lingered,
}

impl<S: AsyncRead + AsyncWrite + Unpin> Connection<S> {
    /// Reads until a complete head is buffered, the client closes, a
    /// deadline passes, or shutdown begins while the connection is idle.
    ///
    /// Two clocks, as in nginx: an idle connection (no byte of a next head)
    /// is closed silently after `keep_alive`; once a head has begun (or from
    /// accept, for a connection's `first` request) it must be complete within
    /// `header_read`, else 408.
    ///
    /// With a `linger`, a connection on which nothing arrives for that long
    /// returns [`Incoming::Lingered`] (the keep-alive clock keeps running).
    pub(super) async fn next_head(
        &mut self,
        first: bool,
        linger: Option<Duration>,
    ) -> io::Result<Incoming> {
        let limits = self.shared.config.head_limits;
        let deadlines = self.shared.config.deadlines;
        // Coarse: these deadlines are milliseconds to seconds (src/clock.rs).
        let now = Instant::from_std(crate::clock::coarse_instant());
        // Pipelined requests may already be buffered.
        let mut worth_parsing = !self.input.is_empty();
        let mut head_deadline = (first || worth_parsing).then(|| now + deadlines.header_read);
        let idle_deadline = self
            .idle_deadline
            .take()
            .unwrap_or_else(|| now + deadlines.keep_alive);
        let linger_until = linger
            .map(|linger| now + linger)
            .filter(|until| *until < idle_deadline);
        // Bytes of a head arrived: its deadline starts (read from the clock
        // only if the head is still incomplete, so a head that arrives whole,
        // the usual case, costs no second clock read).
        let mut head_begun = false;
        loop {
            if worth_parsing {
                match RequestHead::parse(&mut self.input, &limits) {
                    Ok(Some(head)) => {
                        if !self.has_requested {
                            self.has_requested = true;
                            self.shared.stats.unstarted.fetch_sub(1, Ordering::SeqCst);
                        }
                        return Ok(Incoming::Head(head));
                    }
                    Ok(None) => {}
                    Err(error) => return Ok(Incoming::Refused(error)),
                }
            }
            if self.input.len() > limits.max_head_bytes() {
                return Ok(Incoming::Refused(oversized_head(&self.input, &limits)));
            }
            self.flush().await?;
            let idle = self.input.is_empty();
            let before = self.input.len();
            if idle {
                self.release_idle_buffers();
            }
            if head_begun && head_deadline.is_none() {
                head_deadline = Some(Instant::now() + deadlines.header_read);
            }
            let deadline = head_deadline.unwrap_or(linger_until.unwrap_or(idle_deadline));
            let read = tokio::select! {
                read = read_more(&mut self.io, &mut self.input, idle) => read,
                _ = tokio::time::sleep_until(deadline) => {
                    if idle && head_deadline.is_none() && linger_until == Some(deadline) {
                        self.idle_deadline = Some(idle_deadline);
                        return Ok(Incoming::Lingered);
                    }
                    return Ok(if idle {
                        Incoming::Closed
                    } else {
                        Incoming::Refused(HeadError {
                            status: StatusCode::REQUEST_TIMEOUT,
                            reason: "Request head not received in time",
                        })
                    });
                }
                // An idle connection closes when the server stops, but one that
                // never sent a request was accepted just before the stop and its
                // request is on its way: it gets a moment (a restart with
                // `hyper run --reload` hands the socket on without losing one).
                // Not while lingering busy (at most BUSY_LINGER): the idle wait
                // after it sees the stop, and a request served meanwhile is
                // answered with `connection: close`. Saves a waiter
                // registered and removed on the stop signal per request.
                _ = stopping(&mut self.stop), if idle && linger.is_none() => {
                    if self.has_requested {
                        return Ok(Incoming::Closed);
                    }
                    let first = read_more(&mut self.io, &mut self.input, idle);
                    match tokio::time::timeout(FIRST_REQUEST_GRACE, first).await {
                        Ok(read) => read,
                        Err(_) => return Ok(Incoming::Closed),
                    }
                }
            };
            match read {
                Ok(0) | Err(_) => return Ok(Incoming::Closed),
                // A head ends with a line break: re-parse only when one arrived,
                // so a client sending a byte at a time costs no parse per byte.
                Ok(_) => {
                    head_begun = true;
                    worth_parsing = memchr::memchr(b'\n', &self.input[before..]).is_some();
                }
            }
        }
    }

    /// Before waiting on an idle connection: gives back a read buffer grown
    /// past [`IDLE_READ`] (a long head, a body) and an answer buffer a large
    /// answer left behind. A small one is kept and reused: heads and small
    /// bodies are copied out of it, so it is never shared.
    fn release_idle_buffers(&mut self) {
        if self.input.capacity() > IDLE_READ {
            self.input = BytesMut::new();
        }
        if self.output.capacity() > IDLE_OUTPUT_KEEP {
            self.output = Vec::new();
        }
    }
}

/// Reads what has arrived into `input`: idle (nothing buffered), into a
/// small buffer ([`IDLE_READ`]), else with [`READ_RESERVE`] free.
async fn read_more<S: AsyncRead + Unpin>(
    io: &mut S,
    input: &mut BytesMut,
    idle: bool,
) -> io::Result<usize> {
    input.reserve(if idle { IDLE_READ } else { READ_RESERVE });
    io.read_buf(input).await
}
