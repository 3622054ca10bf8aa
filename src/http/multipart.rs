//! `multipart/form-data` (RFC 7578) over a buffered body.
//!
//! Boundaries are found with memchr's SIMD `memmem` (one `Finder` per body),
//! parts are returned as slices of the body (no copies), and the limits are
//! checked as parts are found, so a hostile body costs at most one scan.

use memchr::memmem::Finder;

/// Limits applied while parsing.
#[derive(Clone, Copy, Debug)]
pub struct MultipartLimits {
    pub max_parts: usize,
    /// Largest plain (non-file) field.
    pub max_field_bytes: usize,
    /// Largest header block of one part.
    pub max_part_header_bytes: usize,
}

impl Default for MultipartLimits {
    fn default() -> Self {
        MultipartLimits {
            max_parts: 1000,
            max_field_bytes: 1024 * 1024,
            max_part_header_bytes: 8 * 1024,
        }
    }
}

/// Why a body was refused; `status()` is the HTTP answer.
#[derive(Debug, PartialEq, Eq)]
pub enum MultipartError {
    MissingBoundary,
    Malformed(&'static str),
    TooManyParts(usize),
    FieldTooLarge { name: String, limit: usize },
}

impl MultipartError {
    pub fn status(&self) -> u16 {
        match self {
            MultipartError::TooManyParts(_) | MultipartError::FieldTooLarge { .. } => 413,
            _ => 400,
        }
    }

    pub fn message(&self) -> String {
        match self {
            MultipartError::MissingBoundary => {
                "multipart/form-data without a boundary parameter".to_owned()
            }
            MultipartError::Malformed(reason) => format!("Malformed multipart body: {reason}"),
            MultipartError::TooManyParts(limit) => {
                format!("Too many multipart parts (limit is {limit})")
            }
            MultipartError::FieldTooLarge { name, limit } => {
                format!("Form field {name:?} is too large (limit is {limit} bytes)")
            }
        }
    }
}

/// One part: its headers and its data (a slice of the body).
#[derive(Debug)]
pub struct Part<'b> {
    pub name: String,
    pub filename: Option<String>,
    pub content_type: Option<String>,
    pub headers: Vec<(String, String)>,
    pub data: &'b [u8],
}

/// The `boundary` parameter of a `multipart/form-data` Content-Type.
pub fn boundary(content_type: &str) -> Option<String> {
    content_type.split(';').skip(1).find_map(|parameter| {
        let (name, value) = parameter.split_once('=')?;
        let value = value.trim().trim_matches('"');
        (name.trim().eq_ignore_ascii_case("boundary") && !value.is_empty() && value.len() <= 70)
            .then(|| value.to_owned())
    })
}

/// Splits `body` into parts.
pub fn parse<'b>(
    body: &'b [u8],
    boundary: &str,
    limits: &MultipartLimits,
) -> Result<Vec<Part<'b>>, MultipartError> {
    let delimiter = format!("--{boundary}");
    let finder = Finder::new(delimiter.as_bytes());
    let closing = format!("\r\n--{boundary}");
    let next_delimiter = Finder::new(closing.as_bytes());
    let start = finder
        .find(body)
        .ok_or(MultipartError::Malformed("no boundary found"))?;
    let mut position = start + delimiter.len();
    let mut parts = Vec::new();
    loop {
        let rest = &body[position..];
        if rest.starts_with(b"--") {
            return Ok(parts); // closing delimiter; anything after is epilogue
        }
        let rest = rest
            .strip_prefix(b"\r\n")
            .ok_or(MultipartError::Malformed("boundary not followed by CRLF"))?;
        position = body.len() - rest.len();
        if parts.len() == limits.max_parts {
            return Err(MultipartError::TooManyParts(limits.max_parts));
        }
        let header_end = memchr::memmem::find(rest, b"\r\n\r\n");
        let (header_block, data_start) = match header_end {
            Some(0) => (&rest[..0], position + 4),
            Some(end) => (&rest[..end], position + end + 4),
            // A part without headers starts right after the CRLF with a blank line.
            None => return Err(MultipartError::Malformed("part headers never end")),
        };
        if header_block.len() > limits.max_part_header_bytes {
            return Err(MultipartError::Malformed("part headers too large"));
        }
        let data_end = next_delimiter
            .find(&body[data_start..])
            .map(|offset| data_start + offset)
            .ok_or(MultipartError::Malformed("missing closing boundary"))?;
        let mut part = part_headers(header_block)?;
        part.data = &body[data_start..data_end];
        if part.filename.is_none() && part.data.len() > limits.max_field_bytes {
            return Err(MultipartError::FieldTooLarge {
                name: part.name,
                limit: limits.max_field_bytes,
            });
        }
        parts.push(part);
        position = data_end + 2 + delimiter.len();
    }
}

