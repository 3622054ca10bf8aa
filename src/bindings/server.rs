//! `Server`: starts the native server and runs the Python side of the
//! hand-over on the thread that owns the asyncio loop.
//!
//! The crossing is cheap by construction: one eventfd wake-up per batch, the
//! handler called directly from Rust, its coroutine stepped eagerly with
//! `PyIter_Send` (a coroutine that never suspends never becomes an asyncio
//! Task), and the result serialised here, without a trip through Python.

use std::sync::atomic::Ordering::SeqCst;
use std::sync::Arc;
use std::time::Duration;

use parking_lot::Mutex;
use pyo3::exceptions::{PyOSError, PyRuntimeError, PyValueError};
use pyo3::ffi;
use pyo3::prelude::*;
use pyo3::types::{PyDict, PyInt, PyString};

use super::in_memory::InMemoryConnection;
use super::middleware::PyStage;
use super::request::{Endpoint, Request};
use super::response::convert_result;
use super::router::PyRouteTable;
use super::shutdown::{self, listen_failure, Running};
use super::websocket::PyWebSocketHub;
use crate::http::proxy::TrustedProxies;
use crate::middleware::NativeChain;
use crate::routing::ParamKind;
use crate::server::{Completions, Handoff, NativeResponse, PendingRequest, Server, ServerConfig};

/// What Python passes per route: `(handler, is_async, [(param_name, converter)])`.
type TargetSpec = (Py<PyAny>, bool, Vec<(String, String)>);
/// A whole route for `replace_routes`: `(methods, pattern, handler, is_async, params)`.
type RouteSpec = (Vec<String>, String, Py<PyAny>, bool, Vec<(String, String)>);

struct RouteTarget {
    handler: Py<PyAny>,
    is_async: bool,
    params: Vec<(Py<PyString>, ParamKind)>,
}

/// The native server, driven from Python by `HyperApp.run()`.
#[pyclass(module = "hyperdjango._hyperdjango_native", name = "Server", frozen)]
pub struct PyServer {
    config: ServerConfig,
    routes: Mutex<Arc<crate::routing::RouteTable>>,
    /// Indexed by route id. Replaced whole (never edited) by `replace_routes`,
    /// so a batch dispatches against one consistent list.
    targets: Mutex<Arc<Vec<RouteTarget>>>,
    handoff: Arc<Handoff<PendingRequest>>,
    completions: Arc<Completions>,
    trusted_proxies: Arc<TrustedProxies>,
    server: Mutex<Option<Server>>,
    batch: Mutex<Vec<PendingRequest>>,
    schedule: Py<PyAny>,
    run_sync: Py<PyAny>,
    error_response: Py<PyAny>,
    /// The compiled middleware chain: the outermost middleware and the
    /// `call_next` it is given (`hyperdjango.middleware.chain`); None without
    /// middleware, and then nothing below costs anything.
    chain: Option<(Py<PyAny>, Py<PyAny>)>,
    pid_file: Option<std::path::PathBuf>,
}

pub(super) fn parse_kind(kind: &str) -> PyResult<ParamKind> {
    ParamKind::from_name(kind)
        .ok_or_else(|| PyRuntimeError::new_err(format!("unknown converter {kind:?}")))
}

