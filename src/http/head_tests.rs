use super::*;
use crate::http::head_invariants::assert_consistent;
use crate::test_random::Rng;

fn parse(raw: &[u8]) -> Result<Option<RequestHead>, HeadError> {
    let mut buffer = BytesMut::from(raw);
    RequestHead::parse(&mut buffer, &HeadLimits::default())
}

fn head(raw: &[u8]) -> RequestHead {
    match parse(raw) {
        Ok(Some(head)) => head,
        other => panic!(
            "{:?} did not parse: {other:?}",
            String::from_utf8_lossy(raw)
        ),
    }
}

fn refusal(raw: &[u8]) -> HeadError {
    match parse(raw) {
        Err(error) => error,
        other => panic!(
            "{:?} was not refused: {other:?}",
            String::from_utf8_lossy(raw)
        ),
    }
}

const BROWSER: &[u8] = b"GET /repos/a/b/issues?state=open&page=2 HTTP/1.1\r\n\
Host: api.example.com\r\n\
User-Agent: Mozilla/5.0\r\n\
Accept: text/html\r\n\
Cookie: a=1\r\n\
Cookie: b=2\r\n\
Connection: keep-alive\r\n\r\n";

#[test]
fn spans_cover_the_request_line_and_every_header() {
    let head = head(BROWSER);
    assert_eq!(*head.method(), Method::GET);
    assert_eq!(head.version(), Version::HTTP_11);
    assert_eq!(head.target(), "/repos/a/b/issues?state=open&page=2");
    assert_eq!(head.path(), "/repos/a/b/issues");
    assert_eq!(head.query(), Some("state=open&page=2"));
    assert_eq!(head.header_count(), 6);
    let names: Vec<&str> = head.headers().map(|(name, _)| name).collect();
    assert_eq!(
        names,
        [
            "Host",
            "User-Agent",
            "Accept",
            "Cookie",
            "Cookie",
            "Connection"
        ]
    );
    assert_eq!(head.header("HOST"), Some(&b"api.example.com"[..]));
    assert_eq!(head.header_str("user-agent"), Some("Mozilla/5.0"));
    let cookies: Vec<&[u8]> = head.header_values("cookie").collect();
    assert_eq!(cookies, [&b"a=1"[..], &b"b=2"[..]]);
    assert_eq!(head.header("x-missing"), None);
    assert!(head.keep_alive());
    assert_eq!(head.framing(), BodyFraming::Empty);
    assert_eq!(head.as_bytes(), BROWSER);
}

#[test]
fn the_head_is_split_off_and_the_body_left_in_the_buffer() {
    let mut buffer =
        BytesMut::from(&b"POST /a HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n\r\nhelloGET"[..]);
    let head = RequestHead::parse(&mut buffer, &HeadLimits::default())
        .expect("valid")
        .expect("complete");
    assert_eq!(head.framing(), BodyFraming::Length(5));
    assert_eq!(&buffer[..], b"helloGET");
}

#[test]
fn incomplete_heads_ask_for_more_at_every_cut() {
    for cut in 0..BROWSER.len() {
        let mut buffer = BytesMut::from(&BROWSER[..cut]);
        let parsed = RequestHead::parse(&mut buffer, &HeadLimits::default());
        assert!(matches!(parsed, Ok(None)), "cut at {cut}: {parsed:?}");
        assert_eq!(buffer.len(), cut, "nothing consumed at cut {cut}");
    }
}

#[test]
fn leading_empty_lines_are_skipped() {
    let head = head(b"\r\n\r\nGET /x HTTP/1.1\r\nHost: h\r\n\r\n");
    assert_eq!(head.path(), "/x");
}

#[test]
fn target_forms() {
    let absolute = head(b"GET http://example.com/a/b?c=d HTTP/1.1\r\nHost: example.com\r\n\r\n");
    assert_eq!((absolute.path(), absolute.query()), ("/a/b", Some("c=d")));
    let bare = head(b"GET https://example.com HTTP/1.1\r\nHost: example.com\r\n\r\n");
    assert_eq!((bare.path(), bare.query()), ("/", None));
    let query_only = head(b"GET http://example.com?q=1 HTTP/1.1\r\nHost: example.com\r\n\r\n");
    assert_eq!((query_only.path(), query_only.query()), ("/", Some("q=1")));
    let asterisk = head(b"OPTIONS * HTTP/1.1\r\nHost: x\r\n\r\n");
    assert_eq!(asterisk.path(), "*");
    let fragment = head(b"GET /a?b=1#frag HTTP/1.1\r\nHost: x\r\n\r\n");
    assert_eq!((fragment.path(), fragment.query()), ("/a", Some("b=1")));
    let empty_query = head(b"GET /a? HTTP/1.1\r\nHost: x\r\n\r\n");
    assert_eq!(empty_query.query(), Some(""));
    for refused in [
        &b"CONNECT example.com:443 HTTP/1.1\r\nHost: example.com\r\n\r\n"[..],
        b"GET a/b HTTP/1.1\r\nHost: x\r\n\r\n",
        b"GET http:///a HTTP/1.1\r\nHost: x\r\n\r\n",
        b"GET ftp://x/a HTTP/1.1\r\nHost: x\r\n\r\n",
        b"GET /caf\xc3\xa9 HTTP/1.1\r\nHost: x\r\n\r\n",
        b"GET *x HTTP/1.1\r\nHost: x\r\n\r\n",
    ] {
        assert_eq!(refusal(refused).status, StatusCode::BAD_REQUEST);
    }
}

