//! The way back: answers from the Python side to the waiting connection tasks.
//!
//! Answering through each request's oneshot directly from the Python thread
//! would wake tokio once per response, and on a shared core the woken tokio
//! thread preempts Python after every answer. Instead answers are queued and a
//! single tokio task hands them out; while the Python side works through a
//! batch it *holds* the wake-up and releases it once, at the end.

use std::sync::atomic::{AtomicBool, Ordering};

use parking_lot::Mutex;
use tokio::sync::{oneshot, Notify};

use super::NativeResponse;

type Answer = (oneshot::Sender<NativeResponse>, NativeResponse);

/// Answers waiting to be delivered to their connections.
#[derive(Default)]
pub struct Completions {
    queue: Mutex<Vec<Answer>>,
    holding: AtomicBool,
    notify: Notify,
}

impl Completions {
    /// Queues an answer; wakes the delivering task unless a batch holds it.
    pub fn deliver(&self, reply: oneshot::Sender<NativeResponse>, response: NativeResponse) {
        self.queue.lock().push((reply, response));
        if !self.holding.load(Ordering::SeqCst) {
            self.notify.notify_one();
        }
    }

    /// Defers wake-ups until [`Completions::release`] (the start of a batch).
    pub fn hold(&self) {
        self.holding.store(true, Ordering::SeqCst);
    }

    /// Ends a batch: one wake-up for everything it answered.
    pub fn release(&self) {
        self.holding.store(false, Ordering::SeqCst);
        if !self.queue.lock().is_empty() {
            self.notify.notify_one();
        }
    }

    /// The delivering task: runs for the server's lifetime on the runtime.
    pub(super) async fn deliver_forever(&self) {
        let mut batch: Vec<Answer> = Vec::with_capacity(256);
        loop {
            self.notify.notified().await;
            std::mem::swap(&mut *self.queue.lock(), &mut batch);
            for (reply, response) in batch.drain(..) {
                // The client may have gone away meanwhile; nothing to do then.
                let _ = reply.send(response);
            }
        }
    }
}
