//! Any bytes: the head parser must not panic, and a head it accepts must be
//! what httparse reads, with consistent framing, Host and target
//! (`hyperdjango::http::head_invariants`).
#![no_main]

use bytes::BytesMut;
use hyperdjango::http::head::{HeadLimits, RequestHead};
use hyperdjango::http::head_invariants::assert_consistent;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let mut buffer = BytesMut::from(data);
    if let Ok(Some(head)) = RequestHead::parse(&mut buffer, &HeadLimits::default()) {
        assert_eq!(head.as_bytes().len() + buffer.len(), data.len());
        assert_consistent(data, &head);
    }
});
