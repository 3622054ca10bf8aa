//! File answers: validators, 304, single ranges (206/416), streamed from disk
//! in chunks by tokio, never read whole into memory (or into Python).

use std::fs::File;
use std::io::{Seek, SeekFrom};
use std::path::Path;

use http::header::{
    ACCEPT_RANGES, CONTENT_DISPOSITION, CONTENT_RANGE, CONTENT_TYPE, ETAG, LAST_MODIFIED,
};
use http::{HeaderMap, HeaderValue, StatusCode};

use super::{NativeResponse, ResponseBody};
use crate::http::conditional::{range_request, RangeRequest, Validators};
use crate::http::head::RequestHead;

/// How a file should be presented.
#[derive(Default)]
pub struct FileOptions {
    pub content_type: Option<HeaderValue>,
    pub content_disposition: Option<HeaderValue>,
    /// Extra headers from the application (kept on every outcome).
    pub headers: HeaderMap,
}

/// Answers a request for the file at `path`, honouring conditional and range
/// headers. A missing file (or a directory) is a 404, never an error.
pub fn file_response(path: &Path, request: &RequestHead, options: FileOptions) -> NativeResponse {
    let header = |name| request.header_str(name);
    let opened = File::open(path).and_then(|file| {
        let metadata = file.metadata()?;
        Ok((file, metadata))
    });
    let (mut file, metadata) = match opened {
        Ok((file, metadata)) if metadata.is_file() => (file, metadata),
        _ => return NativeResponse::detail(StatusCode::NOT_FOUND, "Not Found"),
    };
    let size = metadata.len();
    let validators = Validators::new(size, metadata.modified().unwrap_or(std::time::UNIX_EPOCH));
    let mut headers = options.headers;
    let set = |headers: &mut HeaderMap, name, value: &str| {
        if let Ok(value) = HeaderValue::from_str(value) {
            headers.insert(name, value);
        }
    };
    set(&mut headers, ETAG, &validators.etag);
    set(&mut headers, LAST_MODIFIED, &validators.last_modified);
    headers.insert(ACCEPT_RANGES, HeaderValue::from_static("bytes"));
    if validators.not_modified(header("if-none-match"), header("if-modified-since")) {
        return NativeResponse {
            status: StatusCode::NOT_MODIFIED,
            headers,
            body: ResponseBody::empty(),
        };
    }
    headers.insert(
        CONTENT_TYPE,
        options
            .content_type
            .unwrap_or_else(|| HeaderValue::from_static("application/octet-stream")),
    );
    if let Some(disposition) = options.content_disposition {
        headers.insert(CONTENT_DISPOSITION, disposition);
    }
    let (status, start, length) =
        match range_request(header("range"), header("if-range"), size, &validators) {
            RangeRequest::Full => (StatusCode::OK, 0, size),
            RangeRequest::Partial { start, end } => {
                set(
                    &mut headers,
                    CONTENT_RANGE,
                    &format!("bytes {start}-{end}/{size}"),
                );
                (StatusCode::PARTIAL_CONTENT, start, end - start + 1)
            }
            RangeRequest::Unsatisfiable => {
                set(&mut headers, CONTENT_RANGE, &format!("bytes */{size}"));
                // The body is the JSON refusal, not the file: its own type.
                return NativeResponse::detail(
                    StatusCode::RANGE_NOT_SATISFIABLE,
                    "Range Not Satisfiable",
                )
                .with_headers(headers);
            }
        };
    if start > 0 && file.seek(SeekFrom::Start(start)).is_err() {
        return NativeResponse::detail(StatusCode::INTERNAL_SERVER_ERROR, "Internal Server Error");
    }
    NativeResponse {
        status,
        headers,
        body: ResponseBody::file(file, length),
    }
}

/// Maps a request path under the static prefix to a file inside `root`, or
/// `None` when it must not be served: `..`, `.` or empty segments, NUL or
/// backslashes (also when percent-encoded), or a target that resolves (via
/// symlinks) outside `root`. `root` must already be canonical.
pub fn static_file_path(root: &Path, relative_raw: &str) -> Option<std::path::PathBuf> {
    let mut path = root.to_path_buf();
    for raw in relative_raw.split('/') {
        let segment = crate::http::query::percent_decode(raw, false)?;
        let refused = segment.is_empty()
            || segment == "."
            || segment == ".."
            || segment.contains(['/', '\\', '\0'])
            || (cfg!(windows) && segment.contains(':'));
        if refused {
            return None;
        }
        path.push(segment.as_ref());
    }
    let resolved = path.canonicalize().ok()?;
    resolved.starts_with(root).then_some(resolved)
}

#[cfg(test)]
mod tests {
    use super::static_file_path;

    #[test]
    fn static_paths_stay_inside_the_root() {
        let base = std::env::temp_dir().join(format!("hyperdjango-static-{}", std::process::id()));
        let root = base.join("static");
        std::fs::create_dir_all(root.join("css")).expect("create dirs");
        std::fs::write(root.join("css/style.css"), "body{}").expect("write");
        std::fs::write(base.join("secret.txt"), "secret").expect("write");
        #[cfg(unix)]
        std::os::unix::fs::symlink(base.join("secret.txt"), root.join("link.txt"))
            .expect("symlink");
        let root = root.canonicalize().expect("canonical");
        assert_eq!(
            static_file_path(&root, "css/style.css"),
            Some(root.join("css/style.css"))
        );
        for refused in [
            "../secret.txt",
            "css/../../secret.txt",
            "%2e%2e/secret.txt",
            "css%2F..%2F..%2Fsecret.txt",
            "./css/style.css",
            "css//style.css",
            "",
            "css/style.css%00",
            "..%5csecret.txt",
            "link.txt",
            "missing.css",
        ] {
            assert_eq!(static_file_path(&root, refused), None, "{refused}");
        }
        let _ = std::fs::remove_dir_all(&base);
    }
}
