//! `AsgiBridge`: what `hyperdjango.asgi` needs from the native side to serve a
//! `HyperApp` under an ASGI server with the native server's behaviour.
//!
//! The ASGI scope is turned back into an HTTP/1.1 head and parsed by the same
//! `RequestHead` parser the native server uses, so `Request` (query, cookies,
//! form, multipart, JSON) is the very same object with the same limits and
//! errors. Responses go through the same `convert_result`; the bridge only
//! unpacks the resulting `NativeResponse` into ASGI's `(status, headers, body)`.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::os::fd::IntoRawFd;
use std::path::PathBuf;
use std::sync::Arc;

use bytes::{Bytes, BytesMut};
use pyo3::exceptions::PyValueError;
use pyo3::prelude::*;
use pyo3::types::{PyBytes, PyDict, PyList, PyTuple};
use tokio::sync::oneshot;

use super::helpers::http_error;
use super::request::{Endpoint, Request};
use super::response::{convert_result, status_and_headers};
use crate::http::head::{HeadLimits, RequestHead};
use crate::http::proxy::TrustedProxies;
use crate::middleware::security::SecurityPolicy;
use crate::server::files::{file_response, static_file_path, FileOptions};
use crate::server::{NativeResponse, PendingRequest, RequestBody, ResponseBody};

/// Per-application native state for the ASGI adapter (built once).
#[pyclass(
    module = "hyperdjango._hyperdjango_native",
    name = "AsgiBridge",
    frozen
)]
pub struct AsgiBridge {
    trusted_proxies: Arc<TrustedProxies>,
    static_root: Option<PathBuf>,
    limits: HeadLimits,
}

#[pymethods]
impl AsgiBridge {
    #[new]
    #[pyo3(signature = (trusted_proxies, static_root=None))]
    fn new(trusted_proxies: Vec<String>, static_root: Option<PathBuf>) -> PyResult<Self> {
        let trusted_proxies =
            TrustedProxies::parse(&trusted_proxies).map_err(PyValueError::new_err)?;
        let static_root = match static_root {
            Some(root) => Some(root.canonicalize().map_err(|error| {
                PyValueError::new_err(format!("static folder {}: {error}", root.display()))
            })?),
            None => None,
        };
        Ok(AsgiBridge {
            trusted_proxies: Arc::new(trusted_proxies),
            static_root,
            limits: HeadLimits::default(),
        })
    }

