//! The opening handshake (RFC 6455 §4.2): checking the client's upgrade
//! request, and the `101 Switching Protocols` answer.

use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use http::{StatusCode, Version};
use sha1::{Digest, Sha1};

use super::deflate::{self, DeflateParams};
use crate::http::head::{BodyFraming, RequestHead};

/// Appended to the client's key before hashing (RFC 6455 §1.3).
const GUID: &[u8] = b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11";

/// A valid upgrade request, ready to be accepted.
#[derive(Debug, PartialEq, Eq)]
pub struct Handshake {
    /// The `Sec-WebSocket-Accept` value.
    pub accept: String,
    /// `Sec-WebSocket-Protocol` values, in the client's order.
    pub offered_protocols: Vec<String>,
    /// permessage-deflate, if offered acceptably (and enabled).
    pub deflate: Option<DeflateParams>,
}

/// Why an upgrade is refused: an HTTP status and a one-line reason. 426
/// answers carry `Sec-WebSocket-Version: 13` (RFC 6455 §4.4).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Refusal {
    pub status: StatusCode,
    pub reason: &'static str,
}

const fn bad_request(reason: &'static str) -> Refusal {
    Refusal {
        status: StatusCode::BAD_REQUEST,
        reason,
    }
}

/// The accept key for a client's `Sec-WebSocket-Key`.
pub fn accept_key(key: &[u8]) -> String {
    let mut hasher = Sha1::new();
    hasher.update(key);
    hasher.update(GUID);
    STANDARD.encode(hasher.finalize())
}

/// Whether `head` asks for a WebSocket (`Upgrade: websocket`); whether it
/// asks properly is [`check`]'s business.
pub fn is_upgrade_request(head: &RequestHead) -> bool {
    head.header_values("upgrade")
        .any(|value| has_token(value, b"websocket"))
}

/// Checks an upgrade request to a WebSocket route.
pub fn check(head: &RequestHead, allow_deflate: bool) -> Result<Handshake, Refusal> {
    if head.version() < Version::HTTP_11 {
        return Err(bad_request("WebSocket upgrades need HTTP/1.1"));
    }
    if head.method() != http::Method::GET {
        return Err(bad_request("WebSocket upgrades must use GET"));
    }
    if !head
        .header_values("connection")
        .any(|value| has_token(value, b"upgrade"))
    {
        return Err(bad_request("missing 'Connection: Upgrade'"));
    }
    if head.framing() != BodyFraming::Empty {
        return Err(bad_request("a WebSocket upgrade has no body"));
    }
    let mut versions = head.header_values("sec-websocket-version");
    match (versions.next(), versions.next()) {
        (Some(b"13"), None) => {}
        _ => {
            return Err(Refusal {
                status: StatusCode::UPGRADE_REQUIRED,
                reason: "unsupported Sec-WebSocket-Version (this server speaks 13)",
            })
        }
    }
    let mut keys = head.header_values("sec-websocket-key");
    let key = match (keys.next(), keys.next()) {
        (Some(key), None) => key.trim_ascii(),
        _ => return Err(bad_request("missing or repeated Sec-WebSocket-Key")),
    };
    match STANDARD.decode(key) {
        Ok(nonce) if nonce.len() == 16 => {}
        _ => return Err(bad_request("Sec-WebSocket-Key is not 16 bytes in base64")),
    }
    let offered_protocols = head
        .header_values("sec-websocket-protocol")
        .filter_map(|value| std::str::from_utf8(value).ok())
        .flat_map(|value| value.split(','))
        .map(str::trim)
        .filter(|protocol| !protocol.is_empty())
        .map(str::to_owned)
        .collect();
    let deflate = if allow_deflate {
        deflate::negotiate(
            head.header_values("sec-websocket-extensions")
                .filter_map(|value| std::str::from_utf8(value).ok()),
        )
    } else {
        None
    };
    Ok(Handshake {
        accept: accept_key(key),
        offered_protocols,
        deflate,
    })
}

/// The server's pick: its first supported protocol the client offered.
pub fn choose_subprotocol<'a>(offered: &[String], supported: &'a [String]) -> Option<&'a str> {
    supported
        .iter()
        .find(|protocol| offered.iter().any(|offer| offer == *protocol))
        .map(String::as_str)
}

/// Whether the `Origin` header passes an allow-list (`"*"` allows any).
/// Without an allow-list every origin passes; with one, a request without
/// `Origin` is refused too: browsers always send it, so its absence does
/// not prove a same-site caller.
pub fn origin_allowed(origin: Option<&[u8]>, allowed: &[String]) -> bool {
    if allowed.is_empty() || allowed.iter().any(|entry| entry == "*") {
        return true;
    }
    let Some(origin) = origin else {
        return false;
    };
    let origin = origin.trim_ascii();
    allowed
        .iter()
        .any(|entry| entry.as_bytes().eq_ignore_ascii_case(origin))
}

