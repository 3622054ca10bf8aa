//! The request head: parsed once by httparse into byte spans of the
//! connection's read buffer, checked in the same pass, decoded on demand.
//!
//! We own this step (rather than let hyper build an `http::Request`) because a
//! `HeaderName` per line, a re-validated URI and a hashed `HeaderMap` cost
//! three times the parse itself, for headers most handlers never read. Here a
//! head is one shared slice of the read buffer plus a span per header line;
//! `Request.headers` in Python builds its object only when first read.
//!
//! What is refused, and why (every refusal closes the connection, since after
//! a framing error nobody knows where the next request starts):
//! - anything httparse rejects: bad tokens, obs-folded lines, control bytes in
//!   values, bare CR (400), more than [`MAX_HEADERS`] lines (431);
//! - the raw material of request smuggling that RFC 9112 lets a *proxy*
//!   tolerate: Content-Length with Transfer-Encoding, repeated or list-valued
//!   Content-Length, Transfer-Encoding on HTTP/1.0 or not ending in `chunked`
//!   (400), codings other than a single `chunked` (501);
//! - a missing, repeated or malformed Host on HTTP/1.1 (400);
//! - targets that are not origin-, absolute- or asterisk-form, or hold bytes
//!   beyond ASCII (400); size limits (414, 431).

use std::mem::MaybeUninit;

use bytes::{Buf, Bytes, BytesMut};
use http::{Method, StatusCode, Version};

/// Header lines accepted in one head (hyper's default too); more is a 431.
pub const MAX_HEADERS: usize = 100;

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

impl HeadLimits {
    /// Most bytes a head may occupy before it is refused unfinished: both
    /// limits plus room for the request line's method and version and the
    /// line breaks.
    pub fn max_head_bytes(&self) -> usize {
        self.max_uri_length + self.max_header_bytes + 4096
    }
}

/// Why a request head was refused: the status to answer and a one-line reason.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
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

    const URI_TOO_LONG: HeadError = HeadError {
        status: StatusCode::URI_TOO_LONG,
        reason: "Request target too long",
    };

    const HEADERS_TOO_LARGE: HeadError = HeadError {
        status: StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE,
        reason: "Request header fields too large",
    };
}

/// How the request body is delimited.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BodyFraming {
    /// No body (no Content-Length, no Transfer-Encoding, or Content-Length: 0).
    Empty,
    Length(u64),
    Chunked,
}

/// A byte range of the head, as offsets (heads are far below 4 GiB).
#[derive(Clone, Copy, Debug, Default)]
struct Span {
    start: u32,
    end: u32,
}

impl Span {
    fn of(base: *const u8, part: &[u8]) -> Span {
        let start = part.as_ptr() as usize - base as usize;
        Span {
            start: start as u32,
            end: (start + part.len()) as u32,
        }
    }

    fn within(outer: Span, from: usize, to: usize) -> Span {
        Span {
            start: outer.start + from as u32,
            end: outer.start + to as u32,
        }
    }

    fn is_empty(self) -> bool {
        self.start == self.end
    }

    fn range(self) -> std::ops::Range<usize> {
        self.start as usize..self.end as usize
    }
}

#[derive(Clone, Copy, Debug)]
struct HeaderSpan {
    name: Span,
    value: Span,
}

/// A parsed, checked request head. Owns a shared slice of the read buffer;
/// every accessor borrows from it.
pub struct RequestHead {
    bytes: Bytes,
    method: Method,
    version: Version,
    target: Span,
    /// Empty for an absolute-form target without a path, which means `/`.
    path: Span,
    query: Option<Span>,
    headers: Vec<HeaderSpan>,
    framing: BodyFraming,
    keep_alive: bool,
    expects_continue: bool,
}

impl std::fmt::Debug for RequestHead {
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        formatter
            .debug_struct("RequestHead")
            .field("method", &self.method)
            .field("target", &self.target())
            .field("version", &self.version)
            .field("headers", &self.headers.len())
            .field("framing", &self.framing)
            .finish()
    }
}

impl RequestHead {
    /// Parses the head at the start of `buffer`. `Ok(None)`: incomplete, read
    /// more (the caller enforces [`HeadLimits::max_head_bytes`] meanwhile).
    /// On success the head's bytes are copied out of the front of `buffer`
    /// and what follows is left for the body. Copied, not split off and
    /// shared: a few hundred bytes copied cost less than what sharing costs
    /// the connection (a shared header allocated, and a new read buffer for
    /// every request instead of one kept).
    pub fn parse(
        buffer: &mut BytesMut,
        limits: &HeadLimits,
    ) -> Result<Option<RequestHead>, HeadError> {
        let Some((length, mut head)) = parse_spans(buffer, limits)? else {
            return Ok(None);
        };
        head.bytes = Bytes::copy_from_slice(&buffer[..length]);
        buffer.advance(length);
        Ok(Some(head))
    }

