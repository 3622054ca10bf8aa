//! What must hold of every head the parser accepts, checked by the
//! randomised unit test and the `request_head` fuzz target alike.

use super::head::{BodyFraming, HeadLimits, RequestHead, MAX_HEADERS};
use http::Version;

/// Panics unless `head`, parsed from the start of `raw`, agrees with
/// httparse's own reading line for line and obeys the framing, Host and
/// target rules.
pub fn assert_consistent(raw: &[u8], head: &RequestHead) {
    let length = head.as_bytes().len();
    assert!(raw.starts_with(head.as_bytes()));
    let mut slots = [httparse::EMPTY_HEADER; MAX_HEADERS];
    let mut reference = httparse::Request::new(&mut slots);
    assert_eq!(reference.parse(raw), Ok(httparse::Status::Complete(length)));
    let ours: Vec<(&str, &[u8])> = head.headers().collect();
    let theirs: Vec<(&str, &[u8])> = reference
        .headers
        .iter()
        .map(|header| (header.name, header.value))
        .collect();
    assert_eq!(ours, theirs);

    let path = head.path();
    assert!(path.starts_with('/') || path == "*", "{path:?}");
    assert!(!path.contains(['?', '#']) && head.query().is_none_or(|query| !query.contains('#')));
    let target = head.target();
    assert!(target.is_ascii() && target.len() <= HeadLimits::default().max_uri_length);

    let lengths: Vec<&[u8]> = head.header_values("content-length").collect();
    let encodings = head.header_values("transfer-encoding").count();
    match head.framing() {
        BodyFraming::Chunked => assert!(encodings == 1 && lengths.is_empty()),
        BodyFraming::Length(length) => {
            assert!(encodings == 0 && lengths.len() == 1);
            let declared = std::str::from_utf8(lengths[0])
                .ok()
                .and_then(|text| text.trim().parse().ok());
            assert_eq!(declared, Some(length));
        }
        BodyFraming::Empty => assert!(encodings == 0 && lengths.len() <= 1),
    }
    if head.version() == Version::HTTP_11 {
        assert_eq!(head.header_values("host").count(), 1);
    }
    let _ = (
        head.keep_alive(),
        head.expects_continue(),
        format!("{head:?}"),
    );
}
