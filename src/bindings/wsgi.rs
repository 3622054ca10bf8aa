//! `WsgiServer`: the native server in front of a WSGI application (Django's
//! `runziserver`, `hyper run --wsgi`).
//!
//! Every request goes to the application (the server's `catch_all` mode: no
//! native routing, debug or static paths). There is no asyncio loop: a pool of
//! Python threads each call `next()`, which waits without the GIL for a
//! request and returns its environ (built natively from the parsed head, see
//! `crate::wsgi`), its `wsgi.input` and the `WsgiExchange` to answer through.
//! The thread that takes a request runs the view, so there is no second hop.

use std::fs::File;
use std::io::{BufRead, BufReader, Read, Seek, SeekFrom};
use std::os::fd::FromRawFd;
use std::sync::atomic::Ordering::SeqCst;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http::{HeaderMap, StatusCode};
use parking_lot::Mutex;
use pyo3::exceptions::{PyOSError, PyRuntimeError, PyTypeError, PyValueError};
use pyo3::intern;
use pyo3::prelude::*;
use pyo3::types::{PyBytes, PyDict, PyList, PySet, PyString};
use tokio::sync::oneshot;

use super::response::validated_header;
use super::server::apply_limits;
use super::shutdown::{self, listen_failure, Running};
use super::stream::{StreamSender, STREAM_QUEUE};
use super::websocket::PyWebSocketHub;
use super::wsgi_call;
use crate::http::proxy::TrustedProxies;
use crate::routing::RouteTable;
use crate::server::{
    Completions, Handoff, NativeResponse, PendingRequest, RequestBody, ResponseBody, Server,
    ServerConfig, SpooledBody,
};
use crate::wsgi::intake::Intake;
use crate::wsgi::{environ, Fixed, Key, Mount, KNOWN_HEADERS};

/// The native server serving one WSGI application.
#[pyclass(
    module = "hyperdjango._hyperdjango_native",
    name = "WsgiServer",
    frozen
)]
pub struct WsgiServer {
    config: ServerConfig,
    handoff: Arc<Handoff<PendingRequest>>,
    completions: Arc<Completions>,
    trusted_proxies: Arc<TrustedProxies>,
    script_name: String,
    base_environ: Py<PyDict>,
    server: Mutex<Option<Server>>,
    /// The bound host and port, and the port as text (for the environ).
    bound: Mutex<(String, u16, String)>,
    intake: Arc<Intake<PendingRequest>>,
    pid_file: Option<std::path::PathBuf>,
    /// The fixed environ keys as Python strings, made once (in `Fixed::ALL` order).
    keys: Vec<Py<PyString>>,
    /// The environ keys of `KNOWN_HEADERS`, made once.
    known_keys: Vec<Py<PyString>>,
    /// `wsgi.input` of every request without a body (it reads nothing, so one serves all).
    empty_input: Py<WsgiInput>,
}

