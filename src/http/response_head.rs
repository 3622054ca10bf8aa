//! Writing a response head: status line, the application's headers, and the
//! framing headers the server owns (Content-Length or Transfer-Encoding,
//! Connection, Date), into one buffer the connection writes with one call.

use std::cell::RefCell;
use std::time::{Duration, UNIX_EPOCH};

use http::header::{CONNECTION, CONTENT_LENGTH, DATE, TRANSFER_ENCODING};
use http::{HeaderMap, HeaderName, HeaderValue, StatusCode, Version};

/// How the body that follows a head is delimited.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Framing {
    /// `Content-Length: n`.
    Length(u64),
    /// `Transfer-Encoding: chunked` (HTTP/1.1 streams).
    Chunked,
    /// The body ends when the connection closes (streams to HTTP/1.0 clients).
    UntilClose,
    /// No framing header and no body: 1xx, 204, 304.
    NoBody,
    /// A HEAD answer to a streamed body: no length is known and no body follows.
    Unknown,
}

/// What the head announces and whether the body is then written.
///
/// `length` is the body's size when known up front (`None` for streams).
/// HEAD answers announce what a GET would carry but send nothing.
pub fn framing_for(
    status: StatusCode,
    is_head_request: bool,
    length: Option<u64>,
    version: Version,
) -> (Framing, bool) {
    if status.is_informational()
        || status == StatusCode::NO_CONTENT
        || status == StatusCode::NOT_MODIFIED
    {
        return (Framing::NoBody, false);
    }
    let framing = match length {
        Some(length) => Framing::Length(length),
        None if is_head_request => Framing::Unknown,
        None if version == Version::HTTP_11 => Framing::Chunked,
        None => Framing::UntilClose,
    };
    (framing, !is_head_request)
}

/// Headers every answer gets unless it sets its own (production mode's
/// security headers), with their lines rendered once: an answer that sets
/// none of them (nearly all) gets them in one copy.
#[derive(Clone, Debug)]
pub struct HeadDefaults {
    fields: Vec<(HeaderName, HeaderValue)>,
    rendered: Vec<u8>,
}

/// No defaults.
pub static NO_HEAD_DEFAULTS: HeadDefaults = HeadDefaults {
    fields: Vec::new(),
    rendered: Vec::new(),
};

impl HeadDefaults {
    pub fn new(fields: Vec<(HeaderName, HeaderValue)>) -> HeadDefaults {
        let mut rendered = Vec::new();
        for (name, value) in &fields {
            write_field(&mut rendered, name.as_str().as_bytes(), value.as_bytes());
        }
        HeadDefaults { fields, rendered }
    }

    pub fn fields(&self) -> &[(HeaderName, HeaderValue)] {
        &self.fields
    }

    fn names_one_of(&self, name: &HeaderName) -> bool {
        self.fields.iter().any(|(default, _)| default == name)
    }
}

/// Appends the head to `out`. Application headers that would contradict the
/// server's framing (Content-Length, Transfer-Encoding, Connection) are
/// dropped; `defaults` are added unless the application set the same name.
pub fn write_head(
    out: &mut Vec<u8>,
    version: Version,
    status: StatusCode,
    headers: &HeaderMap,
    defaults: &HeadDefaults,
    framing: Framing,
    keep_alive: bool,
) {
    if status == StatusCode::OK && version != Version::HTTP_10 {
        // Nearly every answer: one copy.
        out.extend_from_slice(b"HTTP/1.1 200 OK\r\n");
    } else {
        out.extend_from_slice(if version == Version::HTTP_10 {
            b"HTTP/1.0 "
        } else {
            b"HTTP/1.1 "
        });
        out.extend_from_slice(status.as_str().as_bytes());
        out.push(b' ');
        out.extend_from_slice(status.canonical_reason().unwrap_or("").as_bytes());
        out.extend_from_slice(b"\r\n");
    }
    // One pass over the answer's headers notes what the server would
    // otherwise add (name compares, no hashing).
    let mut has_date = false;
    let mut sets_a_default = false;
    for (name, value) in headers {
        if name == CONTENT_LENGTH || name == TRANSFER_ENCODING || name == CONNECTION {
            continue;
        }
        has_date |= name == DATE;
        sets_a_default |= defaults.names_one_of(name);
        write_field(out, name.as_str().as_bytes(), value.as_bytes());
    }
    if sets_a_default {
        for (name, value) in &defaults.fields {
            if !headers.contains_key(name) {
                write_field(out, name.as_str().as_bytes(), value.as_bytes());
            }
        }
    } else {
        out.extend_from_slice(&defaults.rendered);
    }
    match framing {
        Framing::Length(length) => {
            out.extend_from_slice(b"content-length: ");
            out.extend_from_slice(itoa::Buffer::new().format(length).as_bytes());
            out.extend_from_slice(b"\r\n");
        }
        Framing::Chunked => out.extend_from_slice(b"transfer-encoding: chunked\r\n"),
        Framing::UntilClose | Framing::NoBody | Framing::Unknown => {}
    }
    let keep_alive = keep_alive && framing != Framing::UntilClose;
    out.extend_from_slice(if keep_alive {
        b"connection: keep-alive\r\n"
    } else {
        b"connection: close\r\n"
    });
    if has_date {
        out.extend_from_slice(b"\r\n");
    } else {
        // The date line and the head's end, formatted once a second.
        with_date_line(|line| out.extend_from_slice(line));
    }
}

