//! The hand-over of routed requests from tokio to the Python dispatcher thread.
//!
//! Tokio tasks push into one queue; the Python thread is woken through an
//! eventfd that its asyncio loop watches (`loop.add_reader`). Wake-ups are
//! *one per batch*, for two reasons:
//! - the doorbell is rung when a tokio worker runs out of work and is about to
//!   park ([`Handoff::flush`], from the runtime's park hook), or when the queue
//!   is already long, not on every push. Ringing on every push lets the woken
//!   Python thread preempt tokio after each request when both share a core
//!   (measured: 1.4 requests per wake-up, 37k req/s);
//! - the `scheduled` flag: while the Python side has been woken and has not
//!   finished its batch, nothing rings at all.
//!
//! It is also where overload is refused ([`Handoff::offer`]): a request is
//! *waiting* from its push until the consumer starts its handler
//! ([`Handoff::started`]); when too many wait, or the wait grows too long, new
//! requests are turned away (503) instead of joining an unbounded queue.

use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::time::Duration;

use crate::clock::Tick;

use parking_lot::Mutex;

/// Queue length at which a push rings at once instead of waiting for a flush,
/// bounding latency when tokio never runs out of work.
const RING_AT_LENGTH: usize = 128;

/// When requests waiting for the application are refused (docs/overload.md).
#[derive(Clone, Copy, Debug)]
pub struct QueueLimits {
    /// Requests waiting (handed over, handler not started) at which new ones
    /// are refused. An accepted request has fewer than this many ahead of it.
    pub max_queue: usize,
    /// New requests are refused while the consumer has started nothing for
    /// this long although requests wait, or while the latest request it
    /// started had waited longer than this.
    pub max_wait: Duration,
}

impl Default for QueueLimits {
    fn default() -> Self {
        QueueLimits {
            max_queue: 1024,
            max_wait: Duration::from_secs(5),
        }
    }
}

/// A queue with an eventfd doorbell. `T` is the request type (kept generic so
/// this file needs nothing from the rest of the server).
pub struct Handoff<T> {
    queue: Mutex<Vec<T>>,
    /// Mirrors `queue.len()`, so the park hook can check it without locking.
    queued: AtomicUsize,
    scheduled: AtomicBool,
    shutdown_requested: AtomicBool,
    /// Set when a streamed response ended early (the client left): the
    /// consumer closes the generators of streams whose client is gone.
    streams_closed: AtomicBool,
    doorbell: OwnedFd,
    limits: QueueLimits,
    /// Pushed and not yet started (see [`Handoff::started`]).
    waiting: AtomicUsize,
    /// A [`Tick`]'s microseconds: when the consumer last started a request,
    /// or when a request arrived to an empty wait (the stall clock's start).
    /// Coarse ticks: these bounds are tens of milliseconds and more, and the
    /// clock is read on every request.
    progress_at: AtomicU64,
    /// Microseconds the latest started request had waited.
    last_wait: AtomicU64,
}

impl<T> Handoff<T> {
    /// Creates the queue and its non-blocking eventfd, with default limits.
    pub fn new() -> io::Result<Self> {
        Self::with_limits(QueueLimits::default())
    }

    /// Creates the queue with the given overload limits.
    pub fn with_limits(limits: QueueLimits) -> io::Result<Self> {
        // SAFETY: eventfd has no memory-safety preconditions; we check the result.
        let fd = unsafe { libc::eventfd(0, libc::EFD_NONBLOCK | libc::EFD_CLOEXEC) };
        if fd < 0 {
            return Err(io::Error::last_os_error());
        }
        // SAFETY: `fd` is a freshly created descriptor that nothing else owns.
        let doorbell = unsafe { OwnedFd::from_raw_fd(fd) };
        Ok(Handoff {
            queue: Mutex::new(Vec::with_capacity(256)),
            queued: AtomicUsize::new(0),
            scheduled: AtomicBool::new(false),
            shutdown_requested: AtomicBool::new(false),
            streams_closed: AtomicBool::new(false),
            doorbell,
            limits,
            waiting: AtomicUsize::new(0),
            progress_at: AtomicU64::new(0),
            last_wait: AtomicU64::new(0),
        })
    }

