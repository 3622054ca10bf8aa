//! Python object -> JSON bytes, written straight into the response buffer.
//!
//! Matches `json.dumps(obj, ensure_ascii=False, allow_nan=False)` on the types
//! handlers return (dict, list, tuple, str, int, float, bool, None and their
//! subclasses); anything else is a clear `TypeError`, like the stdlib.

use pyo3::exceptions::{PyTypeError, PyValueError};
use pyo3::prelude::*;
use pyo3::types::{PyBool, PyDict, PyFloat, PyInt, PyList, PyString, PyTuple};

const MAX_DEPTH: u32 = crate::http::json::MAX_JSON_DEPTH as u32;

thread_local! {
    /// Where answers are serialised before being copied into a body of
    /// exactly their size: a body from a `Vec` with spare capacity would
    /// cost a second allocation (`Bytes`' shared header), freed remotely on
    /// the I/O thread like the first.
    static SCRATCH: std::cell::RefCell<Vec<u8>> = const { std::cell::RefCell::new(Vec::new()) };
}

/// Scratch kept between answers; one grown past this is given back.
const SCRATCH_KEEP: usize = 64 * 1024;

/// Serialises `value` as a JSON body of exactly its size.
pub fn json_body(value: &Bound<'_, PyAny>) -> PyResult<bytes::Bytes> {
    SCRATCH.with(|scratch| {
        // Busy only if serialising ran Python code that serialises again.
        let Ok(mut out) = scratch.try_borrow_mut() else {
            let mut out = Vec::with_capacity(64);
            write_json(value, &mut out)?;
            return Ok(bytes::Bytes::from(out));
        };
        out.clear();
        let written = write_json(value, &mut out);
        let body = written.map(|()| bytes::Bytes::copy_from_slice(&out));
        if out.capacity() > SCRATCH_KEEP {
            *out = Vec::new();
        }
        body
    })
}

/// Serialises `value` as JSON, appending to `out`.
pub fn write_json(value: &Bound<'_, PyAny>, out: &mut Vec<u8>) -> PyResult<()> {
    write_value(value, out, 0)
}

fn write_value(value: &Bound<'_, PyAny>, out: &mut Vec<u8>, depth: u32) -> PyResult<()> {
    if depth > MAX_DEPTH {
        return Err(PyValueError::new_err(
            "JSON value is nested too deeply (over 255 levels)",
        ));
    }
    // Exact-type checks first: they are pointer compares, and cover nearly everything.
    if let Ok(text) = value.cast_exact::<PyString>() {
        write_py_string(text, out);
    } else if let Ok(dict) = value.cast::<PyDict>() {
        write_dict(dict, out, depth)?;
    } else if let Ok(list) = value.cast::<PyList>() {
        out.push(b'[');
        for (index, item) in list.iter().enumerate() {
            if index > 0 {
                out.push(b',');
            }
            write_value(&item, out, depth + 1)?;
        }
        out.push(b']');
    } else if value.is_none() {
        out.extend_from_slice(b"null");
    } else if let Ok(flag) = value.cast::<PyBool>() {
        out.extend_from_slice(if flag.is_true() { b"true" } else { b"false" });
    } else if let Ok(number) = value.cast::<PyInt>() {
        write_int(number, out)?;
    } else if let Ok(number) = value.cast::<PyFloat>() {
        write_float(number.value(), out)?;
    } else if let Ok(text) = value.cast::<PyString>() {
        write_py_string(text, out);
    } else if let Ok(tuple) = value.cast::<PyTuple>() {
        out.push(b'[');
        for (index, item) in tuple.iter().enumerate() {
            if index > 0 {
                out.push(b',');
            }
            write_value(&item, out, depth + 1)?;
        }
        out.push(b']');
    } else {
        let type_name = value.get_type().name()?;
        return Err(PyTypeError::new_err(format!(
            "Object of type {type_name} is not JSON serializable"
        )));
    }
    Ok(())
}

fn write_dict(dict: &Bound<'_, PyDict>, out: &mut Vec<u8>, depth: u32) -> PyResult<()> {
    out.push(b'{');
    for (index, (key, item)) in dict.iter().enumerate() {
        if index > 0 {
            out.push(b',');
        }
        write_key(&key, out)?;
        out.push(b':');
        write_value(&item, out, depth + 1)?;
    }
    out.push(b'}');
    Ok(())
}

/// Keys as the stdlib writes them: strings as-is, numbers, booleans and None as strings.
fn write_key(key: &Bound<'_, PyAny>, out: &mut Vec<u8>) -> PyResult<()> {
    if let Ok(text) = key.cast::<PyString>() {
        write_py_string(text, out);
        return Ok(());
    }
    out.push(b'"');
    if key.is_none() {
        out.extend_from_slice(b"null");
    } else if let Ok(flag) = key.cast::<PyBool>() {
        out.extend_from_slice(if flag.is_true() { b"true" } else { b"false" });
    } else if let Ok(number) = key.cast::<PyInt>() {
        write_int(number, out)?;
    } else if let Ok(number) = key.cast::<PyFloat>() {
        write_float(number.value(), out)?;
    } else {
        let type_name = key.get_type().name()?;
        return Err(PyTypeError::new_err(format!(
            "JSON object keys must be str, int, float, bool or None, not {type_name}"
        )));
    }
    out.push(b'"');
    Ok(())
}

fn write_int(number: &Bound<'_, PyInt>, out: &mut Vec<u8>) -> PyResult<()> {
    match number.extract::<i64>() {
        Ok(small) => out.extend_from_slice(itoa::Buffer::new().format(small).as_bytes()),
        // Arbitrary precision: Python's own decimal rendering (int.__repr__, not
        // the subclass's __repr__, so IntEnum members are numbers as in the stdlib).
        Err(_) => {
            let digits = number
                .py()
                .get_type::<PyInt>()
                .call_method1("__repr__", (number,))?;
            out.extend_from_slice(digits.cast::<PyString>()?.to_str()?.as_bytes());
        }
    }
    Ok(())
}

fn write_float(value: f64, out: &mut Vec<u8>) -> PyResult<()> {
    if !value.is_finite() {
        return Err(PyValueError::new_err(format!(
            "Out of range float values are not JSON compliant: {value}"
        )));
    }
    out.extend_from_slice(ryu::Buffer::new().format_finite(value).as_bytes());
    Ok(())
}

fn write_string(text: &str, out: &mut Vec<u8>) {
    crate::http::json::write_json_string(text, out);
}

/// Serialises `value` to JSON bytes natively (`ensure_ascii=False`, compact, no NaN).
#[pyfunction]
pub fn json_dumps<'py>(value: &Bound<'py, PyAny>) -> PyResult<Bound<'py, pyo3::types::PyBytes>> {
    let mut out = Vec::with_capacity(64);
    write_json(value, &mut out)?;
    Ok(pyo3::types::PyBytes::new(value.py(), &out))
}

/// A Python str as JSON; one holding lone surrogates (which UTF-8 cannot
/// carry) is written with U+FFFD in their place rather than failing.
fn write_py_string(text: &Bound<'_, PyString>, out: &mut Vec<u8>) {
    match text.to_str() {
        Ok(text) => write_string(text, out),
        Err(_) => write_string(&text.to_string_lossy(), out),
    }
}