fn write_field(out: &mut Vec<u8>, name: &[u8], value: &[u8]) {
    out.extend_from_slice(name);
    out.extend_from_slice(b": ");
    out.extend_from_slice(value);
    out.extend_from_slice(b"\r\n");
}

/// The interim answer to `Expect: 100-continue`.
pub const CONTINUE: &[u8] = b"HTTP/1.1 100 Continue\r\n\r\n";

/// The line that starts a chunk of `length` bytes.
pub fn write_chunk_start(out: &mut Vec<u8>, length: usize) {
    let mut digits = [0u8; 16];
    let mut at = digits.len();
    let mut rest = length;
    loop {
        at -= 1;
        digits[at] = b"0123456789abcdef"[rest & 15];
        rest >>= 4;
        if rest == 0 {
            break;
        }
    }
    out.extend_from_slice(&digits[at..]);
    out.extend_from_slice(b"\r\n");
}

/// The last chunk (no trailers).
pub const LAST_CHUNK: &[u8] = b"0\r\n\r\n";

/// `date: ` + an IMF-fixdate (29 bytes) + the line's and the head's CRLFs.
const DATE_LINE: usize = 6 + 29 + 4;

thread_local! {
    /// The date line (see [`DATE_LINE`]) and the second it is for:
    /// formatted once a second per I/O thread, not once per response.
    static DATE_CACHE: RefCell<(u64, [u8; DATE_LINE])> =
        const { RefCell::new((u64::MAX, *b"date: Thu, 01 Jan 1970 00:00:00 GMT\r\n\r\n")) };
}

/// Calls `use_line` with `date: <now>\r\n\r\n`.
fn with_date_line<R>(use_line: impl FnOnce(&[u8]) -> R) -> R {
    // The coarse wall clock: a second's resolution is all a Date needs.
    let second = crate::clock::unix_seconds();
    DATE_CACHE.with(|cache| {
        let mut cache = cache.borrow_mut();
        if cache.0 != second {
            let formatted = httpdate::fmt_http_date(UNIX_EPOCH + Duration::from_secs(second));
            if formatted.len() == 29 {
                cache.1[6..35].copy_from_slice(formatted.as_bytes());
                cache.0 = second;
            }
        }
        use_line(&cache.1)
    })
}

