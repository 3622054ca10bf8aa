//! JSON string escaping, shared by the native serialiser and error bodies.

/// Needs escaping in a JSON string: `"`, `\` and control characters.
static ESCAPE: [bool; 256] = {
    let mut table = [false; 256];
    let mut index = 0;
    while index < 0x20 {
        table[index] = true;
        index += 1;
    }
    table[b'"' as usize] = true;
    table[b'\\' as usize] = true;
    table
};

/// Appends `text` as a quoted JSON string (non-ASCII kept as UTF-8, like
/// `json.dumps(..., ensure_ascii=False)`).
pub fn write_json_string(text: &str, out: &mut Vec<u8>) {
    out.reserve(text.len() + 2);
    out.push(b'"');
    let bytes = text.as_bytes();
    let mut start = 0;
    for (index, &byte) in bytes.iter().enumerate() {
        if !ESCAPE[byte as usize] {
            continue;
        }
        out.extend_from_slice(&bytes[start..index]);
        match byte {
            b'"' => out.extend_from_slice(b"\\\""),
            b'\\' => out.extend_from_slice(b"\\\\"),
            b'\n' => out.extend_from_slice(b"\\n"),
            b'\r' => out.extend_from_slice(b"\\r"),
            b'\t' => out.extend_from_slice(b"\\t"),
            0x08 => out.extend_from_slice(b"\\b"),
            0x0c => out.extend_from_slice(b"\\f"),
            control => {
                const HEX: &[u8; 16] = b"0123456789abcdef";
                out.extend_from_slice(b"\\u00");
                out.push(HEX[(control >> 4) as usize]);
                out.push(HEX[(control & 0xf) as usize]);
            }
        }
        start = index + 1;
    }
    out.extend_from_slice(&bytes[start..]);
    out.push(b'"');
}

/// Deepest nesting of arrays and objects the native serialiser writes, and
/// so the deepest a request's JSON body may be (an application that echoes
/// what it was sent must be able to answer it).
pub const MAX_JSON_DEPTH: usize = 255;

/// Why a JSON request body, valid or not, must be refused before Python parses
/// it: nesting deeper than [`MAX_JSON_DEPTH`], or a `\uD800`-style escape of a
/// lone surrogate (not a character: no UTF-8 text, hence no answer, can hold
/// it). Syntax errors are left to the parser. One pass, no allocation.
pub fn unanswerable_json(body: &[u8]) -> Option<&'static str> {
    const LONE: &str = "a \\u escape of a lone surrogate is not a character";
    let mut depth = 0usize;
    let mut in_string = false;
    // The previous token in the string was the escape of a high surrogate.
    let mut pending_high = false;
    let mut index = 0;
    while index < body.len() {
        let byte = body[index];
        if !in_string {
            match byte {
                b'"' => in_string = true,
                b'[' | b'{' => {
                    depth += 1;
                    if depth > MAX_JSON_DEPTH {
                        return Some("nested more than 255 levels deep");
                    }
                }
                b']' | b'}' => depth = depth.saturating_sub(1),
                _ => {}
            }
            index += 1;
            continue;
        }
        let unit = (byte == b'\\' && body.get(index + 1) == Some(&b'u'))
            .then(|| body.get(index + 2..index + 6).and_then(hex_unit))
            .flatten();
        if let Some(unit) = unit {
            let high = (0xD800..0xDC00).contains(&unit);
            let low = (0xDC00..0xE000).contains(&unit);
            if pending_high != low {
                return Some(LONE);
            }
            pending_high = high;
            index += 6;
            continue;
        }
        if pending_high {
            return Some(LONE);
        }
        match byte {
            b'\\' => index += 1, // the escaped byte is skipped below
            b'"' => in_string = false,
            _ => {}
        }
        index += 1;
    }
    None
}

fn hex_unit(digits: &[u8]) -> Option<u32> {
    let text = std::str::from_utf8(digits).ok()?;
    u32::from_str_radix(text, 16).ok()
}

#[cfg(test)]
mod tests {
    use super::{unanswerable_json, write_json_string};

    #[test]
    fn refuses_only_what_no_answer_could_carry() {
        for fine in [
            &b"{}"[..],
            b"[[[1]]]",
            br#"{"a": "\ud83d\ude00", "b": "\u00e9\"[{"}"#,
            b"not json at all [",
            br#""\\ud800""#,
        ] {
            assert_eq!(
                unanswerable_json(fine),
                None,
                "{}",
                String::from_utf8_lossy(fine)
            );
        }
        let deep = "[".repeat(256);
        assert!(unanswerable_json(deep.as_bytes()).is_some());
        assert_eq!(unanswerable_json("[".repeat(255).as_bytes()), None);
        let in_string = format!("\"{}\"", "[".repeat(300));
        assert_eq!(unanswerable_json(in_string.as_bytes()), None);
        for lone in [
            &br#""\ud800""#[..],
            br#""\uDC00x""#,
            br#""\ud800\u0041""#,
            br#""\ud83d\ud83d\ude00""#,
            br#"{"k\udfff": 1}"#,
        ] {
            assert!(
                unanswerable_json(lone).is_some(),
                "{}",
                String::from_utf8_lossy(lone)
            );
        }
    }

    fn escaped(text: &str) -> String {
        let mut out = Vec::new();
        write_json_string(text, &mut out);
        String::from_utf8(out).expect("utf-8")
    }

    #[test]
    fn escapes_like_the_stdlib() {
        assert_eq!(escaped("plain"), "\"plain\"");
        assert_eq!(escaped("a\"b\\c\nd\u{1}é"), "\"a\\\"b\\\\c\\nd\\u0001é\"");
        assert_eq!(escaped("\t\r\u{8}\u{c}"), "\"\\t\\r\\b\\f\"");
    }
}
