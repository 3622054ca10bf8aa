//! `CompressionMiddleware`: gzip or brotli, chosen from `Accept-Encoding`.
//!
//! Whole bodies are compressed at once; streamed bodies chunk by chunk, each
//! chunk flushed (a sync flush), so SSE events still arrive when they are sent.

use std::io::Write;

use http::header::{CACHE_CONTROL, CONTENT_ENCODING, CONTENT_RANGE, CONTENT_TYPE, ETAG};
use http::{HeaderMap, HeaderValue, StatusCode};

use super::add_vary;

/// Longest `Accept-Encoding` we read; longer ones (hostile) are treated as absent.
const MAX_ACCEPT_ENCODING: usize = 4096;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Encoding {
    Gzip,
    Brotli,
}

impl Encoding {
    pub fn token(self) -> &'static str {
        match self {
            Encoding::Gzip => "gzip",
            Encoding::Brotli => "br",
        }
    }
}

#[derive(Clone, Debug)]
pub struct CompressionPolicy {
    pub min_size: usize,
    /// gzip level 1-9.
    pub level: u32,
    /// brotli quality 0-11.
    pub brotli_quality: u32,
    pub brotli: bool,
}

/// The encoding the client prefers among those we offer; `q=0` refuses one.
/// On equal preference brotli wins (smaller).
pub fn choose(accept_encoding: &[u8], brotli: bool) -> Option<Encoding> {
    if accept_encoding.len() > MAX_ACCEPT_ENCODING {
        return None;
    }
    let text = std::str::from_utf8(accept_encoding).ok()?;
    let (mut gzip, mut br, mut star): (Option<f32>, Option<f32>, Option<f32>) = (None, None, None);
    for item in text.split(',') {
        let mut parts = item.split(';');
        let coding = parts.next().unwrap_or("").trim().to_ascii_lowercase();
        let mut quality = 1.0f32;
        for parameter in parts {
            if let Some((name, value)) = parameter.split_once('=') {
                if name.trim().eq_ignore_ascii_case("q") {
                    quality = value
                        .trim()
                        .parse::<f32>()
                        .ok()
                        .filter(|q| (0.0..=1.0).contains(q))
                        .unwrap_or(0.0);
                }
            }
        }
        match coding.as_str() {
            "gzip" | "x-gzip" => gzip = Some(quality),
            "br" => br = Some(quality),
            "*" => star = Some(quality),
            _ => {}
        }
    }
    let gzip = gzip.or(star).unwrap_or(0.0);
    let br = if brotli {
        br.or(star).unwrap_or(0.0)
    } else {
        0.0
    };
    if br <= 0.0 && gzip <= 0.0 {
        return None;
    }
    Some(if br >= gzip {
        Encoding::Brotli
    } else {
        Encoding::Gzip
    })
}

/// Types worth compressing: text, JSON, JavaScript, XML, SVG.
pub fn compressible(content_type: Option<&HeaderValue>) -> bool {
    let Some(value) = content_type.and_then(|value| value.to_str().ok()) else {
        return false;
    };
    let media = value
        .split(';')
        .next()
        .unwrap_or("")
        .trim()
        .to_ascii_lowercase();
    media.starts_with("text/")
        || media.ends_with("+json")
        || media.ends_with("+xml")
        || matches!(
            media.as_str(),
            "application/json"
                | "application/javascript"
                | "application/x-javascript"
                | "application/xml"
                | "application/ld+json"
                | "image/svg+xml"
                | "application/wasm"
                | "application/x-ndjson"
        )
}

impl CompressionPolicy {
    /// Whether an answer with these headers (and a body of `length`, `None`
    /// for a stream) gets compressed.
    pub fn applies(&self, status: StatusCode, headers: &HeaderMap, length: Option<u64>) -> bool {
        if status.is_informational()
            || status == StatusCode::NO_CONTENT
            || status == StatusCode::NOT_MODIFIED
            || status == StatusCode::PARTIAL_CONTENT
            || headers.contains_key(CONTENT_ENCODING)
            || headers.contains_key(CONTENT_RANGE)
        {
            return false;
        }
        if headers.get_all(CACHE_CONTROL).iter().any(|value| {
            value
                .as_bytes()
                .windows(12)
                .any(|w| w.eq_ignore_ascii_case(b"no-transform"))
        }) {
            return false;
        }
        if length.is_some_and(|length| length < self.min_size as u64) {
            return false;
        }
        compressible(headers.get(CONTENT_TYPE))
    }

    /// The headers of a compressed answer: encoding, `Vary`, a weakened ETag
    /// (the bytes differ from the identity representation's).
    pub fn mark(&self, headers: &mut HeaderMap, encoding: Encoding) {
        headers.insert(CONTENT_ENCODING, HeaderValue::from_static(encoding.token()));
        add_vary(headers, "Accept-Encoding");
        if let Some(etag) = headers.get(ETAG) {
            if !etag.as_bytes().starts_with(b"W/") {
                let mut weak = b"W/".to_vec();
                weak.extend_from_slice(etag.as_bytes());
                if let Ok(value) = HeaderValue::from_bytes(&weak) {
                    headers.insert(ETAG, value);
                }
            }
        }
    }

