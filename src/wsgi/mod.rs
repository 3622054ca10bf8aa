//! The PEP 3333 environ, built from a parsed request head (no PyO3 here; the
//! binding turns the pairs into a Python dict).
//!
//! It follows what gunicorn gives for the same request, so a Django project
//! sees the same `request.META`: header names containing `_` are dropped (they
//! could be confused with `-` ones), repeated headers are joined with `,`,
//! `Content-Type`/`Content-Length` are not `HTTP_*`, `PATH_INFO` is the
//! percent-decoded path as latin-1 "bytes in a str", `SERVER_NAME`/`SERVER_PORT`
//! are the listening address. Unlike gunicorn, `REMOTE_ADDR` and
//! `wsgi.url_scheme` believe `X-Forwarded-For`/`-Proto` from trusted proxies
//! (the app's `trusted_proxies`), and a chunked body (already decoded whole)
//! gets a `CONTENT_LENGTH`, since Django reads no body without one.

pub mod intake;

use std::borrow::Cow;
use std::net::SocketAddr;

use crate::http::head::RequestHead;
use crate::http::proxy::TrustedProxies;

/// Where the request arrived and how the application is mounted.
pub struct Mount<'a> {
    /// `SCRIPT_NAME`: the prefix the application is mounted under ("" for the root).
    pub script_name: &'a str,
    pub server_name: &'a str,
    /// The port as text (formatted once per server, not per request).
    pub server_port: &'a str,
    pub trusted_proxies: &'a TrustedProxies,
}

/// An environ key the server always sets (or sets from a special header).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fixed {
    RequestMethod,
    ScriptName,
    PathInfo,
    QueryString,
    RawUri,
    ServerProtocol,
    ServerName,
    ServerPort,
    RemoteAddr,
    RemotePort,
    UrlScheme,
    ContentType,
    ContentLength,
}

impl Fixed {
    pub const ALL: [Fixed; 13] = [
        Fixed::RequestMethod,
        Fixed::ScriptName,
        Fixed::PathInfo,
        Fixed::QueryString,
        Fixed::RawUri,
        Fixed::ServerProtocol,
        Fixed::ServerName,
        Fixed::ServerPort,
        Fixed::RemoteAddr,
        Fixed::RemotePort,
        Fixed::UrlScheme,
        Fixed::ContentType,
        Fixed::ContentLength,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Fixed::RequestMethod => "REQUEST_METHOD",
            Fixed::ScriptName => "SCRIPT_NAME",
            Fixed::PathInfo => "PATH_INFO",
            Fixed::QueryString => "QUERY_STRING",
            Fixed::RawUri => "RAW_URI",
            Fixed::ServerProtocol => "SERVER_PROTOCOL",
            Fixed::ServerName => "SERVER_NAME",
            Fixed::ServerPort => "SERVER_PORT",
            Fixed::RemoteAddr => "REMOTE_ADDR",
            Fixed::RemotePort => "REMOTE_PORT",
            Fixed::UrlScheme => "wsgi.url_scheme",
            Fixed::ContentType => "CONTENT_TYPE",
            Fixed::ContentLength => "CONTENT_LENGTH",
        }
    }

    /// The same for every request to one server: a binding may set it once
    /// in its base environ instead of per request.
    pub fn per_server(self) -> bool {
        matches!(
            self,
            Fixed::ScriptName | Fixed::ServerName | Fixed::ServerPort
        )
    }
}

/// An environ key: a fixed one, or a request header's `HTTP_*`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Key {
    Fixed(Fixed),
    /// A common request header: `KNOWN_HEADERS[index]` (its key made once per server).
    Known(u8),
    Header(String),
}

/// Request headers most requests carry, with their environ keys: the binding
/// makes these keys once instead of a new string per request.
pub const KNOWN_HEADERS: [(&str, &str); 16] = [
    ("host", "HTTP_HOST"),
    ("user-agent", "HTTP_USER_AGENT"),
    ("accept", "HTTP_ACCEPT"),
    ("accept-encoding", "HTTP_ACCEPT_ENCODING"),
    ("accept-language", "HTTP_ACCEPT_LANGUAGE"),
    ("connection", "HTTP_CONNECTION"),
    ("cookie", "HTTP_COOKIE"),
    ("referer", "HTTP_REFERER"),
    ("origin", "HTTP_ORIGIN"),
    ("cache-control", "HTTP_CACHE_CONTROL"),
    ("authorization", "HTTP_AUTHORIZATION"),
    ("if-none-match", "HTTP_IF_NONE_MATCH"),
    ("if-modified-since", "HTTP_IF_MODIFIED_SINCE"),
    ("x-forwarded-for", "HTTP_X_FORWARDED_FOR"),
    ("x-forwarded-proto", "HTTP_X_FORWARDED_PROTO"),
    ("x-requested-with", "HTTP_X_REQUESTED_WITH"),
];

