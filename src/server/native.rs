//! Answers the server gives without entering Python: 404, 405 and OPTIONS,
//! trailing-slash redirects, 413, static files, the debug performance page.

use std::sync::atomic::Ordering;

use http::header::{ALLOW, CONTENT_TYPE, LOCATION, RETRY_AFTER};
use http::{HeaderMap, HeaderValue, Method, StatusCode};

use super::files::{file_response, static_file_path, FileOptions};
use super::{metrics, NativeResponse, ResponseBody, Shared};
use crate::http::head::RequestHead;
use crate::http::json::write_json_string;
use crate::http::uri::same_site_location;

pub(crate) const JSON_CONTENT_TYPE: HeaderValue = HeaderValue::from_static("application/json");

pub(super) const STATIC_PREFIX: &str = "/static/";

pub(super) fn is_debug_path(path: &str) -> bool {
    path == "/debug" || path.starts_with("/debug/")
}

pub(super) fn not_found() -> NativeResponse {
    NativeResponse::detail(StatusCode::NOT_FOUND, "Not Found")
}

pub(super) fn too_large(limit: u64) -> NativeResponse {
    let detail = format!("Request body too large (limit is {limit} bytes)");
    NativeResponse::detail(StatusCode::PAYLOAD_TOO_LARGE, &detail)
}

/// The answer to a request refused because the application is overloaded.
pub(super) fn overloaded() -> NativeResponse {
    let mut response = NativeResponse::detail(
        StatusCode::SERVICE_UNAVAILABLE,
        "Server overloaded, retry shortly",
    );
    response
        .headers
        .insert(RETRY_AFTER, HeaderValue::from_static("1"));
    response
}

pub(super) fn method_not_allowed(method: &Method, allow: &str) -> NativeResponse {
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

pub(super) fn redirect(path: &str, query: Option<&str>) -> NativeResponse {
    let mut response = NativeResponse::detail(StatusCode::PERMANENT_REDIRECT, "Permanent Redirect");
    // The request's own path with one slash toggled, encoded so that no
    // browser reads it as another host (`/\evil.com`, `//evil.com`).
    let location = same_site_location(path, query);
    if let Ok(value) = HeaderValue::from_str(&location) {
        response.headers.insert(LOCATION, value);
    }
    response
}

pub(super) fn performance_page(shared: &Shared) -> NativeResponse {
    let stats = &shared.stats;
    let waiting = shared.handoff.waiting();
    let workers = worker_pids(shared.config.supervised)
        .iter()
        .map(u32::to_string)
        .collect::<Vec<_>>()
        .join(",");
    let body = format!(
        "{{\"pid\":{},\"uptime_seconds\":{:.3},\"requests_total\":{},\"in_flight\":{},\"open_requests\":{},\"queue_depth\":{},\"connections\":{},\"native_errors\":{},\"shed_total\":{},\"workers\":[{}],\"routes\":{{",
        std::process::id(),
        shared.started.elapsed().as_secs_f64(),
        stats.requests.load(Ordering::Relaxed),
        // Handed over minus still waiting: the requests Python is working on.
        stats.in_flight.load(Ordering::Relaxed).saturating_sub(waiting),
        stats.open_requests.load(Ordering::Relaxed),
        waiting,
        stats.connections.load(Ordering::Relaxed),
        stats.native_errors.load(Ordering::Relaxed),
        stats.shed.load(Ordering::Relaxed),
        workers,
    );
    let mut body = body.into_bytes();
    for (index, (pattern, summary)) in route_summaries(shared).into_iter().enumerate() {
        if index > 0 {
            body.push(b',');
        }
        write_json_string(&pattern, &mut body);
        body.extend_from_slice(
            format!(
                ":{{\"count\":{},\"p50_ms\":{:.3},\"p99_ms\":{:.3}}}",
                summary.count, summary.p50_ms, summary.p99_ms
            )
            .as_bytes(),
        );
    }
    body.extend_from_slice(b"}}");
    let mut headers = HeaderMap::new();
    headers.insert(CONTENT_TYPE, JSON_CONTENT_TYPE);
    NativeResponse {
        status: StatusCode::OK,
        headers,
        body: ResponseBody::full(body),
    }
}

/// Latency by route pattern (its routes summed), in registration order.
fn route_summaries(shared: &Shared) -> Vec<(String, metrics::Summary)> {
    // (pattern, its route ids): one route id may serve several methods.
    let mut patterns: Vec<(&str, Vec<usize>)> = Vec::new();
    let routes = shared.routes.load();
    let latency = shared.route_latency.load();
    for (_, pattern, route_id) in routes.routes() {
        match patterns.iter_mut().find(|(known, _)| *known == pattern) {
            Some((_, ids)) if ids.contains(&route_id) => {}
            Some((_, ids)) => ids.push(route_id),
            None => patterns.push((pattern, vec![route_id])),
        }
    }
    patterns
        .into_iter()
        .map(|(pattern, ids)| {
            let mut counts = metrics::empty_counts();
            for id in ids {
                if let Some(histogram) = latency.get(id) {
                    histogram.add_to(&mut counts);
                }
            }
            (pattern.to_owned(), metrics::summarise(&counts))
        })
        .collect()
}

/// This process, or (under a supervisor) every worker of the supervisor.
fn worker_pids(supervised: bool) -> Vec<u32> {
    if supervised {
        // SAFETY: getppid has no preconditions and cannot fail.
        let parent = unsafe { libc::getppid() };
        let children = std::fs::read_to_string(format!("/proc/{parent}/task/{parent}/children"));
        if let Ok(children) = children {
            let pids: Vec<u32> = children
                .split_whitespace()
                .filter_map(|pid| pid.parse().ok())
                .collect();
            if !pids.is_empty() {
                return pids;
            }
        }
    }
    vec![std::process::id()]
}

/// A file under the static folder, found and opened off the I/O threads.
pub(super) async fn serve_static(root: std::path::PathBuf, head: RequestHead) -> NativeResponse {
    let lookup = tokio::task::spawn_blocking(move || {
        let relative = head.path().strip_prefix(STATIC_PREFIX).unwrap_or_default();
        let Some(file) = static_file_path(&root, relative) else {
            return not_found();
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
        file_response(&file, &head, options)
    });
    lookup.await.unwrap_or_else(|_| {
        NativeResponse::detail(StatusCode::INTERNAL_SERVER_ERROR, "Internal Server Error")
    })
}