#[pymethods]
impl WsgiServer {
    /// `base_environ` is copied into every environ (`wsgi.version`, `wsgi.errors`, ...).
    #[new]
    ///
    /// The lifecycle options are `Server`'s (`HyperApp.run`): `limits` (the
    /// deadlines and load limits), `listen_fd` and `supervised` (a worker of
    /// `--workers N`), `shutdown_timeout` (the drain deadline) and `pid_file`
    /// (removed on a forced exit). `websockets`: a hub whose routes take the
    /// WebSocket upgrades (the bridge's ASGI application,
    /// `hyperdjango.asgi_upgrades`); without one, an upgrade request is an
    /// ordinary request to the WSGI application.
    #[pyo3(signature = (base_environ, *, host, port, prod, max_body_size, trusted_proxies, script_name=String::new(), worker_threads=None, limits=None, listen_fd=None, supervised=false, shutdown_timeout=30.0, pid_file=None, websockets=None))]
    #[allow(clippy::too_many_arguments)]
    fn new(
        py: Python<'_>,
        base_environ: Py<PyDict>,
        host: String,
        port: u16,
        prod: bool,
        max_body_size: u64,
        trusted_proxies: Vec<String>,
        script_name: String,
        worker_threads: Option<usize>,
        limits: Option<&Bound<'_, PyDict>>,
        listen_fd: Option<i32>,
        supervised: bool,
        shutdown_timeout: f64,
        pid_file: Option<std::path::PathBuf>,
        websockets: Option<PyRef<'_, PyWebSocketHub>>,
    ) -> PyResult<Self> {
        let shutdown_timeout = Duration::try_from_secs_f64(shutdown_timeout).map_err(|_| {
            PyValueError::new_err(format!(
                "shutdown_timeout must be a non-negative number of seconds, not {shutdown_timeout}"
            ))
        })?;
        let trusted_proxies =
            Arc::new(TrustedProxies::parse(&trusted_proxies).map_err(PyValueError::new_err)?);
        if !script_name.is_empty() && (!script_name.starts_with('/') || script_name.ends_with('/'))
        {
            return Err(PyValueError::new_err(format!(
                "script_name must start with '/' and not end with one, not {script_name:?}"
            )));
        }
        let mut config = ServerConfig::new(host.clone(), port);
        config.prod = prod;
        config.max_body_size = max_body_size;
        config.catch_all = true;
        config.spool_every_body = true;
        config.trusted_proxies = Arc::clone(&trusted_proxies);
        config.websockets = websockets.map(|hub| hub.shared());
        if let Some(threads) = worker_threads {
            config.worker_threads = threads.max(1);
        }
        if let Some(limits) = limits {
            apply_limits(&mut config, limits)?;
        }
        config.shutdown_timeout = shutdown_timeout;
        config.listen_fd = listen_fd;
        config.supervised = supervised;
        let handoff = Arc::new(
            Handoff::with_limits(config.queue_limits)
                .map_err(|error| PyOSError::new_err(error.to_string()))?,
        );
        Ok(WsgiServer {
            config,
            handoff: Arc::clone(&handoff),
            intake: Arc::new(Intake::new(handoff)),
            completions: Arc::new(Completions::default()),
            trusted_proxies,
            script_name,
            base_environ,
            server: Mutex::new(None),
            bound: Mutex::new((host, port, port.to_string())),
            pid_file,
            keys: Fixed::ALL
                .iter()
                .map(|fixed| PyString::intern(py, fixed.name()).unbind())
                .collect(),
            known_keys: KNOWN_HEADERS
                .iter()
                .map(|(_, key)| PyString::intern(py, key).unbind())
                .collect(),
            empty_input: Py::new(py, WsgiInput::new(RequestBody::Memory(Bytes::new()))?)?,
        })
    }

    /// Binds and starts serving; returns the bound `(host, port)`. With
    /// `handle_signals`, SIGTERM and SIGINT are caught natively until
    /// `finish_shutdown`, exactly as for `HyperApp.run` (docs/lifecycle.md).
    #[pyo3(signature = (handle_signals=false))]
    fn start(&self, py: Python<'_>, handle_signals: bool) -> PyResult<(String, u16)> {
        let mut slot = self.server.lock();
        if slot.is_some() {
            return Err(PyRuntimeError::new_err("the server is already running"));
        }
        let config = self.config.clone();
        let handoff = Arc::clone(&self.handoff);
        let completions = Arc::clone(&self.completions);
        let routes = Arc::new(RouteTable::new());
        let mut server = py
            .detach(|| Server::start(config, routes, handoff, completions))
            .map_err(|error| {
                PyOSError::new_err((
                    error.raw_os_error(),
                    format!(
                        "cannot listen on {}:{}: {}",
                        self.config.host,
                        self.config.port,
                        listen_failure(&error)
                    ),
                ))
            })?;
        let address = server.local_addr();
        server.lifecycle().set_pid_file(self.pid_file.clone());
        if handle_signals {
            server
                .handle_signals()
                .map_err(|error| PyRuntimeError::new_err(error.to_string()))?;
        }
        shutdown::set_running(server.lifecycle());
        *slot = Some(server);
        let bound = (address.ip().to_string(), address.port());
        *self.bound.lock() = (bound.0.clone(), bound.1, bound.1.to_string());
        // What every request's environ shares (`Fixed::per_server`).
        let base = self.base_environ.bind(py);
        base.set_item(intern!(py, "SCRIPT_NAME"), &self.script_name)?;
        base.set_item(intern!(py, "SERVER_NAME"), &bound.0)?;
        base.set_item(intern!(py, "SERVER_PORT"), bound.1.to_string())?;
        Ok(bound)
    }

