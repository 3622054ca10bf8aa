//! How the WSGI pool threads share the requests the server hands over.
//!
//! On one core, throughput is lost to wake-ups and GIL hand-offs, not to
//! Python: so the thread that takes a batch off the doorbell serves it in
//! sequence (its answers held back and delivered together, one tokio wake-up
//! per batch, as the native dispatcher does), and the other threads stay
//! asleep. They are there for slow views: a request left waiting in the ready
//! queue for [`STEAL_AFTER`] (its server thread is busy) is taken by an idle
//! thread. A slow view therefore delays the requests queued behind it by about
//! a millisecond, never by its own duration.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use parking_lot::{Condvar, Mutex};

use crate::server::Handoff;

/// How long a ready request waits for the busy thread before an idle one takes it.
pub const STEAL_AFTER: Duration = Duration::from_millis(1);

/// How a request was taken.
#[derive(Debug, PartialEq, Eq)]
pub enum Taken {
    /// Next in the batch this thread is serving: answers may be held until
    /// the batch is done.
    InBatch,
    /// Taken from a busy thread's queue: answer at once.
    Stolen,
}

pub struct Intake<T> {
    handoff: Arc<Handoff<T>>,
    ready: Mutex<VecDeque<(T, Instant)>>,
    arrived: Condvar,
    /// Held by the one thread watching the doorbell.
    watching: Mutex<()>,
    /// Requests taken and not finished (see [`Intake::finished`]).
    active: AtomicUsize,
}

impl<T> Intake<T> {
    pub fn new(handoff: Arc<Handoff<T>>) -> Self {
        Intake {
            handoff,
            ready: Mutex::new(VecDeque::new()),
            arrived: Condvar::new(),
            watching: Mutex::new(()),
            active: AtomicUsize::new(0),
        }
    }

    /// Marks one taken request as finished (its answer was delivered).
    pub fn finished(&self) {
        let _ = self
            .active
            .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |count| {
                count.checked_sub(1)
            });
    }

    /// Wakes every waiting thread (shutdown).
    pub fn wake_all(&self) {
        self.arrived.notify_all();
    }

    /// The next request for this thread, waiting up to `timeout`. `flush`
    /// delivers held-back answers: it runs before the thread would wait, and
    /// every [`STEAL_AFTER`] from the doorbell's watcher while any request is
    /// being served (so a slow view never holds the answers of its batch).
    pub fn wait(&self, timeout: Duration, flush: impl Fn()) -> Option<(T, Taken)> {
        if let Some((item, _)) = self.ready.lock().pop_front() {
            return Some(self.take(item, Taken::InBatch));
        }
        flush();
        let deadline = Instant::now() + timeout;
        loop {
            if let Some(item) = self.steal() {
                return Some(self.take(item, Taken::Stolen));
            }
            let now = Instant::now();
            if now >= deadline {
                return None;
            }
            let left = deadline - now;
            let Some(_watching) = self.watching.try_lock() else {
                let mut ready = self.ready.lock();
                let nap = if ready.is_empty() {
                    left.min(Duration::from_millis(250))
                } else {
                    STEAL_AFTER
                };
                self.arrived.wait_for(&mut ready, nap);
                continue;
            };
            let shutting_down = self.handoff.shutdown_requested();
            if !shutting_down {
                let busy = !self.ready.lock().is_empty();
                let nap = if busy {
                    STEAL_AFTER
                } else {
                    left.min(Duration::from_millis(250))
                };
                poll_readable(self.handoff.fileno(), nap);
            }
            let mut batch = Vec::new();
            // Each request still counts as waiting (overload check) until the
            // pool thread that takes it reports its start.
            self.handoff.take_unstarted(&mut batch);
            if !shutting_down {
                self.handoff.finish_batch();
            }
            if batch.is_empty() {
                if shutting_down {
                    // Draining: nothing more comes through the doorbell.
                    let mut ready = self.ready.lock();
                    if ready.is_empty() {
                        self.arrived
                            .wait_for(&mut ready, left.min(Duration::from_millis(50)));
                    }
                }
                continue;
            }
            let now = Instant::now();
            let mut items = batch.into_iter();
            let first = items.next();
            let mut ready = self.ready.lock();
            ready.extend(items.map(|item| (item, now)));
            drop(ready);
            if let Some(first) = first {
                // This thread leaves the doorbell to serve: hand the watch (and
                // with it the flushing of held answers) to an idle thread.
                drop(_watching);
                self.arrived.notify_one();
                return Some(self.take(first, Taken::InBatch));
            }
        }
    }

    fn take(&self, item: T, how: Taken) -> (T, Taken) {
        self.active.fetch_add(1, Ordering::SeqCst);
        (item, how)
    }

    /// The oldest ready request if it has waited long enough for its busy thread.
    fn steal(&self) -> Option<T> {
        let mut ready = self.ready.lock();
        let waited = ready.front().map(|(_, since)| since.elapsed())?;
        if waited >= STEAL_AFTER || self.active.load(Ordering::SeqCst) == 0 {
            return ready.pop_front().map(|(item, _)| item);
        }
        None
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
    fn one_thread_serves_a_batch_in_sequence_and_others_take_what_is_left() {
        let handoff = Arc::new(Handoff::new().expect("eventfd"));
        let intake = Intake::new(Arc::clone(&handoff));
        for item in 1..=3 {
            handoff.push(item);
        }
        handoff.flush();
        let flushed = AtomicUsize::new(0);
        let flush = || {
            flushed.fetch_add(1, Ordering::SeqCst);
        };
        let (first, how) = intake.wait(Duration::from_secs(1), flush).expect("item");
        assert_eq!((first, how), (1, Taken::InBatch));
        // The same thread continues the batch without flushing (its answers held).
        let before = flushed.load(Ordering::SeqCst);
        let (second, how) = intake.wait(Duration::from_secs(1), flush).expect("item");
        assert_eq!((second, how), (2, Taken::InBatch));
        assert_eq!(flushed.load(Ordering::SeqCst), before);
        // Another thread finishing its own work takes what is left at once.
        let (third, _) = std::thread::scope(|scope| {
            scope
                .spawn(|| intake.wait(Duration::from_secs(5), || {}).expect("stolen"))
                .join()
                .expect("thread")
        });
        assert_eq!(third, 3);
        intake.finished();
        intake.finished();
        intake.finished();
        assert!(intake.wait(Duration::from_millis(20), || {}).is_none());
    }
}
