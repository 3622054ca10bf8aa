//! Query strings and percent-encoded path segments.

use std::borrow::Cow;

/// Decodes `%XX` escapes (and `+` as space when `plus_is_space`).
///
/// Borrows when there is nothing to decode, which is the common case.
/// Returns `None` when the decoded bytes are not UTF-8.
pub fn percent_decode(input: &str, plus_is_space: bool) -> Option<Cow<'_, str>> {
    let needs_work = input
        .bytes()
        .any(|byte| byte == b'%' || (plus_is_space && byte == b'+'));
    if !needs_work {
        return Some(Cow::Borrowed(input));
    }
    let bytes = input.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut index = 0;
    while index < bytes.len() {
        let byte = bytes[index];
        if byte == b'%' && index + 2 < bytes.len() {
            if let (Some(high), Some(low)) =
                (hex_value(bytes[index + 1]), hex_value(bytes[index + 2]))
            {
                out.push(high << 4 | low);
                index += 3;
                continue;
            }
        }
        out.push(if plus_is_space && byte == b'+' {
            b' '
        } else {
            byte
        });
        index += 1;
    }
    String::from_utf8(out).ok().map(Cow::Owned)
}

fn hex_value(byte: u8) -> Option<u8> {
    match byte {
        b'0'..=b'9' => Some(byte - b'0'),
        b'a'..=b'f' => Some(byte - b'a' + 10),
        b'A'..=b'F' => Some(byte - b'A' + 10),
        _ => None,
    }
}

/// Splits `a=1&b=2&a=3` into decoded pairs, in order, keeping repeated keys.
///
/// Only `&` separates pairs: `a=1;b=2` is one pair whose value is `1;b=2`, as
/// in browsers, Django and Starlette (a cache that splits on `;` too would
/// see other parameters than the application: CVE-2021-23336).
/// Like `urllib.parse.parse_qsl(keep_blank_values=True)`:
/// a key without `=` has an empty value, empty pieces are skipped, and a piece
/// that does not decode to UTF-8 is decoded lossily rather than failing the request.
pub fn parse_query(query: &str) -> Vec<(String, String)> {
    query
        .split('&')
        .filter(|piece| !piece.is_empty())
        .map(|piece| {
            let (key, value) = piece.split_once('=').unwrap_or((piece, ""));
            (decode_lossy(key), decode_lossy(value))
        })
        .collect()
}

fn decode_lossy(input: &str) -> String {
    match percent_decode(input, true) {
        Some(decoded) => decoded.into_owned(),
        None => {
            let raw: Vec<u8> =
                percent_encoding::percent_decode_str(&input.replace('+', " ")).collect();
            String::from_utf8_lossy(&raw).into_owned()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decodes_escapes_and_plus() {
        assert_eq!(percent_decode("a%20b", false).as_deref(), Some("a b"));
        assert_eq!(percent_decode("a+b", true).as_deref(), Some("a b"));
        assert_eq!(percent_decode("a+b", false).as_deref(), Some("a+b"));
        assert_eq!(percent_decode("caf%C3%A9", false).as_deref(), Some("café"));
        assert!(matches!(
            percent_decode("plain", false),
            Some(Cow::Borrowed("plain"))
        ));
    }

    #[test]
    fn leaves_broken_escapes_alone() {
        assert_eq!(percent_decode("100%", false).as_deref(), Some("100%"));
        assert_eq!(percent_decode("%zz", false).as_deref(), Some("%zz"));
        assert_eq!(percent_decode("%4", false).as_deref(), Some("%4"));
        assert_eq!(percent_decode("%ff", false), None);
    }

    #[test]
    fn parses_query_pairs_in_order() {
        let pairs = parse_query("tag=a&tag=b&q=hello+world&empty&x=%2F&&");
        assert_eq!(
            pairs,
            vec![
                ("tag".into(), "a".into()),
                ("tag".into(), "b".into()),
                ("q".into(), "hello world".into()),
                ("empty".into(), "".into()),
                ("x".into(), "/".into()),
            ]
        );
        assert_eq!(parse_query("bad=%ff")[0].1, "\u{fffd}");
    }

    #[test]
    fn only_ampersands_separate() {
        assert_eq!(
            parse_query("a=1;b=2&c=3"),
            vec![("a".into(), "1;b=2".into()), ("c".into(), "3".into())]
        );
        assert_eq!(parse_query(";;")[0], (";;".into(), "".into()));
    }
}
