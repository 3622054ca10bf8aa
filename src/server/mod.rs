//! The tokio HTTP/1.1 server: sockets, connections (our own HTTP/1.1 state
//! machine over the pure codec in `crate::http`), native answers, and the
//! hand-over of routed requests to whoever consumes the [`Handoff`].
//!
//! No PyO3 here: the Python side is just a consumer of `PendingRequest`s that
//! answers each through its `reply` channel.

pub mod body;
pub mod completion;
mod connection;
pub mod files;
pub mod handoff;
pub mod header_pool;
mod heads;
mod in_memory;
pub mod metrics;
mod native;
mod reading;
pub mod request_body;
pub mod shutdown;
pub mod signals;
mod upgrade;
mod writing;

use std::io;
use std::net::{SocketAddr, ToSocketAddrs};
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use arc_swap::ArcSwap;
use http::{HeaderMap, StatusCode};
use tokio::sync::oneshot;

use crate::http::head::{HeadLimits, RequestHead};
use crate::routing::RouteTable;
pub use body::{ResponseBody, StreamChunk};
pub use completion::Completions;
pub use handoff::Handoff;
pub use in_memory::InMemoryClient;
pub use request_body::{RequestBody, SpooledBody};
pub use shutdown::Lifecycle;
pub use signals::{Signal, SignalWatch};

/// Default for [`ServerConfig::max_connections`].
pub const DEFAULT_MAX_CONNECTIONS: usize = 10_000;

/// How long a client may take over each part of an exchange (docs/deadlines.md).
#[derive(Clone, Copy, Debug)]
pub struct Deadlines {
    /// A whole request head must arrive within this, counted from its first
    /// byte (from accept, for a connection's first request): 408 and close.
    pub header_read: Duration,
    /// An idle keep-alive connection (no byte of a next request) is closed
    /// silently after this. Independent of `header_read`, as in nginx.
    pub keep_alive: Duration,
    /// A request body that stalls this long between two reads: 408 and
    /// close, and the handler never runs. A slow body that progresses is not cut.
    pub body_read: Duration,
    /// A client that takes nothing of an answer for this long is abandoned.
    pub send: Duration,
}

impl Default for Deadlines {
    fn default() -> Self {
        Deadlines {
            header_read: Duration::from_secs(10),
            keep_alive: Duration::from_secs(5),
            body_read: Duration::from_secs(30),
            send: Duration::from_secs(30),
        }
    }
}

/// Load shedding at the hand-over to Python (docs/overload.md).
pub use handoff::QueueLimits;

/// Everything `HyperApp.run()` can configure on the native side.
#[derive(Clone, Debug)]
pub struct ServerConfig {
    pub host: String,
    pub port: u16,
    /// Production mode: security headers on every response, `/debug/*` hidden.
    pub prod: bool,
    /// Largest accepted request body, in bytes (413 beyond it).
    pub max_body_size: u64,
    pub head_limits: HeadLimits,
    /// Tokio worker threads (the Python thread is separate).
    pub worker_threads: usize,
    /// Deadlines: see [`Deadlines`].
    pub deadlines: Deadlines,
    /// Open connections per process; beyond it accepting pauses and the
    /// kernel's backlog holds new connections until one closes.
    pub max_connections: usize,
    /// When requests handed to Python wait too long or too many: see [`QueueLimits`].
    pub queue_limits: QueueLimits,
    pub backlog: i32,
    /// A listening socket inherited from a supervisor, served instead of
    /// binding `host:port` (all workers then share one accept queue).
    pub listen_fd: Option<std::os::fd::RawFd>,
    /// This process is one worker of a supervisor (its parent): the debug
    /// page lists the supervisor's children as the workers.
    pub supervised: bool,
    /// How long in-flight requests (and streams) get to finish once a
    /// graceful shutdown begins (`app.run(shutdown_timeout=...)`).
    pub shutdown_timeout: Duration,
    /// `HyperApp(static=...)`, canonical: served natively under `/static/`
    /// (debug mode only; in production the reverse proxy serves it).
    pub static_root: Option<std::path::PathBuf>,
    /// The application has middleware: the router's own answers (404, 405,
    /// OPTIONS, trailing-slash redirects) go through it too, as
    /// [`PendingRequest::router_answer`]. Off, they stay native and free.
    pub router_answers_to_application: bool,
    /// The application's leading built-in middleware, run natively around
    /// the hand-over (see `crate::middleware`); None when there are none.
    pub native_middleware: Option<Arc<crate::middleware::NativeChain>>,
    /// Proxies whose `X-Forwarded-For`/`-Proto` are believed.
    pub trusted_proxies: Arc<crate::http::proxy::TrustedProxies>,
    /// Every request goes to the application as route 0: no native routing,
    /// debug or static paths (the WSGI bridge, whose application routes).
    pub catch_all: bool,
    /// Spool every body over `SPOOL_BODY_OVER` to disk, not only multipart
    /// ones (the WSGI bridge, whose `wsgi.input` may be anything).
    pub spool_every_body: bool,
    /// WebSocket routes and connections; `None` when the app has none.
    pub websockets: Option<Arc<crate::websocket::hub::Hub>>,
}

