//! Conditional and range requests for files: validators (ETag,
//! Last-Modified), `If-None-Match` / `If-Modified-Since` (304) and
//! single-range `Range` (206 / 416), per RFC 9110 §13 and §14.

use std::time::{SystemTime, UNIX_EPOCH};

/// A file's validators.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Validators {
    /// A weak-free ETag built from size and modification time: `"<size>-<mtime_ns>"`.
    pub etag: String,
    /// HTTP-date of the modification time (second precision).
    pub last_modified: String,
    modified_seconds: u64,
}

impl Validators {
    pub fn new(size: u64, modified: SystemTime) -> Validators {
        let since_epoch = modified.duration_since(UNIX_EPOCH).unwrap_or_default();
        Validators {
            etag: format!("\"{size:x}-{:x}\"", since_epoch.as_nanos()),
            last_modified: httpdate::fmt_http_date(modified),
            modified_seconds: since_epoch.as_secs(),
        }
    }

    /// True when the client's copy is current (answer 304). `If-None-Match`
    /// wins over `If-Modified-Since` when both are sent.
    pub fn not_modified(
        &self,
        if_none_match: Option<&str>,
        if_modified_since: Option<&str>,
    ) -> bool {
        if let Some(tags) = if_none_match {
            return tags
                .split(',')
                .map(str::trim)
                .any(|tag| tag == "*" || tag.trim_start_matches("W/") == self.etag);
        }
        if let Some(since) =
            if_modified_since.and_then(|date| httpdate::parse_http_date(date.trim()).ok())
        {
            let since = since
                .duration_since(UNIX_EPOCH)
                .unwrap_or_default()
                .as_secs();
            return self.modified_seconds <= since;
        }
        false
    }
}

/// What a `Range` header asks of a file of `size` bytes.
#[derive(Debug, PartialEq, Eq)]
pub enum RangeRequest {
    /// No (usable) Range: send the whole file with 200.
    Full,
    /// One satisfiable range, inclusive `start..=end`: 206.
    Partial { start: u64, end: u64 },
    /// A syntactically valid range that lies outside the file: 416.
    Unsatisfiable,
}

/// Interprets `Range` for a file of `size` bytes. Only single byte ranges are
/// served; a multi-range or malformed header is ignored (full 200), which RFC
/// 9110 §14.2 allows. `If-Range` that does not match the current validators
/// also means the full file.
pub fn range_request(
    range: Option<&str>,
    if_range: Option<&str>,
    size: u64,
    validators: &Validators,
) -> RangeRequest {
    let Some(range) = range else {
        return RangeRequest::Full;
    };
    if let Some(condition) = if_range {
        let condition = condition.trim();
        if condition != validators.etag && condition != validators.last_modified {
            return RangeRequest::Full;
        }
    }
    let Some(spec) = range.trim().strip_prefix("bytes=") else {
        return RangeRequest::Full;
    };
    if spec.contains(',') {
        return RangeRequest::Full;
    }
    let Some((first, last)) = spec.trim().split_once('-') else {
        return RangeRequest::Full;
    };
    let parse = |text: &str| -> Option<Option<u64>> {
        let text = text.trim();
        if text.is_empty() {
            Some(None)
        } else if text.bytes().all(|byte| byte.is_ascii_digit()) {
            text.parse().ok().map(Some)
        } else {
            None
        }
    };
    let (Some(first), Some(last)) = (parse(first), parse(last)) else {
        return RangeRequest::Full;
    };
    match (first, last) {
        (Some(start), last) => {
            if last.is_some_and(|last| last < start) {
                return RangeRequest::Full; // invalid syntax: ignore
            }
            if start >= size {
                return RangeRequest::Unsatisfiable;
            }
            let end = last.map_or(size - 1, |last| last.min(size - 1));
            RangeRequest::Partial { start, end }
        }
        (None, Some(suffix)) => {
            if suffix == 0 || size == 0 {
                return RangeRequest::Unsatisfiable;
            }
            RangeRequest::Partial {
                start: size.saturating_sub(suffix),
                end: size - 1,
            }
        }
        (None, None) => RangeRequest::Full,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    fn validators() -> Validators {
        Validators::new(1000, UNIX_EPOCH + Duration::from_secs(1_700_000_000))
    }

    #[test]
    fn conditional_requests() {
        let v = validators();
        assert_eq!(v.last_modified, "Tue, 14 Nov 2023 22:13:20 GMT");
        assert!(v.not_modified(Some(&v.etag), None));
        assert!(v.not_modified(Some(&format!("\"other\", W/{}", v.etag)), None));
        assert!(v.not_modified(Some("*"), None));
        assert!(!v.not_modified(Some("\"other\""), Some(&v.last_modified)));
        assert!(v.not_modified(None, Some("Tue, 14 Nov 2023 22:13:20 GMT")));
        assert!(v.not_modified(None, Some("Wed, 15 Nov 2023 00:00:00 GMT")));
        assert!(!v.not_modified(None, Some("Mon, 13 Nov 2023 00:00:00 GMT")));
        assert!(!v.not_modified(None, Some("not a date")));
        assert!(!v.not_modified(None, None));
    }

    #[test]
    fn ranges() {
        let v = validators();
        let range = |header: &str| range_request(Some(header), None, 1000, &v);
        assert_eq!(
            range("bytes=0-99"),
            RangeRequest::Partial { start: 0, end: 99 }
        );
        assert_eq!(
            range("bytes=900-"),
            RangeRequest::Partial {
                start: 900,
                end: 999
            }
        );
        assert_eq!(
            range("bytes=-100"),
            RangeRequest::Partial {
                start: 900,
                end: 999
            }
        );
        assert_eq!(
            range("bytes=990-5000"),
            RangeRequest::Partial {
                start: 990,
                end: 999
            }
        );
        assert_eq!(
            range("bytes=-5000"),
            RangeRequest::Partial { start: 0, end: 999 }
        );
        assert_eq!(range("bytes=1000-"), RangeRequest::Unsatisfiable);
        assert_eq!(range("bytes=-0"), RangeRequest::Unsatisfiable);
        assert_eq!(range("bytes=5-2"), RangeRequest::Full);
        assert_eq!(range("bytes=0-1,5-9"), RangeRequest::Full);
        assert_eq!(range("items=0-1"), RangeRequest::Full);
        assert_eq!(range("bytes=a-b"), RangeRequest::Full);
        assert_eq!(range_request(None, None, 1000, &v), RangeRequest::Full);
        assert_eq!(
            range_request(Some("bytes=0-1"), Some("\"stale\""), 1000, &v),
            RangeRequest::Full
        );
        assert_eq!(
            range_request(Some("bytes=0-1"), Some(&v.etag), 1000, &v),
            RangeRequest::Partial { start: 0, end: 1 }
        );
    }
}
