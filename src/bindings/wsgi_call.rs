//! Calling the WSGI application for one request, natively.
//!
//! `WsgiServer.serve` runs this for every request a pool thread takes: the
//! environ is built, the application called with a native `start_response`
//! (`StartResponse`), and the common answer — a list of bytes after
//! `start_response`, with no `write()` — goes straight back to the I/O
//! thread. Everything else (iterators, `wsgi.file_wrapper`, `write()`,
//! failures, `close()`) is the Python runner's (`hyperdjango.wsgi.WSGIRunner`
//! `.finish` and `.fail`), so the rules live in one readable place and only
//! the hot path is native. It saves the Python frames, the Python
//! `start_response` object and its status parsing on every request.

use bytes::Bytes;
use pyo3::exceptions::{PyException, PyRuntimeError, PyTypeError, PyValueError};
use pyo3::intern;
use pyo3::prelude::*;
use pyo3::types::{PyBytes, PyDict, PyList, PyString};

use super::wsgi::WsgiExchange;

/// `start_response` for one request (PEP 3333: `exc_info` and `write()`).
///
/// The Python runner reads `status` (the code as an int, None until called),
/// `headers` (the list given), `sent` (the head has gone: a later error can
/// only cut the connection) and `written` (what `write()` was given).
#[pyclass(module = "hyperdjango._hyperdjango_native", name = "StartResponse")]
#[derive(Default)]
pub struct StartResponse {
    #[pyo3(get)]
    status: Option<u16>,
    headers: Option<Py<PyList>>,
    #[pyo3(get, set)]
    sent: bool,
    written: Option<Py<PyList>>,
}

#[pymethods]
impl StartResponse {
    #[pyo3(signature = (status, headers, exc_info=None))]
    fn __call__<'py>(
        slf: &Bound<'py, Self>,
        status: &Bound<'py, PyAny>,
        headers: &Bound<'py, PyAny>,
        exc_info: Option<&Bound<'py, PyAny>>,
    ) -> PyResult<Bound<'py, PyAny>> {
        let py = slf.py();
        {
            let mut this = slf.borrow_mut();
            match exc_info.filter(|info| info.is_truthy().unwrap_or(true)) {
                Some(info) if this.sent => {
                    // The head is out: re-raise the application's error (PEP 3333).
                    let error = info.get_item(1)?;
                    let error =
                        error.call_method1(intern!(py, "with_traceback"), (info.get_item(2)?,))?;
                    return Err(PyErr::from_value(error));
                }
                Some(_) => {}
                None if this.status.is_some() => {
                    return Err(PyRuntimeError::new_err(
                        "start_response was already called (pass exc_info to replace it)",
                    ))
                }
                None => {}
            }
            this.status = Some(status_code(status)?);
            let list = match headers.cast_exact::<PyList>() {
                Ok(list) => list.get_slice(0, list.len()),
                Err(_) => PyList::new(py, headers.try_iter()?.collect::<PyResult<Vec<_>>>()?)?,
            };
            this.headers = Some(list.unbind());
        }
        slf.getattr(intern!(py, "write"))
    }

    /// The headers given to `start_response` (empty before it is called).
    #[getter]
    fn headers<'py>(&self, py: Python<'py>) -> Bound<'py, PyList> {
        match &self.headers {
            Some(list) => list.bind(py).clone(),
            None => PyList::empty(py),
        }
    }

    /// What the application passed to `write()`, in order.
    #[getter]
    fn written<'py>(&self, py: Python<'py>) -> Bound<'py, PyList> {
        match &self.written {
            Some(list) => list.bind(py).clone(),
            None => PyList::empty(py),
        }
    }

    /// The `write()` callable `start_response` returns (the legacy push API).
    fn write(&mut self, py: Python<'_>, data: &Bound<'_, PyAny>) -> PyResult<()> {
        if self.status.is_none() {
            return Err(PyRuntimeError::new_err(
                "write() called before start_response",
            ));
        }
        let chunk = PyBytes::new(py, &data.extract::<Vec<u8>>()?);
        match &self.written {
            Some(list) => list.bind(py).append(chunk),
            None => {
                self.written = Some(PyList::new(py, [chunk])?.unbind());
                Ok(())
            }
        }
    }
}

