//! `InMemoryConnection`: the client end of an in-memory connection to a
//! server started with `Server.start_in_memory()` (used by `TestClient`).

use std::time::Duration;

use bytes::Bytes;
use pyo3::exceptions::{PyConnectionError, PyTimeoutError, PyValueError};
use pyo3::prelude::*;
use pyo3::types::PyBytes;

use crate::server::InMemoryClient;

#[pyclass(
    module = "hyperdjango._hyperdjango_native",
    name = "InMemoryConnection",
    frozen
)]
pub struct InMemoryConnection {
    client: InMemoryClient,
}

impl InMemoryConnection {
    pub fn new(client: InMemoryClient) -> Self {
        InMemoryConnection { client }
    }
}

#[pymethods]
impl InMemoryConnection {
    /// Queues `data` for the server (never blocks). `ConnectionError` once
    /// the write side is shut.
    fn send(&self, data: &[u8]) -> PyResult<()> {
        if self.client.send(Bytes::copy_from_slice(data)) {
            Ok(())
        } else {
            Err(PyConnectionError::new_err(
                "the connection's write side is closed",
            ))
        }
    }

    /// Ends the client's side after what was sent (the server reads the end of input).
    fn shutdown_write(&self) {
        self.client.shutdown_write();
    }

    /// Up to `max_bytes` from the server, waiting at most `timeout` seconds
    /// (without the GIL); `b""` once the server closed the connection.
    #[pyo3(signature = (max_bytes=65536, timeout=10.0))]
    fn receive<'py>(
        &self,
        py: Python<'py>,
        max_bytes: usize,
        timeout: f64,
    ) -> PyResult<Bound<'py, PyBytes>> {
        if !(timeout.is_finite() && timeout > 0.0) {
            return Err(PyValueError::new_err(format!(
                "timeout must be a positive number of seconds, not {timeout}"
            )));
        }
        let timeout = Duration::from_secs_f64(timeout);
        let data = py
            .detach(|| self.client.receive(max_bytes, timeout))
            .map_err(|error| match error.kind() {
                std::io::ErrorKind::TimedOut => PyTimeoutError::new_err(error.to_string()),
                _ => PyConnectionError::new_err(error.to_string()),
            })?;
        Ok(PyBytes::new(py, &data))
    }
}
