//! One task per connection (hyper's HTTP/1.1 state machine: keep-alive,
//! pipelining, chunked bodies, 100-continue) and the per-request path: head
//! checks, routing, native error answers, body limits, hand-over.

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

use bytes::{Bytes, BytesMut};
use http::header::{ALLOW, CONNECTION, CONTENT_LENGTH, CONTENT_TYPE, LOCATION};
use http::{HeaderMap, HeaderName, HeaderValue, Method, Request, Response, StatusCode, Version};
use http_body_util::BodyExt;
use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper_util::rt::{TokioIo, TokioTimer};
use parking_lot::Mutex;
use tokio::sync::{oneshot, watch};

use super::files::{file_response, static_file_path, FileOptions};
use super::request_body::SPOOL_BODY_OVER;
use super::scanned_io::ScannedIo;
use super::{NativeResponse, PendingRequest, RequestBody, ResponseBody, Shared, SpooledBody};
use crate::http::framing::FramingScanner;
use crate::http::validate::validate_head;
use crate::routing::Resolution;
use std::io::Write;

pub(crate) const JSON_CONTENT_TYPE: HeaderValue = HeaderValue::from_static("application/json");
const KEEP_ALIVE: HeaderValue = HeaderValue::from_static("keep-alive");
const CLOSE: HeaderValue = HeaderValue::from_static("close");

/// Headers `prod=True` puts on every response (unless the handler set them).
const SECURITY_HEADERS: [(HeaderName, HeaderValue); 4] = [
    (
        HeaderName::from_static("strict-transport-security"),
        HeaderValue::from_static("max-age=31536000; includeSubDomains"),
    ),
    (
        HeaderName::from_static("x-frame-options"),
        HeaderValue::from_static("DENY"),
    ),
    (
        HeaderName::from_static("x-content-type-options"),
        HeaderValue::from_static("nosniff"),
    ),
    (
        HeaderName::from_static("referrer-policy"),
        HeaderValue::from_static("strict-origin-when-cross-origin"),
    ),
];

pub(super) async fn accept_loop(
    listener: tokio::net::TcpListener,
    shared: Arc<Shared>,
    mut stop: watch::Receiver<bool>,
) {
    loop {
        tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok((stream, peer)) => {
                    let _ = stream.set_nodelay(true);
                    tokio::spawn(serve_connection(stream, peer, Arc::clone(&shared), stop.clone()));
                }
                // Out of descriptors or a connection reset before accept: back
                // off a little instead of spinning, then keep serving.
                Err(_) => tokio::time::sleep(Duration::from_millis(10)).await,
            },
            _ = stopping(&mut stop) => break,
        }
    }
}

/// Resolves once shutdown has begun (at once if it already has).
async fn stopping(stop: &mut watch::Receiver<bool>) {
    // The borrow guard is dropped here, before any other await: it is not Send.
    let _ = stop.wait_for(|stopping| *stopping).await;
}

async fn serve_connection(
    stream: tokio::net::TcpStream,
    peer: SocketAddr,
    shared: Arc<Shared>,
    mut stop: watch::Receiver<bool>,
) {
    shared.stats.connections.fetch_add(1, Ordering::SeqCst);
    let limits = shared.config.head_limits;
    let scanner = Arc::new(Mutex::new(FramingScanner::default()));
    let service_state = Arc::clone(&shared);
    let service_scanner = Arc::clone(&scanner);
    let service = service_fn(move |request| {
        let refusal = service_scanner.lock().next_request_refusal();
        handle(request, peer, refusal, Arc::clone(&service_state))
    });
    let connection = http1::Builder::new()
        .timer(TokioTimer::new())
        .header_read_timeout(shared.config.header_read_timeout)
        .keep_alive(true)
        // Copy head and body into one buffer and write once: for the small
        // answers that dominate, cheaper than a two-part writev (measured
        // 88k -> 91-94k req/s). Revisit with large streamed bodies.
        .writev(false)
        // Not `pipeline_flush(true)`: with it hyper 1.12 never flushes the
        // automatic 400/431 it writes for a malformed head before closing.
        // The head must fit in the read buffer; beyond it hyper answers 431.
        .max_buf_size((limits.max_uri_length + limits.max_header_bytes + 4096).max(8192))
        .serve_connection(TokioIo::new(ScannedIo::new(stream, scanner)), service);
    tokio::pin!(connection);
    tokio::select! {
        _ = connection.as_mut() => {}
        _ = stopping(&mut stop) => {
            connection.as_mut().graceful_shutdown();
            let _ = connection.await;
        }
    }
    shared.stats.connections.fetch_sub(1, Ordering::SeqCst);
}