    /// Waits up to `timeout` seconds (without the GIL) for a request. Returns
    /// `(environ, exchange)`, or None on timeout or once shutdown was requested
    /// and nothing is left to serve.
    fn next<'py>(
        &self,
        py: Python<'py>,
        timeout: f64,
    ) -> PyResult<Option<(Bound<'py, PyDict>, WsgiExchange)>> {
        let timeout = Duration::from_secs_f64(timeout.max(0.0));
        loop {
            let completions = &self.completions;
            let taken = py.detach(|| self.intake.wait(timeout, || completions.release()));
            let Some(pending) = taken else {
                return Ok(None);
            };
            // Started: counts for the overload check (503 when the pool falls behind).
            self.handoff.started(pending.queued_at);
            // The answer is held back until the leader's batch is done (one
            // tokio wake-up per batch; see `crate::wsgi::intake`).
            self.completions.hold();
            let bound = self.bound.lock();
            let mount = Mount {
                script_name: &self.script_name,
                server_name: &bound.0,
                server_port: &bound.2,
                trusted_proxies: &self.trusted_proxies,
            };
            let exchange = WsgiExchange {
                reply: Mutex::new(Some(pending.reply)),
                completions: Arc::clone(&self.completions),
            };
            let Some(pairs) = environ(&pending.head, pending.peer, pending.body.len(), &mount)
            else {
                drop(bound);
                exchange.deliver(NativeResponse::detail(StatusCode::NOT_FOUND, "Not Found"));
                continue;
            };
            let dict = self.base_environ.bind(py).copy()?;
            for (key, value) in &pairs {
                let key = match key {
                    Key::Fixed(fixed) if fixed.per_server() => continue,
                    Key::Fixed(fixed) => self.keys[*fixed as usize].bind(py).clone(),
                    Key::Known(index) => self.known_keys[*index as usize].bind(py).clone(),
                    Key::Header(name) => PyString::new(py, name),
                };
                let value = common_value(py, value).unwrap_or_else(|| PyString::new(py, value));
                dict.set_item(key, value)?;
            }
            drop(pairs);
            drop(bound);
            let input = if pending.body.is_empty() {
                self.empty_input.bind(py).clone().into_any()
            } else {
                Bound::new(py, WsgiInput::new(pending.body)?)?.into_any()
            };
            dict.set_item(intern!(py, "wsgi.input"), input)?;
            return Ok(Some((dict, exchange)));
        }
    }

    /// Serves requests on this thread until a wait of `timeout` seconds finds
    /// none (or the server stops): each is answered by `wsgi_call::answer`,
    /// with `runner.finish`/`runner.fail` for all but a list body; `running`
    /// (a set) holds the exchanges whose view is running, for the drain's cut.
    fn serve(
        &self,
        py: Python<'_>,
        application: &Bound<'_, PyAny>,
        runner: &Bound<'_, PyAny>,
        running: &Bound<'_, PySet>,
        timeout: f64,
    ) -> PyResult<()> {
        while let Some((environ, exchange)) = self.next(py, timeout)? {
            let exchange = Bound::new(py, exchange)?;
            running.add(&exchange)?;
            let answered = wsgi_call::answer(runner, application, &environ, &exchange);
            running.discard(&exchange)?;
            answered?;
        }
        Ok(())
    }

    /// True once SIGTERM/SIGINT (or `request_shutdown`) asked the server to stop.
    #[getter]
    fn shutdown_requested(&self) -> bool {
        self.handoff.shutdown_requested()
    }

    /// Begins a graceful shutdown (same as SIGTERM or `_server_shutdown()`).
    fn request_shutdown(&self) {
        Running(&self.server).request(&self.handoff);
        self.intake.wake_all();
    }

    /// Stops accepting; connections close after their current request.
    fn begin_shutdown(&self) {
        Running(&self.server).begin();
    }

    /// Waits (without the GIL) up to `timeout` seconds for connections to end, then stops.
    fn finish_shutdown(&self, py: Python<'_>, timeout: f64) {
        Running(&self.server).finish(py, timeout);
    }

    /// True once the drain deadline (`shutdown_timeout` after the shutdown
    /// began) has passed: what is still in flight gets cut.
    fn deadline_passed(&self) -> bool {
        Running(&self.server).deadline_passed()
    }

    /// Requests between their head and the last byte of their answer, plus
    /// connections whose first request may still be on its way, plus open
    /// connections: the graceful drain waits for this to reach zero.
    fn open_work(&self) -> usize {
        Running(&self.server).count(|stats| {
            stats.open_requests.load(SeqCst)
                + stats.unstarted.load(SeqCst)
                + stats.connections.load(SeqCst)
        })
    }

    /// Requests not answered yet.
    fn in_flight(&self) -> usize {
        Running(&self.server).count(|stats| stats.in_flight.load(SeqCst))
    }
}

/// The way to answer one WSGI request.
#[pyclass(
    module = "hyperdjango._hyperdjango_native",
    name = "WsgiExchange",
    frozen
)]
pub struct WsgiExchange {
    reply: Mutex<Option<oneshot::Sender<NativeResponse>>>,
    completions: Arc<Completions>,
}

