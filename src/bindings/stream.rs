//! `StreamSender`: the Python end of a streamed response body.

use bytes::Bytes;
use parking_lot::Mutex;
use pyo3::exceptions::{PyConnectionResetError, PyTypeError};
use pyo3::prelude::*;
use pyo3::types::{PyByteArray, PyBytes, PyString};
use tokio::sync::mpsc::{self, error::TrySendError};

use crate::server::StreamChunk;

/// Chunks a stream may have queued before its producer must wait: the
/// bound that keeps a slow client from making the server buffer a stream.
pub const STREAM_QUEUE: usize = 8;

/// Feeds a streamed response body (used by `hyperdjango._serving`).
#[pyclass(
    module = "hyperdjango._hyperdjango_native",
    name = "StreamSender",
    frozen
)]
pub struct StreamSender {
    sender: Mutex<Option<mpsc::Sender<StreamChunk>>>,
}

impl StreamSender {
    pub fn new(sender: mpsc::Sender<StreamChunk>) -> StreamSender {
        StreamSender {
            sender: Mutex::new(Some(sender)),
        }
    }
}

#[pymethods]
impl StreamSender {
    /// Queues one chunk (bytes or str). False when the queue is full (wait and
    /// retry); `ConnectionResetError` once the client has gone away.
    fn try_send(&self, chunk: &Bound<'_, PyAny>) -> PyResult<bool> {
        let data = if let Ok(bytes) = chunk.cast::<PyBytes>() {
            Bytes::copy_from_slice(bytes.as_bytes())
        } else if let Ok(text) = chunk.cast::<PyString>() {
            Bytes::copy_from_slice(text.to_str()?.as_bytes())
        } else if let Ok(array) = chunk.cast::<PyByteArray>() {
            Bytes::from(array.to_vec())
        } else {
            let type_name = chunk.get_type().name()?;
            return Err(PyTypeError::new_err(format!(
                "stream chunks must be bytes or str, not {type_name}"
            )));
        };
        let guard = self.sender.lock();
        let Some(sender) = guard.as_ref() else {
            return Err(PyConnectionResetError::new_err("the stream is closed"));
        };
        match sender.try_send(StreamChunk::Data(data)) {
            Ok(()) => Ok(true),
            Err(TrySendError::Full(_)) => Ok(false),
            Err(TrySendError::Closed(_)) => {
                Err(PyConnectionResetError::new_err("the client went away"))
            }
        }
    }

    /// True once the client has gone away (or the stream was closed).
    #[getter]
    fn closed(&self) -> bool {
        self.sender
            .lock()
            .as_ref()
            .is_none_or(mpsc::Sender::is_closed)
    }

    /// Ends the body normally.
    fn close(&self) {
        self.sender.lock().take();
    }

    /// Ends the body abnormally: the connection is cut so the client sees it incomplete.
    fn abort(&self) {
        if let Some(sender) = self.sender.lock().take() {
            let _ = sender.try_send(StreamChunk::Abort);
        }
    }
}