async fn handle(
    request: Request<Incoming>,
    peer: SocketAddr,
    framing_refusal: Option<&'static str>,
    shared: Arc<Shared>,
) -> Result<Response<ResponseBody>, Infallible> {
    shared.stats.requests.fetch_add(1, Ordering::Relaxed);
    let keep_alive = wants_keep_alive(request.version(), request.headers());
    let (answer, must_close) = match framing_refusal {
        Some(reason) => {
            shared.stats.native_errors.fetch_add(1, Ordering::Relaxed);
            (
                NativeResponse::detail(StatusCode::BAD_REQUEST, reason),
                true,
            )
        }
        None => answer(request, peer, &shared).await,
    };
    let mut response = Response::new(answer.body);
    *response.status_mut() = answer.status;
    *response.headers_mut() = answer.headers;
    let headers = response.headers_mut();
    if must_close || !keep_alive {
        headers.insert(CONNECTION, CLOSE);
    } else {
        headers.insert(CONNECTION, KEEP_ALIVE);
    }
    if shared.config.prod {
        for (name, value) in SECURITY_HEADERS {
            headers.entry(name).or_insert(value);
        }
    }
    Ok(response)
}

/// Produces the answer and whether the connection must close after it.
async fn answer(
    request: Request<Incoming>,
    peer: SocketAddr,
    shared: &Shared,
) -> (NativeResponse, bool) {
    let (parts, body) = request.into_parts();
    if let Err(error) = validate_head(
        parts.version,
        &parts.uri,
        &parts.headers,
        &shared.config.head_limits,
    ) {
        shared.stats.native_errors.fetch_add(1, Ordering::Relaxed);
        return (NativeResponse::detail(error.status, error.reason), true);
    }
    let path = parts.uri.path();
    if is_debug_path(path) {
        if shared.config.prod {
            return (not_found(), false);
        }
        if path == "/debug/performance" {
            return (performance_page(shared), false);
        }
    }

    if let Some(static_path) = path.strip_prefix(STATIC_PREFIX) {
        if let Some(root) = shared
            .config
            .static_root
            .as_ref()
            .filter(|_| !shared.config.prod)
        {
            if parts.method == Method::GET || parts.method == Method::HEAD {
                return (
                    serve_static(root.clone(), static_path.to_owned(), parts.headers).await,
                    false,
                );
            }
        }
    }

    let (route_id, params) = match shared.routes.resolve(parts.method.as_str(), path) {
        Resolution::Found { route_id, params } => (
            route_id,
            params
                .iter()
                .map(|(_, value, _)| value.into_owned())
                .collect(),
        ),
        Resolution::NotFound => return (not_found(), false),
        Resolution::MethodNotAllowed { allow } => {
            return (method_not_allowed(&parts.method, allow), false)
        }
        Resolution::RedirectSlash { location } => {
            return (redirect(location, parts.uri.query()), false)
        }
    };

    let body = match read_body(body, &parts.headers, shared.config.max_body_size).await {
        Ok(body) => body,
        Err(refusal) => return (refusal, true),
    };

    let (reply, answer) = oneshot::channel();
    let _in_flight = InFlight::enter(shared);
    shared.handoff.push(PendingRequest {
        route_id,
        method: parts.method,
        uri: parts.uri,
        version: parts.version,
        headers: parts.headers,
        body,
        params,
        peer,
        reply,
    });
    match answer.await {
        Ok(response) => (response, false),
        // The dispatcher dropped the request: the server is shutting down.
        Err(_) => (
            NativeResponse::detail(StatusCode::SERVICE_UNAVAILABLE, "Service Unavailable"),
            true,
        ),
    }
}

const STATIC_PREFIX: &str = "/static/";