impl ServerConfig {
    pub fn new(host: impl Into<String>, port: u16) -> Self {
        ServerConfig {
            host: host.into(),
            port,
            prod: false,
            max_body_size: 10 * 1024 * 1024,
            head_limits: HeadLimits::default(),
            worker_threads: std::thread::available_parallelism()
                .map_or(1, |n| n.get())
                .min(4),
            deadlines: Deadlines::default(),
            max_connections: DEFAULT_MAX_CONNECTIONS,
            queue_limits: QueueLimits::default(),
            backlog: 1024,
            listen_fd: None,
            supervised: false,
            shutdown_timeout: Duration::from_secs(30),
            static_root: None,
            router_answers_to_application: false,
            native_middleware: None,
            trusted_proxies: Arc::new(crate::http::proxy::TrustedProxies::default()),
            catch_all: false,
            spool_every_body: false,
            websockets: None,
        }
    }
}

/// A routed request waiting for the application's answer.
pub struct PendingRequest {
    pub route_id: usize,
    pub head: RequestHead,
    pub body: RequestBody,
    /// Path parameter values, decoded, in pattern order.
    pub params: Vec<String>,
    pub peer: SocketAddr,
    pub reply: oneshot::Sender<NativeResponse>,
    /// Set when no route serves the request (404, 405, OPTIONS, redirect):
    /// the answer the router would give, for the middleware chain to pass on.
    /// `route_id` means nothing then.
    /// Boxed: rare, and this request is moved several times on its way.
    pub router_answer: Option<Box<NativeResponse>>,
    /// When it was handed over (coarse): the consumer reports it to
    /// [`Handoff::started`] when the handler starts.
    pub queued_at: crate::clock::Tick,
}

/// The application's answer, already validated and serialised.
pub struct NativeResponse {
    pub status: StatusCode,
    pub headers: HeaderMap,
    pub body: ResponseBody,
}

impl NativeResponse {
    /// A `{"detail": ...}` JSON answer.
    pub fn detail(status: StatusCode, detail: &str) -> Self {
        let mut headers = HeaderMap::with_capacity(4);
        headers.insert(http::header::CONTENT_TYPE, native::JSON_CONTENT_TYPE);
        NativeResponse {
            status,
            headers,
            body: ResponseBody::full(crate::http::detail_body(detail)),
        }
    }