fn part_headers(block: &[u8]) -> Result<Part<'static>, MultipartError> {
    let text = std::str::from_utf8(block)
        .map_err(|_| MultipartError::Malformed("part headers are not UTF-8"))?;
    let mut part = Part {
        name: String::new(),
        filename: None,
        content_type: None,
        headers: Vec::new(),
        data: &[],
    };
    let mut has_disposition = false;
    for line in text.split("\r\n").filter(|line| !line.is_empty()) {
        // A NUL, a bare CR or LF (left inside a line by the CRLF split) or
        // another control character has no place in a header (RFC 9110 §5.5).
        if line.chars().any(|c| c.is_control() && c != '\t') {
            return Err(MultipartError::Malformed(
                "control character in part headers",
            ));
        }
        let (name, value) = line
            .split_once(':')
            .ok_or(MultipartError::Malformed("part header without ':'"))?;
        let (name, value) = (name.trim().to_ascii_lowercase(), value.trim().to_owned());
        if name == "content-disposition" {
            has_disposition = true;
            let mut pieces = split_parameters(&value).into_iter();
            if !pieces
                .next()
                .is_some_and(|kind| kind.eq_ignore_ascii_case("form-data"))
            {
                return Err(MultipartError::Malformed("part is not form-data"));
            }
            for piece in pieces {
                let Some((key, raw)) = piece.split_once('=') else {
                    continue;
                };
                let value = unquote(raw.trim());
                match key.trim().to_ascii_lowercase().as_str() {
                    "name" => part.name = value,
                    "filename" => part.filename = Some(value),
                    "filename*" => {
                        if let Some(decoded) = extended_value(&value) {
                            part.filename = Some(decoded);
                        }
                    }
                    _ => {}
                }
            }
        } else if name == "content-type" {
            part.content_type = Some(value.clone());
        }
        part.headers.push((name, value));
    }
    let decoded_control = |text: &str| text.chars().any(|c| c.is_control() && c != '\t');
    if decoded_control(&part.name) || part.filename.as_deref().is_some_and(decoded_control) {
        return Err(MultipartError::Malformed(
            "control character in a part's name or filename",
        ));
    }
    if !has_disposition || part.name.is_empty() {
        return Err(MultipartError::Malformed(
            "part without a Content-Disposition name",
        ));
    }
    Ok(part)
}

/// `a; b="x;y"; c` -> ["a", "b=\"x;y\"", "c"]: semicolons inside quotes do not split.
fn split_parameters(value: &str) -> Vec<String> {
    let mut pieces = vec![String::new()];
    let (mut quoted, mut escaped) = (false, false);
    for character in value.chars() {
        match character {
            _ if escaped => escaped = false,
            '\\' if quoted => escaped = true,
            '"' => quoted = !quoted,
            ';' if !quoted => {
                pieces.push(String::new());
                continue;
            }
            _ => {}
        }
        if let Some(last) = pieces.last_mut() {
            last.push(character);
        }
    }
    pieces
        .into_iter()
        .map(|piece| piece.trim().to_owned())
        .filter(|piece| !piece.is_empty())
        .collect()
}

fn unquote(value: &str) -> String {
    match value
        .strip_prefix('"')
        .and_then(|inner| inner.strip_suffix('"'))
    {
        Some(inner) => inner.replace("\\\"", "\"").replace("\\\\", "\\"),
        None => value.to_owned(),
    }
}

