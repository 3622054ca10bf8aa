//! Request-head checks on top of hyper's parser.
//!
//! hyper (via httparse) already rejects malformed request lines, obs-folded
//! headers, control characters in header values, bad chunk sizes and
//! conflicting Content-Length values, answering 400 and closing. What it
//! tolerates, because RFC 9112 lets a *proxy* tolerate it, is what request
//! smuggling is made of; a server of its own should refuse it outright.

use http::header::{CONTENT_LENGTH, HOST, TRANSFER_ENCODING};
use http::{HeaderMap, StatusCode, Uri, Version};

/// Size limits applied to the request head.
#[derive(Clone, Copy, Debug)]
pub struct HeadLimits {
    /// Longest accepted request target, in bytes (414 beyond it).
    pub max_uri_length: usize,
    /// Largest accepted sum of header names and values, in bytes (431 beyond it).
    pub max_header_bytes: usize,
}

impl Default for HeadLimits {
    fn default() -> Self {
        HeadLimits {
            max_uri_length: 8 * 1024,
            max_header_bytes: 32 * 1024,
        }
    }
}

/// Why a request head was refused: the status to answer and a one-line reason.
#[derive(Debug, PartialEq, Eq)]
pub struct HeadError {
    pub status: StatusCode,
    pub reason: &'static str,
}

impl HeadError {
    const fn bad_request(reason: &'static str) -> Self {
        HeadError {
            status: StatusCode::BAD_REQUEST,
            reason,
        }
    }
}

