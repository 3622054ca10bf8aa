use super::*;
use crate::websocket::deflate::{negotiate, Compressor};
use crate::websocket::frame::write_header;

const KEY: [u8; 4] = [0x12, 0x34, 0x56, 0x78];

/// A client frame: masked unless `masked` is false.
fn frame(fin: bool, rsv: u8, opcode: u8, payload: &[u8], masked: bool) -> Vec<u8> {
    let mut out = Vec::new();
    write_header(&mut out, fin, false, opcode, payload.len());
    out[0] |= rsv << 4;
    if masked {
        out[1] |= 0x80;
        out.extend_from_slice(&KEY);
        let start = out.len();
        out.extend_from_slice(payload);
        unmask(&mut out[start..], KEY, 0);
    } else {
        out.extend_from_slice(payload);
    }
    out
}

fn masked(fin: bool, opcode: u8, payload: &[u8]) -> Vec<u8> {
    frame(fin, 0, opcode, payload, true)
}

/// Feeds `stream` `piece` bytes at a time: every event, then the failure if any.
fn decode_all(decoder: &mut Decoder, stream: &[u8], piece: usize) -> (Vec<Event>, Option<Failure>) {
    let mut events = Vec::new();
    let mut input = BytesMut::new();
    for chunk in stream.chunks(piece.max(1)) {
        input.extend_from_slice(chunk);
        loop {
            match decoder.decode(&mut input) {
                Ok(Some(event)) => events.push(event),
                Ok(None) => break,
                Err(failure) => return (events, Some(failure)),
            }
        }
    }
    (events, None)
}

fn decode(stream: &[u8]) -> (Vec<Event>, Option<Failure>) {
    decode_all(
        &mut Decoder::new(DEFAULT_MAX_MESSAGE, None),
        stream,
        stream.len(),
    )
}

fn failure_code(stream: &[u8]) -> Option<u16> {
    decode(stream).1.map(|failure| failure.code)
}

#[test]
fn reassembles_fragments_with_control_frames_between_at_every_piece_size() {
    let mut stream = masked(false, opcode::TEXT, "héllo ".as_bytes());
    stream.extend(masked(true, opcode::PING, b"are you there"));
    // A two-byte character split across fragments.
    let word = "wörld".as_bytes();
    stream.extend(masked(false, opcode::CONTINUATION, &word[..2]));
    stream.extend(masked(true, opcode::PONG, b""));
    stream.extend(masked(true, opcode::CONTINUATION, &word[2..]));
    stream.extend(masked(true, opcode::BINARY, &[0, 1, 2, 255]));
    stream.extend(masked(true, opcode::TEXT, b""));
    stream.extend(masked(true, opcode::CLOSE, &[0x03, 0xe8, b'b', b'y', b'e']));
    let expected = vec![
        Event::Ping(b"are you there".to_vec()),
        Event::Pong(Vec::new()),
        Event::Text("héllo wörld".into()),
        Event::Binary(vec![0, 1, 2, 255]),
        Event::Text(String::new()),
        Event::Close(Some((1000, "bye".into()))),
    ];
    for piece in 1..=stream.len() {
        let mut decoder = Decoder::new(DEFAULT_MAX_MESSAGE, None);
        assert_eq!(
            decode_all(&mut decoder, &stream, piece),
            (expected.clone(), None),
            "piece {piece}"
        );
    }
}

#[test]
fn long_frames_with_extended_lengths() {
    for size in [125, 126, 65535, 65536, 200_000] {
        let payload: Vec<u8> = (0..size).map(|i| (i % 256) as u8).collect();
        let (events, failure) = decode(&masked(true, opcode::BINARY, &payload));
        assert_eq!(failure, None);
        assert_eq!(events, vec![Event::Binary(payload)]);
    }
}

