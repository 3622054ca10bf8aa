//! Any bytes: the head parser must not panic, and a head it accepts must be
//! what httparse reads, with consistent framing, Host and target.
#![no_main]

use bytes::BytesMut;
use hyperdjango::http::head::{BodyFraming, HeadLimits, RequestHead, MAX_HEADERS};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let mut buffer = BytesMut::from(data);
    let Ok(Some(head)) = RequestHead::parse(&mut buffer, &HeadLimits::default()) else {
        return;
    };
    assert_eq!(head.as_bytes().len() + buffer.len(), data.len());
    let mut slots = [httparse::EMPTY_HEADER; MAX_HEADERS];
    let mut reference = httparse::Request::new(&mut slots);
    assert_eq!(
        reference.parse(data),
        Ok(httparse::Status::Complete(head.as_bytes().len()))
    );
    let ours: Vec<(&str, &[u8])> = head.headers().collect();
    let theirs: Vec<(&str, &[u8])> = reference.headers.iter().map(|h| (h.name, h.value)).collect();
    assert_eq!(ours, theirs);
    let path = head.path();
    assert!(path.starts_with('/') || path == "*");
    assert!(!path.contains(['?', '#']));
    assert!(head.target().is_ascii() && head.target().len() <= HeadLimits::default().max_uri_length);
    let lengths: Vec<&[u8]> = head.header_values("content-length").collect();
    let encodings = head.header_values("transfer-encoding").count();
    match head.framing() {
        BodyFraming::Chunked => assert!(encodings == 1 && lengths.is_empty()),
        BodyFraming::Length(length) => {
            assert!(encodings == 0 && lengths.len() == 1);
            let text = std::str::from_utf8(lengths[0]).expect("digits");
            assert_eq!(text.trim().parse::<u64>().ok(), Some(length));
        }
        BodyFraming::Empty => assert!(encodings == 0 && lengths.len() <= 1),
    }
    if head.version() == http::Version::HTTP_11 {
        assert_eq!(head.header_values("host").count(), 1);
    }
    let _ = (head.query(), head.keep_alive(), head.expects_continue(), format!("{head:?}"));
});
