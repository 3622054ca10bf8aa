//! Graceful shutdown: the two moments every connection task can observe.
//!
//! 1. **Draining** (`stop_receiver`): a signal, `_server_shutdown()` or
//!    `Server::begin_shutdown` began the shutdown. The accept loop ends and
//!    drops the listener (new connections are refused), idle keep-alive
//!    connections close, a request in flight gets its answer with
//!    `Connection: close`. Subsystems with long-lived connections hook in here
//!    (a WebSocket sends its 1001 "going away" close when this fires).
//! 2. **Deadline** (`deadline_receiver`): `shutdown_timeout` after draining
//!    began. What is still streaming ends cleanly now: a chunked body gets its
//!    last chunk, so the client sees a complete response, not a cut.
//!
//! Both are `watch` channels: a task checks the current value without waiting
//! and can also wait for the change, and nothing is lost to a race between
//! the two.

use std::path::PathBuf;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

use parking_lot::Mutex;
use tokio::sync::watch;

use super::signals::Signal;
use super::{Handoff, PendingRequest, Shared};

/// Exit status of a forced stop (a second SIGINT): 128 + SIGINT, as a shell reports it.
pub const FORCED_EXIT_STATUS: i32 = 130;

/// The shutdown state of one server.
pub struct Lifecycle {
    stop: watch::Sender<bool>,
    deadline: watch::Sender<bool>,
    handoff: Arc<Handoff<PendingRequest>>,
    timeout: Duration,
    /// Removed on a forced exit, which skips the Python side's cleanup.
    pid_file: Mutex<Option<PathBuf>>,
}

impl Lifecycle {
    pub fn new(handoff: Arc<Handoff<PendingRequest>>, timeout: Duration) -> Lifecycle {
        Lifecycle {
            stop: watch::channel(false).0,
            deadline: watch::channel(false).0,
            handoff,
            timeout,
            pid_file: Mutex::new(None),
        }
    }

    /// Fires (becomes `true`) when draining begins.
    pub fn stop_receiver(&self) -> watch::Receiver<bool> {
        self.stop.subscribe()
    }

    /// Fires when the drain deadline passes.
    pub fn deadline_receiver(&self) -> watch::Receiver<bool> {
        self.deadline.subscribe()
    }

    /// Begins a graceful shutdown (idempotent) and wakes the application side.
    /// Returns whether this call began it.
    pub fn begin(&self) -> bool {
        let first = self
            .stop
            .send_if_modified(|stopping| !std::mem::replace(stopping, true));
        self.handoff.request_shutdown();
        first
    }

    pub fn draining(&self) -> bool {
        *self.stop.borrow()
    }

    pub fn deadline_passed(&self) -> bool {
        *self.deadline.borrow()
    }

    /// Ends the drain now, as if its deadline had passed.
    pub fn end_drain(&self) {
        self.begin();
        self.deadline.send_replace(true);
    }

    pub fn timeout(&self) -> Duration {
        self.timeout
    }

    /// The PID file to remove if the process is forced to exit.
    pub fn set_pid_file(&self, path: Option<PathBuf>) {
        *self.pid_file.lock() = path;
    }

    /// Runs on the server's runtime: once draining begins, waits out the
    /// timeout and announces the deadline.
    pub(super) async fn enforce_deadline(self: Arc<Self>) {
        let mut stop = self.stop_receiver();
        super::connection::stopping(&mut stop).await;
        tokio::time::sleep(self.timeout).await;
        self.deadline.send_replace(true);
    }

    /// What a caught signal does: the first SIGTERM or SIGINT begins a
    /// graceful shutdown; a repeated SIGTERM changes nothing (process managers
    /// repeat it); a SIGINT while draining (Ctrl+C twice) stops at once.
    pub fn on_signal(&self, signal: Signal) {
        if self.begin() {
            eprintln!(
                "hyperdjango: {} received: shutting down gracefully (in-flight requests get up \
                 to {:.3} s; Ctrl+C again stops at once)",
                signal.name(),
                self.timeout.as_secs_f64(),
            );
            return;
        }
        match signal {
            Signal::Terminate => eprintln!("hyperdjango: SIGTERM again: still draining"),
            Signal::Interrupt => self.force_exit(),
        }
    }

    /// Stops the process now, from any thread, even while the Python thread
    /// is busy: the PID file is removed, in-flight requests are cut, no hooks run.
    fn force_exit(&self) -> ! {
        if let Some(path) = self.pid_file.lock().as_ref() {
            let _ = std::fs::remove_file(path);
        }
        eprintln!("hyperdjango: interrupted again: stopping at once");
        // SAFETY: _exit ends the process without running atexit handlers or
        // destructors, which could deadlock against the Python thread
        // mid-request; there is nothing left to keep consistent.
        unsafe { libc::_exit(FORCED_EXIT_STATUS) }
    }
}

/// Counts a request as open from its head until the last byte of its
/// answer (a streamed body to its end) or until its client left: what a
/// graceful shutdown waits for (`Stats::open_requests`).
pub(super) struct OpenRequest<'a>(&'a Shared);

impl<'a> OpenRequest<'a> {
    pub(super) fn enter(shared: &'a Shared) -> Self {
        shared.stats.open_requests.fetch_add(1, Ordering::SeqCst);
        OpenRequest(shared)
    }
}

impl Drop for OpenRequest<'_> {
    fn drop(&mut self) {
        self.0.stats.open_requests.fetch_sub(1, Ordering::SeqCst);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lifecycle(timeout: Duration) -> Arc<Lifecycle> {
        Arc::new(Lifecycle::new(
            Arc::new(Handoff::new().expect("eventfd")),
            timeout,
        ))
    }

    #[test]
    fn begin_is_idempotent_and_wakes_the_consumer() {
        let lifecycle = lifecycle(Duration::from_secs(1));
        let mut stop = lifecycle.stop_receiver();
        assert!(!lifecycle.draining());
        assert!(lifecycle.begin());
        assert!(!lifecycle.begin());
        assert!(lifecycle.draining());
        assert!(*stop.borrow_and_update());
        assert!(lifecycle.handoff.shutdown_requested());
        assert!(!lifecycle.deadline_passed());
    }

    #[test]
    fn the_deadline_follows_the_timeout_after_draining_begins() {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_time()
            .start_paused(true)
            .build()
            .expect("runtime");
        let lifecycle = lifecycle(Duration::from_secs(30));
        runtime.block_on(async {
            let enforcing = tokio::spawn(Arc::clone(&lifecycle).enforce_deadline());
            tokio::time::sleep(Duration::from_secs(100)).await;
            // Nothing happens before draining begins.
            assert!(!lifecycle.deadline_passed());
            lifecycle.begin();
            tokio::time::sleep(Duration::from_secs(29)).await;
            assert!(!lifecycle.deadline_passed());
            tokio::time::sleep(Duration::from_secs(2)).await;
            assert!(lifecycle.deadline_passed());
            enforcing.await.expect("task");
        });
    }

    #[test]
    fn end_drain_passes_the_deadline_at_once() {
        let lifecycle = lifecycle(Duration::from_secs(30));
        let mut deadline = lifecycle.deadline_receiver();
        lifecycle.end_drain();
        assert!(lifecycle.draining());
        assert!(*deadline.borrow_and_update());
    }
}