    /// Adds `extra` headers (the application's, a file's validators) to an
    /// answer without letting any of them describe a body this answer does
    /// not have: an error's JSON keeps its own type, never a file's.
    pub fn with_headers(mut self, extra: HeaderMap) -> Self {
        use http::header::{
            CONTENT_DISPOSITION, CONTENT_ENCODING, CONTENT_LANGUAGE, CONTENT_LENGTH, CONTENT_TYPE,
        };
        const DESCRIBE_A_BODY: [http::HeaderName; 5] = [
            CONTENT_TYPE,
            CONTENT_DISPOSITION,
            CONTENT_ENCODING,
            CONTENT_LANGUAGE,
            CONTENT_LENGTH,
        ];
        for (name, value) in &extra {
            if !DESCRIBE_A_BODY.contains(name) {
                self.headers.append(name.clone(), value.clone());
            }
        }
        self
    }
}

/// Counters shown by `/debug/performance` (debug mode only).
#[derive(Default)]
pub struct Stats {
    pub requests: AtomicU64,
    /// Handed to the application and not answered yet (waiting included).
    pub in_flight: AtomicUsize,
    /// Requests from their head to the last byte of their answer (streams
    /// included): a graceful shutdown drains until this is zero.
    pub open_requests: AtomicUsize,
    pub connections: AtomicUsize,
    /// Connections whose first request head has not arrived yet: when the
    /// server stops they still get a moment to send it, and the drain waits.
    pub unstarted: AtomicUsize,
    pub native_errors: AtomicU64,
    /// Requests refused with 503 because the application was overloaded.
    pub shed: AtomicU64,
}

/// State shared by every connection task.
pub(crate) struct Shared {
    pub config: ServerConfig,
    /// Swapped whole by [`Server::replace_routes`] (hot reload); a load is a
    /// few uncontended atomic operations per request.
    pub routes: ArcSwap<RouteTable>,
    pub handoff: Arc<Handoff<PendingRequest>>,
    pub stats: Stats,
    pub started: Instant,
    /// Latency per route id (debug mode only; empty in production).
    /// Replaced with the routes on hot reload (counts restart then).
    pub route_latency: ArcSwap<Vec<metrics::Histogram>>,
    /// Limits open connections to `config.max_connections`.
    pub connection_slots: Arc<tokio::sync::Semaphore>,
    pub lifecycle: Arc<Lifecycle>,
}

impl Shared {
    pub(crate) fn new(
        config: ServerConfig,
        routes: Arc<RouteTable>,
        handoff: Arc<Handoff<PendingRequest>>,
    ) -> Arc<Shared> {
        let latency = latency_table(&config, &routes);
        let slots = config
            .max_connections
            .clamp(1, tokio::sync::Semaphore::MAX_PERMITS);
        let lifecycle = Arc::new(Lifecycle::new(
            Arc::clone(&handoff),
            config.shutdown_timeout,
        ));
        Arc::new(Shared {
            config,
            routes: ArcSwap::new(routes),
            handoff,
            stats: Stats::default(),
            started: Instant::now(),
            route_latency: ArcSwap::from_pointee(latency),
            connection_slots: Arc::new(tokio::sync::Semaphore::new(slots)),
            lifecycle,
        })
    }
}

/// One latency histogram per route id of `routes` (none in production,
/// where `/debug/performance` does not exist).
fn latency_table(config: &ServerConfig, routes: &RouteTable) -> Vec<metrics::Histogram> {
    if config.prod {
        return Vec::new();
    }
    let count = routes.routes().map(|(_, _, id)| id + 1).max().unwrap_or(0);
    (0..count).map(|_| Default::default()).collect()
}

/// A running server. Dropping it stops the runtime abruptly; call
/// [`Server::begin_shutdown`] and [`Server::finish_shutdown`] for a clean stop.
pub struct Server {
    shared: Arc<Shared>,
    local_addr: SocketAddr,
    runtime: Option<tokio::runtime::Runtime>,
    signals: Option<SignalWatch>,
}