/// Appends the `101 Switching Protocols` answer.
pub fn write_accept(
    out: &mut Vec<u8>,
    accept: &str,
    protocol: Option<&str>,
    deflate: Option<&DeflateParams>,
) {
    out.extend_from_slice(
        b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: ",
    );
    out.extend_from_slice(accept.as_bytes());
    if let Some(protocol) = protocol {
        out.extend_from_slice(b"\r\nSec-WebSocket-Protocol: ");
        out.extend_from_slice(protocol.as_bytes());
    }
    if let Some(params) = deflate {
        out.extend_from_slice(b"\r\nSec-WebSocket-Extensions: ");
        out.extend_from_slice(params.response_value().as_bytes());
    }
    out.extend_from_slice(b"\r\n\r\n");
}

/// Whether a comma-separated header value lists `token` (ASCII case-insensitive).
fn has_token(value: &[u8], token: &[u8]) -> bool {
    value
        .split(|&byte| byte == b',')
        .any(|item| item.trim_ascii().eq_ignore_ascii_case(token))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::http::head::HeadLimits;
    use bytes::BytesMut;

    fn head(text: &str) -> RequestHead {
        let mut buffer = BytesMut::from(text);
        RequestHead::parse(&mut buffer, &HeadLimits::default())
            .expect("valid head")
            .expect("complete head")
    }

    const GOOD: &str = "GET /chat HTTP/1.1\r\nHost: server.example.com\r\nUpgrade: websocket\r\n\
        Connection: keep-alive, Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\
        Sec-WebSocket-Protocol: chat, superchat\r\nSec-WebSocket-Version: 13\r\n\
        Sec-WebSocket-Extensions: permessage-deflate; client_max_window_bits\r\n\r\n";

    #[test]
    fn rfc_example_accept_key() {
        assert_eq!(
            accept_key(b"dGhlIHNhbXBsZSBub25jZQ=="),
            "s3pPLMBiTxaQ9kYGzzhZRbK+xOo="
        );
    }

    #[test]
    fn accepts_the_rfc_request() {
        let head = head(GOOD);
        assert!(is_upgrade_request(&head));
        let handshake = check(&head, true).unwrap();
        assert_eq!(handshake.accept, "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=");
        assert_eq!(handshake.offered_protocols, ["chat", "superchat"]);
        assert!(handshake.deflate.is_some());
        assert_eq!(check(&head, false).unwrap().deflate, None);
        let supported = ["superchat".to_owned(), "chat".to_owned()];
        assert_eq!(
            choose_subprotocol(&handshake.offered_protocols, &supported),
            Some("superchat")
        );
        let mut out = Vec::new();
        write_accept(&mut out, &handshake.accept, Some("chat"), None);
        let text = String::from_utf8(out).unwrap();
        assert!(text.starts_with("HTTP/1.1 101 Switching Protocols\r\n"));
        assert!(text.contains("\r\nSec-WebSocket-Protocol: chat\r\n"));
        assert!(text.ends_with("\r\n\r\n"));
    }

    #[test]
    fn refusals() {
        let cases = [
            (GOOD.replace("HTTP/1.1", "HTTP/1.0"), 400),
            (GOOD.replace("keep-alive, Upgrade", "keep-alive"), 400),
            (GOOD.replace("dGhlIHNhbXBsZSBub25jZQ==", "c2hvcnQ="), 400),
            (
                GOOD.replace("dGhlIHNhbXBsZSBub25jZQ==", "not base64!!"),
                400,
            ),
            (
                GOOD.replace("Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n", ""),
                400,
            ),
            (GOOD.replace("Version: 13", "Version: 8"), 426),
            (GOOD.replace("Sec-WebSocket-Version: 13\r\n", ""), 426),
            (GOOD.replace("Host: ", "Content-Length: 5\r\nHost: "), 400),
        ];
        for (request, status) in cases {
            let refusal = check(&head(&request), true).unwrap_err();
            assert_eq!(refusal.status.as_u16(), status, "{request}");
        }
    }

    #[test]
    fn origins() {
        let allowed = ["https://example.com".to_owned()];
        assert!(origin_allowed(Some(b"https://EXAMPLE.com"), &allowed));
        assert!(!origin_allowed(Some(b"https://evil.example"), &allowed));
        assert!(!origin_allowed(None, &allowed));
        assert!(origin_allowed(None, &[]));
        assert!(origin_allowed(
            Some(b"https://evil.example"),
            &["*".to_owned()]
        ));
    }
}
