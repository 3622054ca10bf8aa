//! The process-wide side of graceful shutdown: which server
//! `_server_shutdown()` stops, and why a server could not listen.

use std::sync::Arc;
use std::time::Duration;

use parking_lot::Mutex;
use pyo3::exceptions::PyRuntimeError;
use pyo3::prelude::*;

use crate::server::{Handoff, Lifecycle, PendingRequest, Server, Stats};

/// The shutdown state of the server `app.run()` serves in this process (an
/// in-memory `TestClient` server is never it).
static RUNNING: Mutex<Option<Arc<Lifecycle>>> = Mutex::new(None);

pub(super) fn set_running(lifecycle: &Arc<Lifecycle>) {
    *RUNNING.lock() = Some(Arc::clone(lifecycle));
}

/// Forgets `lifecycle` if it is the running one (a newer server may be).
pub(super) fn clear_running(lifecycle: &Arc<Lifecycle>) {
    let mut running = RUNNING.lock();
    if running
        .as_ref()
        .is_some_and(|current| Arc::ptr_eq(current, lifecycle))
    {
        *running = None;
    }
}

/// Asks the running server to shut down gracefully, from any thread: it
/// stops accepting at once, finishes in-flight requests (the caller's too)
/// for up to `shutdown_timeout` seconds, runs the on_shutdown hooks, and
/// `run()` returns.
#[pyfunction]
pub fn _server_shutdown() -> PyResult<()> {
    match RUNNING.lock().as_ref() {
        Some(lifecycle) => {
            lifecycle.begin();
            Ok(())
        }
        None => Err(PyRuntimeError::new_err(
            "no hyperdjango server is running in this process",
        )),
    }
}

/// The shutdown steps both native servers (`HyperApp`'s and the WSGI one)
/// expose to Python, over the server they may be running.
pub(super) struct Running<'a>(pub(super) &'a Mutex<Option<Server>>);

impl Running<'_> {
    /// Begins a graceful shutdown (as SIGTERM or `_server_shutdown()` do);
    /// before the server started, the consumer is told directly.
    pub(super) fn request(&self, handoff: &Handoff<PendingRequest>) {
        match self.0.lock().as_ref() {
            Some(server) => {
                server.lifecycle().begin();
            }
            None => handoff.request_shutdown(),
        }
    }

    /// Stops accepting; connections close after their current request.
    pub(super) fn begin(&self) {
        if let Some(server) = self.0.lock().as_ref() {
            server.begin_shutdown();
        }
    }

    /// Waits (without the GIL) up to `timeout` seconds for connections to end, then stops.
    pub(super) fn finish(&self, py: Python<'_>, timeout: f64) {
        let server = self.0.lock().take();
        if let Some(mut server) = server {
            clear_running(server.lifecycle());
            py.detach(|| server.finish_shutdown(Duration::from_secs_f64(timeout.max(0.0))));
        }
    }

    /// True once the drain deadline (`shutdown_timeout` after the shutdown
    /// began) has passed: what is still in flight gets cut.
    pub(super) fn deadline_passed(&self) -> bool {
        self.0
            .lock()
            .as_ref()
            .is_some_and(|server| server.lifecycle().deadline_passed())
    }

    /// A count read from the running server's statistics (0 when none runs).
    pub(super) fn count(&self, read: impl FnOnce(&Stats) -> usize) -> usize {
        self.0
            .lock()
            .as_ref()
            .map_or(0, |server| read(server.stats()))
    }
}

/// Why binding failed, in words a user can act on.
pub(super) fn listen_failure(error: &std::io::Error) -> String {
    match error.kind() {
        std::io::ErrorKind::AddrInUse => {
            "the port is already in use (is another server running on it?)".into()
        }
        std::io::ErrorKind::PermissionDenied => {
            "permission denied (ports below 1024 need privileges)".into()
        }
        std::io::ErrorKind::AddrNotAvailable => {
            "that address does not belong to this machine".into()
        }
        _ => error.to_string(),
    }
}