impl Server {
    /// Binds the listening socket (errors such as "address in use" surface
    /// here, synchronously) and starts serving on a tokio runtime.
    pub fn start(
        config: ServerConfig,
        routes: Arc<RouteTable>,
        handoff: Arc<Handoff<PendingRequest>>,
        completions: Arc<Completions>,
    ) -> io::Result<Server> {
        let listener = bind(&config)?;
        let local_addr = listener.local_addr()?;
        let runtime = runtime(&config, &handoff)?;
        let shared = Shared::new(config, routes, handoff);
        let stop_signal = shared.lifecycle.stop_receiver();
        let listener = {
            let _guard = runtime.enter();
            tokio::net::TcpListener::from_std(listener)?
        };
        runtime.spawn(connection::accept_loop(
            listener,
            Arc::clone(&shared),
            stop_signal,
        ));
        runtime.spawn(async move { completions.deliver_forever().await });
        runtime.spawn(Arc::clone(&shared.lifecycle).enforce_deadline());
        Ok(Server {
            shared,
            local_addr,
            runtime: Some(runtime),
            signals: None,
        })
    }

    pub fn local_addr(&self) -> SocketAddr {
        self.local_addr
    }

    pub fn stats(&self) -> &Stats {
        &self.shared.stats
    }

    /// Routes the requests that arrive from now on with `routes`; requests
    /// already routed keep their route ids, so the new table's ids must not
    /// reuse ids of the old one with another meaning.
    pub fn replace_routes(&self, routes: Arc<RouteTable>) {
        let latency = latency_table(&self.shared.config, &routes);
        self.shared.routes.store(routes);
        self.shared.route_latency.store(Arc::new(latency));
    }

    /// The server's shutdown state, shared with signal handling and `_server_shutdown()`.
    pub fn lifecycle(&self) -> &Arc<Lifecycle> {
        &self.shared.lifecycle
    }

    /// Catches SIGTERM and SIGINT natively until the server stops (see
    /// [`Lifecycle::on_signal`] for what each does).
    pub fn handle_signals(&mut self) -> io::Result<()> {
        let lifecycle = Arc::clone(&self.shared.lifecycle);
        self.signals = Some(SignalWatch::install(move |signal| {
            lifecycle.on_signal(signal)
        })?);
        Ok(())
    }

    /// Stops accepting and asks every connection to close after its current
    /// request (idle keep-alive connections close at once).
    pub fn begin_shutdown(&self) {
        self.shared.lifecycle.begin();
    }

    /// Waits up to `timeout` for connections to finish, then stops the runtime
    /// and gives signal handling back. Blocking: call it without the GIL.
    pub fn finish_shutdown(&mut self, timeout: Duration) {
        let deadline = Instant::now() + timeout;
        while self.shared.stats.connections.load(Ordering::SeqCst) > 0 && Instant::now() < deadline
        {
            std::thread::sleep(Duration::from_millis(5));
        }
        self.shared.handoff.discard_pending();
        if let Some(hub) = &self.shared.config.websockets {
            hub.discard_pending();
        }
        if let Some(runtime) = self.runtime.take() {
            runtime.shutdown_timeout(Duration::from_millis(100));
        }
        self.signals = None;
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        if let Some(runtime) = self.runtime.take() {
            runtime.shutdown_background();
        }
    }
}

/// Serves one already-connected stream (an in-memory pipe, in tests and
/// benchmarks) as the server would serve a TCP connection from `peer`;
/// requests that reach a route are pushed to `handoff`. Returns when the
/// connection closes.
pub async fn serve_stream<S>(
    stream: S,
    peer: SocketAddr,
    config: ServerConfig,
    routes: Arc<RouteTable>,
    handoff: Arc<Handoff<PendingRequest>>,
) where
    S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin,
{
    let shared = Shared::new(config, routes, handoff);
    // Never stopping: the sender lives in `shared`, as long as the connection.
    let never = shared.lifecycle.stop_receiver();
    connection::serve_connection(stream, peer, shared, never).await;
}

