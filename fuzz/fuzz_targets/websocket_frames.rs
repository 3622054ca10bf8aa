//! Any bytes as a client's WebSocket stream, cut anywhere: the decoder must
//! not panic, must never hold a message past its limit, and must give the
//! same events and close code however the stream arrives.
#![no_main]

use bytes::BytesMut;
use hyperdjango::websocket::decoder::{Decoder, Event};
use hyperdjango::websocket::deflate::negotiate;
use libfuzzer_sys::fuzz_target;

const LIMIT: usize = 4096;

fn decode(stream: &[u8], piece: usize, deflate: bool) -> (Vec<Event>, Option<u16>) {
    let params = negotiate(["permessage-deflate"]);
    let mut decoder = Decoder::new(LIMIT, if deflate { params.as_ref() } else { None });
    let mut input = BytesMut::new();
    let mut events = Vec::new();
    for chunk in stream.chunks(piece) {
        input.extend_from_slice(chunk);
        loop {
            match decoder.decode(&mut input) {
                Ok(Some(event)) => {
                    if let Event::Text(text) = &event {
                        assert!(text.len() <= LIMIT);
                    }
                    if let Event::Binary(data) = &event {
                        assert!(data.len() <= LIMIT);
                    }
                    events.push(event);
                }
                Ok(None) => break,
                Err(failure) => return (events, Some(failure.code)),
            }
        }
    }
    (events, None)
}

fuzz_target!(|data: &[u8]| {
    let Some((&first, stream)) = data.split_first() else {
        return;
    };
    let deflate = first & 0x80 != 0;
    let whole = decode(stream, stream.len().max(1), deflate);
    let piece = usize::from(first % 16) + 1;
    let cut = decode(stream, piece, deflate);
    if deflate {
        // Garbage that is both corrupt and inflates past the limit may show
        // either first (1007 or 1009) depending on where reads cut it: the
        // connection fails either way.
        assert_eq!(cut.0, whole.0, "fed in pieces of {piece}");
        assert_eq!(cut.1.is_some(), whole.1.is_some(), "fed in pieces of {piece}");
    } else {
        assert_eq!(cut, whole, "fed in pieces of {piece}");
    }
});
