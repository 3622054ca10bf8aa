//! The native `Request` handed to handlers: the request head as received
//! (spans of the connection's read buffer), decoded into Python objects only
//! when an attribute is first read.

use std::net::SocketAddr;
use std::sync::Arc;

use http::{Method, Version};
use parking_lot::Mutex;
use pyo3::prelude::*;
use pyo3::sync::PyOnceLock;
use pyo3::types::{PyBytes, PyDict, PyList, PyString, PyTuple};
use tokio::sync::oneshot;

use super::helpers::{helpers, http_error};
use crate::http::cookies::parse_cookies;
use crate::http::head::RequestHead;
use crate::http::json::unanswerable_json;
use crate::http::multipart::{self, MultipartError, MultipartLimits};
use crate::http::proxy::TrustedProxies;
use crate::http::query::{parse_query, percent_decode};
use crate::server::{NativeResponse, PendingRequest, RequestBody};

/// An HTTP request. Attributes decode lazily and are cached.
// `dict`: middleware and handlers may attach their own attributes (`request.user = ...`).
#[pyclass(
    module = "hyperdjango._hyperdjango_native",
    name = "Request",
    frozen,
    dict
)]
pub struct Request {
    head: RequestHead,
    body: RequestBody,
    peer: SocketAddr,
    trusted_proxies: Arc<TrustedProxies>,
    path_params: Option<Py<PyDict>>,
    /// The transport itself is TLS (an ASGI server's `scheme`); the native
    /// server speaks plain HTTP, so there only a trusted proxy can say so.
    secure_transport: bool,
    cached_path_params: PyOnceLock<Py<PyDict>>,
    reply: Mutex<Option<oneshot::Sender<NativeResponse>>>,
    queued_at: crate::clock::Tick,
    cached_path: PyOnceLock<Py<PyString>>,
    cached_query: PyOnceLock<Py<PyAny>>,
    cached_headers: PyOnceLock<Py<PyAny>>,
    cached_cookies: PyOnceLock<Py<PyDict>>,
    cached_form: PyOnceLock<Py<PyAny>>,
    cached_json: PyOnceLock<Py<PyAny>>,
    cached_text: PyOnceLock<Py<PyString>>,
    cached_bytes: PyOnceLock<Py<PyBytes>>,
    cached_state: PyOnceLock<Py<PyAny>>,
    endpoint: Endpoint,
}

/// What answers the request at the end of the middleware chain.
pub enum Endpoint {
    /// No middleware: the server calls the handler itself.
    Direct,
    /// The route's handler, called by the chain's innermost `call_next`.
    Handler { handler: Py<PyAny>, is_async: bool },
    /// No route serves it: the router's own answer (404, 405, OPTIONS, redirect).
    /// Boxed: rare, and it would make every `Request` larger.
    RouterAnswer(Mutex<Option<Box<NativeResponse>>>),
}

impl Request {
    pub fn new(
        pending: PendingRequest,
        path_params: Option<Py<PyDict>>,
        trusted_proxies: Arc<TrustedProxies>,
    ) -> Request {
        Request {
            head: pending.head,
            body: pending.body,
            peer: pending.peer,
            trusted_proxies,
            path_params,
            secure_transport: false,
            cached_path_params: PyOnceLock::new(),
            reply: Mutex::new(Some(pending.reply)),
            queued_at: pending.queued_at,
            cached_path: PyOnceLock::new(),
            cached_query: PyOnceLock::new(),
            cached_headers: PyOnceLock::new(),
            cached_cookies: PyOnceLock::new(),
            cached_form: PyOnceLock::new(),
            cached_json: PyOnceLock::new(),
            cached_text: PyOnceLock::new(),
            cached_bytes: PyOnceLock::new(),
            cached_state: PyOnceLock::new(),
            endpoint: Endpoint::Direct,
        }
    }

