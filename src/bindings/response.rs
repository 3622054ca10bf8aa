//! Handler return values -> `NativeResponse` (status, validated headers, body).
//!
//! dict/list (and other JSON values) -> JSON; str -> text/plain; bytes ->
//! application/octet-stream; `(body, status)`, `(body, status, headers)`;
//! `Response` objects. Header names and values are validated here, so a CR,
//! LF or NUL from user code is an exception in the handler, never bytes on the wire.

use bytes::Bytes;
use http::header::{CONTENT_DISPOSITION, CONTENT_TYPE};
use http::{HeaderMap, HeaderName, HeaderValue, StatusCode};
use pyo3::exceptions::{PyTypeError, PyValueError};
use pyo3::prelude::*;
use pyo3::types::{PyByteArray, PyBytes, PyDict, PyList, PyString, PyTuple};

use super::helpers::helpers;
use super::json::json_body;
use super::stream::{StreamSender, STREAM_QUEUE};
use crate::http::head::RequestHead;
use crate::server::files::{file_response, FileOptions};
use crate::server::{NativeResponse, ResponseBody};

const JSON: HeaderValue = HeaderValue::from_static("application/json");
const TEXT: HeaderValue = HeaderValue::from_static("text/plain; charset=utf-8");
const OCTETS: HeaderValue = HeaderValue::from_static("application/octet-stream");

/// Converts whatever a handler returned into a response.
pub fn convert_result(
    result: &Bound<'_, PyAny>,
    request: &RequestHead,
) -> PyResult<NativeResponse> {
    if let Ok(tuple) = result.cast_exact::<PyTuple>() {
        return convert_tuple(tuple, request);
    }
    convert_body(result, StatusCode::OK, request)
}

fn convert_tuple(tuple: &Bound<'_, PyTuple>, request: &RequestHead) -> PyResult<NativeResponse> {
    let length = tuple.len();
    if !(2..=3).contains(&length) {
        return Err(PyTypeError::new_err(format!(
            "a handler may return (body, status) or (body, status, headers), not a tuple of {length} items"
        )));
    }
    let status = status_from(&tuple.get_item(1)?)?;
    let mut response = convert_body(&tuple.get_item(0)?, status, request)?;
    response.status = status;
    if length == 3 {
        let extra = tuple.get_item(2)?;
        let mut replaced: Vec<HeaderName> = Vec::new();
        for (name, value) in header_pairs(&extra)? {
            // A header given here replaces the body's default of the same name
            // (e.g. content-type); repeats within `headers` are all kept.
            if !replaced.contains(&name) {
                response.headers.remove(&name);
                replaced.push(name.clone());
            }
            response.headers.append(name, value);
        }
    }
    Ok(response)
}

fn convert_body(
    body: &Bound<'_, PyAny>,
    status: StatusCode,
    request: &RequestHead,
) -> PyResult<NativeResponse> {
    let py = body.py();
    // Bodies are built at exactly their size (see `json_body`).
    let (content_type, bytes): (HeaderValue, Bytes) = if let Ok(text) =
        body.cast_exact::<PyString>()
    {
        (TEXT, Bytes::copy_from_slice(text.to_str()?.as_bytes()))
    } else if let Ok(bytes) = body.cast::<PyBytes>() {
        (OCTETS, Bytes::copy_from_slice(bytes.as_bytes()))
    } else if let Ok(bytes) = body.cast::<PyByteArray>() {
        (OCTETS, Bytes::from(bytes.to_vec()))
    } else if body.cast::<PyDict>().is_ok() || body.cast::<PyList>().is_ok() {
        (JSON, json_body(body)?)
    } else if body.is_instance(helpers(py)?.response_class.bind(py))? {
        return convert_response_object(body, request);
    } else if let Ok(text) = body.cast::<PyString>() {
        (TEXT, Bytes::copy_from_slice(text.to_str()?.as_bytes()))
    } else {
        let out = json_body(body).map_err(|error| {
            let type_name = body.get_type().name().map(|name| name.to_string()).unwrap_or_default();
            if error.is_instance_of::<PyTypeError>(py) {
                PyTypeError::new_err(format!(
                    "handler returned a {type_name}, which is not a response: return a dict, list, str, bytes, \
                     Response, (body, status) or (body, status, headers)"
                ))
            } else {
                error
            }
        })?;
        (JSON, out)
    };
    let mut headers = crate::server::header_pool::take();
    headers.insert(CONTENT_TYPE, content_type);
    Ok(NativeResponse {
        status,
        headers,
        body: ResponseBody::full(bytes),
    })
}