/// RFC 5987 `UTF-8''percent%20encoded`.
fn extended_value(value: &str) -> Option<String> {
    let (charset, rest) = value.split_once('\'')?;
    let (_, encoded) = rest.split_once('\'')?;
    if !charset.eq_ignore_ascii_case("utf-8") {
        return None;
    }
    super::query::percent_decode(encoded, false).map(|decoded| decoded.into_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    const BODY: &[u8] = b"preamble\r\n--XyZ\r\nContent-Disposition: form-data; name=\"title\"\r\n\r\nHello\r\n--XyZ\r\n\
Content-Disposition: form-data; name=\"upload\"; filename=\"a;b \\\"c\\\".txt\"\r\nContent-Type: text/plain\r\n\r\n\
line1\r\nline2 --XyZ not a boundary\r\n--XyZ\r\nContent-Disposition: form-data; name=\"empty\"\r\n\r\n\r\n--XyZ--\r\nepilogue";

    #[test]
    fn parses_fields_and_files() {
        let parts = parse(BODY, "XyZ", &MultipartLimits::default()).expect("valid body");
        assert_eq!(parts.len(), 3);
        assert_eq!(
            (parts[0].name.as_str(), parts[0].data),
            ("title", &b"Hello"[..])
        );
        assert_eq!(parts[1].filename.as_deref(), Some("a;b \"c\".txt"));
        assert_eq!(parts[1].content_type.as_deref(), Some("text/plain"));
        assert_eq!(parts[1].data, b"line1\r\nline2 --XyZ not a boundary");
        assert_eq!((parts[2].name.as_str(), parts[2].data), ("empty", &b""[..]));
    }

    #[test]
    fn boundary_parameter() {
        assert_eq!(
            boundary("multipart/form-data; boundary=abc"),
            Some("abc".to_owned())
        );
        assert_eq!(
            boundary("multipart/form-data; charset=x; boundary=\"a b\""),
            Some("a b".to_owned())
        );
        assert_eq!(boundary("multipart/form-data"), None);
        assert_eq!(boundary("multipart/form-data; boundary="), None);
    }

    #[test]
    fn extended_filenames() {
        let body = b"--b\r\nContent-Disposition: form-data; name=\"f\"; filename=\"fallback\"; filename*=UTF-8''r%C3%A9sum%C3%A9.pdf\r\n\r\nx\r\n--b--";
        let parts = parse(body, "b", &MultipartLimits::default()).expect("valid");
        assert_eq!(parts[0].filename.as_deref(), Some("résumé.pdf"));
    }

    #[test]
    fn refusals() {
        let limits = MultipartLimits {
            max_parts: 2,
            max_field_bytes: 4,
            max_part_header_bytes: 8 * 1024,
        };
        assert_eq!(
            parse(BODY, "XyZ", &limits).unwrap_err(),
            MultipartError::FieldTooLarge {
                name: "title".into(),
                limit: 4
            }
        );
        let roomy = MultipartLimits {
            max_field_bytes: 100,
            ..limits
        };
        assert_eq!(
            parse(BODY, "XyZ", &roomy).unwrap_err(),
            MultipartError::TooManyParts(2)
        );
        let cases: &[&[u8]] = &[
            b"no boundary at all",
            b"--b\r\nContent-Disposition: form-data; name=\"x\"\r\n\r\nunterminated",
            b"--b\r\nContent-Disposition: form-data; name=\"x\"",
            b"--b\r\nContent-Type: text/plain\r\n\r\nx\r\n--b--",
            b"--b\r\nContent-Disposition: attachment; name=\"x\"\r\n\r\nx\r\n--b--",
            b"--bXX",
            b"--b\r\nContent-Disposition: form-data; name=\"f\"; filename=\"a\x00b.txt\"\r\n\r\nx\r\n--b--",
            b"--b\r\nContent-Disposition: form-data; name=\"f\"\nX-Injected: 1\r\n\r\nx\r\n--b--",
            b"--b\r\nContent-Disposition: form-data; name=\"f\"\rX: 1\r\n\r\nx\r\n--b--",
            b"--b\r\nContent-Disposition: form-data; name=\"f\"; filename*=UTF-8''a%00b\r\n\r\nx\r\n--b--",
            b"--b\r\nContent-Disposition: form-data; name=\"f\"; filename*=UTF-8''a%0Ab\r\n\r\nx\r\n--b--",
        ];
        for body in cases {
            let error = parse(body, "b", &MultipartLimits::default()).unwrap_err();
            assert_eq!(error.status(), 400, "{:?}", String::from_utf8_lossy(body));
        }
    }
}
