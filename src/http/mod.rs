//! Pure HTTP: the request head (parse and checks), chunked body decoding,
//! response heads, query-string and percent decoding, cookies, multipart,
//! conditional requests, proxies, URI encoding for `Location`, and the JSON bodies of native error answers.
//!
//! Nothing here imports PyO3, so `cargo test --no-default-features` reaches it.

pub mod chunked;
pub mod conditional;
pub mod cookies;
pub mod head;
#[cfg(any(test, feature = "fuzzing"))]
pub mod head_invariants;
pub mod json;
pub mod multipart;
pub mod proxy;
pub mod query;
pub mod response_head;
pub mod uri;

use bytes::Bytes;

/// The `{"detail": ...}` JSON body of a natively answered error.
pub fn detail_body(detail: &str) -> Bytes {
    let mut body = Vec::with_capacity(detail.len() + 14);
    body.extend_from_slice(b"{\"detail\":");
    json::write_json_string(detail, &mut body);
    body.push(b'}');
    Bytes::from(body)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn detail_body_escapes_quotes() {
        assert_eq!(&detail_body("Not Found")[..], br#"{"detail":"Not Found"}"#);
        assert_eq!(&detail_body("a\"b\\c")[..], br#"{"detail":"a\"b\\c"}"#);
    }
}
