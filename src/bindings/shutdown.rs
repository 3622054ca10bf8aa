//! The process-wide side of graceful shutdown: which server
//! `_server_shutdown()` stops, and why a server could not listen.

use std::sync::Arc;

use parking_lot::Mutex;
use pyo3::exceptions::PyRuntimeError;
use pyo3::prelude::*;

use crate::server::Lifecycle;

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