/// Checks a parsed request head. Every refusal must also close the connection:
/// after a framing error the server cannot know where the next request starts.
pub fn validate_head(
    version: Version,
    uri: &Uri,
    headers: &HeaderMap,
    limits: &HeadLimits,
) -> Result<(), HeadError> {
    let target_length = uri
        .path_and_query()
        .map_or(0, |target| target.as_str().len());
    if target_length > limits.max_uri_length {
        return Err(HeadError {
            status: StatusCode::URI_TOO_LONG,
            reason: "Request target too long",
        });
    }
    if !uri.path().starts_with('/') && uri.path() != "*" {
        return Err(HeadError::bad_request(
            "Request target must be an absolute path",
        ));
    }

    let header_bytes: usize = headers
        .iter()
        .map(|(name, value)| name.as_str().len() + value.len())
        .sum();
    if header_bytes > limits.max_header_bytes {
        return Err(HeadError {
            status: StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE,
            reason: "Request header fields too large",
        });
    }

    let mut hosts = headers.get_all(HOST).iter();
    match (hosts.next(), hosts.next()) {
        (None, _) if version == Version::HTTP_11 => {
            return Err(HeadError::bad_request(
                "Missing Host header (required by HTTP/1.1)",
            ))
        }
        (Some(_), Some(_)) => return Err(HeadError::bad_request("Duplicate Host header")),
        (Some(host), None)
            if host
                .as_bytes()
                .iter()
                .any(|byte| byte.is_ascii_whitespace() || *byte == b'/') =>
        {
            return Err(HeadError::bad_request("Malformed Host header"))
        }
        _ => {}
    }

    let mut lengths = headers.get_all(CONTENT_LENGTH).iter();
    let content_length = lengths.next();
    if lengths.next().is_some() {
        return Err(HeadError::bad_request("Duplicate Content-Length header"));
    }
    if let Some(length) = content_length {
        let bytes = length.as_bytes();
        if bytes.is_empty() || !bytes.iter().all(u8::is_ascii_digit) {
            return Err(HeadError::bad_request("Malformed Content-Length header"));
        }
    }

    let mut encodings = headers.get_all(TRANSFER_ENCODING).iter();
    if let Some(encoding) = encodings.next() {
        if content_length.is_some() {
            return Err(HeadError::bad_request(
                "Both Content-Length and Transfer-Encoding present",
            ));
        }
        if version != Version::HTTP_11 {
            return Err(HeadError::bad_request(
                "Transfer-Encoding requires HTTP/1.1",
            ));
        }
        // Only plain `chunked` is accepted: other codings are not implemented and a
        // list of them is a classic smuggling vector between disagreeing parsers.
        if encodings.next().is_some() || !encoding.as_bytes().eq_ignore_ascii_case(b"chunked") {
            return Err(HeadError {
                status: StatusCode::NOT_IMPLEMENTED,
                reason: "Unsupported Transfer-Encoding (only \"chunked\" is accepted)",
            });
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use http::HeaderValue;

    fn head(pairs: &[(&'static str, &'static str)]) -> HeaderMap {
        let mut headers = HeaderMap::new();
        for (name, value) in pairs {
            headers.append(*name, HeaderValue::from_static(value));
        }
        headers
    }

    fn check(
        version: Version,
        target: &str,
        pairs: &[(&'static str, &'static str)],
    ) -> Result<(), HeadError> {
        let uri: Uri = target.parse().expect("test target parses");
        validate_head(version, &uri, &head(pairs), &HeadLimits::default())
    }

    #[test]
    fn accepts_ordinary_requests() {
        assert_eq!(check(Version::HTTP_11, "/", &[("host", "x")]), Ok(()));
        assert_eq!(check(Version::HTTP_10, "/", &[]), Ok(()));
        assert_eq!(
            check(
                Version::HTTP_11,
                "/a?b=c",
                &[("host", "x"), ("content-length", "5")]
            ),
            Ok(())
        );
        assert_eq!(
            check(
                Version::HTTP_11,
                "/",
                &[("host", "x"), ("transfer-encoding", "Chunked")]
            ),
            Ok(())
        );
    }

    #[test]
    fn host_rules() {
        let missing = check(Version::HTTP_11, "/", &[]).unwrap_err();
        assert_eq!(missing.status, StatusCode::BAD_REQUEST);
        assert!(missing.reason.contains("Missing Host"));
        let duplicate = check(Version::HTTP_11, "/", &[("host", "a"), ("host", "b")]).unwrap_err();
        assert!(duplicate.reason.contains("Duplicate Host"));
        assert!(check(Version::HTTP_11, "/", &[("host", "a b")]).is_err());
    }

    #[test]
    fn framing_rules() {
        let both = check(
            Version::HTTP_11,
            "/",
            &[
                ("host", "x"),
                ("content-length", "3"),
                ("transfer-encoding", "chunked"),
            ],
        );
        assert_eq!(both.unwrap_err().status, StatusCode::BAD_REQUEST);
        let twice = check(
            Version::HTTP_11,
            "/",
            &[
                ("host", "x"),
                ("content-length", "3"),
                ("content-length", "3"),
            ],
        );
        assert!(twice
            .unwrap_err()
            .reason
            .contains("Duplicate Content-Length"));
        let signed = check(
            Version::HTTP_11,
            "/",
            &[("host", "x"), ("content-length", "+3")],
        );
        assert!(signed
            .unwrap_err()
            .reason
            .contains("Malformed Content-Length"));
        let gzip = check(
            Version::HTTP_11,
            "/",
            &[("host", "x"), ("transfer-encoding", "gzip, chunked")],
        );
        assert_eq!(gzip.unwrap_err().status, StatusCode::NOT_IMPLEMENTED);
        let old = check(Version::HTTP_10, "/", &[("transfer-encoding", "chunked")]);
        assert_eq!(old.unwrap_err().status, StatusCode::BAD_REQUEST);
    }

    #[test]
    fn size_limits() {
        let long = format!("/{}", "a".repeat(9000));
        assert_eq!(
            check(Version::HTTP_11, &long, &[("host", "x")])
                .unwrap_err()
                .status,
            StatusCode::URI_TOO_LONG
        );
        let uri: Uri = "/".parse().expect("parses");
        let mut headers = head(&[("host", "x")]);
        let big = HeaderValue::from_str(&"v".repeat(40 * 1024)).expect("valid value");
        headers.insert("x-big", big);
        let error =
            validate_head(Version::HTTP_11, &uri, &headers, &HeadLimits::default()).unwrap_err();
        assert_eq!(error.status, StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE);
    }
}