    /// Queues `item` (which arrived at `now`) unless the consumer is
    /// overloaded; gives it back then, to be refused. Nothing waiting means
    /// nothing is refused: there is no shedding below capacity.
    pub fn offer(&self, item: T, now: Tick) -> Result<(), T> {
        let now_micros = now.micros();
        let waiting = self.waiting.load(Ordering::Relaxed);
        if waiting == 0 {
            self.progress_at.store(now_micros, Ordering::Relaxed);
        } else {
            let max_wait = self.limits.max_wait.as_micros() as u64;
            let stalled = now_micros.saturating_sub(self.progress_at.load(Ordering::Relaxed));
            if waiting >= self.limits.max_queue
                || stalled > max_wait
                || self.last_wait.load(Ordering::Relaxed) > max_wait
            {
                return Err(item);
            }
        }
        self.push(item);
        Ok(())
    }

    /// The consumer started handling a request queued at `queued_at`.
    pub fn started(&self, queued_at: Tick) {
        self.started_many(1, queued_at);
    }

    /// The consumer started `count` requests, the latest of them queued at
    /// `latest_queued_at` (a batch reports once: one clock read, one update).
    pub fn started_many(&self, count: usize, latest_queued_at: Tick) {
        if count == 0 {
            return;
        }
        let now = Tick::now();
        self.last_wait.store(
            now.since(latest_queued_at).as_micros() as u64,
            Ordering::Relaxed,
        );
        self.progress_at.store(now.micros(), Ordering::Relaxed);
        self.forget(count);
    }

