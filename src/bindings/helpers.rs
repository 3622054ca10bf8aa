//! Python objects the native side needs from the pure-Python package
//! (`Headers`, `QueryDict`, `HTTPException`, `Response`, `json.loads`).
//!
//! `hyperdjango` installs them once at import through `_install_helpers`, so the
//! Python classes stay readable Python and the native code just calls them.

use pyo3::exceptions::{PyRuntimeError, PyValueError};
use pyo3::prelude::*;
use pyo3::sync::PyOnceLock;
use pyo3::types::{PyCFunction, PyDict, PyTuple};

pub struct Helpers {
    pub headers_class: Py<PyAny>,
    pub query_class: Py<PyAny>,
    pub http_exception: Py<PyAny>,
    pub response_class: Py<PyAny>,
    pub form_class: Py<PyAny>,
    pub uploaded_file_class: Py<PyAny>,
    pub json_loads: Py<PyAny>,
}

static HELPERS: PyOnceLock<Helpers> = PyOnceLock::new();

pub fn helpers(py: Python<'_>) -> PyResult<&Helpers> {
    HELPERS.get(py).ok_or_else(|| {
        PyRuntimeError::new_err(
            "hyperdjango native helpers are not installed; import hyperdjango first",
        )
    })
}

/// Registers the pure-Python helper classes (called by `hyperdjango/__init__.py`).
#[pyfunction]
pub fn _install_helpers(
    py: Python<'_>,
    headers_class: Py<PyAny>,
    query_class: Py<PyAny>,
    http_exception: Py<PyAny>,
    response_class: Py<PyAny>,
    form_class: Py<PyAny>,
    uploaded_file_class: Py<PyAny>,
) -> PyResult<()> {
    // Strict JSON (RFC 8259): `NaN`, `Infinity` and `-Infinity`, which
    // Python accepts, are refused, so a client cannot hand the application a
    // value that its own JSON answers cannot carry (a 500 on echo).
    let refuse_constant = PyCFunction::new_closure(
        py,
        None,
        None,
        |arguments: &Bound<'_, PyTuple>, _| -> PyResult<()> {
            let constant = arguments.get_item(0)?;
            Err(PyValueError::new_err(format!(
                "{constant} is not valid JSON (RFC 8259)"
            )))
        },
    )?;
    let loads = py.import("json")?.getattr("loads")?;
    let options = PyDict::new(py);
    options.set_item("parse_constant", refuse_constant)?;
    let json_loads = py
        .import("functools")?
        .getattr("partial")?
        .call((loads,), Some(&options))?
        .unbind();
    // A second install (e.g. importlib.reload) keeps the first set: the classes
    // already handed to live requests must stay the ones `isinstance` checks use.
    let _ = HELPERS.set(
        py,
        Helpers {
            headers_class,
            query_class,
            http_exception,
            response_class,
            form_class,
            uploaded_file_class,
            json_loads,
        },
    );
    Ok(())
}

/// Builds `HTTPException(status, detail)` as a `PyErr`.
pub fn http_error(py: Python<'_>, status: u16, detail: String) -> PyErr {
    match helpers(py).and_then(|helpers| helpers.http_exception.bind(py).call1((status, detail))) {
        Ok(exception) => PyErr::from_value(exception),
        Err(error) => error,
    }
}