    pub fn method(&self) -> &Method {
        &self.method
    }

    pub fn version(&self) -> Version {
        self.version
    }

    /// The request target as sent (path and query; absolute-form included).
    pub fn target(&self) -> &str {
        self.text(self.target)
    }

    /// The path, still percent-encoded (`"/"` for `http://host` targets).
    pub fn path(&self) -> &str {
        if self.path.is_empty() {
            "/"
        } else {
            self.text(self.path)
        }
    }

    /// The query string without `?`, if the target had one.
    pub fn query(&self) -> Option<&str> {
        self.query.map(|span| self.text(span))
    }

    pub fn framing(&self) -> BodyFraming {
        self.framing
    }

    /// Whether the client allows the connection to stay open after this request.
    pub fn keep_alive(&self) -> bool {
        self.keep_alive
    }

    /// `Expect: 100-continue` on an HTTP/1.1 request with a body.
    pub fn expects_continue(&self) -> bool {
        self.expects_continue
    }

    /// Every header line in order: the name as sent and the value's bytes
    /// (ISO-8859-1 beyond ASCII, per RFC 9110).
    pub fn headers(&self) -> impl Iterator<Item = (&str, &[u8])> + '_ {
        self.headers
            .iter()
            .map(|header| (self.text(header.name), &self.bytes[header.value.range()]))
    }

    pub fn header_count(&self) -> usize {
        self.headers.len()
    }

    /// Every value of the header `name` (ASCII case-insensitive), in order.
    pub fn header_values<'a, 'n>(
        &'a self,
        name: &'n str,
    ) -> impl Iterator<Item = &'a [u8]> + use<'a, 'n> {
        self.headers
            .iter()
            .filter(move |header| {
                header.name.end - header.name.start == name.len() as u32
                    && self.bytes[header.name.range()].eq_ignore_ascii_case(name.as_bytes())
            })
            .map(|header| &self.bytes[header.value.range()])
    }

    /// The first value of the header `name`.
    pub fn header(&self, name: &str) -> Option<&[u8]> {
        self.header_values(name).next()
    }

    /// The first value of the header `name` if it is plain ASCII text.
    pub fn header_str(&self, name: &str) -> Option<&str> {
        self.header(name)
            .filter(|value| value.is_ascii())
            .and_then(|value| std::str::from_utf8(value).ok())
    }

    /// Moves the head into an allocation of its own. A parsed head shares
    /// the connection's read buffer (kilobytes); one kept for a long time
    /// (a WebSocket's `ws.request`) should not keep that buffer alive.
    pub fn compact(&mut self) {
        self.bytes = Bytes::copy_from_slice(&self.bytes);
    }

    /// The head exactly as received.
    pub fn as_bytes(&self) -> &[u8] {
        &self.bytes
    }

    /// Text spans are checked ASCII (target) or httparse tokens (names).
    fn text(&self, span: Span) -> &str {
        std::str::from_utf8(&self.bytes[span.range()]).unwrap_or_default()
    }
}

/// The framing-relevant headers, noted on the one walk over the lines.
#[derive(Default)]
struct Notable<'b> {
    hosts: u8,
    host: &'b [u8],
    lengths: u8,
    length: &'b [u8],
    encodings: u8,
    encoding: &'b [u8],
    close: bool,
    keep_alive: bool,
    expect_continue: bool,
}