    pub fn compress(&self, encoding: Encoding, data: &[u8]) -> Vec<u8> {
        let mut encoder = StreamEncoder::new(encoding, self);
        let mut out = encoder.chunk(data);
        out.extend(encoder.finish());
        out
    }
}

/// Incremental compression of a streamed body.
pub enum StreamEncoder {
    Gzip(Box<flate2::write::GzEncoder<Vec<u8>>>),
    Brotli(Box<brotli::CompressorWriter<Vec<u8>>>),
}

impl StreamEncoder {
    pub fn new(encoding: Encoding, policy: &CompressionPolicy) -> StreamEncoder {
        match encoding {
            Encoding::Gzip => StreamEncoder::Gzip(Box::new(flate2::write::GzEncoder::new(
                Vec::new(),
                flate2::Compression::new(policy.level.min(9)),
            ))),
            Encoding::Brotli => StreamEncoder::Brotli(Box::new(brotli::CompressorWriter::new(
                Vec::new(),
                4096,
                policy.brotli_quality.min(11),
                22,
            ))),
        }
    }

    /// Compresses `data` and flushes, returning every byte produced so far.
    /// Writing into a `Vec` cannot fail.
    pub fn chunk(&mut self, data: &[u8]) -> Vec<u8> {
        match self {
            StreamEncoder::Gzip(encoder) => {
                let _ = encoder.write_all(data);
                let _ = encoder.flush();
                std::mem::take(encoder.get_mut())
            }
            StreamEncoder::Brotli(encoder) => {
                let _ = encoder.write_all(data);
                let _ = encoder.flush();
                std::mem::take(encoder.get_mut())
            }
        }
    }

    /// Ends the compressed stream.
    pub fn finish(self) -> Vec<u8> {
        match self {
            StreamEncoder::Gzip(encoder) => encoder.finish().unwrap_or_default(),
            StreamEncoder::Brotli(encoder) => encoder.into_inner(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Read;

    fn policy() -> CompressionPolicy {
        CompressionPolicy {
            min_size: 10,
            level: 6,
            brotli_quality: 4,
            brotli: true,
        }
    }

    #[test]
    fn q_values_choose_and_q_zero_refuses() {
        assert_eq!(choose(b"gzip, deflate, br", true), Some(Encoding::Brotli));
        assert_eq!(choose(b"gzip, br;q=0.5", true), Some(Encoding::Gzip));
        assert_eq!(choose(b"gzip;q=0, br;q=0", true), None);
        assert_eq!(choose(b"gzip;q=0", true), None);
        assert_eq!(choose(b"*", false), Some(Encoding::Gzip));
        assert_eq!(choose(b"*;q=0, identity", true), None);
        assert_eq!(choose(b"identity", true), None);
        assert_eq!(choose(b"gzip;q=banana", true), None);
        assert_eq!(choose(&vec![b'a'; 10_000], true), None);
        assert_eq!(choose(b"GZIP", true), Some(Encoding::Gzip));
    }

    #[test]
    fn streams_decode_to_the_same_bytes_and_flush_each_chunk() {
        for encoding in [Encoding::Gzip, Encoding::Brotli] {
            let mut encoder = StreamEncoder::new(encoding, &policy());
            let first = encoder.chunk(b"data: one\n\n");
            assert!(!first.is_empty(), "a flushed chunk produces bytes at once");
            let mut all = first;
            all.extend(encoder.chunk(b"data: two\n\n"));
            all.extend(encoder.finish());
            let mut decoded = Vec::new();
            match encoding {
                Encoding::Gzip => {
                    flate2::read::GzDecoder::new(&all[..])
                        .read_to_end(&mut decoded)
                        .ok();
                }
                Encoding::Brotli => {
                    brotli::Decompressor::new(&all[..], 4096)
                        .read_to_end(&mut decoded)
                        .ok();
                }
            }
            assert_eq!(decoded, b"data: one\n\ndata: two\n\n");
        }
    }

    #[test]
    fn skips_small_encoded_and_incompressible_answers() {
        let policy = policy();
        let mut headers = HeaderMap::new();
        headers.insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
        assert!(policy.applies(StatusCode::OK, &headers, Some(100)));
        assert!(!policy.applies(StatusCode::OK, &headers, Some(5)));
        assert!(policy.applies(StatusCode::OK, &headers, None));
        headers.insert(CONTENT_ENCODING, HeaderValue::from_static("gzip"));
        assert!(!policy.applies(StatusCode::OK, &headers, Some(100)));
        let mut image = HeaderMap::new();
        image.insert(CONTENT_TYPE, HeaderValue::from_static("image/png"));
        assert!(!policy.applies(StatusCode::OK, &image, Some(100)));
    }
}