/// A complete `NativeResponse` as a Python `Response` (for the middleware
/// chain, which hands `Response` objects to middleware whatever the handler returned).
pub fn response_object<'py>(
    py: Python<'py>,
    response: NativeResponse,
) -> PyResult<Bound<'py, PyAny>> {
    let body = match &response.body {
        ResponseBody::Full(Some(bytes)) => PyBytes::new(py, bytes),
        _ => PyBytes::new(py, b""),
    };
    let pairs = PyList::empty(py);
    for (name, value) in &response.headers {
        let value: String = value.as_bytes().iter().map(|&byte| byte as char).collect();
        pairs.append(PyTuple::new(py, [name.as_str(), value.as_str()])?)?;
    }
    let helpers = helpers(py)?;
    // `Response._from_parts`, without its Python frame: this runs for every
    // request a middleware chain handles.
    let object_new = py
        .get_type::<pyo3::types::PyAny>()
        .getattr(pyo3::intern!(py, "__new__"))?;
    let headers = object_new.call1((helpers.headers_class.bind(py),))?;
    headers.setattr(pyo3::intern!(py, "_pairs"), &pairs)?;
    let object = object_new.call1((helpers.response_class.bind(py),))?;
    let status = response.status.as_u16();
    let items = pairs.iter().map(Bound::unbind).collect();
    let cached = CachedAnswer {
        answer: parking_lot::Mutex::new(Some(response)),
        status,
        body: body.clone().unbind(),
        pairs: pairs.clone().unbind(),
        items,
    };
    object.setattr(pyo3::intern!(py, "_native"), cached)?;
    object.setattr(pyo3::intern!(py, "body"), body)?;
    object.setattr(pyo3::intern!(py, "status_code"), status)?;
    object.setattr(pyo3::intern!(py, "headers"), headers)?;
    Ok(object)
}

/// The native answer a `Response` was built from, and what it looked like
/// then: if the middleware changed nothing, the server sends the answer as
/// it is instead of converting the `Response` back.
#[pyclass(
    module = "hyperdjango._hyperdjango_native",
    name = "CachedAnswer",
    frozen
)]
pub struct CachedAnswer {
    answer: parking_lot::Mutex<Option<NativeResponse>>,
    status: u16,
    body: Py<PyBytes>,
    pairs: Py<PyList>,
    /// The header tuples, by identity (tuples are immutable: replacing one shows).
    items: Vec<Py<PyAny>>,
}

impl CachedAnswer {
    /// The answer, if `response` still has exactly the status, body and headers it was built with.
    fn take_if_unchanged(&self, response: &Bound<'_, PyAny>) -> PyResult<Option<NativeResponse>> {
        let py = response.py();
        let status: u16 = response
            .getattr(pyo3::intern!(py, "status_code"))?
            .extract()
            .unwrap_or(0);
        if status != self.status
            || !response
                .getattr(pyo3::intern!(py, "body"))?
                .is(self.body.bind(py))
        {
            return Ok(None);
        }
        let headers = response.getattr(pyo3::intern!(py, "headers"))?;
        let Ok(pairs) = headers.getattr(pyo3::intern!(py, "_pairs")) else {
            return Ok(None);
        };
        if !pairs.is(self.pairs.bind(py)) {
            return Ok(None);
        }
        let list = self.pairs.bind(py);
        if list.len() != self.items.len()
            || list
                .iter()
                .zip(&self.items)
                .any(|(item, original)| !item.is(original.bind(py)))
        {
            return Ok(None);
        }
        Ok(self.answer.lock().take())
    }
}