#[pymethods]
impl PyServer {
    /// `targets[route_id] = (handler, is_async, [(param_name, converter), ...])`;
    /// `dispatcher` provides `schedule`, `run_sync` and `error_response`.
    #[new]
    ///
    /// `limits` holds the deadlines (seconds) and load limits `HyperApp.run`
    /// validated: `header_read_timeout`, `keep_alive_timeout`,
    /// `body_read_timeout`, `send_timeout`, `max_connections`, `max_queue`,
    /// `max_queue_wait`; any left out keeps its default.
    #[pyo3(signature = (routes, targets, dispatcher, *, host, port, prod, max_body_size, trusted_proxies=None, static_root=None, worker_threads=None, middleware=None, native_middleware=None, limits=None, listen_fd=None, supervised=false, shutdown_timeout=30.0, pid_file=None, websockets=None))]
    #[allow(clippy::too_many_arguments)]
    fn new(
        py: Python<'_>,
        routes: &PyRouteTable,
        targets: Vec<TargetSpec>,
        dispatcher: &Bound<'_, PyAny>,
        host: String,
        port: u16,
        prod: bool,
        max_body_size: u64,
        trusted_proxies: Option<Vec<String>>,
        static_root: Option<std::path::PathBuf>,
        worker_threads: Option<usize>,
        middleware: Option<(Py<PyAny>, Py<PyAny>)>,
        native_middleware: Option<Vec<PyRef<'_, PyStage>>>,
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
        let trusted_proxies = match trusted_proxies {
            Some(specs) => TrustedProxies::parse(&specs).map_err(PyValueError::new_err)?,
            None => TrustedProxies::default(),
        };
        let mut config = ServerConfig::new(host, port);
        config.websockets = websockets.map(|hub| hub.shared());
        config.prod = prod;
        config.max_body_size = max_body_size;
        config.shutdown_timeout = shutdown_timeout;
        if let Some(root) = static_root {
            let canonical = root.canonicalize().map_err(|error| {
                PyValueError::new_err(format!("static folder {}: {error}", root.display()))
            })?;
            config.static_root = Some(canonical);
        }
        config.router_answers_to_application = middleware.is_some();
        let trusted_proxies = Arc::new(trusted_proxies);
        config.trusted_proxies = Arc::clone(&trusted_proxies);
        if let Some(stages) = native_middleware.filter(|stages| !stages.is_empty()) {
            let stages = stages
                .iter()
                .map(|stage| Arc::clone(&stage.stage))
                .collect();
            config.native_middleware = Some(Arc::new(NativeChain::new(
                stages,
                Arc::clone(&trusted_proxies),
            )));
        }
        if let Some(threads) = worker_threads {
            config.worker_threads = threads.max(1);
        }
        if let Some(limits) = limits {
            apply_limits(&mut config, limits)?;
        }
        config.listen_fd = listen_fd;
        config.supervised = supervised;
        let queue_limits = config.queue_limits;
        let targets = targets
            .into_iter()
            .map(|(handler, is_async, params)| route_target(py, handler, is_async, &params))
            .collect::<PyResult<Vec<_>>>()?;
        Ok(PyServer {
            config,
            routes: Mutex::new(routes.share()),
            targets: Mutex::new(Arc::new(targets)),
            handoff: Arc::new(
                Handoff::with_limits(queue_limits)
                    .map_err(|error| PyOSError::new_err(error.to_string()))?,
            ),
            completions: Arc::new(Completions::default()),
            trusted_proxies,
            server: Mutex::new(None),
            batch: Mutex::new(Vec::with_capacity(256)),
            schedule: dispatcher.getattr("schedule")?.unbind(),
            run_sync: dispatcher.getattr("run_sync")?.unbind(),
            error_response: dispatcher.getattr("error_response")?.unbind(),
            chain: middleware,
            pid_file,
        })
    }

    /// Binds and starts serving; returns the bound `(host, port)`. With
    /// `handle_signals`, SIGTERM and SIGINT are caught natively until
    /// `finish_shutdown` (only one server per process may do so).
    #[pyo3(signature = (handle_signals=false))]
    fn start(&self, py: Python<'_>, handle_signals: bool) -> PyResult<(String, u16)> {
        let mut slot = self.server.lock();
        if slot.is_some() {
            return Err(PyRuntimeError::new_err("the server is already running"));
        }
        let config = self.config.clone();
        let routes = Arc::clone(&self.routes.lock());
        let handoff = Arc::clone(&self.handoff);
        let completions = Arc::clone(&self.completions);
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
        Ok((address.ip().to_string(), address.port()))
    }

    /// Starts serving without listening: connections come from `connect()`
    /// (`hyperdjango.testing.TestClient`).
    fn start_in_memory(&self, py: Python<'_>) -> PyResult<()> {
        let mut slot = self.server.lock();
        if slot.is_some() {
            return Err(PyRuntimeError::new_err("the server is already running"));
        }
        let config = self.config.clone();
        let routes = Arc::clone(&self.routes.lock());
        let handoff = Arc::clone(&self.handoff);
        let completions = Arc::clone(&self.completions);
        let server = py
            .detach(|| Server::start_in_memory(config, routes, handoff, completions))
            .map_err(|error| PyOSError::new_err(error.to_string()))?;
        // Not `RUNNING`: `_server_shutdown()` is about the process's real server.
        *slot = Some(server);
        Ok(())
    }