/// The code of a WSGI status line (`"200 OK"` → 200).
fn status_code(status: &Bound<'_, PyAny>) -> PyResult<u16> {
    let text = status.cast::<PyString>().map_err(|_| {
        PyTypeError::new_err(format!(
            "WSGI status must be a str such as '200 OK', not {}",
            type_name(status)
        ))
    })?;
    let text = text.to_str()?;
    let code = text.split(' ').next().unwrap_or("");
    match code.as_bytes() {
        [a, b, c] if [a, b, c].iter().all(|digit| digit.is_ascii_digit()) => {
            Ok(u16::from(a - b'0') * 100 + u16::from(b - b'0') * 10 + u16::from(c - b'0'))
        }
        _ => Err(PyValueError::new_err(format!(
            "WSGI status must look like '200 OK', not {}",
            shown(status)
        ))),
    }
}

/// Runs the application for one request and answers it: natively for a list
/// body, through `runner.finish` for anything else and `runner.fail` when
/// the application (or an invalid answer) raises.
pub fn answer(
    runner: &Bound<'_, PyAny>,
    application: &Bound<'_, PyAny>,
    environ: &Bound<'_, PyDict>,
    exchange: &Bound<'_, WsgiExchange>,
) -> PyResult<()> {
    let py = runner.py();
    let start = Bound::new(py, StartResponse::default())?;
    let failed = |error: PyErr| -> PyResult<()> {
        if !error.is_instance_of::<PyException>(py) {
            return Err(error); // KeyboardInterrupt, SystemExit: not the view's failure
        }
        runner
            .call_method1(
                intern!(py, "fail"),
                (environ, exchange, &start, error.into_value(py)),
            )
            .map(drop)
    };
    let result = match application.call1((environ, &start)) {
        Ok(result) => result,
        Err(error) => return failed(error),
    };
    if let Ok(list) = result.cast_exact::<PyList>() {
        let ready = {
            let this = start.borrow();
            match (this.status, &this.headers) {
                (Some(status), Some(headers)) if this.written.is_none() => {
                    Some((status, headers.clone_ref(py)))
                }
                _ => None,
            }
        };
        if let Some((status, headers)) = ready {
            let sent = joined(list)
                .and_then(|body| exchange.get().respond_bytes(status, headers.bind(py), body));
            // Only an answer that went out is `sent`: a broken one is still a 500.
            start.borrow_mut().sent = sent.is_ok();
            return sent.or_else(failed);
        }
    }
    runner
        .call_method1(intern!(py, "finish"), (environ, exchange, &start, &result))
        .map(drop)
}

/// The bytes of a list body: one item copied once, several joined into one
/// buffer that the answer takes over.
fn joined(list: &Bound<'_, PyList>) -> PyResult<Bytes> {
    let mut body = Vec::new();
    for item in list.iter() {
        let bytes = item.cast::<PyBytes>().map_err(|_| {
            PyTypeError::new_err(format!(
                "a WSGI body must be bytes, not {}",
                type_name(&item)
            ))
        })?;
        if list.len() == 1 {
            return Ok(Bytes::copy_from_slice(bytes.as_bytes()));
        }
        body.extend_from_slice(bytes.as_bytes());
    }
    Ok(Bytes::from(body))
}

fn type_name(value: &Bound<'_, PyAny>) -> String {
    value
        .get_type()
        .name()
        .map_or_else(|_| "?".into(), |name| name.to_string())
}

/// `repr(value)` for an error message (`?` if even that fails).
pub(super) fn shown(value: &Bound<'_, PyAny>) -> String {
    value
        .repr()
        .map_or_else(|_| "?".into(), |repr| repr.to_string())
}