/// A file under the static folder, found and opened off the I/O threads.
async fn serve_static(
    root: std::path::PathBuf,
    relative: String,
    headers: HeaderMap,
) -> NativeResponse {
    let lookup = tokio::task::spawn_blocking(move || {
        let Some(file) = static_file_path(&root, &relative) else {
            return NativeResponse::detail(StatusCode::NOT_FOUND, "Not Found");
        };
        let mime = mime_guess::from_path(&file).first_or_octet_stream();
        let content_type = match mime.type_() {
            mime_guess::mime::TEXT => format!("{mime}; charset=utf-8"),
            _ if mime.subtype() == "javascript" || mime.subtype() == "json" => {
                format!("{mime}; charset=utf-8")
            }
            _ => mime.to_string(),
        };
        let options = FileOptions {
            content_type: HeaderValue::from_str(&content_type).ok(),
            ..FileOptions::default()
        };
        file_response(&file, &headers, options)
    });
    lookup.await.unwrap_or_else(|_| {
        NativeResponse::detail(StatusCode::INTERNAL_SERVER_ERROR, "Internal Server Error")
    })
}

/// Counts a request as in flight until its answer is back or its client left.
struct InFlight<'a>(&'a Shared);

impl<'a> InFlight<'a> {
    fn enter(shared: &'a Shared) -> Self {
        shared.stats.in_flight.fetch_add(1, Ordering::SeqCst);
        InFlight(shared)
    }
}

impl Drop for InFlight<'_> {
    fn drop(&mut self) {
        self.0.stats.in_flight.fetch_sub(1, Ordering::SeqCst);
    }
}

/// Reads the whole body, refusing with 413 past `limit`. A declared
/// Content-Length over the limit is refused before a byte is read (and no
/// `100 Continue` is sent, since hyper sends it only when the body is polled).
async fn read_body(
    mut body: Incoming,
    headers: &HeaderMap,
    limit: u64,
) -> Result<RequestBody, NativeResponse> {
    let declared = headers
        .get(CONTENT_LENGTH)
        .and_then(|value| value.to_str().ok())
        .and_then(|value| value.parse::<u64>().ok());
    if declared.is_some_and(|length| length > limit) {
        return Err(too_large(limit));
    }
    if declared == Some(0) || hyper::body::Body::is_end_stream(&body) {
        return Ok(RequestBody::Memory(Bytes::new()));
    }
    // Large uploads go to disk as they arrive; everything else stays in memory.
    let may_spool = is_multipart(headers);
    let mut spool: Option<(SpooledBody, std::fs::File)> = None;
    if may_spool && declared.is_some_and(|length| length > SPOOL_BODY_OVER) {
        spool = Some(start_spool().map_err(|_| spool_failed())?);
    }
    // One data frame is the common case: keep it without copying.
    let mut first: Option<Bytes> = None;
    let mut collected: Option<BytesMut> = None;
    let mut received: u64 = 0;
    while let Some(frame) = body.frame().await {
        let frame = frame.map_err(|_| {
            NativeResponse::detail(StatusCode::BAD_REQUEST, "Malformed request body")
        })?;
        let Ok(data) = frame.into_data() else {
            continue;
        };
        received += data.len() as u64;
        if received > limit {
            discard_rest(body).await;
            return Err(too_large(limit)); // a spool file is deleted as it drops
        }
        if let Some((_, file)) = spool.as_mut() {
            // A plain write to the page cache: microseconds, cheaper than a
            // tokio::fs hop to the blocking pool for every frame (measured 5x).
            file.write_all(&data).map_err(|_| spool_failed())?;
            continue;
        }
        match (&mut first, &mut collected) {
            (None, None) => first = Some(data),
            (Some(head), None) => {
                let mut buffer = BytesMut::with_capacity(declared.unwrap_or(received) as usize);
                buffer.extend_from_slice(head);
                buffer.extend_from_slice(&data);
                collected = Some(buffer);
                first = None;
            }
            (_, Some(buffer)) => buffer.extend_from_slice(&data),
        }
        if may_spool && received > SPOOL_BODY_OVER {
            // A chunked upload just outgrew memory: move what we have to disk.
            let (spooled, mut file) = start_spool().map_err(|_| spool_failed())?;
            let so_far = collected
                .take()
                .map(BytesMut::freeze)
                .or(first.take())
                .unwrap_or_default();
            file.write_all(&so_far).map_err(|_| spool_failed())?;
            spool = Some((spooled, file));
        }
    }
    if let Some((mut spooled, mut file)) = spool {
        file.flush().map_err(|_| spool_failed())?;
        spooled.length = received;
        return Ok(RequestBody::Spooled(spooled));
    }
    Ok(RequestBody::Memory(match (first, collected) {
        (_, Some(buffer)) => buffer.freeze(),
        (Some(only), None) => only,
        (None, None) => Bytes::new(),
    }))
}