impl WsgiExchange {
    fn deliver(&self, response: NativeResponse) -> bool {
        let Some(reply) = self.reply.lock().take() else {
            return false;
        };
        self.completions.deliver(reply, response);
        true
    }

    /// Answers with a complete body: `respond` for the native caller.
    pub(super) fn respond_bytes(
        &self,
        status: u16,
        headers: &Bound<'_, PyList>,
        body: Bytes,
    ) -> PyResult<()> {
        let (status, headers) = head_of(status, headers)?;
        self.answer(NativeResponse {
            status,
            headers,
            body: ResponseBody::full(body),
        })
    }

    fn answer(&self, response: NativeResponse) -> PyResult<()> {
        if self.deliver(response) {
            Ok(())
        } else {
            Err(PyRuntimeError::new_err("this request was already answered"))
        }
    }
}

/// The values many requests share, as interned strings (no new object each time).
fn common_value<'py>(py: Python<'py>, value: &str) -> Option<Bound<'py, PyString>> {
    let interned = match value {
        "" => intern!(py, ""),
        "GET" => intern!(py, "GET"),
        "POST" => intern!(py, "POST"),
        "HEAD" => intern!(py, "HEAD"),
        "HTTP/1.1" => intern!(py, "HTTP/1.1"),
        "HTTP/1.0" => intern!(py, "HTTP/1.0"),
        "http" => intern!(py, "http"),
        "https" => intern!(py, "https"),
        "/" => intern!(py, "/"),
        "127.0.0.1" => intern!(py, "127.0.0.1"),
        _ => return None,
    };
    Some(interned.clone())
}

fn head_of(status: u16, headers: &Bound<'_, PyList>) -> PyResult<(StatusCode, HeaderMap)> {
    let status = StatusCode::from_u16(status)
        .ok()
        .filter(|status| (100..=599).contains(&status.as_u16()))
        .ok_or_else(|| PyValueError::new_err(format!("invalid response status {status}")))?;
    let mut map = HeaderMap::with_capacity(headers.len());
    for pair in headers.iter() {
        let (name, value): (Bound<'_, PyString>, Bound<'_, PyString>) =
            pair.extract().map_err(|_| {
                PyTypeError::new_err(format!(
                    "a WSGI header must be a (name, value) pair of str, not {}",
                    wsgi_call::shown(&pair)
                ))
            })?;
        let (name, value) = validated_header(name.to_str()?, value.to_str()?)?;
        map.append(name, value);
    }
    Ok((status, map))
}

impl Drop for WsgiExchange {
    fn drop(&mut self) {
        // Never answered (the thread failed): the connection answers 503.
        if self.reply.get_mut().take().is_some() {
            self.completions.release();
        }
    }
}

#[pymethods]
impl WsgiExchange {
    /// Answers with a complete body (sent with Content-Length).
    fn respond(
        &self,
        status: u16,
        headers: &Bound<'_, PyList>,
        body: &Bound<'_, PyBytes>,
    ) -> PyResult<()> {
        self.respond_bytes(status, headers, Bytes::copy_from_slice(body.as_bytes()))
    }

    /// Sends the head now; the body follows through the returned sender, chunk by chunk.
    fn start_stream(
        &self,
        py: Python<'_>,
        status: u16,
        headers: &Bound<'_, PyList>,
    ) -> PyResult<Py<StreamSender>> {
        let (status, headers) = head_of(status, headers)?;
        let (sender, receiver) = tokio::sync::mpsc::channel(STREAM_QUEUE);
        self.answer(NativeResponse {
            status,
            headers,
            body: ResponseBody::Stream(receiver),
        })?;
        // The head must go now: the view waits on the stream's bounded queue.
        self.completions.release();
        Py::new(py, StreamSender::new(sender))
    }

    /// Sends `length` bytes (to the end when None) of the open file `fd` from
    /// `offset`, from disk by the I/O threads (`wsgi.file_wrapper`). The
    /// descriptor is duplicated: the caller still closes its file.
    #[pyo3(signature = (status, headers, fd, offset, length=None))]
    fn send_file(
        &self,
        status: u16,
        headers: &Bound<'_, PyList>,
        fd: i32,
        offset: u64,
        length: Option<u64>,
    ) -> PyResult<()> {
        let (status, headers) = head_of(status, headers)?;
        // SAFETY: dup has no memory-safety preconditions; the result is checked.
        let copy = unsafe { libc::dup(fd) };
        if copy < 0 {
            return Err(std::io::Error::last_os_error().into());
        }
        // SAFETY: `copy` is a fresh descriptor that nothing else owns.
        let mut file = unsafe { File::from_raw_fd(copy) };
        let size = file.metadata()?.len();
        file.seek(SeekFrom::Start(offset))?;
        let available = size.saturating_sub(offset);
        let length = length.map_or(available, |length| length.min(available));
        self.answer(NativeResponse {
            status,
            headers,
            body: ResponseBody::file(file, length),
        })
    }
}