/// Calls `use_date` with the current time as an IMF-fixdate
/// (`Sun, 06 Nov 1994 08:49:37 GMT`).
pub fn with_http_date<R>(use_date: impl FnOnce(&[u8]) -> R) -> R {
    with_date_line(|line| use_date(&line[6..35]))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn head_text(
        version: Version,
        status: StatusCode,
        headers: &HeaderMap,
        framing: Framing,
        keep_alive: bool,
    ) -> String {
        let mut out = Vec::new();
        write_head(
            &mut out,
            version,
            status,
            headers,
            &NO_HEAD_DEFAULTS,
            framing,
            keep_alive,
        );
        String::from_utf8(out).expect("ASCII head")
    }

    #[test]
    fn status_line_headers_and_framing() {
        let mut headers = HeaderMap::new();
        headers.insert("content-type", HeaderValue::from_static("application/json"));
        headers.append("set-cookie", HeaderValue::from_static("a=1"));
        headers.append("set-cookie", HeaderValue::from_static("b=2"));
        // The server owns framing: these never reach the wire from the application.
        headers.insert("content-length", HeaderValue::from_static("999"));
        headers.insert("connection", HeaderValue::from_static("upgrade"));
        let text = head_text(
            Version::HTTP_11,
            StatusCode::CREATED,
            &headers,
            Framing::Length(17),
            true,
        );
        let lines: Vec<&str> = text.split("\r\n").collect();
        assert_eq!(lines[0], "HTTP/1.1 201 Created");
        assert_eq!(
            &lines[1..6],
            [
                "content-type: application/json",
                "set-cookie: a=1",
                "set-cookie: b=2",
                "content-length: 17",
                "connection: keep-alive",
            ]
        );
        assert!(lines[6].starts_with("date: ") && lines[6].ends_with(" GMT"));
        assert_eq!(&lines[7..], ["", ""]);
    }

    #[test]
    fn version_keep_alive_and_stream_framing() {
        let empty = HeaderMap::new();
        let old = head_text(
            Version::HTTP_10,
            StatusCode::OK,
            &empty,
            Framing::UntilClose,
            true,
        );
        assert!(old.starts_with("HTTP/1.0 200 OK\r\n"));
        assert!(
            old.contains("connection: close\r\n"),
            "until-close bodies close"
        );
        assert!(!old.contains("content-length"));
        let chunked = head_text(
            Version::HTTP_11,
            StatusCode::OK,
            &empty,
            Framing::Chunked,
            true,
        );
        assert!(chunked.contains("transfer-encoding: chunked\r\n"));
        let unknown = head_text(
            Version::HTTP_11,
            StatusCode::from_u16(299).expect("valid"),
            &empty,
            Framing::NoBody,
            false,
        );
        assert!(unknown.starts_with("HTTP/1.1 299 \r\n"));
        assert!(unknown.contains("connection: close\r\n"));
    }

    #[test]
    fn defaults_and_date_yield_to_the_application() {
        let mut headers = HeaderMap::new();
        headers.insert("x-frame-options", HeaderValue::from_static("SAMEORIGIN"));
        headers.insert(
            "date",
            HeaderValue::from_static("Tue, 01 Jan 2030 00:00:00 GMT"),
        );
        let defaults = HeadDefaults::new(vec![
            (
                HeaderName::from_static("x-frame-options"),
                HeaderValue::from_static("DENY"),
            ),
            (
                HeaderName::from_static("x-content-type-options"),
                HeaderValue::from_static("nosniff"),
            ),
        ]);
        let written = |headers: &HeaderMap| {
            let mut out = Vec::new();
            write_head(
                &mut out,
                Version::HTTP_11,
                StatusCode::OK,
                headers,
                &defaults,
                Framing::Length(0),
                true,
            );
            String::from_utf8(out).expect("ASCII")
        };
        let text = written(&headers);
        assert_eq!(text.matches("x-frame-options").count(), 1);
        assert!(text.contains("x-frame-options: SAMEORIGIN\r\n"));
        assert!(text.contains("x-content-type-options: nosniff\r\n"));
        assert_eq!(text.matches("date: ").count(), 1);
        assert!(text.contains("date: Tue, 01 Jan 2030"));
        // Setting none of them: every default once (the pre-rendered lines).
        let mut plain = HeaderMap::new();
        plain.insert("content-type", HeaderValue::from_static("text/plain"));
        let text = written(&plain);
        assert!(text.contains("x-frame-options: DENY\r\n"));
        assert!(text.contains("x-content-type-options: nosniff\r\n"));
        assert_eq!(text.matches("x-frame-options").count(), 1);
        assert_eq!(text.matches("date: ").count(), 1);
        assert!(text.ends_with("\r\n\r\n"));
    }

    #[test]
    fn which_answers_carry_a_body() {
        use StatusCode as S;
        let v11 = Version::HTTP_11;
        assert_eq!(
            framing_for(S::OK, false, Some(5), v11),
            (Framing::Length(5), true)
        );
        assert_eq!(
            framing_for(S::OK, true, Some(5), v11),
            (Framing::Length(5), false)
        );
        assert_eq!(
            framing_for(S::OK, false, None, v11),
            (Framing::Chunked, true)
        );
        assert_eq!(
            framing_for(S::OK, true, None, v11),
            (Framing::Unknown, false)
        );
        assert_eq!(
            framing_for(S::OK, false, None, Version::HTTP_10),
            (Framing::UntilClose, true)
        );
        for status in [S::CONTINUE, S::NO_CONTENT, S::NOT_MODIFIED] {
            assert_eq!(
                framing_for(status, false, Some(5), v11),
                (Framing::NoBody, false)
            );
        }
    }

    #[test]
    fn chunk_starts_are_lowercase_hex() {
        for (length, expected) in [
            (0, "0\r\n"),
            (10, "a\r\n"),
            (255, "ff\r\n"),
            (65536, "10000\r\n"),
        ] {
            let mut out = Vec::new();
            write_chunk_start(&mut out, length);
            assert_eq!(out, expected.as_bytes());
        }
    }

    #[test]
    fn date_is_an_imf_fixdate_of_now() {
        let text = with_http_date(|date| String::from_utf8(date.to_vec()).expect("ASCII"));
        let parsed = httpdate::parse_http_date(&text).expect("parses back");
        let age = std::time::SystemTime::now()
            .duration_since(parsed)
            .unwrap_or_default();
        assert!(age.as_secs() < 2, "{text}");
    }
}