#[test]
fn keep_alive_rules() {
    assert!(head(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n").keep_alive());
    assert!(!head(b"GET / HTTP/1.1\r\nHost: x\r\nConnection: Close\r\n\r\n").keep_alive());
    assert!(!head(b"GET / HTTP/1.1\r\nHost: x\r\nConnection: upgrade, close\r\n\r\n").keep_alive());
    assert!(!head(b"GET / HTTP/1.0\r\n\r\n").keep_alive());
    assert!(head(b"GET / HTTP/1.0\r\nConnection: keep-alive\r\n\r\n").keep_alive());
    assert_eq!(head(b"GET / HTTP/1.0\r\n\r\n").version(), Version::HTTP_10);
}

#[test]
fn expect_continue_only_matters_with_a_body() {
    let with_body =
        head(b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\nExpect: 100-Continue\r\n\r\n");
    assert!(with_body.expects_continue());
    let without = head(b"POST / HTTP/1.1\r\nHost: x\r\nExpect: 100-continue\r\n\r\n");
    assert!(!without.expects_continue());
    let old = head(b"POST / HTTP/1.0\r\nContent-Length: 3\r\nExpect: 100-continue\r\n\r\n");
    assert!(!old.expects_continue());
}

#[test]
fn host_rules() {
    let missing = refusal(b"GET / HTTP/1.1\r\n\r\n");
    assert!(missing.reason.contains("Missing Host"), "{missing:?}");
    assert!(refusal(b"GET / HTTP/1.1\r\nHost: a\r\nhost: b\r\n\r\n")
        .reason
        .contains("Duplicate Host"));
    assert!(refusal(b"GET / HTTP/1.1\r\nHost: a b\r\n\r\n")
        .reason
        .contains("Malformed Host"));
    assert!(refusal(b"GET / HTTP/1.1\r\nHost: a/b\r\n\r\n")
        .reason
        .contains("Malformed Host"));
    head(b"GET / HTTP/1.0\r\n\r\n");
}

#[test]
fn framing_rules() {
    let case = |headers: &str| {
        let raw = format!("POST / HTTP/1.1\r\nHost: x\r\n{headers}\r\n");
        parse(raw.as_bytes()).map(|head| head.map(|head| head.framing()))
    };
    assert_eq!(
        case("Content-Length: 12\r\n"),
        Ok(Some(BodyFraming::Length(12)))
    );
    assert_eq!(case("Content-Length: 0\r\n"), Ok(Some(BodyFraming::Empty)));
    assert_eq!(
        case("Transfer-Encoding: Chunked\r\n"),
        Ok(Some(BodyFraming::Chunked))
    );
    assert_eq!(
        case("Content-Length: 18446744073709551615\r\n"),
        Ok(Some(BodyFraming::Length(u64::MAX)))
    );
    let status = |headers: &str| case(headers).expect_err(headers).status;
    for malformed in [
        "Content-Length: 3\r\nContent-Length: 3\r\n",
        "Content-Length: 3\r\nContent-Length: 4\r\n",
        "Content-Length: 3, 3\r\n",
        "Content-Length: -1\r\n",
        "Content-Length: +3\r\n",
        "Content-Length: abc\r\n",
        "Content-Length: \r\n",
        "Content-Length: 18446744073709551616\r\n",
        "Content-Length: 99999999999999999999999\r\n",
        "Content-Length: 5\r\nTransfer-Encoding: chunked\r\n",
        "Transfer-Encoding: chunked\r\nContent-Length: 5\r\n",
        "Transfer-Encoding: gzip\r\n",
        "Transfer-Encoding: chunked, gzip\r\n",
    ] {
        assert_eq!(status(malformed), StatusCode::BAD_REQUEST, "{malformed}");
    }
    for unsupported in [
        "Transfer-Encoding: gzip, chunked\r\n",
        "Transfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n",
    ] {
        assert_eq!(
            status(unsupported),
            StatusCode::NOT_IMPLEMENTED,
            "{unsupported}"
        );
    }
    let old = refusal(b"POST / HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n");
    assert!(old.reason.contains("requires HTTP/1.1"));
}

#[test]
fn size_limits() {
    let long = format!("GET /{} HTTP/1.1\r\nHost: x\r\n\r\n", "a".repeat(9000));
    assert_eq!(refusal(long.as_bytes()).status, StatusCode::URI_TOO_LONG);
    let big = format!(
        "GET / HTTP/1.1\r\nHost: x\r\nX-Big: {}\r\n\r\n",
        "v".repeat(33 * 1024)
    );
    assert_eq!(
        refusal(big.as_bytes()).status,
        StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE
    );
    let mut many = String::from("GET / HTTP/1.1\r\nHost: x\r\n");
    for number in 0..MAX_HEADERS {
        many.push_str(&format!("X-{number}: v\r\n"));
    }
    many.push_str("\r\n");
    assert_eq!(
        refusal(many.as_bytes()).status,
        StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE
    );
    let limits = HeadLimits::default();
    let unfinished_line = vec![b'a'; limits.max_head_bytes() + 1];
    assert_eq!(
        oversized_head(&unfinished_line, &limits).status,
        StatusCode::URI_TOO_LONG
    );
    assert_eq!(
        oversized_head(b"GET / HTTP/1.1\r\nX: vvvv", &limits).status,
        StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE
    );
}

#[test]
fn httparse_refusals_map_to_statuses() {
    for (raw, status) in [
        (
            &b"GET / HTTP/1.1\r\nHost: x\r\nX-Folded: a\r\n b\r\n\r\n"[..],
            400,
        ),
        (b"GET / HTTP/1.1\r\nHost: x\r\nX-A: a\rb\r\n\r\n", 400),
        (b"GET / HTTP/1.1\r\nHost: x\r\nX-A: a\x00b\r\n\r\n", 400),
        (b"GET / HTTP/1.1\r\nHost : x\r\n\r\n", 400),
        (b"GET / HTTP/1.1\r\nHost: x\r\nX(A): y\r\n\r\n", 400),
        (b"G@T / HTTP/1.1\r\nHost: x\r\n\r\n", 400),
        (b"GET /a\x00b HTTP/1.1\r\nHost: x\r\n\r\n", 400),
        (b"GET /\r\nHost: x\r\n\r\n", 400),
        (b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03\r\n\r\n", 400),
        (b"GET / HTTP/2.0\r\nHost: x\r\n\r\n", 505),
        (b"GET / HTTP/3\r\nHost: x\r\n\r\n", 505),
        (b"GET / HTTP/1.2\r\nHost: x\r\n\r\n", 400),
        (b"GET / FTP/1.1\r\nHost: x\r\n\r\n", 400),
    ] {
        assert_eq!(
            refusal(raw).status.as_u16(),
            status,
            "{:?}",
            String::from_utf8_lossy(raw)
        );
    }
}

#[test]
fn header_values_beyond_ascii_are_kept_as_bytes() {
    let head = head(b"GET / HTTP/1.1\r\nHost: x\r\nX-Name: caf\xe9\r\n\r\n");
    assert_eq!(head.header("x-name"), Some(&b"caf\xe9"[..]));
    assert_eq!(head.header_str("x-name"), None);
}

#[test]
fn mutated_heads_never_panic_and_accepted_ones_are_consistent() {
    let seeds: [&[u8]; 4] = [
        BROWSER,
        b"POST /a/b?c=d HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\nConnection: close\r\n\r\nabc",
        b"PUT http://h/p HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\nExpect: 100-continue\r\n\r\n",
        b"GET /x HTTP/1.0\r\nConnection: keep-alive\r\nContent-Length: 0\r\n\r\n",
    ];
    let alphabet = b"\r\n :\t\x00\x7f\x80\xff/?#%,;aZ09-HTTP/1.";
    let mut random = Rng(0x9E37_79B9_7F4A_7C15);
    let (mut accepted, mut refused, mut partial) = (0, 0, 0);
    for _ in 0..30_000 {
        let mut raw = random.pick(&seeds).to_vec();
        for _ in 0..1 + random.below(3) {
            if raw.len() < 2 {
                break;
            }
            let at = random.below(raw.len());
            match random.below(5) {
                0 => raw[at] = alphabet[random.below(alphabet.len())],
                1 => {
                    raw.remove(at);
                }
                2 => raw.insert(at, alphabet[random.below(alphabet.len())]),
                3 => raw.truncate(at.max(1)),
                _ => {
                    // Repeat a header line: duplicates are what framing checks are about.
                    if let Some(start) = raw[..at].iter().rposition(|&byte| byte == b'\n') {
                        if let Some(end) = raw[at..].iter().position(|&byte| byte == b'\n') {
                            let line = raw[start + 1..at + end + 1].to_vec();
                            raw.splice(start + 1..start + 1, line);
                        }
                    }
                }
            }
        }
        match parse(&raw) {
            Ok(Some(head)) => {
                assert_consistent(&raw, &head);
                accepted += 1;
            }
            Ok(None) => partial += 1,
            Err(_) => refused += 1,
        }
    }
    // The mutations must exercise all three outcomes, or the test proves little.
    assert!(
        accepted > 3000 && refused > 3000 && partial > 300,
        "{accepted} {refused} {partial}"
    );
}