    fn forget(&self, count: usize) {
        let _ = self
            .waiting
            .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |waiting| {
                Some(waiting.saturating_sub(count))
            });
    }

    /// Requests handed over whose handler has not started yet.
    pub fn waiting(&self) -> usize {
        self.waiting.load(Ordering::Relaxed)
    }

    /// The descriptor that becomes readable when work (or shutdown) is waiting.
    pub fn fileno(&self) -> RawFd {
        self.doorbell.as_raw_fd()
    }

    /// Queues one item. Rings only once the queue is long; otherwise the
    /// producer's [`Handoff::flush`] (when it runs out of work) rings.
    pub fn push(&self, item: T) {
        self.waiting.fetch_add(1, Ordering::Relaxed);
        let length = {
            let mut queue = self.queue.lock();
            queue.push(item);
            self.queued.store(queue.len(), Ordering::SeqCst);
            queue.len()
        };
        if length >= RING_AT_LENGTH {
            self.ring_if_idle();
        }
    }

    /// Rings if anything is queued and the consumer is not already on it.
    /// Cheap enough for every park of a tokio worker.
    pub fn flush(&self) {
        if self.queued.load(Ordering::SeqCst) > 0 {
            self.ring_if_idle();
        }
    }

    fn ring_if_idle(&self) {
        if !self.scheduled.swap(true, Ordering::SeqCst) {
            self.ring();
        }
    }

    /// Takes everything queued into `batch` (which should be empty; its
    /// capacity is recycled so the steady state allocates nothing), counting
    /// each as started: for consumers that do not report starts themselves.
    pub fn take_batch(&self, batch: &mut Vec<T>) {
        self.take_unstarted(batch);
        if !batch.is_empty() {
            self.progress_at
                .store(Tick::now().micros(), Ordering::Relaxed);
            self.forget(batch.len());
        }
    }

    /// As [`Handoff::take_batch`], but the items still count as waiting
    /// until the consumer calls [`Handoff::started`] for each.
    pub fn take_unstarted(&self, batch: &mut Vec<T>) {
        self.clear_doorbell();
        let mut queue = self.queue.lock();
        std::mem::swap(&mut *queue, batch);
        self.queued.store(0, Ordering::SeqCst);
    }

    /// Marks the consumer idle again. If items arrived meanwhile the doorbell is
    /// rung again, so the consumer's event loop gets a turn between batches
    /// (suspended tasks are not starved) and still no wake-up is lost.
    pub fn finish_batch(&self) {
        self.scheduled.store(false, Ordering::SeqCst);
        if self.queued.load(Ordering::SeqCst) > 0 || self.shutdown_requested.load(Ordering::SeqCst)
        {
            self.ring_if_idle();
        }
    }

    /// Asks the consumer to stop; it sees this through [`Handoff::shutdown_requested`].
    pub fn request_shutdown(&self) {
        self.shutdown_requested.store(true, Ordering::SeqCst);
        self.ring();
    }

    pub fn shutdown_requested(&self) -> bool {
        self.shutdown_requested.load(Ordering::SeqCst)
    }

    /// A streamed response ended early: wake the consumer now (rare, so
    /// it rings whatever the consumer is doing).
    pub fn stream_closed(&self) {
        self.streams_closed.store(true, Ordering::SeqCst);
        self.ring();
    }

    /// Whether a stream ended early since the last call (check after
    /// `take_batch`, so a ring it cleared is never lost).
    pub fn take_streams_closed(&self) -> bool {
        self.streams_closed.load(Ordering::Relaxed)
            && self.streams_closed.swap(false, Ordering::SeqCst)
    }

    /// Drops every queued item (their reply channels close, so waiting
    /// connections answer 503 instead of hanging).
    pub fn discard_pending(&self) {
        let discarded = {
            let mut queue = self.queue.lock();
            let discarded = queue.len();
            queue.clear();
            discarded
        };
        self.queued.store(0, Ordering::SeqCst);
        self.forget(discarded);
    }

    fn ring(&self) {
        let one: u64 = 1;
        // SAFETY: writes 8 bytes from a live u64 to our own eventfd. EAGAIN
        // (counter saturated) still leaves the fd readable, which is all we need.
        unsafe {
            libc::write(self.doorbell.as_raw_fd(), (&one as *const u64).cast(), 8);
        }
    }

    fn clear_doorbell(&self) {
        let mut counter: u64 = 0;
        // SAFETY: reads 8 bytes into a live u64 from our own non-blocking eventfd;
        // EAGAIN just means it was already clear.
        unsafe {
            libc::read(
                self.doorbell.as_raw_fd(),
                (&mut counter as *mut u64).cast(),
                8,
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn readable(fd: RawFd) -> bool {
        let mut poll_fd = libc::pollfd {
            fd,
            events: libc::POLLIN,
            revents: 0,
        };
        // SAFETY: one valid pollfd, zero timeout.
        unsafe { libc::poll(&mut poll_fd, 1, 0) == 1 }
    }

    #[test]
    fn rings_once_per_batch_and_never_loses_work() {
        let handoff = Handoff::new().expect("eventfd");
        assert!(!readable(handoff.fileno()));
        handoff.push(1);
        handoff.push(2);
        // Pushing alone does not ring: the producer flushes when it runs dry.
        assert!(!readable(handoff.fileno()));
        handoff.flush();
        assert!(readable(handoff.fileno()));
        let mut batch = Vec::new();
        handoff.take_batch(&mut batch);
        assert_eq!(batch, vec![1, 2]);
        assert!(!readable(handoff.fileno()));
        // Pushed while the consumer is busy: no ring now ...
        handoff.push(3);
        assert!(!readable(handoff.fileno()));
        // ... but finishing the batch rings for it.
        handoff.finish_batch();
        assert!(readable(handoff.fileno()));
        batch.clear();
        handoff.take_batch(&mut batch);
        assert_eq!(batch, vec![3]);
        handoff.finish_batch();
        assert!(!readable(handoff.fileno()));
    }

    #[test]
    fn a_long_queue_rings_without_a_flush() {
        let handoff = Handoff::new().expect("eventfd");
        for item in 0..RING_AT_LENGTH {
            handoff.push(item);
        }
        assert!(readable(handoff.fileno()));
    }

    #[test]
    fn flush_with_nothing_queued_stays_quiet() {
        let handoff: Handoff<u8> = Handoff::new().expect("eventfd");
        handoff.flush();
        assert!(!readable(handoff.fileno()));
    }

    fn limits(max_queue: usize, max_wait_ms: u64) -> QueueLimits {
        QueueLimits {
            max_queue,
            max_wait: Duration::from_millis(max_wait_ms),
        }
    }

    #[test]
    fn refuses_beyond_max_queue_and_accepts_again_once_started() {
        let handoff = Handoff::with_limits(limits(2, 60_000)).expect("eventfd");
        let now = Tick::now();
        assert!(handoff.offer(1, now).is_ok());
        assert!(handoff.offer(2, now).is_ok());
        assert_eq!(handoff.offer(3, now), Err(3));
        assert_eq!(handoff.waiting(), 2);
        let mut batch = Vec::new();
        handoff.take_unstarted(&mut batch);
        // Taken is not started: still waiting, still full.
        assert_eq!(handoff.offer(4, now), Err(4));
        handoff.started(now);
        assert!(handoff.offer(5, now).is_ok());
    }

    #[test]
    fn refuses_while_the_consumer_is_stalled_but_never_when_nothing_waits() {
        let handoff = Handoff::with_limits(limits(100, 50)).expect("eventfd");
        let start = Tick::now();
        assert!(handoff.offer(1, start).is_ok());
        // Nothing started for longer than max_wait while one waits.
        let later = start + Duration::from_millis(80);
        assert_eq!(handoff.offer(2, later), Err(2));
        // Started after a long wait: the latest wait still says "overloaded"...
        let mut batch = Vec::new();
        handoff.take_unstarted(&mut batch);
        handoff.started(start - Duration::from_millis(200));
        // ... but with nothing waiting there is no reason to refuse.
        assert_eq!(handoff.waiting(), 0);
        assert!(handoff.offer(3, later).is_ok());
        assert_eq!(handoff.offer(4, later), Err(4));
        handoff.take_unstarted(&mut batch);
        handoff.started(Tick::now());
        assert!(handoff.offer(5, Tick::now()).is_ok());
    }

    #[test]
    fn a_consumer_that_reports_no_starts_never_leaks_waiting() {
        let handoff = Handoff::with_limits(limits(2, 50)).expect("eventfd");
        let mut batch = Vec::new();
        for round in 0..5 {
            assert!(handoff.offer(round, Tick::now()).is_ok());
            assert!(handoff.offer(round, Tick::now()).is_ok());
            batch.clear();
            handoff.take_batch(&mut batch);
            assert_eq!(handoff.waiting(), 0);
        }
        std::thread::sleep(Duration::from_millis(80));
        assert!(handoff.offer(9, Tick::now()).is_ok());
    }

    #[test]
    fn discarding_forgets_the_waiting() {
        let handoff = Handoff::with_limits(limits(1, 60_000)).expect("eventfd");
        assert!(handoff.offer(1, Tick::now()).is_ok());
        handoff.discard_pending();
        assert_eq!(handoff.waiting(), 0);
        assert!(handoff.offer(2, Tick::now()).is_ok());
    }

    #[test]
    fn a_closed_stream_rings_and_is_reported_once() {
        let handoff: Handoff<u8> = Handoff::new().expect("eventfd");
        assert!(!handoff.take_streams_closed());
        handoff.stream_closed();
        assert!(readable(handoff.fileno()));
        let mut batch = Vec::new();
        handoff.take_batch(&mut batch);
        assert!(handoff.take_streams_closed());
        assert!(!handoff.take_streams_closed());
    }

    #[test]
    fn shutdown_rings() {
        let handoff: Handoff<u8> = Handoff::new().expect("eventfd");
        handoff.request_shutdown();
        assert!(readable(handoff.fileno()));
        assert!(handoff.shutdown_requested());
    }
}