/// The head at the start of `buffer` and its length; its `bytes` are left
/// empty for the caller to split off (spans are offsets into `buffer`).
fn parse_spans(
    buffer: &[u8],
    limits: &HeadLimits,
) -> Result<Option<(usize, RequestHead)>, HeadError> {
    let mut slots = [const { MaybeUninit::<httparse::Header<'_>>::uninit() }; MAX_HEADERS];
    let mut request = httparse::Request::new(&mut []);
    let status = httparse::ParserConfig::default()
        .parse_request_with_uninit_headers(&mut request, buffer, &mut slots)
        .map_err(|error| parse_error(error, buffer))?;
    let httparse::Status::Complete(length) = status else {
        return Ok(None);
    };
    // A complete parse fills all three; anything else is httparse's bug, not the client's.
    let (Some(method), Some(target), Some(minor)) = (request.method, request.path, request.version)
    else {
        return Err(HeadError::bad_request("Malformed request line"));
    };
    let base = buffer.as_ptr();
    let target_span = Span::of(base, target.as_bytes());
    if target.len() > limits.max_uri_length {
        return Err(HeadError::URI_TOO_LONG);
    }
    let (path, query) = split_target(target.as_bytes(), target_span)?;
    let method = Method::from_bytes(method.as_bytes())
        .map_err(|_| HeadError::bad_request("Malformed request method"))?;
    let version = if minor == 1 {
        Version::HTTP_11
    } else {
        Version::HTTP_10
    };

    let mut notable = Notable::default();
    let mut header_bytes = 0usize;
    let mut headers = Vec::with_capacity(request.headers.len());
    for header in request.headers.iter() {
        let name = header.name.as_bytes();
        let value = header.value;
        header_bytes += name.len() + value.len();
        note(&mut notable, name, value);
        headers.push(HeaderSpan {
            name: Span::of(base, name),
            value: Span::of(base, value),
        });
    }
    if header_bytes > limits.max_header_bytes {
        return Err(HeadError::HEADERS_TOO_LARGE);
    }
    check_host(&notable, version)?;
    let framing = framing(&notable, version)?;
    let keep_alive = match version {
        Version::HTTP_11 => !notable.close,
        _ => notable.keep_alive && !notable.close,
    };
    let head = RequestHead {
        bytes: Bytes::new(),
        method,
        version,
        target: target_span,
        path,
        query,
        headers,
        framing,
        keep_alive,
        expects_continue: notable.expect_continue
            && version == Version::HTTP_11
            && framing != BodyFraming::Empty,
    };
    Ok(Some((length, head)))
}

/// Records the headers that decide framing, Host and keep-alive. Names are
/// compared by length first: most lines are ruled out by one comparison.
fn note<'b>(notable: &mut Notable<'b>, name: &[u8], value: &'b [u8]) {
    match name.len() {
        4 if name.eq_ignore_ascii_case(b"host") => {
            notable.hosts = notable.hosts.saturating_add(1);
            notable.host = value;
        }
        6 if name.eq_ignore_ascii_case(b"expect") => {
            notable.expect_continue = value.trim_ascii().eq_ignore_ascii_case(b"100-continue");
        }
        10 if name.eq_ignore_ascii_case(b"connection") => {
            for token in value.split(|&byte| byte == b',') {
                let token = token.trim_ascii();
                notable.close |= token.eq_ignore_ascii_case(b"close");
                notable.keep_alive |= token.eq_ignore_ascii_case(b"keep-alive");
            }
        }
        14 if name.eq_ignore_ascii_case(b"content-length") => {
            notable.lengths = notable.lengths.saturating_add(1);
            notable.length = value;
        }
        17 if name.eq_ignore_ascii_case(b"transfer-encoding") => {
            notable.encodings = notable.encodings.saturating_add(1);
            notable.encoding = value;
        }
        _ => {}
    }
}

/// Splits a request target into path and query spans.
fn split_target(target: &[u8], span: Span) -> Result<(Span, Option<Span>), HeadError> {
    if !target.is_ascii() {
        return Err(HeadError::bad_request(
            "Request target must be ASCII (percent-encode other bytes)",
        ));
    }
    // A fragment is never sent by a conforming client; ignore it if one is.
    let end = memchr::memchr(b'#', target).unwrap_or(target.len());
    let path_start = match target.first() {
        Some(b'/') => 0,
        Some(b'*') if end == 1 => 0,
        // absolute-form (RFC 9112 §3.2.2), e.g. from a client that thinks it talks to a proxy.
        _ => match absolute_form_path(&target[..end]) {
            Some(start) => start,
            None => {
                return Err(HeadError::bad_request(
                    "Request target must be an absolute path",
                ))
            }
        },
    };
    let query_start = memchr::memchr(b'?', &target[path_start..end]).map(|at| path_start + at);
    let path_end = query_start.unwrap_or(end);
    let path = Span::within(span, path_start, path_end);
    let query = query_start.map(|at| Span::within(span, at + 1, end));
    Ok((path, query))
}

/// Where the path starts in `http://authority/path` (the end if it has none).
fn absolute_form_path(target: &[u8]) -> Option<usize> {
    let scheme_end = if target.len() >= 7 && target[..7].eq_ignore_ascii_case(b"http://") {
        7
    } else if target.len() >= 8 && target[..8].eq_ignore_ascii_case(b"https://") {
        8
    } else {
        return None;
    };
    let authority_end = target[scheme_end..]
        .iter()
        .position(|&byte| byte == b'/' || byte == b'?')
        .map_or(target.len(), |at| scheme_end + at);
    if authority_end == scheme_end {
        return None;
    }
    Some(authority_end)
}

fn check_host(notable: &Notable<'_>, version: Version) -> Result<(), HeadError> {
    match notable.hosts {
        0 if version == Version::HTTP_11 => Err(HeadError::bad_request(
            "Missing Host header (required by HTTP/1.1)",
        )),
        0 => Ok(()),
        1 if notable
            .host
            .iter()
            .any(|byte| byte.is_ascii_whitespace() || *byte == b'/') =>
        {
            Err(HeadError::bad_request("Malformed Host header"))
        }
        1 => Ok(()),
        _ => Err(HeadError::bad_request("Duplicate Host header")),
    }
}

fn framing(notable: &Notable<'_>, version: Version) -> Result<BodyFraming, HeadError> {
    if notable.lengths > 1 {
        return Err(HeadError::bad_request("Duplicate Content-Length header"));
    }
    if notable.encodings > 0 {
        if notable.lengths > 0 {
            return Err(HeadError::bad_request(
                "Both Content-Length and Transfer-Encoding present",
            ));
        }
        if version != Version::HTTP_11 {
            return Err(HeadError::bad_request(
                "Transfer-Encoding requires HTTP/1.1",
            ));
        }
        // RFC 9112 §6.3: a request whose final coding is not chunked has no
        // knowable length.
        let mut codings = notable.encoding.rsplit(|&byte| byte == b',');
        let last = codings.next().unwrap_or_default().trim_ascii();
        if !last.eq_ignore_ascii_case(b"chunked") {
            return Err(HeadError::bad_request(
                "Transfer-Encoding must end with chunked",
            ));
        }
        // Other codings are not implemented, and a list of them is a classic
        // smuggling vector between disagreeing parsers.
        if notable.encodings > 1 || codings.next().is_some() {
            return Err(HeadError {
                status: StatusCode::NOT_IMPLEMENTED,
                reason: "Unsupported Transfer-Encoding (only \"chunked\" is accepted)",
            });
        }
        return Ok(BodyFraming::Chunked);
    }
    if notable.lengths == 0 {
        return Ok(BodyFraming::Empty);
    }
    let digits = notable.length.trim_ascii();
    let length = (!digits.is_empty())
        .then(|| {
            digits.iter().try_fold(0u64, |total, &digit| {
                let digit = digit.is_ascii_digit().then(|| u64::from(digit - b'0'))?;
                total.checked_mul(10)?.checked_add(digit)
            })
        })
        .flatten()
        .ok_or(HeadError::bad_request("Malformed Content-Length header"))?;
    Ok(if length == 0 {
        BodyFraming::Empty
    } else {
        BodyFraming::Length(length)
    })
}

fn parse_error(error: httparse::Error, buffer: &[u8]) -> HeadError {
    match error {
        httparse::Error::TooManyHeaders => HeadError {
            status: StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE,
            reason: "Too many header fields",
        },
        httparse::Error::Version if names_newer_http(buffer) => HeadError {
            status: StatusCode::HTTP_VERSION_NOT_SUPPORTED,
            reason: "HTTP version not supported (this server speaks HTTP/1.0 and HTTP/1.1)",
        },
        httparse::Error::Version => HeadError::bad_request("Malformed HTTP version"),
        httparse::Error::HeaderName => HeadError::bad_request("Invalid header name"),
        httparse::Error::HeaderValue => HeadError::bad_request("Invalid header value"),
        httparse::Error::NewLine => HeadError::bad_request("Malformed line break in request head"),
        httparse::Error::Token | httparse::Error::Status => {
            HeadError::bad_request("Malformed request line")
        }
    }
}

/// Whether the request line names a real but unsupported version (`HTTP/2.0`).
fn names_newer_http(buffer: &[u8]) -> bool {
    let line_end = memchr::memchr(b'\n', buffer).unwrap_or(buffer.len());
    let line = buffer[..line_end].trim_ascii_end();
    let version = line.rsplit(|&byte| byte == b' ').next().unwrap_or_default();
    version.len() >= 6 && version.starts_with(b"HTTP/") && (b'2'..=b'9').contains(&version[5])
}

/// The refusal for a head that grew past [`HeadLimits::max_head_bytes`]
/// unfinished: 414 while still in the request line, 431 after it.
pub fn oversized_head(buffer: &[u8], limits: &HeadLimits) -> HeadError {
    let request_line_done = memchr::memchr(b'\n', buffer).is_some();
    if !request_line_done && buffer.len() > limits.max_uri_length {
        HeadError::URI_TOO_LONG
    } else {
        HeadError::HEADERS_TOO_LARGE
    }
}

#[cfg(test)]
#[path = "head_tests.rs"]
mod tests;