    /// A native `Request` from an ASGI HTTP scope's parts and the whole body.
    /// A head the native parser refuses raises `HTTPException(400/431)`.
    /// With middleware, `endpoint` is what the chain's innermost `call_next`
    /// runs: `(handler, is_async)`, or the router's own answer as a `Response`.
    #[pyo3(signature = (method, raw_path, query_string, headers, body, client, secure, http_10, host, path_params=None, endpoint=None))]
    #[allow(clippy::too_many_arguments)]
    fn request(
        &self,
        py: Python<'_>,
        method: &str,
        raw_path: &[u8],
        query_string: &[u8],
        headers: &Bound<'_, PyAny>,
        body: &[u8],
        client: Option<(String, u16)>,
        secure: bool,
        http_10: bool,
        host: &str,
        path_params: Option<Py<PyDict>>,
        endpoint: Option<&Bound<'_, PyAny>>,
    ) -> PyResult<Request> {
        let mut head = BytesMut::with_capacity(256);
        head.extend_from_slice(method.as_bytes());
        head.extend_from_slice(b" ");
        head.extend_from_slice(raw_path);
        if !query_string.is_empty() {
            head.extend_from_slice(b"?");
            head.extend_from_slice(query_string);
        }
        head.extend_from_slice(if http_10 {
            b" HTTP/1.0\r\n"
        } else {
            b" HTTP/1.1\r\n"
        });
        let mut has_host = false;
        for pair in headers.try_iter()? {
            let pair = pair?;
            let pair = pair.cast::<PyTuple>()?;
            let name = pair.get_item(0)?;
            let value = pair.get_item(1)?;
            let name = name.cast::<PyBytes>()?.as_bytes();
            // The ASGI server already removed the transfer framing: the body
            // arrives whole, so the synthesized head must not claim otherwise.
            if name.eq_ignore_ascii_case(b"transfer-encoding")
                || name.eq_ignore_ascii_case(b"content-length")
            {
                continue;
            }
            has_host |= name.eq_ignore_ascii_case(b"host");
            head.extend_from_slice(name);
            head.extend_from_slice(b": ");
            head.extend_from_slice(value.cast::<PyBytes>()?.as_bytes());
            head.extend_from_slice(b"\r\n");
        }
        if !has_host {
            // HTTP/2 carries the authority outside the headers.
            head.extend_from_slice(b"host: ");
            head.extend_from_slice(host.as_bytes());
            head.extend_from_slice(b"\r\n");
        }
        if !body.is_empty() {
            head.extend_from_slice(format!("content-length: {}\r\n", body.len()).as_bytes());
        }
        head.extend_from_slice(b"\r\n");
        let parsed = match RequestHead::parse(&mut head, &self.limits) {
            Ok(Some(parsed)) => parsed,
            Ok(None) => return Err(http_error(py, 400, "Incomplete request head".to_owned())),
            Err(error) => {
                return Err(http_error(
                    py,
                    error.status.as_u16(),
                    error.reason.to_owned(),
                ));
            }
        };
        let peer = client
            .and_then(|(host, port)| {
                host.parse::<IpAddr>()
                    .ok()
                    .map(|ip| SocketAddr::new(ip, port))
            })
            .unwrap_or(SocketAddr::new(IpAddr::V4(Ipv4Addr::UNSPECIFIED), 0));
        // Nobody waits on this answer channel: the adapter sends the response itself.
        let (reply, _) = oneshot::channel();
        let pending = PendingRequest {
            route_id: 0,
            head: parsed,
            body: RequestBody::Memory(Bytes::copy_from_slice(body)),
            params: Vec::new(),
            peer,
            reply,
            router_answer: None,
            queued_at: crate::clock::Tick::now(),
        };
        let request = Request::new(pending, path_params, Arc::clone(&self.trusted_proxies))
            .with_secure_transport(secure);
        let endpoint = match endpoint {
            None => Endpoint::Direct,
            Some(target) => match target.extract::<(Py<PyAny>, bool)>() {
                Ok((handler, is_async)) => Endpoint::Handler { handler, is_async },
                Err(_) => {
                    let answer = convert_result(target, request.head())?;
                    Endpoint::RouterAnswer(parking_lot::Mutex::new(Some(Box::new(answer))))
                }
            },
        };
        Ok(request.with_endpoint(endpoint))
    }

    /// Whether an ASGI request is secure, as the native server and
    /// `request.is_secure` judge it: the ASGI server's own TLS (`tls`, from the
    /// scope's scheme), or `X-Forwarded-Proto: https` from a trusted proxy.
    fn is_secure(
        &self,
        tls: bool,
        client: Option<(String, u16)>,
        headers: &Bound<'_, PyAny>,
    ) -> PyResult<bool> {
        if tls {
            return Ok(true);
        }
        let Some(ip) = client.and_then(|(host, _)| host.parse::<IpAddr>().ok()) else {
            return Ok(false);
        };
        let mut forwarded = Vec::new();
        for pair in headers.try_iter()? {
            let pair = pair?;
            let pair = pair.cast::<PyTuple>()?;
            let name = pair.get_item(0)?;
            if name
                .cast::<PyBytes>()?
                .as_bytes()
                .eq_ignore_ascii_case(b"x-forwarded-proto")
            {
                let value = pair.get_item(1)?;
                if let Ok(text) = std::str::from_utf8(value.cast::<PyBytes>()?.as_bytes()) {
                    forwarded.push(text.to_owned());
                }
            }
        }
        Ok(self
            .trusted_proxies
            .is_secure(ip, forwarded.iter().map(String::as_str)))
    }