/// `n` in decimal (itoa: no formatting machinery; it runs per request).
fn decimal(n: u64) -> String {
    itoa::Buffer::new().format(n).to_owned()
}

/// An address as `REMOTE_ADDR` text (IPv4 without the formatting machinery).
fn ip_text(ip: std::net::IpAddr) -> String {
    match ip {
        std::net::IpAddr::V4(v4) => {
            let mut text = String::with_capacity(15);
            for (index, octet) in v4.octets().into_iter().enumerate() {
                if index > 0 {
                    text.push('.');
                }
                text.push_str(itoa::Buffer::new().format(octet));
            }
            text
        }
        other => other.to_string(),
    }
}

impl Key {
    pub fn as_str(&self) -> &str {
        match self {
            Key::Fixed(fixed) => fixed.name(),
            Key::Known(index) => KNOWN_HEADERS[*index as usize].1,
            Key::Header(name) => name,
        }
    }
}

/// The request's environ as `(key, value)` pairs of text (latin-1 code points
/// for byte strings, as PEP 3333 requires), borrowing from the head where it
/// can. `None` when the path is not under `SCRIPT_NAME` (answered 404).
pub fn environ<'h>(
    head: &'h RequestHead,
    peer: SocketAddr,
    body_length: u64,
    mount: &Mount<'h>,
) -> Option<Vec<(Key, Cow<'h, str>)>> {
    let path = head.path();
    let path_info = path.strip_prefix(mount.script_name)?;
    let mut pairs: Vec<(Key, Cow<'h, str>)> = Vec::with_capacity(16 + head.header_count());
    let mut fixed = |key: Fixed, value: Cow<'h, str>| pairs.push((Key::Fixed(key), value));
    fixed(Fixed::RequestMethod, Cow::Borrowed(head.method().as_str()));
    fixed(Fixed::ScriptName, Cow::Borrowed(mount.script_name));
    let path_info = match percent_decode_bytes(path_info) {
        // Nothing decoded and ASCII: the same code points.
        Cow::Borrowed(_) if path_info.is_ascii() => Cow::Borrowed(path_info),
        decoded => Cow::Owned(latin1(&decoded)),
    };
    fixed(Fixed::PathInfo, path_info);
    fixed(
        Fixed::QueryString,
        Cow::Borrowed(head.query().unwrap_or("")),
    );
    fixed(Fixed::RawUri, Cow::Borrowed(head.target()));
    let protocol = match head.version() {
        http::Version::HTTP_10 => "HTTP/1.0",
        _ => "HTTP/1.1",
    };
    fixed(Fixed::ServerProtocol, Cow::Borrowed(protocol));
    fixed(Fixed::ServerName, Cow::Borrowed(mount.server_name));
    fixed(Fixed::ServerPort, Cow::Borrowed(mount.server_port));

    let forwarded_for = head
        .header_values("x-forwarded-for")
        .filter_map(|value| std::str::from_utf8(value).ok());
    let client = mount.trusted_proxies.client_ip(peer.ip(), forwarded_for);
    fixed(Fixed::RemoteAddr, Cow::Owned(ip_text(client)));
    fixed(Fixed::RemotePort, Cow::Owned(decimal(peer.port().into())));
    let forwarded_proto = head
        .header_values("x-forwarded-proto")
        .filter_map(|value| std::str::from_utf8(value).ok());
    let secure = mount.trusted_proxies.is_secure(peer.ip(), forwarded_proto);
    fixed(
        Fixed::UrlScheme,
        Cow::Borrowed(if secure { "https" } else { "http" }),
    );

    let first_header = pairs.len();
    let mut content_length = None;
    for (name, value) in head.headers() {
        if name.contains('_') {
            continue;
        }
        let value = latin1_text(value);
        if name.eq_ignore_ascii_case("content-type") {
            set(
                &mut pairs,
                first_header,
                Key::Fixed(Fixed::ContentType),
                value,
            );
            continue;
        }
        if name.eq_ignore_ascii_case("content-length") {
            content_length = Some(value);
            continue;
        }
        let key = match KNOWN_HEADERS
            .iter()
            .position(|(known, _)| known.eq_ignore_ascii_case(name))
        {
            Some(index) => Key::Known(index as u8),
            None => {
                let mut key = String::with_capacity(5 + name.len());
                key.push_str("HTTP_");
                key.extend(name.chars().map(|character| match character {
                    '-' => '_',
                    other => other.to_ascii_uppercase(),
                }));
                Key::Header(key)
            }
        };
        match pairs[first_header..]
            .iter_mut()
            .find(|(existing, _)| *existing == key)
        {
            Some((_, joined)) => {
                let joined = joined.to_mut();
                joined.push(',');
                joined.push_str(&value);
            }
            None => pairs.push((key, value)),
        }
    }
    let content_length_key = Key::Fixed(Fixed::ContentLength);
    match content_length {
        Some(length) => pairs.push((content_length_key, length)),
        // Chunked: the body is already whole, so its length is known.
        None if body_length > 0 => {
            pairs.push((content_length_key, Cow::Owned(body_length.to_string())))
        }
        None => {}
    }
    Some(pairs)
}

fn set<'h>(pairs: &mut Vec<(Key, Cow<'h, str>)>, from: usize, key: Key, value: Cow<'h, str>) {
    match pairs[from..]
        .iter_mut()
        .find(|(existing, _)| *existing == key)
    {
        Some((_, old)) => *old = value,
        None => pairs.push((key, value)),
    }
}