enum Source {
    Memory(Bytes),
    /// A large body spooled to disk as it arrived; the file is removed when
    /// the request ends (the spool guard is dropped with this input).
    File {
        reader: BufReader<File>,
        _spool: SpooledBody,
    },
}

/// `wsgi.input`: the request body, from memory or from its spool file.
#[pyclass(module = "hyperdjango._hyperdjango_native", name = "WsgiInput", frozen)]
pub struct WsgiInput {
    state: Mutex<(Source, u64)>,
    length: u64,
}

impl WsgiInput {
    fn new(body: RequestBody) -> PyResult<WsgiInput> {
        let length = body.len();
        let source = match body {
            RequestBody::Memory(bytes) => Source::Memory(bytes),
            RequestBody::Spooled(spooled) => {
                let file = File::open(spooled.path())?;
                Source::File {
                    reader: BufReader::with_capacity(64 * 1024, file),
                    _spool: spooled,
                }
            }
        };
        Ok(WsgiInput {
            state: Mutex::new((source, 0)),
            length,
        })
    }

    fn take(&self, limit: Option<usize>, line: bool) -> PyResult<Vec<u8>> {
        let mut state = self.state.lock();
        let (source, position) = &mut *state;
        let remaining = (self.length - *position) as usize;
        let wanted = limit.map_or(remaining, |limit| limit.min(remaining));
        let out = match source {
            Source::Memory(bytes) => {
                let start = *position as usize;
                let window = &bytes[start..start + wanted];
                let end = if line {
                    memchr::memchr(b'\n', window).map_or(wanted, |index| index + 1)
                } else {
                    wanted
                };
                window[..end].to_vec()
            }
            Source::File { reader, .. } => {
                let mut out = Vec::with_capacity(if line { 128 } else { wanted });
                let mut limited = reader.by_ref().take(wanted as u64);
                if line {
                    limited.read_until(b'\n', &mut out)?;
                } else {
                    limited.read_to_end(&mut out)?;
                }
                out
            }
        };
        *position += out.len() as u64;
        Ok(out)
    }
}

fn limit_of(size: Option<i64>) -> Option<usize> {
    size.filter(|size| *size >= 0).map(|size| size as usize)
}

#[pymethods]
impl WsgiInput {
    /// Up to `size` bytes (all that is left when omitted or negative).
    #[pyo3(signature = (size=None))]
    fn read<'py>(&self, py: Python<'py>, size: Option<i64>) -> PyResult<Bound<'py, PyBytes>> {
        let data = py.detach(|| self.take(limit_of(size), false))?;
        Ok(PyBytes::new(py, &data))
    }

    /// One line, including its `\n` (at most `size` bytes).
    #[pyo3(signature = (size=None))]
    fn readline<'py>(&self, py: Python<'py>, size: Option<i64>) -> PyResult<Bound<'py, PyBytes>> {
        let data = py.detach(|| self.take(limit_of(size), true))?;
        Ok(PyBytes::new(py, &data))
    }

    /// The remaining lines (stopping once `hint` bytes were read, if given).
    #[pyo3(signature = (hint=None))]
    fn readlines<'py>(&self, py: Python<'py>, hint: Option<i64>) -> PyResult<Bound<'py, PyList>> {
        let lines = PyList::empty(py);
        let mut total = 0usize;
        loop {
            let line = self.take(None, true)?;
            if line.is_empty() {
                break;
            }
            total += line.len();
            lines.append(PyBytes::new(py, &line))?;
            if limit_of(hint).is_some_and(|hint| hint > 0 && total >= hint) {
                break;
            }
        }
        Ok(lines)
    }

    fn __iter__(slf: Py<Self>) -> Py<Self> {
        slf
    }

    fn __next__<'py>(&self, py: Python<'py>) -> PyResult<Option<Bound<'py, PyBytes>>> {
        let line = self.take(None, true)?;
        Ok((!line.is_empty()).then(|| PyBytes::new(py, &line)))
    }
}
