//! The `Cookie` request header: `name=value; name2=value2`.
//!
//! Lenient by design (RFC 6265 §5.4 is what browsers send, but servers see
//! worse): a pair without `=` or with an empty name is skipped, never an
//! error; values lose one pair of surrounding double quotes and are
//! percent-decoded (undecodable bytes become U+FFFD); with a repeated name the
//! first one wins, as browsers send the most specific cookie first.

use std::collections::HashSet;

use super::query::percent_decode;

/// Parses every `Cookie` header value into `(name, value)` pairs, in order.
pub fn parse_cookies<'h>(headers: impl IntoIterator<Item = &'h [u8]>) -> Vec<(String, String)> {
    let mut seen: HashSet<String> = HashSet::new();
    let mut cookies = Vec::new();
    for header in headers {
        // Non-UTF-8 bytes in a cookie header are replaced, not fatal.
        let header = String::from_utf8_lossy(header);
        for pair in header.split(';') {
            let Some((name, value)) = pair.split_once('=') else {
                continue;
            };
            let name = name.trim();
            if name.is_empty()
                || name
                    .bytes()
                    .any(|byte| byte.is_ascii_control() || byte == b' ')
            {
                continue;
            }
            let value = value.trim();
            let value = value
                .strip_prefix('"')
                .and_then(|inner| inner.strip_suffix('"'))
                .unwrap_or(value);
            let value = match percent_decode(value, false) {
                Some(decoded) => decoded.into_owned(),
                None => {
                    let raw: Vec<u8> = percent_encoding::percent_decode_str(value).collect();
                    String::from_utf8_lossy(&raw).into_owned()
                }
            };
            if seen.insert(name.to_owned()) {
                cookies.push((name.to_owned(), value));
            }
        }
    }
    cookies
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(header: &str) -> Vec<(String, String)> {
        parse_cookies([header.as_bytes()])
    }

    fn pairs(expected: &[(&str, &str)]) -> Vec<(String, String)> {
        expected
            .iter()
            .map(|(name, value)| ((*name).to_owned(), (*value).to_owned()))
            .collect()
    }

    #[test]
    fn parses_ordinary_cookies() {
        assert_eq!(
            parse("session=abc; theme=dark"),
            pairs(&[("session", "abc"), ("theme", "dark")])
        );
        assert_eq!(parse("a=1;b=2"), pairs(&[("a", "1"), ("b", "2")]));
        assert_eq!(parse("empty="), pairs(&[("empty", "")]));
    }

    #[test]
    fn decodes_and_unquotes_values() {
        assert_eq!(
            parse("name=caf%C3%A9; q=\"quoted value\""),
            pairs(&[("name", "café"), ("q", "quoted value")])
        );
        assert_eq!(parse("eq=a=b=c"), pairs(&[("eq", "a=b=c")]));
        assert_eq!(parse("bad=%ff%fe"), pairs(&[("bad", "\u{fffd}\u{fffd}")]));
    }

    #[test]
    fn skips_malformed_pairs_without_failing() {
        assert_eq!(
            parse("novalue; =nameless; ok=1;;  ; x y=2; good=yes"),
            pairs(&[("ok", "1"), ("good", "yes")])
        );
        assert_eq!(parse(""), pairs(&[]));
        assert_eq!(parse(";;;"), pairs(&[]));
    }

    #[test]
    fn first_of_a_repeated_name_wins_across_headers() {
        let cookies = parse_cookies([&b"id=first; x=1"[..], &b"id=second"[..]]);
        assert_eq!(cookies, pairs(&[("id", "first"), ("x", "1")]));
    }

    #[test]
    fn non_utf8_header_bytes_do_not_fail() {
        let cookies = parse_cookies([&b"a=\xff\xfe; b=2"[..]]);
        assert_eq!(cookies[1], ("b".to_owned(), "2".to_owned()));
    }
}