fn is_multipart(headers: &HeaderMap) -> bool {
    headers
        .get(CONTENT_TYPE)
        .and_then(|value| value.to_str().ok())
        .is_some_and(|value| {
            value
                .trim_start()
                .to_ascii_lowercase()
                .starts_with("multipart/form-data")
        })
}

fn start_spool() -> std::io::Result<(SpooledBody, std::fs::File)> {
    SpooledBody::create()
}

fn spool_failed() -> NativeResponse {
    NativeResponse::detail(
        StatusCode::INSUFFICIENT_STORAGE,
        "Cannot store the request body",
    )
}

/// Reads and drops a little more of an oversized body before answering 413.
///
/// Closing a socket with unread data makes the kernel send a reset, and the
/// client then often never sees the 413. Draining a bounded amount (at most
/// 1 MiB, for at most one second) lets a client that is nearly done read the
/// answer; anything larger is cut off regardless.
async fn discard_rest(mut body: Incoming) {
    const BUDGET_BYTES: usize = 1024 * 1024;
    let drain = async {
        let mut discarded = 0;
        while let Some(Ok(frame)) = body.frame().await {
            discarded += frame.data_ref().map_or(0, Bytes::len);
            if discarded > BUDGET_BYTES {
                break;
            }
        }
    };
    let _ = tokio::time::timeout(Duration::from_secs(1), drain).await;
}

fn wants_keep_alive(version: Version, headers: &HeaderMap) -> bool {
    let has_token = |token: &str| {
        headers.get_all(CONNECTION).iter().any(|value| {
            value.to_str().is_ok_and(|value| {
                value
                    .split(',')
                    .any(|part| part.trim().eq_ignore_ascii_case(token))
            })
        })
    };
    match version {
        Version::HTTP_11 => !has_token("close"),
        Version::HTTP_10 => has_token("keep-alive"),
        _ => false,
    }
}

fn is_debug_path(path: &str) -> bool {
    path == "/debug" || path.starts_with("/debug/")
}

fn not_found() -> NativeResponse {
    NativeResponse::detail(StatusCode::NOT_FOUND, "Not Found")
}

fn too_large(limit: u64) -> NativeResponse {
    let detail = format!("Request body too large (limit is {limit} bytes)");
    NativeResponse::detail(StatusCode::PAYLOAD_TOO_LARGE, &detail)
}

fn method_not_allowed(method: &Method, allow: &str) -> NativeResponse {
    let mut response = if method == Method::OPTIONS {
        NativeResponse {
            status: StatusCode::NO_CONTENT,
            headers: HeaderMap::new(),
            body: ResponseBody::empty(),
        }
    } else {
        NativeResponse::detail(StatusCode::METHOD_NOT_ALLOWED, "Method Not Allowed")
    };
    if let Ok(value) = HeaderValue::from_str(allow) {
        response.headers.insert(ALLOW, value);
    }
    response
}

fn redirect(mut location: String, query: Option<&str>) -> NativeResponse {
    if let Some(query) = query {
        location.push('?');
        location.push_str(query);
    }
    let mut response = NativeResponse::detail(StatusCode::PERMANENT_REDIRECT, "Permanent Redirect");
    // The location is the request's own (already valid) path with one slash toggled.
    if let Ok(value) = HeaderValue::from_str(&location) {
        response.headers.insert(LOCATION, value);
    }
    response
}

fn performance_page(shared: &Shared) -> NativeResponse {
    let stats = &shared.stats;
    let body = format!(
        "{{\"uptime_seconds\":{:.3},\"requests_total\":{},\"in_flight\":{},\"connections\":{},\"native_errors\":{}}}",
        shared.started.elapsed().as_secs_f64(),
        stats.requests.load(Ordering::Relaxed),
        stats.in_flight.load(Ordering::Relaxed),
        stats.connections.load(Ordering::Relaxed),
        stats.native_errors.load(Ordering::Relaxed),
    );
    let mut headers = HeaderMap::new();
    headers.insert(CONTENT_TYPE, JSON_CONTENT_TYPE);
    NativeResponse {
        status: StatusCode::OK,
        headers,
        body: ResponseBody::full(body),
    }
}
