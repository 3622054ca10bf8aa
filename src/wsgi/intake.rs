//! How the WSGI pool threads share the requests the server hands over.
//!
//! On one core, throughput is lost to wake-ups and GIL hand-offs, not to
//! Python, so one thread at a time *leads*: it takes requests straight from
//! the hand-off queue and serves them in sequence, its answers held back and
//! delivered together (one tokio wake-up per batch, as the native dispatcher
//! does), then takes the next batch, and sleeps on the doorbell only when
//! nothing is queued. Per batch that is one wake-up of tokio and one of the
//! leader, and the GIL never changes hands. The other threads sleep.
//!
//! They are there for slow views: one follower (the *sentinel*) looks every
//! [`STEAL_AFTER`] while the leader serves; if the leader's current view has
//! run that long and requests are waiting, the sentinel takes over the lead
//! (and the rest of the batch), and the old leader rejoins the followers when
//! its view returns. A slow view therefore delays the requests queued behind
//! it by a couple of milliseconds, never by its own duration.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::thread::{self, ThreadId};
use std::time::{Duration, Instant};

use parking_lot::{Condvar, Mutex};

use crate::server::Handoff;

/// How long the leader's current view may run, with requests waiting, before
/// a follower takes over the lead.
pub const STEAL_AFTER: Duration = Duration::from_millis(2);

/// The longest a waiting thread sleeps before it looks again (shutdown, idle).
const IDLE_NAP: Duration = Duration::from_millis(250);

struct State<T> {
    /// The leader's batch, not yet started.
    ready: VecDeque<T>,
    leader: Option<ThreadId>,
    /// A follower is on timed watch over the leader.
    sentinel: bool,
    /// The sentinel sleeps long (nothing served lately): the leader wakes it
    /// when it starts serving again.
    sentinel_dozing: bool,
}

pub struct Intake<T> {
    handoff: Arc<Handoff<T>>,
    state: Mutex<State<T>>,
    followers: Condvar,
    /// Where the sentinel sleeps (so the leader can wake exactly it).
    sentinel: Condvar,
    /// Microseconds since `epoch` (plus one) at which the leader started its
    /// current request; 0 while the leader is not in a view.
    leader_started: AtomicU64,
    /// When the leader last started a request (same clock).
    last_start: AtomicU64,
    epoch: Instant,
}

impl<T> Intake<T> {
    pub fn new(handoff: Arc<Handoff<T>>) -> Self {
        Intake {
            handoff,
            state: Mutex::new(State {
                ready: VecDeque::new(),
                leader: None,
                sentinel: false,
                sentinel_dozing: false,
            }),
            followers: Condvar::new(),
            sentinel: Condvar::new(),
            leader_started: AtomicU64::new(0),
            last_start: AtomicU64::new(0),
            epoch: Instant::now(),
        }
    }

    /// Wakes every waiting thread (shutdown).
    pub fn wake_all(&self) {
        self.followers.notify_all();
        self.sentinel.notify_all();
    }

    fn stamp(&self) -> u64 {
        self.epoch.elapsed().as_micros() as u64 + 1
    }

    /// How long the leader has been in its current view (None: not in one).
    fn leader_busy_for(&self) -> Option<Duration> {
        match self.leader_started.load(Ordering::Acquire) {
            0 => None,
            started => Some(Duration::from_micros(self.stamp().saturating_sub(started))),
        }
    }