    /// Sets what the middleware chain's innermost `call_next` runs.
    pub fn with_endpoint(mut self, endpoint: Endpoint) -> Request {
        self.endpoint = endpoint;
        self
    }

    /// The body's bytes: borrowed when in memory, read from the spool file
    /// when the handler asks for the raw body of a large upload.
    fn contents(&self) -> std::io::Result<std::borrow::Cow<'_, [u8]>> {
        match &self.body {
            RequestBody::Memory(bytes) => Ok(std::borrow::Cow::Borrowed(bytes)),
            RequestBody::Spooled(spooled) => {
                std::fs::read(spooled.path()).map(std::borrow::Cow::Owned)
            }
        }
    }

    /// Marks the request as received over TLS (ASGI `scheme` "https").
    pub fn with_secure_transport(mut self, secure: bool) -> Request {
        self.secure_transport = secure;
        self
    }

    /// The request head, for native answers that depend on its headers (files).
    pub fn head(&self) -> &RequestHead {
        &self.head
    }

    /// The directly connected peer.
    pub fn peer(&self) -> SocketAddr {
        self.peer
    }

    pub fn trusted_proxies(&self) -> &TrustedProxies {
        &self.trusted_proxies
    }

    fn multipart_pairs(
        &self,
        py: Python<'_>,
        content_type: &str,
        pairs: &Bound<'_, PyList>,
    ) -> PyResult<()> {
        let limits = MultipartLimits::default();
        let refuse = |error: MultipartError| http_error(py, error.status(), error.message());
        let boundary = multipart::boundary(content_type)
            .ok_or_else(|| refuse(MultipartError::MissingBoundary))?;
        let mapped;
        let body: &[u8] = match &self.body {
            RequestBody::Memory(bytes) => bytes,
            RequestBody::Spooled(spooled) => {
                let file = std::fs::File::open(spooled.path())?;
                // SAFETY: the file is our own exclusively created temporary
                // file, written completely before the request reached Python
                // and never written again; the map lives only for this parse.
                mapped = unsafe { memmap2::Mmap::map(&file)? };
                &mapped
            }
        };
        let parts = multipart::parse(body, &boundary, &limits).map_err(refuse)?;
        let uploaded_file = &helpers(py)?.uploaded_file_class;
        for part in parts {
            let Some(filename) = part.filename else {
                let value = std::str::from_utf8(part.data).map_err(|_| {
                    http_error(
                        py,
                        400,
                        format!("Form field {:?} is not valid UTF-8", part.name),
                    )
                })?;
                pairs.append((part.name, value))?;
                continue;
            };
            // A large part of a body spooled to disk stays where it is: the
            // UploadedFile reads its byte range of the body file (no copy).
            let location = match &self.body {
                RequestBody::Spooled(spooled) if part.data.len() > SPOOL_THRESHOLD => {
                    let offset = part.data.as_ptr() as usize - body.as_ptr() as usize;
                    Some((spooled.path().to_string_lossy().into_owned(), offset))
                }
                _ => None,
            };
            let data = location.is_none().then(|| PyBytes::new(py, part.data));
            let (path, offset) = location.map_or((None, 0), |(path, offset)| (Some(path), offset));
            let file = uploaded_file.bind(py).call1((
                filename,
                part.content_type,
                part.headers,
                part.data.len(),
                data,
                path,
                offset,
            ))?;
            pairs.append((part.name, file))?;
        }
        Ok(())
    }

    /// The answer channel; `None` once taken (one request, one answer).
    /// When the connection handed this request over.
    pub fn queued_at(&self) -> crate::clock::Tick {
        self.queued_at
    }

    pub fn take_reply(&self) -> Option<oneshot::Sender<NativeResponse>> {
        self.reply.lock().take()
    }

    fn charset(&self) -> String {
        self.head
            .header_str("content-type")
            .and_then(|value| {
                value.split(';').skip(1).find_map(|parameter| {
                    let (name, charset) = parameter.split_once('=')?;
                    name.trim()
                        .eq_ignore_ascii_case("charset")
                        .then(|| charset.trim().trim_matches('"').to_ascii_lowercase())
                })
            })
            .unwrap_or_else(|| "utf-8".to_owned())
    }
}