/// A header value as text: borrowed when it is ASCII (the same code points),
/// else [`latin1`].
fn latin1_text(bytes: &[u8]) -> Cow<'_, str> {
    match std::str::from_utf8(bytes) {
        Ok(text) if text.is_ascii() => Cow::Borrowed(text),
        _ => Cow::Owned(latin1(bytes)),
    }
}

/// Bytes as a str of the same code points (ISO-8859-1), PEP 3333's "bytes in a str".
pub fn latin1(bytes: &[u8]) -> String {
    bytes.iter().map(|&byte| byte as char).collect()
}

/// `%XX` escapes decoded to bytes; anything malformed is kept as sent
/// (as Python's `urllib.parse.unquote_to_bytes`).
pub fn percent_decode_bytes(input: &str) -> Cow<'_, [u8]> {
    if !input.contains('%') {
        return Cow::Borrowed(input.as_bytes());
    }
    let bytes = input.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut index = 0;
    while index < bytes.len() {
        if bytes[index] == b'%' && index + 2 < bytes.len() {
            let high = (bytes[index + 1] as char).to_digit(16);
            let low = (bytes[index + 2] as char).to_digit(16);
            if let (Some(high), Some(low)) = (high, low) {
                out.push((high * 16 + low) as u8);
                index += 3;
                continue;
            }
        }
        out.push(bytes[index]);
        index += 1;
    }
    Cow::Owned(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    use crate::http::head::HeadLimits;
    use bytes::BytesMut;

    #[test]
    fn numbers_and_addresses_as_text() {
        for n in [0u64, 7, 10, 255, 8000, 65535, u64::MAX] {
            assert_eq!(decimal(n), n.to_string());
        }
        for ip in [
            "0.0.0.0",
            "127.0.0.1",
            "10.200.3.45",
            "255.255.255.255",
            "::1",
            "2001:db8::7",
        ] {
            let parsed: std::net::IpAddr = ip.parse().expect("address");
            assert_eq!(ip_text(parsed), parsed.to_string());
        }
    }

    #[test]
    fn known_header_keys_match_the_general_rule() {
        let text = "GET / HTTP/1.1\r\nHOST: a\r\nUser-Agent: b\r\nX-Forwarded-Proto: c\r\nX-Other-Thing: d\r\n\r\n";
        let pairs = environ_of(text, "127.0.0.1:5", 0);
        assert_eq!(get(&pairs, "HTTP_HOST"), Some("a"));
        assert_eq!(get(&pairs, "HTTP_USER_AGENT"), Some("b"));
        assert_eq!(get(&pairs, "HTTP_X_FORWARDED_PROTO"), Some("c"));
        assert_eq!(get(&pairs, "HTTP_X_OTHER_THING"), Some("d"));
        for (name, key) in KNOWN_HEADERS {
            assert_eq!(
                key,
                format!("HTTP_{}", name.to_ascii_uppercase().replace('-', "_"))
            );
        }
    }

    fn head(text: &str) -> RequestHead {
        let mut buffer = BytesMut::from(text.as_bytes());
        RequestHead::parse(&mut buffer, &HeadLimits::default())
            .expect("valid head")
            .expect("complete head")
    }

    fn environ_of(text: &str, peer: &str, body: u64) -> Vec<(String, String)> {
        let head = head(text);
        let proxies = TrustedProxies::default();
        let mount = Mount {
            script_name: "",
            server_name: "127.0.0.1",
            server_port: "8000",
            trusted_proxies: &proxies,
        };
        environ(&head, peer.parse().expect("peer"), body, &mount)
            .expect("mounted")
            .into_iter()
            .map(|(key, value)| (key.as_str().to_owned(), value.into_owned()))
            .collect()
    }

    fn get<'e>(pairs: &'e [(String, String)], key: &str) -> Option<&'e str> {
        pairs
            .iter()
            .find(|(name, _)| name == key)
            .map(|(_, value)| value.as_str())
    }

    #[test]
    fn follows_pep_3333_like_gunicorn() {
        let pairs = environ_of(
            "POST /caf%C3%A9/a%2Fb?x=1&y=%20 HTTP/1.1\r\nHost: example.com:8000\r\n\
             Content-Type: text/plain\r\nContent-Length: 5\r\nX-Custom: one\r\n\
             x-custom: two\r\nX_Sneaky: dropped\r\nCookie: a=1\r\n\r\n",
            "192.0.2.1:5555",
            5,
        );
        assert_eq!(get(&pairs, "REQUEST_METHOD"), Some("POST"));
        // UTF-8 bytes tunnelled through latin-1; %2F decoded like gunicorn does.
        assert_eq!(get(&pairs, "PATH_INFO"), Some("/caf\u{c3}\u{a9}/a/b"));
        assert_eq!(get(&pairs, "QUERY_STRING"), Some("x=1&y=%20"));
        assert_eq!(get(&pairs, "CONTENT_TYPE"), Some("text/plain"));
        assert_eq!(get(&pairs, "CONTENT_LENGTH"), Some("5"));
        assert_eq!(get(&pairs, "HTTP_X_CUSTOM"), Some("one,two"));
        assert_eq!(get(&pairs, "HTTP_X_SNEAKY"), None);
        assert_eq!(get(&pairs, "HTTP_CONTENT_TYPE"), None);
        assert_eq!(get(&pairs, "HTTP_HOST"), Some("example.com:8000"));
        assert_eq!(get(&pairs, "HTTP_COOKIE"), Some("a=1"));
        assert_eq!(get(&pairs, "REMOTE_ADDR"), Some("192.0.2.1"));
        assert_eq!(get(&pairs, "REMOTE_PORT"), Some("5555"));
        assert_eq!(get(&pairs, "SERVER_NAME"), Some("127.0.0.1"));
        assert_eq!(get(&pairs, "SERVER_PORT"), Some("8000"));
        assert_eq!(get(&pairs, "SERVER_PROTOCOL"), Some("HTTP/1.1"));
        assert_eq!(get(&pairs, "wsgi.url_scheme"), Some("http"));
    }

    #[test]
    fn believes_forwarded_headers_only_from_trusted_proxies() {
        let text = "GET / HTTP/1.1\r\nHost: x\r\nX-Forwarded-For: 203.0.113.9\r\n\
                    X-Forwarded-Proto: https\r\n\r\n";
        let trusted = environ_of(text, "127.0.0.1:1000", 0);
        assert_eq!(get(&trusted, "REMOTE_ADDR"), Some("203.0.113.9"));
        assert_eq!(get(&trusted, "wsgi.url_scheme"), Some("https"));
        let untrusted = environ_of(text, "198.51.100.4:1000", 0);
        assert_eq!(get(&untrusted, "REMOTE_ADDR"), Some("198.51.100.4"));
        assert_eq!(get(&untrusted, "wsgi.url_scheme"), Some("http"));
        assert_eq!(get(&untrusted, "CONTENT_LENGTH"), None);
    }

    #[test]
    fn chunked_bodies_get_their_decoded_length_and_script_name_is_stripped() {
        let text = "POST /app/x HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n";
        assert_eq!(
            get(&environ_of(text, "10.0.0.1:1", 42), "CONTENT_LENGTH"),
            Some("42")
        );
        let proxies = TrustedProxies::default();
        let mount = Mount {
            script_name: "/app",
            server_name: "h",
            server_port: "1",
            trusted_proxies: &proxies,
        };
        let peer = "10.0.0.1:1".parse().expect("peer");
        let chunked = head(text);
        let pairs = environ(&chunked, peer, 0, &mount).expect("mounted");
        let value = |key: Fixed| {
            pairs
                .iter()
                .find(|(name, _)| *name == Key::Fixed(key))
                .map(|(_, value)| value.as_ref())
        };
        assert_eq!(value(Fixed::ScriptName), Some("/app"));
        assert_eq!(value(Fixed::PathInfo), Some("/x"));
        let outside = head("GET /other HTTP/1.1\r\nHost: x\r\n\r\n");
        assert!(environ(&outside, peer, 0, &mount).is_none());
    }

    #[test]
    fn malformed_escapes_are_kept() {
        assert_eq!(&*percent_decode_bytes("/a%zz%4"), b"/a%zz%4");
        assert_eq!(&*percent_decode_bytes("/%41%ff"), b"/A\xff");
    }
}