/// What a handler returned (not a `Response`), converted as the server
/// would convert it, as a `Response` object.
#[pyfunction]
pub fn response_from_result<'py>(
    result: &Bound<'py, PyAny>,
    request: &Bound<'py, super::request::Request>,
) -> PyResult<Bound<'py, PyAny>> {
    let converted = convert_result(result, request.get().head())?;
    response_object(result.py(), converted)
}

/// Reads a `hyperdjango.response.Response`: `status_code`, `headers.raw`, `body`.
fn convert_response_object(
    response: &Bound<'_, PyAny>,
    request: &RequestHead,
) -> PyResult<NativeResponse> {
    let py = response.py();
    // A plain `Response` (what middleware passes on) has neither: skip the
    // failing attribute lookups, which cost an exception each.
    if response.get_type().is(helpers(py)?.response_class.bind(py)) {
        if let Ok(cached) = response
            .getattr(pyo3::intern!(py, "_native"))?
            .cast::<CachedAnswer>()
        {
            if let Some(answer) = cached.get().take_if_unchanged(response)? {
                return Ok(answer);
            }
        }
    } else {
        if let Ok(path) = response.getattr(pyo3::intern!(py, "file_path")) {
            return convert_file_response(response, &path, request);
        }
        if response.hasattr(pyo3::intern!(py, "stream_source"))? {
            return convert_stream_response(response);
        }
    }
    let (status, headers) = status_and_headers(response)?;
    let body = response.getattr(pyo3::intern!(py, "body"))?;
    let bytes = if let Ok(bytes) = body.cast::<PyBytes>() {
        bytes.as_bytes().to_vec()
    } else if let Ok(text) = body.cast::<PyString>() {
        text.to_str()?.as_bytes().to_vec()
    } else {
        return Err(PyTypeError::new_err("Response.body must be bytes or str"));
    };
    Ok(NativeResponse {
        status,
        headers,
        body: ResponseBody::full(bytes),
    })
}

/// A `Response` object's `status_code` and validated `headers`.
pub fn status_and_headers(response: &Bound<'_, PyAny>) -> PyResult<(StatusCode, HeaderMap)> {
    let py = response.py();
    let status = status_from(&response.getattr(pyo3::intern!(py, "status_code"))?)?;
    let headers_object = response.getattr(pyo3::intern!(py, "headers"))?;
    // `Headers.raw` is a property over `_pairs`: read the slot, skip the call.
    let raw = if headers_object
        .get_type()
        .is(helpers(py)?.headers_class.bind(py))
    {
        headers_object.getattr(pyo3::intern!(py, "_pairs"))?
    } else {
        headers_object.getattr(pyo3::intern!(py, "raw"))?
    };
    let mut headers = HeaderMap::with_capacity(8);
    for (name, value) in header_pairs(&raw)? {
        headers.append(name, value);
    }
    Ok((status, headers))
}

fn status_from(value: &Bound<'_, PyAny>) -> PyResult<StatusCode> {
    let code: u16 = value.extract().map_err(|_| {
        PyTypeError::new_err("a response status must be an int between 100 and 599")
    })?;
    if !(100..=599).contains(&code) {
        return Err(PyValueError::new_err(format!(
            "invalid response status {code}: must be between 100 and 599"
        )));
    }
    StatusCode::from_u16(code)
        .map_err(|_| PyValueError::new_err(format!("invalid response status {code}")))
}