/// Parts of a spooled body larger than this are read from the body file, not copied.
const SPOOL_THRESHOLD: usize = 1024 * 1024;

#[pymethods]
impl Request {
    /// The request method, e.g. `"GET"`.
    #[getter]
    fn method<'py>(&self, py: Python<'py>) -> Bound<'py, PyString> {
        match *self.head.method() {
            Method::GET => pyo3::intern!(py, "GET").clone(),
            Method::POST => pyo3::intern!(py, "POST").clone(),
            Method::PUT => pyo3::intern!(py, "PUT").clone(),
            Method::PATCH => pyo3::intern!(py, "PATCH").clone(),
            Method::DELETE => pyo3::intern!(py, "DELETE").clone(),
            Method::HEAD => pyo3::intern!(py, "HEAD").clone(),
            ref other => PyString::new(py, other.as_str()),
        }
    }

    /// The percent-decoded path, e.g. `"/users/42"`.
    #[getter]
    fn path<'py>(&self, py: Python<'py>) -> Bound<'py, PyString> {
        self.cached_path
            .get_or_init(py, || {
                let raw = self.head.path();
                let decoded = percent_decode(raw, false);
                PyString::new(py, decoded.as_deref().unwrap_or(raw)).unbind()
            })
            .bind(py)
            .clone()
    }

    /// The path exactly as sent, still percent-encoded.
    #[getter]
    fn raw_path<'py>(&self, py: Python<'py>) -> Bound<'py, PyString> {
        PyString::new(py, self.head.path())
    }

    /// The raw query string (without `?`), `""` when there is none.
    #[getter]
    fn query_string<'py>(&self, py: Python<'py>) -> Bound<'py, PyString> {
        PyString::new(py, self.head.query().unwrap_or(""))
    }

    /// Query parameters: a dict of first values; `request.query.getlist(key)` has all.
    #[getter]
    fn query<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        self.cached_query
            .get_or_try_init(py, || {
                let pairs = parse_query(self.head.query().unwrap_or(""));
                helpers(py)?
                    .query_class
                    .bind(py)
                    .call1((pairs,))
                    .map(Bound::unbind)
            })
            .map(|query| query.bind(py).clone())
    }

    /// Case-insensitive, multi-valued request headers.
    #[getter]
    fn headers<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        self.cached_headers
            .get_or_try_init(py, || {
                let pairs = PyList::empty(py);
                for (name, value) in self.head.headers() {
                    // Names lowercase (as in ASGI); value bytes beyond ASCII are
                    // ISO-8859-1 per RFC 9110.
                    let name = name.to_ascii_lowercase();
                    let value: String = value.iter().map(|&byte| byte as char).collect();
                    pairs.append(PyTuple::new(py, [name.as_str(), value.as_str()])?)?;
                }
                helpers(py)?
                    .headers_class
                    .bind(py)
                    .call1((pairs,))
                    .map(Bound::unbind)
            })
            .map(|headers| headers.bind(py).clone())
    }

    /// Cookies sent by the client, `{name: value}` (parsed natively, on first
    /// access; malformed pairs are skipped, never an error).
    #[getter]
    fn cookies<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyDict>> {
        self.cached_cookies
            .get_or_try_init(py, || {
                let cookies = PyDict::new(py);
                for (name, value) in parse_cookies(self.head.header_values("cookie")) {
                    cookies.set_item(name, value)?;
                }
                Ok::<_, PyErr>(cookies.unbind())
            })
            .map(|cookies| cookies.bind(py).clone())
    }

    /// The form body: `application/x-www-form-urlencoded` or
    /// `multipart/form-data` (parsed natively). Values are `str`, files are
    /// `UploadedFile`; parts over 1 MB are spooled to temporary files, removed
    /// with the request. Malformed bodies raise `HTTPException(400)`, too many
    /// parts or fields (1000) or an oversized field `HTTPException(413)`.
    #[getter]
    fn form<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        self.cached_form
            .get_or_try_init(py, || {
                let content_type = self.head.header_str("content-type").unwrap_or("");
                let media_type = content_type
                    .split(';')
                    .next()
                    .unwrap_or("")
                    .trim()
                    .to_ascii_lowercase();
                let pairs = PyList::empty(py);
                if media_type == "application/x-www-form-urlencoded" {
                    let contents = self.contents()?;
                    // As many fields as a multipart body may have parts, counted
                    // before anything is decoded (as Django's max_num_fields).
                    let limit = MultipartLimits::default().max_parts;
                    if memchr::memchr_iter(b'&', &contents).count() >= limit {
                        return Err(http_error(
                            py,
                            413,
                            format!("Too many form fields (limit is {limit})"),
                        ));
                    }
                    let text = String::from_utf8_lossy(&contents);
                    for (name, value) in parse_query(&text) {
                        pairs.append((name, value))?;
                    }
                } else if media_type == "multipart/form-data" {
                    self.multipart_pairs(py, content_type, &pairs)?;
                }
                helpers(py)?
                    .form_class
                    .bind(py)
                    .call1((pairs,))
                    .map(Bound::unbind)
            })
            .map(|form| form.bind(py).clone())
    }

    /// The body parsed as JSON (parsed once, on first access).
    /// Malformed JSON raises `HTTPException(400)`, which becomes a 400 answer.
    #[getter]
    fn json<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        self.cached_json
            .get_or_try_init(py, || {
                if self.body.is_empty() {
                    return Err(http_error(
                        py,
                        400,
                        "Request body is empty; expected JSON".to_owned(),
                    ));
                }
                if let Some(reason) = unanswerable_json(&self.contents()?) {
                    return Err(http_error(
                        py,
                        400,
                        format!("Malformed JSON body: {reason}"),
                    ));
                }
                let loads = helpers(py)?.json_loads.bind(py);
                loads
                    .call1((self.bytes(py)?,))
                    .map(Bound::unbind)
                    .map_err(|error| {
                        let reason = error.value(py).to_string();
                        http_error(py, 400, format!("Malformed JSON body: {reason}"))
                    })
            })
            .map(|value| value.bind(py).clone())
    }

    /// The body decoded with the charset of Content-Type (UTF-8 by default).
    /// An undecodable body or unknown charset raises `HTTPException(400)`.
    #[getter]
    fn text<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyString>> {
        self.cached_text
            .get_or_try_init(py, || {
                let charset = self.charset();
                if charset == "utf-8" || charset == "utf8" {
                    return match std::str::from_utf8(&self.contents()?) {
                        Ok(text) => Ok(PyString::new(py, text).unbind()),
                        Err(_) => Err(http_error(
                            py,
                            400,
                            "Request body is not valid utf-8".to_owned(),
                        )),
                    };
                }
                let decoded = self.bytes(py)?.call_method1("decode", (charset.as_str(),));
                match decoded {
                    Ok(text) => Ok(text.cast_into::<PyString>()?.unbind()),
                    Err(error) if error.is_instance_of::<pyo3::exceptions::PyLookupError>(py) => {
                        Err(http_error(
                            py,
                            400,
                            format!("Unsupported charset {charset:?} in Content-Type"),
                        ))
                    }
                    Err(_) => Err(http_error(
                        py,
                        400,
                        format!("Request body is not valid {charset}"),
                    )),
                }
            })
            .map(|text| text.bind(py).clone())
    }

    /// The raw body.
    #[getter]
    fn bytes<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyBytes>> {
        self.cached_bytes
            .get_or_try_init(py, || {
                Ok::<_, PyErr>(PyBytes::new(py, &self.contents()?).unbind())
            })
            .map(|bytes| bytes.bind(py).clone())
    }

    /// False when a large upload was written to a temporary file as it
    /// arrived (multipart bodies over 1 MB) instead of being held in memory.
    #[getter]
    fn body_in_memory(&self) -> bool {
        matches!(self.body, RequestBody::Memory(_))
    }

    /// Alias of `bytes`, as in Starlette.
    #[getter]
    fn body<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyBytes>> {
        self.bytes(py)
    }

    /// Typed path parameters, e.g. `{"id": 42}`.
    #[getter]
    fn path_params<'py>(&self, py: Python<'py>) -> Bound<'py, PyDict> {
        match &self.path_params {
            Some(params) => params.bind(py).clone(),
            None => self
                .cached_path_params
                .get_or_init(py, || PyDict::new(py).unbind())
                .bind(py)
                .clone(),
        }
    }

    /// `"HTTP/1.1"` or `"HTTP/1.0"`.
    #[getter]
    fn http_version(&self) -> &'static str {
        match self.head.version() {
            Version::HTTP_10 => "HTTP/1.0",
            _ => "HTTP/1.1",
        }
    }

    /// `(host, port)` of the directly connected peer.
    #[getter]
    fn client(&self) -> (String, u16) {
        (self.peer.ip().to_string(), self.peer.port())
    }

    /// The client's address: the peer, or, when the peer is a trusted proxy
    /// (`HyperApp(trusted_proxies=...)`, loopback by default), the client it
    /// reports in `X-Forwarded-For`.
    #[getter]
    fn client_ip(&self) -> String {
        let forwarded = self
            .head
            .header_values("x-forwarded-for")
            .filter_map(|value| std::str::from_utf8(value).ok());
        self.trusted_proxies
            .client_ip(self.peer.ip(), forwarded)
            .to_string()
    }

    /// True when a trusted proxy reports the original request was HTTPS
    /// (`X-Forwarded-Proto: https`); this server itself speaks plain HTTP.
    #[getter]
    fn is_secure(&self) -> bool {
        if self.secure_transport {
            return true;
        }
        let proto = self
            .head
            .header_values("x-forwarded-proto")
            .filter_map(|value| std::str::from_utf8(value).ok());
        self.trusted_proxies.is_secure(self.peer.ip(), proto)
    }

    /// Free-form per-request storage (`request.state.user = ...`), carried
    /// from middleware to the handler; created on first access.
    #[getter]
    fn state<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        self.cached_state
            .get_or_try_init(py, || {
                py.import(pyo3::intern!(py, "hyperdjango.datastructures"))?
                    .getattr(pyo3::intern!(py, "State"))?
                    .call0()
                    .map(Bound::unbind)
            })
            .map(|state| state.bind(py).clone())
    }

    /// The route's `(handler, is_async)` for the middleware chain's endpoint;
    /// None when the router answers the request itself.
    #[getter]
    fn _handler<'py>(&self, py: Python<'py>) -> Option<(Bound<'py, PyAny>, bool)> {
        match &self.endpoint {
            Endpoint::Handler { handler, is_async } => Some((handler.bind(py).clone(), *is_async)),
            _ => None,
        }
    }

    /// The router's own answer (404, 405, OPTIONS, redirect) as a `Response`.
    fn _router_response<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        let answer = match &self.endpoint {
            Endpoint::RouterAnswer(answer) => answer.lock().take(),
            _ => None,
        };
        let answer = answer.map_or_else(
            || NativeResponse::detail(http::StatusCode::NOT_FOUND, "Not Found"),
            |answer| *answer,
        );
        super::response::response_object(py, answer)
    }

    fn __repr__(&self) -> String {
        format!("<Request {} {}>", self.head.method(), self.head.target())
    }
}
