//! Any bytes, cut anywhere: the chunked decoder must not panic and must give
//! the same body (or the same refusal) however its input arrives.
#![no_main]

use hyperdjango::http::chunked::{ChunkedDecoder, ChunkedError};
use libfuzzer_sys::fuzz_target;

/// Decodes `stream` fed `piece` bytes at a time: the body, and how many bytes
/// follow it; `None` if the stream ended first.
fn decode(stream: &[u8], piece: usize) -> Result<Option<(Vec<u8>, usize)>, ChunkedError> {
    let mut decoder = ChunkedDecoder::default();
    let mut pending = Vec::new();
    let mut body = Vec::new();
    let mut fed = 0;
    loop {
        let progress = decoder.decode(&pending)?;
        assert!(progress.consumed <= pending.len() && progress.data.end <= progress.consumed);
        body.extend_from_slice(&pending[progress.data.clone()]);
        pending.drain(..progress.consumed);
        if progress.done {
            return Ok(Some((body, pending.len() + stream.len() - fed)));
        }
        if pending.is_empty() {
            if fed == stream.len() {
                return Ok(None);
            }
            let next = (fed + piece).min(stream.len());
            pending.extend_from_slice(&stream[fed..next]);
            fed = next;
        }
    }
}

fuzz_target!(|data: &[u8]| {
    let Some((&first, stream)) = data.split_first() else {
        return;
    };
    let whole = decode(stream, stream.len().max(1));
    let piece = usize::from(first % 16) + 1;
    assert_eq!(decode(stream, piece), whole, "fed in pieces of {piece}");
});