/// The I/O runtime: `config.worker_threads` workers, each handing what it
/// queued to Python in one go whenever it runs out of work.
fn runtime(
    config: &ServerConfig,
    handoff: &Arc<Handoff<PendingRequest>>,
) -> io::Result<tokio::runtime::Runtime> {
    let flush_on_park = Arc::clone(handoff);
    let websockets_on_park = config.websockets.clone();
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(config.worker_threads.max(1))
        .thread_name("hyperdjango-io")
        // A worker out of work hands everything it queued to Python in one go.
        .on_thread_park(move || {
            flush_on_park.flush();
            if let Some(hub) = &websockets_on_park {
                hub.flush();
            }
        })
        .on_thread_start(batch_scheduling)
        .enable_io()
        .enable_time()
        .build()
}

/// Puts the calling (I/O) thread under `SCHED_BATCH`.
///
/// When tokio and the Python thread share a core, a packet arriving for tokio
/// would otherwise preempt Python in the middle of a batch, and every request
/// would cost two context switches. `SCHED_BATCH` only removes that wake-up
/// preemption: tokio still runs as soon as Python blocks or its slice ends, and
/// on an idle core nothing changes. Measured on one core with 64 connections:
/// 41k -> 94k req/s, context switches from ~1 to ~0.04 per request.
fn batch_scheduling() {
    let parameters = libc::sched_param { sched_priority: 0 };
    // SAFETY: plain syscall on the calling thread (pid 0) with a valid param
    // struct; switching SCHED_OTHER -> SCHED_BATCH needs no privilege, and a
    // failure only leaves the default policy in place.
    unsafe {
        libc::sched_setscheduler(0, libc::SCHED_BATCH, &parameters);
    }
}

fn bind(config: &ServerConfig) -> io::Result<std::net::TcpListener> {
    if let Some(fd) = config.listen_fd {
        return inherited_listener(fd);
    }
    let host = config.host.trim_start_matches('[').trim_end_matches(']');
    let address: SocketAddr = (host, config.port)
        .to_socket_addrs()?
        .next()
        .ok_or_else(|| {
            io::Error::new(
                io::ErrorKind::InvalidInput,
                format!("cannot resolve host {host:?}"),
            )
        })?;
    let domain = socket2::Domain::for_address(address);
    let socket = socket2::Socket::new(domain, socket2::Type::STREAM, Some(socket2::Protocol::TCP))?;
    socket.set_reuse_address(true)?;
    if address.is_ipv6() {
        // "::" means IPv6 only, like nginx; "0.0.0.0" is the IPv4 wildcard.
        socket.set_only_v6(true)?;
    }
    socket.set_nonblocking(true)?;
    socket.bind(&address.into())?;
    socket.listen(config.backlog)?;
    Ok(socket.into())
}

/// Takes over a listening socket a supervisor bound and passed down.
fn inherited_listener(fd: std::os::fd::RawFd) -> io::Result<std::net::TcpListener> {
    use std::os::fd::{AsRawFd, FromRawFd};
    let mut kind: libc::c_int = 0;
    let mut length = std::mem::size_of::<libc::c_int>() as libc::socklen_t;
    // SAFETY: getsockopt writes at most `length` bytes into the live `kind`;
    // on a descriptor that is not a socket it fails and we refuse it.
    let status = unsafe {
        libc::getsockopt(
            fd,
            libc::SOL_SOCKET,
            libc::SO_ACCEPTCONN,
            (&mut kind as *mut libc::c_int).cast(),
            &mut length,
        )
    };
    if status != 0 || kind == 0 {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            format!("descriptor {fd} is not a listening socket"),
        ));
    }
    // SAFETY: `fd` is a listening socket (checked above) handed to this
    // process to own; nothing else in the process uses it.
    let listener = unsafe { std::net::TcpListener::from_raw_fd(fd) };
    debug_assert_eq!(listener.as_raw_fd(), fd);
    listener.set_nonblocking(true)?;
    Ok(listener)
}