    /// The next request for this thread, waiting up to `timeout` (None after
    /// it). `flush` delivers held-back answers: the leader runs it when its
    /// batch is done, a follower when it takes over or finds the leader stuck.
    pub fn wait(&self, timeout: Duration, flush: impl Fn()) -> Option<T> {
        let me = thread::current().id();
        // Coarse: a wait of a quarter second may end a tick early (no clock read per request).
        let deadline = crate::clock::coarse_instant() + timeout;
        let mut state = self.state.lock();
        if state.leader == Some(me) {
            // Back from a view.
            self.leader_started.store(0, Ordering::Release);
        } else {
            // Back from a view that lost the lead (or first call): its answer
            // may be held behind the current batch.
            drop(state);
            flush();
            state = self.state.lock();
        }
        loop {
            if state.leader.is_none() {
                state.leader = Some(me);
            }
            if state.leader == Some(me) {
                if let Some(item) = state.ready.pop_front() {
                    return Some(self.start(state, item));
                }
                drop(state);
                flush();
                if let Some(item) = self.take_batch() {
                    return Some(self.start(self.state.lock(), item));
                }
                let left = deadline.saturating_duration_since(Instant::now());
                if left.is_zero() {
                    self.resign(me);
                    return None;
                }
                if self.handoff.shutdown_requested() {
                    // Draining: nothing more comes through the doorbell.
                    let mut state = self.state.lock();
                    if state.ready.is_empty() {
                        self.followers
                            .wait_for(&mut state, left.min(Duration::from_millis(50)));
                    }
                } else {
                    poll_readable(self.handoff.fileno(), left.min(IDLE_NAP));
                }
                state = self.state.lock();
                continue;
            }
            // A follower.
            let waiting = !state.ready.is_empty() || self.handoff.waiting() > 0;
            let busy_for = self.leader_busy_for();
            if busy_for.is_some_and(|busy| busy >= STEAL_AFTER) {
                if waiting {
                    // The leader is stuck in a slow view: take over the lead
                    // (and its batch), and deliver what its batch answered.
                    state.leader = Some(me);
                    self.leader_started.store(0, Ordering::Release);
                    drop(state);
                    // Another follower becomes the sentinel.
                    self.followers.notify_one();
                    flush();
                    state = self.state.lock();
                    continue;
                }
                // Nothing waits, but answers may be held behind the slow view.
                drop(state);
                flush();
                state = self.state.lock();
            }
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return None;
            }
            if state.sentinel {
                self.followers.wait_for(&mut state, left.min(IDLE_NAP));
            } else {
                state.sentinel = true;
                let idle_for = self
                    .stamp()
                    .saturating_sub(self.last_start.load(Ordering::Relaxed));
                let dozing = busy_for.is_none() && idle_for > IDLE_NAP.as_micros() as u64;
                state.sentinel_dozing = dozing;
                let nap = if dozing { IDLE_NAP } else { STEAL_AFTER };
                self.sentinel.wait_for(&mut state, left.min(nap));
                state.sentinel = false;
                state.sentinel_dozing = false;
            }
        }
    }

    /// The leader starts `item`: wakes a dozing sentinel to watch over it.
    fn start(&self, mut state: parking_lot::MutexGuard<'_, State<T>>, item: T) -> T {
        let now = self.stamp();
        self.leader_started.store(now, Ordering::Release);
        self.last_start.store(now, Ordering::Relaxed);
        if state.sentinel_dozing {
            state.sentinel_dozing = false;
            drop(state);
            self.sentinel.notify_one();
        }
        item
    }

    /// Takes what is queued into the ready queue; returns the first.
    fn take_batch(&self) -> Option<T> {
        let mut batch = Vec::new();
        // Each request still counts as waiting (overload check) until the
        // pool thread that takes it reports its start.
        self.handoff.take_unstarted(&mut batch);
        if !self.handoff.shutdown_requested() {
            self.handoff.finish_batch();
        }
        let mut items = batch.into_iter();
        let first = items.next()?;
        self.state.lock().ready.extend(items);
        Some(first)
    }

    /// Gives up the lead (this thread stops waiting): a follower takes it.
    fn resign(&self, me: ThreadId) {
        let mut state = self.state.lock();
        if state.leader == Some(me) {
            state.leader = None;
            drop(state);
            self.followers.notify_one();
            self.sentinel.notify_one();
        }
    }
}

fn poll_readable(fd: i32, timeout: Duration) {
    let mut poll_fd = libc::pollfd {
        fd,
        events: libc::POLLIN,
        revents: 0,
    };
    let millis = i32::try_from(timeout.as_millis())
        .unwrap_or(i32::MAX)
        .max(1);
    // SAFETY: one valid pollfd on the stack for the duration of the call.
    unsafe {
        libc::poll(&mut poll_fd, 1, millis);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_leader_serves_a_batch_in_sequence_and_flushes_at_its_end() {
        let handoff = Arc::new(Handoff::new().expect("eventfd"));
        let intake = Intake::new(Arc::clone(&handoff));
        for item in 1..=3 {
            handoff.push(item);
        }
        handoff.flush();
        let flushed = std::sync::atomic::AtomicUsize::new(0);
        let flush = || {
            flushed.fetch_add(1, Ordering::SeqCst);
        };
        assert_eq!(intake.wait(Duration::from_secs(1), flush), Some(1));
        let before = flushed.load(Ordering::SeqCst);
        // The rest of the batch: no flush in between (answers held).
        assert_eq!(intake.wait(Duration::from_secs(1), flush), Some(2));
        assert_eq!(intake.wait(Duration::from_secs(1), flush), Some(3));
        assert_eq!(flushed.load(Ordering::SeqCst), before);
        // A request queued meanwhile is taken straight from the hand-off,
        // after the batch's answers were flushed.
        handoff.push(4);
        assert_eq!(intake.wait(Duration::from_secs(1), flush), Some(4));
        assert_eq!(flushed.load(Ordering::SeqCst), before + 1);
        assert_eq!(intake.wait(Duration::from_millis(20), flush), None);
    }

    #[test]
    fn a_follower_takes_over_from_a_leader_stuck_in_a_slow_view() {
        let handoff = Arc::new(Handoff::new().expect("eventfd"));
        let intake = Intake::new(Arc::clone(&handoff));
        for item in 1..=3 {
            handoff.push(item);
        }
        handoff.flush();
        // This thread leads and "runs a slow view" for item 1 (never returns to wait).
        assert_eq!(intake.wait(Duration::from_secs(1), || {}), Some(1));
        let taken = std::thread::scope(|scope| {
            scope
                .spawn(|| {
                    let second = intake.wait(Duration::from_secs(5), || {});
                    let third = intake.wait(Duration::from_secs(5), || {});
                    (second, third)
                })
                .join()
                .expect("thread")
        });
        assert_eq!(taken, (Some(2), Some(3)));
        // The old leader is back: it follows, and leads again once the lead is free.
        handoff.push(4);
        handoff.flush();
        assert_eq!(intake.wait(Duration::from_secs(5), || {}), Some(4));
    }
}