#[test]
fn protocol_violations_fail_with_1002() {
    let cases: Vec<(&str, Vec<u8>)> = vec![
        ("unmasked", frame(true, 0, opcode::TEXT, b"hi", false)),
        (
            "rsv1 without extension",
            frame(true, 4, opcode::TEXT, b"hi", true),
        ),
        ("rsv2", frame(true, 2, opcode::TEXT, b"hi", true)),
        ("rsv3", frame(true, 1, opcode::BINARY, b"hi", true)),
        ("rsv on ping", frame(true, 4, opcode::PING, b"", true)),
        ("reserved opcode 3", masked(true, 3, b"")),
        ("reserved opcode 7", masked(true, 7, b"")),
        ("reserved opcode 11", masked(true, 0xB, b"")),
        ("reserved opcode 15", masked(true, 0xF, b"")),
        ("fragmented ping", masked(false, opcode::PING, b"x")),
        ("fragmented close", masked(false, opcode::CLOSE, &[3, 232])),
        ("ping over 125", masked(true, opcode::PING, &[b'a'; 126])),
        (
            "continuation first",
            masked(true, opcode::CONTINUATION, b"x"),
        ),
        ("close with one byte", masked(true, opcode::CLOSE, &[3])),
        ("close code 1005", masked(true, opcode::CLOSE, &[3, 237])),
        ("close code 999", masked(true, opcode::CLOSE, &[3, 231])),
        ("close code 5000", masked(true, opcode::CLOSE, &[19, 136])),
        (
            "length top bit",
            vec![0x82, 0xff, 0x80, 0, 0, 0, 0, 0, 0, 0, 1, 2, 3, 4],
        ),
        ("new message inside a fragmented one", {
            let mut stream = masked(false, opcode::TEXT, b"a");
            stream.extend(masked(true, opcode::TEXT, b"b"));
            stream
        }),
    ];
    for (name, stream) in cases {
        assert_eq!(failure_code(&stream), Some(1002), "{name}");
    }
}

#[test]
fn invalid_utf8_fails_with_1007_on_the_first_bad_byte() {
    assert_eq!(
        failure_code(&masked(true, opcode::TEXT, &[0xce, 0xba, 0xff])),
        Some(1007)
    );
    // Cut off at the end of the message.
    assert_eq!(
        failure_code(&masked(true, opcode::TEXT, &[b'a', 0xe2, 0x82])),
        Some(1007)
    );
    // In a close reason.
    assert_eq!(
        failure_code(&masked(true, opcode::CLOSE, &[3, 232, 0xc0])),
        Some(1007)
    );
    // Fail fast: the first fragment is already invalid (a surrogate); the rest never comes.
    let first = masked(false, opcode::TEXT, &[b'o', b'k', 0xed, 0xa0, 0x80]);
    assert_eq!(failure_code(&first), Some(1007));
    // Fail fast inside one frame: only the first bytes of its payload have arrived.
    let whole = masked(
        true,
        opcode::TEXT,
        &[b'a', 0xf4, 0x90, 0x80, 0x80, b'b', b'c'],
    );
    let (_, failure) = decode(&whole[..6 + 3]);
    assert_eq!(failure.map(|f| f.code), Some(1007));
    // A valid prefix cut mid-character is not an error yet.
    let valid = masked(false, opcode::TEXT, &[b'a', 0xf0, 0x9f]);
    assert_eq!(failure_code(&valid), None);
}

#[test]
fn oversized_messages_fail_with_1009_before_their_payload_is_read() {
    let mut decoder = Decoder::new(1000, None);
    // Only the header of a 1 GiB frame: refused at once.
    let mut header = Vec::new();
    write_header(&mut header, true, false, opcode::BINARY, 1 << 30);
    header[1] |= 0x80;
    header.extend_from_slice(&KEY);
    let (_, failure) = decode_all(&mut decoder, &header, header.len());
    assert_eq!(failure.map(|f| f.code), Some(1009));
    // Fragmented: each fragment fits, the sum does not.
    let mut stream = Vec::new();
    stream.extend(masked(false, opcode::TEXT, &[b'a'; 400]));
    stream.extend(masked(false, opcode::CONTINUATION, &[b'a'; 400]));
    stream.extend(masked(true, opcode::CONTINUATION, &[b'a'; 400]));
    let mut decoder = Decoder::new(1000, None);
    let (_, failure) = decode_all(&mut decoder, &stream, 64);
    assert_eq!(failure.map(|f| f.code), Some(1009));
    // Exactly at the limit is fine.
    let mut decoder = Decoder::new(1000, None);
    let (events, failure) = decode_all(&mut decoder, &masked(true, opcode::BINARY, &[7; 1000]), 99);
    assert_eq!((events.len(), failure), (1, None));
}