    /// A new in-memory connection to a server started with `start_in_memory()`.
    fn connect(&self) -> PyResult<InMemoryConnection> {
        let peer = std::net::SocketAddr::from(([127, 0, 0, 1], 50000));
        self.server
            .lock()
            .as_ref()
            .and_then(|server| server.connect_in_memory(peer))
            .map(InMemoryConnection::new)
            .ok_or_else(|| PyRuntimeError::new_err("the server is not running in memory"))
    }

    /// The descriptor to watch (`loop.add_reader(server.fileno(), server.drain)`).
    fn fileno(&self) -> i32 {
        self.handoff.fileno()
    }

    /// Serves every request that is waiting. Returns False once a shutdown was requested.
    fn drain(&self, py: Python<'_>) -> bool {
        let mut batch = std::mem::take(&mut *self.batch.lock());
        // Each request counts as waiting until `dispatch` (or a pool thread) starts it.
        self.handoff.take_unstarted(&mut batch);
        self.completions.hold();
        let targets = Arc::clone(&self.targets.lock());
        // Everything but a `def` handler bound for the pool starts in this
        // batch: reported once, before the first runs (one clock read).
        let mut starting = 0;
        let mut latest = None;
        for pending in &batch {
            if !self.waits_for_pool(&targets, pending) {
                starting += 1;
                latest = Some(pending.queued_at);
            }
        }
        if let Some(latest) = latest {
            self.handoff.started_many(starting, latest);
        }
        for pending in batch.drain(..) {
            self.dispatch(py, &targets, pending);
        }
        self.completions.release();
        if self.handoff.take_streams_closed() {
            close_abandoned_streams(py);
        }
        *self.batch.lock() = batch;
        self.handoff.finish_batch();
        !self.handoff.shutdown_requested()
    }

    /// Answers `request` with a handler's `result` (used after a suspended
    /// coroutine or a sync handler finishes).
    fn complete(&self, request: &Bound<'_, Request>, result: &Bound<'_, PyAny>) {
        if self.chain.is_some() {
            if let Err(error) = check_middleware_result(result) {
                return self.fail(request, error);
            }
        }
        match convert_result(result, request.get().head()) {
            Ok(response) => self.answer(request, response),
            Err(error) => self.fail(request, error),
        }
    }

    /// Answers `request` for a handler that raised `exception`.
    fn fail_with(&self, request: &Bound<'_, Request>, exception: &Bound<'_, PyAny>) {
        self.fail(request, PyErr::from_value(exception.clone()));
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

    /// Requests answered by neither a handler nor the server yet.
    fn in_flight(&self) -> usize {
        Running(&self.server).count(|stats| stats.in_flight.load(SeqCst))
    }

    /// Requests between their head and the last byte of their answer
    /// (streams included), plus connections whose first request may still be
    /// on its way (`FIRST_REQUEST_GRACE`): the graceful drain waits for this
    /// to reach zero.
    fn open_requests(&self) -> usize {
        Running(&self.server)
            .count(|stats| stats.open_requests.load(SeqCst) + stats.unstarted.load(SeqCst))
    }

    /// Serves `routes` from now on, in place of the table given at
    /// construction (hot reload). Requests routed before keep their handlers:
    /// new route ids follow every id used so far.
    fn replace_routes(&self, py: Python<'_>, routes: Vec<RouteSpec>) -> PyResult<()> {
        let mut targets = self.targets.lock();
        let first_id = targets.len();
        let mut table = crate::routing::RouteTable::new();
        let mut added = Vec::with_capacity(routes.len());
        for (offset, (methods, pattern, handler, is_async, params)) in
            routes.into_iter().enumerate()
        {
            for method in &methods {
                table
                    .insert(method, &pattern, first_id + offset)
                    .map_err(|error| PyValueError::new_err(error.to_string()))?;
            }
            added.push(route_target(py, handler, is_async, &params)?);
        }
        let mut all: Vec<RouteTarget> = targets.iter().map(|target| target.clone_ref(py)).collect();
        all.append(&mut added);
        *targets = Arc::new(all);
        let table = Arc::new(table);
        *self.routes.lock() = Arc::clone(&table);
        if let Some(server) = self.server.lock().as_ref() {
            server.replace_routes(table);
        }
        Ok(())
    }

    /// Open connections: after `begin_shutdown`, those still owed an answer
    /// (idle keep-alive ones close at once), which the drain waits for.
    fn connections(&self) -> usize {
        Running(&self.server).count(|stats| stats.connections.load(SeqCst))
    }

    /// A sync handler is starting on a pool thread: it no longer waits.
    fn started(&self, request: &Bound<'_, Request>) {
        self.handoff.started(request.get().queued_at());
    }

    /// Requests handed over whose handler has not started.
    fn queue_depth(&self) -> usize {
        self.handoff.waiting()
    }

    /// Begins a graceful shutdown (same as `_server_shutdown()`).
    fn request_shutdown(&self) {
        Running(&self.server).request(&self.handoff);
    }
}

impl PyServer {
    /// A plain `def` handler dispatched to the pool waits for a pool thread:
    /// it reports its own start (`Dispatcher._call_sync`).
    fn waits_for_pool(&self, targets: &[RouteTarget], pending: &PendingRequest) -> bool {
        self.chain.is_none()
            && pending.router_answer.is_none()
            && targets
                .get(pending.route_id)
                .is_some_and(|target| !target.is_async)
    }

