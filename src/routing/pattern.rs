//! Parsing `"/users/{id:int}"` into segments, and the converters.

use std::fmt;

/// The longest `{name:int}` value that matches: Python's default limit on
/// converting digit strings to `int` (`sys.int_info.default_max_str_digits`).
/// A longer one is no match (a 404 unless another route takes it), as in
/// Django, rather than an exception.
pub const MAX_INT_DIGITS: usize = 4300;

/// A path parameter's converter.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum ParamKind {
    // Declaration order is matching precedence: most specific first.
    Int,
    Uuid,
    Slug,
    Str,
    Path,
}

impl ParamKind {
    /// The converter for a name used in a pattern (`int`, `str`, ...).
    pub fn from_name(name: &str) -> Option<ParamKind> {
        Some(match name {
            "str" => ParamKind::Str,
            "int" => ParamKind::Int,
            "slug" => ParamKind::Slug,
            "uuid" => ParamKind::Uuid,
            "path" => ParamKind::Path,
            _ => return None,
        })
    }

    pub fn name(self) -> &'static str {
        match self {
            ParamKind::Str => "str",
            ParamKind::Int => "int",
            ParamKind::Slug => "slug",
            ParamKind::Uuid => "uuid",
            ParamKind::Path => "path",
        }
    }

    /// Whether a (decoded) value fits this converter.
    pub fn matches(self, value: &str) -> bool {
        self.matches_bytes(value.as_bytes())
    }

    /// `matches` on the bytes of a value (the router's hot path holds bytes).
    #[inline]
    pub fn matches_bytes(self, bytes: &[u8]) -> bool {
        !bytes.is_empty()
            && match self {
                // `[^/]+` on the raw segment, which never holds a '/': a decoded
                // `%2F` stays inside the value instead of splitting segments.
                ParamKind::Str | ParamKind::Path => true,
                // Python refuses to convert longer digit strings (its
                // int-string limit), so such a segment is simply no match.
                ParamKind::Int => {
                    bytes.len() <= MAX_INT_DIGITS && bytes.iter().all(u8::is_ascii_digit)
                }
                ParamKind::Slug => bytes
                    .iter()
                    .all(|&b| b.is_ascii_alphanumeric() || b == b'-'),
                ParamKind::Uuid => is_uuid_v4(bytes),
            }
    }
}

/// Canonical `8-4-4-4-12` hex, version nibble 4, variant 8/9/a/b, any case.
fn is_uuid_v4(bytes: &[u8]) -> bool {
    if bytes.len() != 36 {
        return false;
    }
    for (index, &byte) in bytes.iter().enumerate() {
        let ok = match index {
            8 | 13 | 18 | 23 => byte == b'-',
            14 => byte == b'4',
            19 => matches!(byte, b'8' | b'9' | b'a' | b'b' | b'A' | b'B'),
            _ => byte.is_ascii_hexdigit(),
        };
        if !ok {
            return false;
        }
    }
    true
}

/// A registration problem, as one line naming the pattern(s).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RouteError {
    message: String,
}

impl RouteError {
    pub(crate) fn new(message: String) -> Self {
        RouteError { message }
    }

    fn invalid(pattern: &str, problem: impl fmt::Display) -> Self {
        RouteError {
            message: format!("invalid route pattern {pattern:?}: {problem}"),
        }
    }
}

impl fmt::Display for RouteError {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        formatter.write_str(&self.message)
    }
}

impl std::error::Error for RouteError {}

/// One `/`-separated piece of a pattern.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum Segment {
    Literal(String),
    Param(ParamKind),
}

/// A parsed route pattern.
#[derive(Clone, Debug)]
pub struct Pattern {
    text: String,
    pub(crate) segments: Vec<Segment>,
    names: Vec<String>,
    kinds: Vec<ParamKind>,
}

impl Pattern {
    /// Parses and checks a pattern such as `"/repos/{owner}/{repo}/pulls/{number:int}"`.
    pub fn parse(pattern: &str) -> Result<Pattern, RouteError> {
        let Some(rest) = pattern.strip_prefix('/') else {
            return Err(RouteError::invalid(pattern, "it must start with '/'"));
        };
        let pieces: Vec<&str> = rest.split('/').collect();
        let mut segments = Vec::with_capacity(pieces.len());
        let mut names: Vec<String> = Vec::new();
        let mut kinds = Vec::new();
        for (index, piece) in pieces.iter().enumerate() {
            let opens = piece.matches('{').count();
            let closes = piece.matches('}').count();
            if opens == 0 && closes == 0 {
                segments.push(Segment::Literal((*piece).to_owned()));
                continue;
            }
            let inner = piece.strip_prefix('{').and_then(|p| p.strip_suffix('}'));
            let Some(inner) = inner.filter(|_| opens == 1 && closes == 1) else {
                return Err(RouteError::invalid(
                    pattern,
                    format!("segment {piece:?} must be a literal or exactly one {{name}} / {{name:type}} spanning the whole segment"),
                ));
            };
            let (name, kind_name) = inner.split_once(':').unwrap_or((inner, "str"));
            if !is_identifier(name) {
                return Err(RouteError::invalid(
                    pattern,
                    format!("parameter name {name:?} is not a Python identifier"),
                ));
            }
            let Some(kind) = ParamKind::from_name(kind_name) else {
                return Err(RouteError::invalid(
                    pattern,
                    format!("unknown converter {kind_name:?} (use str, int, slug, uuid or path)"),
                ));
            };
            if names.iter().any(|existing| existing == name) {
                return Err(RouteError::invalid(
                    pattern,
                    format!("parameter {name:?} appears twice"),
                ));
            }
            if kind == ParamKind::Path && index + 1 != pieces.len() {
                return Err(RouteError::invalid(
                    pattern,
                    format!("{{{name}:path}} must be the last segment"),
                ));
            }
            names.push(name.to_owned());
            kinds.push(kind);
            segments.push(Segment::Param(kind));
        }
        Ok(Pattern {
            text: pattern.to_owned(),
            segments,
            names,
            kinds,
        })
    }

    pub fn as_str(&self) -> &str {
        &self.text
    }

    pub fn param_names(&self) -> &[String] {
        &self.names
    }

    /// `(name, converter)` of each parameter, in order.
    pub fn params(&self) -> impl Iterator<Item = (&str, ParamKind)> {
        self.names
            .iter()
            .map(String::as_str)
            .zip(self.kinds.iter().copied())
    }

    pub fn is_static(&self) -> bool {
        self.names.is_empty()
    }
}

fn is_identifier(name: &str) -> bool {
    let mut chars = name.chars();
    matches!(chars.next(), Some(first) if first.is_ascii_alphabetic() || first == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
}

#[cfg(test)]
mod tests {
    use super::{ParamKind, MAX_INT_DIGITS};

    #[test]
    fn ints_longer_than_python_converts_do_not_match() {
        let longest = "9".repeat(MAX_INT_DIGITS);
        assert!(ParamKind::Int.matches(&longest));
        assert!(!ParamKind::Int.matches(&format!("{longest}9")));
        assert!(ParamKind::Str.matches(&format!("{longest}9")));
    }
}