    /// Production mode: appends to `headers` (an ASGI `[(name, value)]` list,
    /// names lower-case) what the native server's production policy adds and
    /// the answer lacks: `SecurityMiddleware()`'s defaults, HSTS only when `secure`.
    fn add_production_headers(&self, headers: &Bound<'_, PyList>, secure: bool) -> PyResult<()> {
        let py = headers.py();
        let mut present = Vec::with_capacity(headers.len());
        for pair in headers.iter() {
            let pair = pair.cast::<PyTuple>()?;
            present.push(
                pair.get_item(0)?
                    .cast::<PyBytes>()?
                    .as_bytes()
                    .to_ascii_lowercase(),
            );
        }
        for (name, value) in SecurityPolicy::production().headers_for(secure) {
            if !present.iter().any(|seen| seen == name.as_str().as_bytes()) {
                headers.append((
                    PyBytes::new(py, name.as_str().as_bytes()),
                    PyBytes::new(py, value.as_bytes()),
                ))?;
            }
        }
        Ok(())
    }

    /// A handler's result as `(status, [(name, value)], body)`: `body` is
    /// `bytes`, or `(fd, length)` for a file already positioned at its range.
    fn response<'py>(
        &self,
        result: &Bound<'py, PyAny>,
        request: &Bound<'py, Request>,
    ) -> PyResult<Bound<'py, PyTuple>> {
        let response = convert_result(result, request.get().head())?;
        unpack(result.py(), response)
    }

    /// A `StreamResponse`'s `(status, [(name, value)])`, validated natively.
    fn stream_head<'py>(&self, response: &Bound<'py, PyAny>) -> PyResult<Bound<'py, PyTuple>> {
        let py = response.py();
        let (status, headers) = status_and_headers(response)?;
        (status.as_u16(), header_list(py, &headers)?).into_pyobject(py)
    }

    /// The static file for `/static/<relative>` (debug mode), like the native
    /// server serves it; `None` when the app has no static folder.
    fn static_file<'py>(
        &self,
        relative: &str,
        request: &Bound<'py, Request>,
    ) -> PyResult<Option<Bound<'py, PyTuple>>> {
        let Some(root) = &self.static_root else {
            return Ok(None);
        };
        let py = request.py();
        let response = match static_file_path(root, relative) {
            Some(file) => {
                let mime = mime_guess::from_path(&file).first_or_octet_stream();
                let text = matches!(mime.type_(), mime_guess::mime::TEXT)
                    || mime.subtype() == "javascript"
                    || mime.subtype() == "json";
                let content_type = if text {
                    format!("{mime}; charset=utf-8")
                } else {
                    mime.to_string()
                };
                let options = FileOptions {
                    content_type: http::HeaderValue::from_str(&content_type).ok(),
                    ..FileOptions::default()
                };
                let head = request.get().head();
                py.detach(|| file_response(&file, head, options))
            }
            None => NativeResponse::detail(http::StatusCode::NOT_FOUND, "Not Found"),
        };
        unpack(py, response).map(Some)
    }
}

fn header_list<'py>(py: Python<'py>, headers: &http::HeaderMap) -> PyResult<Bound<'py, PyList>> {
    let list = PyList::empty(py);
    for (name, value) in headers {
        list.append((
            PyBytes::new(py, name.as_str().as_bytes()),
            PyBytes::new(py, value.as_bytes()),
        ))?;
    }
    Ok(list)
}

fn unpack(py: Python<'_>, response: NativeResponse) -> PyResult<Bound<'_, PyTuple>> {
    let headers = header_list(py, &response.headers)?;
    let status = response.status.as_u16();
    let body = match response.body {
        ResponseBody::Full(bytes) => PyBytes::new(py, bytes.as_deref().unwrap_or(b"")).into_any(),
        ResponseBody::File { file, remaining } => {
            let file = file
                .try_into_std()
                .map_err(|_| pyo3::exceptions::PyRuntimeError::new_err("file response is busy"))?;
            (file.into_raw_fd(), remaining)
                .into_pyobject(py)?
                .into_any()
        }
        ResponseBody::Stream(_) | ResponseBody::EncodedStream { .. } => {
            return Err(pyo3::exceptions::PyRuntimeError::new_err(
                "a streamed body cannot be unpacked; use stream_head",
            ))
        }
    };
    (status, headers, body).into_pyobject(py)
}