    fn dispatch(&self, py: Python<'_>, targets: &[RouteTarget], mut pending: PendingRequest) {
        // Started already (`drain`), unless it waits for the pool; answered
        // here without reaching the pool, it reports its start itself.
        let for_pool = self.waits_for_pool(targets, &pending);
        let queued_at = pending.queued_at;
        let report_pool_start = || {
            if for_pool {
                self.handoff.started(queued_at);
            }
        };
        let router_answer = pending.router_answer.take();
        let target = match (&router_answer, targets.get(pending.route_id)) {
            (Some(_), _) => None,
            (None, Some(target)) => Some(target),
            (None, None) => {
                let _ = pending.reply.send(NativeResponse::detail(
                    http::StatusCode::INTERNAL_SERVER_ERROR,
                    "Internal Server Error",
                ));
                return;
            }
        };
        let kwargs = match target.map(|target| path_kwargs(py, &target.params, &pending.params)) {
            None | Some(Ok(None)) => None,
            Some(Ok(Some(kwargs))) => Some(kwargs),
            // An int Python will not convert (its digit limit, if lowered
            // below the router's): no match, as in Django, never a 500.
            Some(Err(error)) if error.is_instance_of::<PyValueError>(py) => {
                report_pool_start();
                let _ = pending.reply.send(NativeResponse::detail(
                    http::StatusCode::NOT_FOUND,
                    "Not Found",
                ));
                return;
            }
            Some(Err(error)) => {
                report_pool_start();
                error.print(py);
                let _ = pending.reply.send(NativeResponse::detail(
                    http::StatusCode::INTERNAL_SERVER_ERROR,
                    "Internal Server Error",
                ));
                return;
            }
        };
        let endpoint = match (self.chain.is_some(), target, router_answer) {
            (false, _, None) => Endpoint::Direct,
            (_, _, Some(answer)) => Endpoint::RouterAnswer(Mutex::new(Some(answer))),
            (true, Some(target), None) => Endpoint::Handler {
                handler: target.handler.clone_ref(py),
                is_async: target.is_async,
            },
            (true, None, None) => Endpoint::Direct,
        };
        let request = Request::new(
            pending,
            kwargs.as_ref().map(|k| k.clone().unbind()),
            Arc::clone(&self.trusted_proxies),
        )
        .with_endpoint(endpoint);
        let request = match Bound::new(py, request) {
            Ok(request) => request,
            Err(error) => {
                report_pool_start();
                error.print(py);
                return;
            }
        };
        // Each request gets its own copy of the current contextvars context.
        let context = match copy_context(py) {
            Ok(context) => context,
            Err(error) => {
                report_pool_start();
                return self.fail(&request, error);
            }
        };
        // The middleware chain (router answers included) is one coroutine,
        // stepped eagerly like a handler's.
        let (callable, call_next, kwargs) = match (&self.chain, target) {
            (Some((outermost, call_next)), _) => (outermost, Some(call_next), None),
            (None, Some(target)) if target.is_async => (&target.handler, None, kwargs),
            (None, Some(target)) => {
                let submitted = self
                    .run_sync
                    .call1(py, (&target.handler, &request, kwargs, &context));
                if let Err(error) = submitted {
                    self.handoff.started(queued_at);
                    self.fail(&request, error);
                }
                return;
            }
            (None, None) => {
                let answer = request.call_method0(pyo3::intern!(py, "_router_response"));
                match answer {
                    Ok(answer) => self.complete(&request, &answer),
                    Err(error) => self.fail(&request, error),
                }
                return;
            }
        };
        // SAFETY: `context` is a live context object; Exit below pairs with this Enter.
        if unsafe { ffi::PyContext_Enter(context.as_ptr()) } != 0 {
            return self.fail(&request, PyErr::fetch(py));
        }
        let called = match call_next {
            Some(call_next) => callable.bind(py).call1((&request, call_next)),
            None => callable.bind(py).call((&request,), kwargs.as_ref()),
        };
        match called {
            Err(error) => self.fail(&request, error),
            Ok(result) => self.step(py, &request, result, &context),
        }
        // SAFETY: the context entered above, on this thread.
        if unsafe { ffi::PyContext_Exit(context.as_ptr()) } != 0 {
            PyErr::fetch(py).print(py);
        }
    }

