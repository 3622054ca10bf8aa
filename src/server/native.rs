//! Answers the server gives without entering Python: 404, 405 and OPTIONS,
//! trailing-slash redirects, 413, static files, the debug performance page.

use std::sync::atomic::Ordering;

use http::header::{ALLOW, CONTENT_TYPE, LOCATION};
use http::{HeaderMap, HeaderValue, Method, StatusCode};

use super::files::{file_response, static_file_path, FileOptions};
use super::{NativeResponse, ResponseBody, Shared};
use crate::http::head::RequestHead;
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