/// Accepts a dict, a `Headers` (anything with `.raw`), or an iterable of pairs.
fn header_pairs(headers: &Bound<'_, PyAny>) -> PyResult<Vec<(HeaderName, HeaderValue)>> {
    let py = headers.py();
    // A list first: `Headers.raw` is one, and asking a list for `.raw` would
    // cost a raised AttributeError per response.
    let items = if headers.is_instance_of::<PyList>() {
        headers.clone()
    } else if let Ok(dict) = headers.cast::<PyDict>() {
        dict.items().into_any()
    } else if let Ok(raw) = headers.getattr(pyo3::intern!(py, "raw")) {
        raw
    } else {
        headers.clone()
    };
    let mut pairs = Vec::new();
    for item in items.try_iter()? {
        let (name, value): (String, Bound<'_, PyAny>) = item?.extract().map_err(|_| {
            PyTypeError::new_err("response headers must be a dict or a list of (name, value) pairs")
        })?;
        let value: String = match value.cast::<PyString>() {
            Ok(text) => text.to_str()?.to_owned(),
            Err(_) => value.str()?.to_str()?.to_owned(),
        };
        pairs.push(validated_header(&name, &value)?);
    }
    Ok(pairs)
}

/// Refuses header names and values that would corrupt the response framing.
pub fn validated_header(name: &str, value: &str) -> PyResult<(HeaderName, HeaderValue)> {
    let header_name = HeaderName::from_bytes(name.as_bytes()).map_err(|_| {
        PyValueError::new_err(format!(
            "invalid response header name {name:?}: use letters, digits and -"
        ))
    })?;
    if value
        .bytes()
        .any(|byte| byte == b'\r' || byte == b'\n' || byte == 0)
    {
        return Err(PyValueError::new_err(format!(
            "invalid value for response header {name:?}: header values must not contain CR, LF or NUL"
        )));
    }
    let header_value = HeaderValue::from_str(value).map_err(|_| {
        PyValueError::new_err(format!(
            "invalid value for response header {name:?}: control characters are not allowed"
        ))
    })?;
    Ok((header_name, header_value))
}

/// A `FileResponse`: served natively from disk (conditional, ranges, 404 if missing).
fn convert_file_response(
    response: &Bound<'_, PyAny>,
    path: &Bound<'_, PyAny>,
    request: &RequestHead,
) -> PyResult<NativeResponse> {
    let py = response.py();
    let path: std::path::PathBuf = path.extract()?;
    let raw = response
        .getattr(pyo3::intern!(py, "headers"))?
        .getattr(pyo3::intern!(py, "raw"))?;
    let mut options = FileOptions::default();
    for (name, value) in header_pairs(&raw)? {
        match name {
            CONTENT_TYPE => options.content_type = Some(value),
            CONTENT_DISPOSITION => options.content_disposition = Some(value),
            _ => {
                options.headers.append(name, value);
            }
        }
    }
    // Disk I/O (open, stat, seek) without holding the GIL.
    Ok(py.detach(|| file_response(&path, request, options)))
}

/// A `StreamResponse`: headers now, body chunks from the application's
/// generator through a bounded channel (see `hyperdjango.streaming`).
fn convert_stream_response(response: &Bound<'_, PyAny>) -> PyResult<NativeResponse> {
    let py = response.py();
    let (status, headers) = status_and_headers(response)?;
    // Set by CompressionMiddleware when it ran in Python (see bindings/middleware.rs).
    let encoder = response
        .getattr(pyo3::intern!(py, "_encoder"))
        .ok()
        .and_then(|pending| {
            pending
                .cast::<super::middleware::PendingEncoder>()
                .ok()
                .and_then(|pending| pending.get().take())
        });
    let (sender, receiver) = tokio::sync::mpsc::channel(STREAM_QUEUE);
    let sender = Bound::new(py, StreamSender::new(sender))?;
    response.call_method1(pyo3::intern!(py, "_start"), (sender,))?;
    let body = match encoder {
        Some(encoder) => ResponseBody::EncodedStream { receiver, encoder },
        None => ResponseBody::Stream(receiver),
    };
    Ok(NativeResponse {
        status,
        headers,
        body,
    })
}

/// `url` percent-encoded to a valid RFC 3986 URI reference (valid escapes
/// kept), for `Response.redirect`: the same encoding as the server's own
/// redirects.
#[pyfunction]
pub fn encode_uri(url: &str) -> String {
    crate::http::uri::encode_uri(url, crate::http::uri::UriPart::Reference)
}