    /// Steps a handler's coroutine once. Finished: answer now. Suspended: hand
    /// it, with what it yielded, to the asyncio loop as a task.
    fn step(
        &self,
        py: Python<'_>,
        request: &Bound<'_, Request>,
        result: Bound<'_, PyAny>,
        context: &Bound<'_, PyAny>,
    ) {
        // SAFETY: type check on a live object.
        let is_coroutine = unsafe { ffi::PyCoro_CheckExact(result.as_ptr()) } != 0;
        if !is_coroutine {
            if result
                .hasattr(pyo3::intern!(py, "__await__"))
                .unwrap_or(false)
            {
                let scheduled = self
                    .schedule
                    .call1(py, (result, py.None(), request, context));
                if let Err(error) = scheduled {
                    self.fail(request, error);
                }
                return;
            }
            return self.complete(request, &result);
        }
        let mut output: *mut ffi::PyObject = std::ptr::null_mut();
        // SAFETY: `result` is a coroutine; PyIter_Send stores a new reference in
        // `output` for PYGEN_RETURN and PYGEN_NEXT, and sets an exception for PYGEN_ERROR.
        let status = unsafe { ffi::PyIter_Send(result.as_ptr(), ffi::Py_None(), &mut output) };
        match status {
            ffi::PySendResult::PYGEN_RETURN => {
                // SAFETY: new reference per the contract above.
                let value = unsafe { Bound::from_owned_ptr(py, output) };
                self.complete(request, &value);
            }
            ffi::PySendResult::PYGEN_NEXT => {
                // SAFETY: new reference per the contract above.
                let yielded = unsafe { Bound::from_owned_ptr(py, output) };
                if let Err(error) = self.schedule.call1(py, (result, yielded, request, context)) {
                    self.fail(request, error);
                }
            }
            ffi::PySendResult::PYGEN_ERROR => self.fail(request, PyErr::fetch(py)),
        }
    }

    fn fail(&self, request: &Bound<'_, Request>, error: PyErr) {
        let py = request.py();
        let exception = error.into_value(py);
        let response = self
            .error_response
            .call1(py, (request, exception))
            .and_then(|answer| convert_result(answer.bind(py), request.get().head()));
        let response = response.unwrap_or_else(|error| {
            error.print(py);
            NativeResponse::detail(
                http::StatusCode::INTERNAL_SERVER_ERROR,
                "Internal Server Error",
            )
        });
        self.answer(request, response);
    }

