//! Making text safe to send as a `Location`: percent-encoding to a valid
//! RFC 3986 URI reference, and keeping a path the server echoes from the
//! request from being read by a browser as another host.
//!
//! Browsers are lenient where RFC 3986 is not: they treat `\` as `/`, drop
//! tabs and newlines, and read `//host` as a network-path reference. So a
//! path such as `/\evil.com` (from a request the server merely redirects to
//! add or remove a slash) is an off-site redirect unless it is escaped. As in
//! Django (`escape_leading_slashes`) a leading `//` becomes `/%2F`; unlike
//! raw bytes, an escape is never reinterpreted.

/// Which characters are left as they are.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum UriPart {
    /// A whole URI reference (scheme, authority, query, fragment kept).
    Reference,
    /// A path only: `?` and `#` are data, so they are escaped too.
    Path,
    /// A query string (after `?`): `#` is escaped.
    Query,
}

/// RFC 3986 `unreserved`, `gen-delims` and `sub-delims`: the bytes a URI
/// may carry literally (`%` is handled apart: kept only before two hex digits).
fn is_uri_char(byte: u8) -> bool {
    byte.is_ascii_alphanumeric() || b"-._~:/?#[]@!$&'()*+,;=".contains(&byte)
}

/// Percent-encodes whatever `text` holds that a URI may not: spaces, control
/// characters, `\`, `"`, `<`, `>`, non-ASCII (as UTF-8 bytes), and a `%` not
/// followed by two hex digits. Valid escapes are kept, so encoding twice
/// changes nothing.
pub fn encode_uri(text: &str, part: UriPart) -> String {
    let bytes = text.as_bytes();
    let mut out = String::with_capacity(bytes.len() + 8);
    for (index, &byte) in bytes.iter().enumerate() {
        let literal = match byte {
            b'%' => {
                bytes.get(index + 1).is_some_and(u8::is_ascii_hexdigit)
                    && bytes.get(index + 2).is_some_and(u8::is_ascii_hexdigit)
            }
            b'?' => part == UriPart::Reference || part == UriPart::Query,
            b'#' => part == UriPart::Reference,
            _ => is_uri_char(byte),
        };
        if literal {
            out.push(byte as char);
        } else {
            const HEX: &[u8; 16] = b"0123456789ABCDEF";
            out.push('%');
            out.push(HEX[usize::from(byte >> 4)] as char);
            out.push(HEX[usize::from(byte & 0xf)] as char);
        }
    }
    out
}

/// A `Location` for a path (and query) taken from the request: encoded, and
/// never starting with `//` (which a browser reads as `//host`).
pub fn same_site_location(path: &str, query: Option<&str>) -> String {
    let mut location = encode_uri(path, UriPart::Path);
    if !location.starts_with('/') {
        location.insert(0, '/');
    }
    if location.starts_with("//") {
        location.replace_range(1..2, "%2F");
    }
    if let Some(query) = query {
        location.push('?');
        location.push_str(&encode_uri(query, UriPart::Query));
    }
    location
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn encodes_what_a_uri_may_not_hold() {
        assert_eq!(encode_uri("/a b", UriPart::Reference), "/a%20b");
        assert_eq!(
            encode_uri("/café?x=é", UriPart::Reference),
            "/caf%C3%A9?x=%C3%A9"
        );
        assert_eq!(
            encode_uri("/a\\b\t\"<>", UriPart::Path),
            "/a%5Cb%09%22%3C%3E"
        );
        assert_eq!(encode_uri("/100%", UriPart::Path), "/100%25");
        assert_eq!(encode_uri("/%zz%4", UriPart::Path), "/%25zz%254");
        assert_eq!(encode_uri("/a?b#c", UriPart::Path), "/a%3Fb%23c");
        assert_eq!(encode_uri("a#b", UriPart::Query), "a%23b");
    }

    #[test]
    fn keeps_valid_uris_unchanged() {
        for uri in [
            "/plain/path",
            "https://example.com:8443/a/b?c=d&e=f#frag",
            "/caf%C3%A9",
            "/x;y=1,2!$'()*+@~",
            "mailto:someone@example.com",
        ] {
            assert_eq!(encode_uri(uri, UriPart::Reference), uri);
            let twice = encode_uri(&encode_uri(uri, UriPart::Reference), UriPart::Reference);
            assert_eq!(twice, uri);
        }
    }

    #[test]
    fn same_site_locations_never_name_another_host() {
        let cases = [
            ("/\\evil.com", "/%5Cevil.com"),
            ("//evil.com", "/%2Fevil.com"),
            ("///evil.com", "/%2F/evil.com"),
            ("/\t/evil.com", "/%09/evil.com"),
            ("/%2F%2Fevil.com", "/%2F%2Fevil.com"),
            ("/%5Cevil.com", "/%5Cevil.com"),
            ("/ok/page", "/ok/page"),
        ];
        for (path, expected) in cases {
            let location = same_site_location(path, None);
            assert_eq!(location, expected, "{path:?}");
            let second = location.as_bytes().get(1).copied();
            assert!(second != Some(b'/') && second != Some(b'\\'), "{location}");
        }
        assert_eq!(
            same_site_location("/a/", Some("q=1 2&r=#")),
            "/a/?q=1%202&r=%23"
        );
    }
}
