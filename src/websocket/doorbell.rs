//! The wake-up of one connection's task by other threads (the application
//! queueing a message, a publication, the handler catching up on input).
//!
//! A single waiter and a sticky flag: ringing while the task is busy (or
//! ringing ten times) costs one atomic swap and leaves one wake-up for its
//! next poll. `tokio::sync::Notify` does the same for any number of waiters,
//! with a waiter list to lock on every poll and every notification: on the
//! per-message path that was measurable.

use std::sync::atomic::{AtomicBool, Ordering};
use std::task::{Context, Poll, Waker};

use parking_lot::Mutex;

#[derive(Default)]
pub struct Doorbell {
    rung: AtomicBool,
    waker: Mutex<Option<Waker>>,
}

impl Doorbell {
    /// Wakes the task polling [`Doorbell::poll_rung`] (now, or on its next
    /// poll if it is not waiting). From any thread.
    pub fn ring(&self) {
        if !self.rung.swap(true, Ordering::AcqRel) {
            if let Some(waker) = self.waker.lock().as_ref() {
                waker.wake_by_ref();
            }
        }
    }

    /// Ready once for any number of rings since the last time it was ready.
    pub fn poll_rung(&self, cx: &mut Context<'_>) -> Poll<()> {
        if self.take() {
            return Poll::Ready(());
        }
        {
            let mut waker = self.waker.lock();
            if !waker
                .as_ref()
                .is_some_and(|waker| waker.will_wake(cx.waker()))
            {
                *waker = Some(cx.waker().clone());
            }
        }
        // A ring between the first check and the registration found no (or
        // the old) waker: its flag is seen here.
        if self.take() {
            Poll::Ready(())
        } else {
            Poll::Pending
        }
    }

    fn take(&self) -> bool {
        self.rung.load(Ordering::Acquire) && self.rung.swap(false, Ordering::AcqRel)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;
    use std::task::Wake;

    struct Counter(std::sync::atomic::AtomicUsize);

    impl Wake for Counter {
        fn wake(self: Arc<Self>) {
            self.0.fetch_add(1, Ordering::SeqCst);
        }
    }

    fn counter() -> (Arc<Counter>, Waker) {
        let counter = Arc::new(Counter(Default::default()));
        (Arc::clone(&counter), Waker::from(counter))
    }

    #[test]
    fn a_ring_before_the_poll_is_kept() {
        let bell = Doorbell::default();
        let (_, waker) = counter();
        let mut cx = Context::from_waker(&waker);
        bell.ring();
        bell.ring();
        assert!(bell.poll_rung(&mut cx).is_ready());
        // Two rings, one wake-up.
        assert!(bell.poll_rung(&mut cx).is_pending());
    }

    #[test]
    fn a_ring_wakes_the_waiting_task_once_until_it_polls_again() {
        let bell = Doorbell::default();
        let (count, waker) = counter();
        let mut cx = Context::from_waker(&waker);
        assert!(bell.poll_rung(&mut cx).is_pending());
        bell.ring();
        bell.ring();
        assert_eq!(count.0.load(Ordering::SeqCst), 1);
        assert!(bell.poll_rung(&mut cx).is_ready());
        assert!(bell.poll_rung(&mut cx).is_pending());
        bell.ring();
        assert_eq!(count.0.load(Ordering::SeqCst), 2);
    }

    /// Wakes a parked thread; a new one each round, as a task that moved
    /// between threads would bring.
    struct Unparker {
        thread: std::thread::Thread,
        woken: AtomicBool,
    }

    impl Wake for Unparker {
        fn wake(self: Arc<Self>) {
            self.woken.store(true, Ordering::SeqCst);
            self.thread.unpark();
        }
    }

    #[test]
    fn no_ring_from_another_thread_is_lost() {
        // Ping-pong: each ring races the poll that registers a new waker;
        // a lost wake-up leaves the poller parked until the time-out.
        const ROUNDS: usize = 100_000;
        let bell = Arc::new(Doorbell::default());
        let seen = Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let ringer = {
            let (bell, seen) = (Arc::clone(&bell), Arc::clone(&seen));
            std::thread::spawn(move || {
                for round in 0..ROUNDS {
                    while seen.load(Ordering::SeqCst) < round {
                        std::hint::spin_loop();
                    }
                    bell.ring();
                }
            })
        };
        for round in 0..ROUNDS {
            let unparker = Arc::new(Unparker {
                thread: std::thread::current(),
                woken: AtomicBool::new(false),
            });
            let waker = Waker::from(Arc::clone(&unparker));
            let mut cx = Context::from_waker(&waker);
            let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
            while bell.poll_rung(&mut cx).is_pending() {
                while !unparker.woken.swap(false, Ordering::SeqCst) {
                    let now = std::time::Instant::now();
                    assert!(now < deadline, "the ring of round {round} was lost");
                    std::thread::park_timeout(deadline - now);
                }
            }
            seen.store(round + 1, Ordering::SeqCst);
        }
        ringer.join().expect("ringer");
    }
}