    fn answer(&self, request: &Bound<'_, Request>, response: NativeResponse) {
        if let Some(reply) = request.get().take_reply() {
            self.completions.deliver(reply, response);
        }
    }
}

/// What the outermost middleware returned must be a `Response` (as every
/// `call_next` guarantees to the middleware outside it).
fn check_middleware_result(result: &Bound<'_, PyAny>) -> PyResult<()> {
    let py = result.py();
    if result.is_instance(super::helpers::helpers(py)?.response_class.bind(py))? {
        return Ok(());
    }
    let type_name = result
        .get_type()
        .name()
        .map(|name| name.to_string())
        .unwrap_or_default();
    Err(pyo3::exceptions::PyTypeError::new_err(format!(
        "middleware returned a {type_name}, not a Response: return the response from \
         `await call_next(request)` or a Response of your own"
    )))
}

/// Some stream lost its client: `hyperdjango.streaming` closes the
/// generators of every stream whose client is gone (rare; one import lookup).
fn close_abandoned_streams(py: Python<'_>) {
    let closed = py
        .import(pyo3::intern!(py, "hyperdjango.streaming"))
        .and_then(|module| module.call_method0(pyo3::intern!(py, "close_abandoned")));
    if let Err(error) = closed {
        error.print(py);
    }
}

fn route_target(
    py: Python<'_>,
    handler: Py<PyAny>,
    is_async: bool,
    params: &[(String, String)],
) -> PyResult<RouteTarget> {
    let params = params
        .iter()
        .map(|(name, kind)| Ok((PyString::intern(py, name).unbind(), parse_kind(kind)?)))
        .collect::<PyResult<Vec<_>>>()?;
    Ok(RouteTarget {
        handler,
        is_async,
        params,
    })
}

impl RouteTarget {
    fn clone_ref(&self, py: Python<'_>) -> RouteTarget {
        RouteTarget {
            handler: self.handler.clone_ref(py),
            is_async: self.is_async,
            params: self
                .params
                .iter()
                .map(|(name, kind)| (name.clone_ref(py), *kind))
                .collect(),
        }
    }
}

fn copy_context(py: Python<'_>) -> PyResult<Bound<'_, PyAny>> {
    // SAFETY: returns a new reference or NULL with an exception set.
    unsafe { Bound::from_owned_ptr_or_err(py, ffi::PyContext_CopyCurrent()) }
}

/// The handler's keyword arguments: path parameters, converted (`int`).
pub(super) fn path_kwargs<'py>(
    py: Python<'py>,
    params: &[(Py<PyString>, ParamKind)],
    values: &[String],
) -> PyResult<Option<Bound<'py, PyDict>>> {
    if params.is_empty() {
        return Ok(None);
    }
    if params.len() != values.len() {
        // Never pair names and values that do not belong together.
        return Err(PyRuntimeError::new_err(format!(
            "route has {} parameters but {} values were matched",
            params.len(),
            values.len()
        )));
    }
    let kwargs = PyDict::new(py);
    for ((name, kind), value) in params.iter().zip(values) {
        match kind {
            ParamKind::Int => match value.parse::<i64>() {
                Ok(number) => kwargs.set_item(name.bind(py), number)?,
                // Beyond 64 bits: Python ints are unbounded.
                Err(_) => kwargs.set_item(
                    name.bind(py),
                    py.get_type::<PyInt>().call1((value.as_str(),))?,
                )?,
            },
            _ => kwargs.set_item(name.bind(py), value.as_str())?,
        }
    }
    Ok(Some(kwargs))
}

/// Reads the deadline and load keywords `HyperApp.run` passed (already checked there).
pub(super) fn apply_limits(config: &mut ServerConfig, limits: &Bound<'_, PyDict>) -> PyResult<()> {
    let seconds = |name: &str| -> PyResult<Option<Duration>> {
        match limits.get_item(name)? {
            None => Ok(None),
            Some(value) => {
                let value: f64 = value.extract()?;
                Duration::try_from_secs_f64(value)
                    .ok()
                    .filter(|duration| !duration.is_zero())
                    .map(Some)
                    .ok_or_else(|| {
                        PyValueError::new_err(format!(
                            "{name} must be a positive number of seconds, not {value}"
                        ))
                    })
            }
        }
    };
    let count = |name: &str| -> PyResult<Option<usize>> {
        match limits.get_item(name)? {
            None => Ok(None),
            Some(value) => match value.extract::<usize>() {
                Ok(count) if count > 0 => Ok(Some(count)),
                _ => Err(PyValueError::new_err(format!(
                    "{name} must be a positive int, not {value}"
                ))),
            },
        }
    };
    let deadlines = &mut config.deadlines;
    if let Some(value) = seconds("header_read_timeout")? {
        deadlines.header_read = value;
    }
    if let Some(value) = seconds("keep_alive_timeout")? {
        deadlines.keep_alive = value;
    }
    if let Some(value) = seconds("body_read_timeout")? {
        deadlines.body_read = value;
    }
    if let Some(value) = seconds("send_timeout")? {
        deadlines.send = value;
    }
    if let Some(value) = count("max_connections")? {
        config.max_connections = value;
    }
    if let Some(value) = count("max_queue")? {
        config.queue_limits.max_queue = value;
    }
    if let Some(value) = seconds("max_queue_wait")? {
        config.queue_limits.max_wait = value;
    }
    Ok(())
}