fn compressed_frames(message: &[u8], pieces: usize, params: &DeflateParams) -> Vec<u8> {
    let mut wire = Vec::new();
    Compressor::new(params)
        .compress(message, &mut wire)
        .unwrap();
    let chunk = wire.len().div_ceil(pieces).max(1);
    let parts: Vec<&[u8]> = wire.chunks(chunk).collect();
    let mut stream = Vec::new();
    for (index, part) in parts.iter().enumerate() {
        let first = index == 0;
        let last = index + 1 == parts.len();
        let opcode = if first {
            opcode::TEXT
        } else {
            opcode::CONTINUATION
        };
        stream.extend(frame(last, if first { 4 } else { 0 }, opcode, part, true));
    }
    stream
}

#[test]
fn inflates_compressed_fragmented_messages() {
    let params = negotiate(["permessage-deflate"]).unwrap();
    let text = "compress me please ".repeat(200);
    for pieces in [1, 2, 5] {
        let stream = compressed_frames(text.as_bytes(), pieces, &params);
        for piece in [1, 7, stream.len()] {
            let mut decoder = Decoder::new(DEFAULT_MAX_MESSAGE, Some(&params));
            let (events, failure) = decode_all(&mut decoder, &stream, piece);
            assert_eq!(failure, None);
            assert_eq!(events, vec![Event::Text(text.clone())]);
        }
    }
    // RSV1 on a continuation is a protocol error even with the extension.
    let mut decoder = Decoder::new(DEFAULT_MAX_MESSAGE, Some(&params));
    let mut stream = frame(false, 4, opcode::TEXT, &[], true);
    stream.extend(frame(true, 4, opcode::CONTINUATION, &[], true));
    assert_eq!(
        decode_all(&mut decoder, &stream, 100).1.map(|f| f.code),
        Some(1002)
    );
}

#[test]
fn a_compression_bomb_stops_at_the_limit() {
    let params = negotiate(["permessage-deflate"]).unwrap();
    let stream = compressed_frames(&vec![b'a'; 1 << 20], 1, &params);
    let mut decoder = Decoder::new(64 * 1024, Some(&params));
    let (_, failure) = decode_all(&mut decoder, &stream, stream.len());
    assert_eq!(failure.map(|f| f.code), Some(1009));
}

#[test]
fn random_streams_never_panic_and_agree_across_piece_sizes() {
    let mut rng = crate::test_random::Rng(11);
    let params = negotiate(["permessage-deflate"]).unwrap();
    for _ in 0..3000 {
        let length = rng.below(64);
        let mut stream: Vec<u8> = (0..length).map(|_| rng.below(256) as u8).collect();
        if rng.below(2) == 0 && !stream.is_empty() {
            stream[0] = (stream[0] & 0x8f) | 0x80; // mostly plausible first bytes
        }
        let deflate = if rng.below(2) == 0 {
            Some(&params)
        } else {
            None
        };
        let whole = decode_all(
            &mut Decoder::new(100, deflate),
            &stream,
            stream.len().max(1),
        );
        let piece = 1 + rng.below(8);
        let cut = decode_all(&mut Decoder::new(100, deflate), &stream, piece);
        // The same events and close code (a reason may differ: corrupt
        // deflate data can show first as bad UTF-8 when fed in pieces).
        let codes = |(events, failure): (Vec<Event>, Option<Failure>)| {
            (events, failure.map(|failure| failure.code))
        };
        assert_eq!(codes(whole), codes(cut), "{stream:?} piece {piece}");
    }
}
