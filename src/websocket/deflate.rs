//! permessage-deflate (RFC 7692): negotiating the parameters from the
//! client's offers, and the per-connection compressor and decompressor.
//!
//! Memory per connection is bounded: the decompressor holds a 32 KiB window
//! and writes into the message buffer only up to the message size limit; the
//! compressor (~256 KiB at 15 window bits) is created on the first message
//! the server compresses, so idle connections and connections that only
//! receive pay for the decompressor alone.

use flate2::{Compress, Compression, Decompress, FlushCompress, FlushDecompress, Status};

/// The four bytes a sync flush ends with; removed by the sender, put back by
/// the receiver (RFC 7692 §7.2.1).
const SYNC_TAIL: [u8; 4] = [0x00, 0x00, 0xff, 0xff];
/// Messages shorter than this are sent uncompressed (allowed per message).
pub const COMPRESS_FROM: usize = 32;

/// What both sides agreed to.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct DeflateParams {
    pub server_no_context_takeover: bool,
    pub client_no_context_takeover: bool,
    /// Window the server's compressor may use (8-15).
    pub server_max_window_bits: u8,
    /// Echoed in the response when the client gave a value.
    pub client_max_window_bits: Option<u8>,
}

impl DeflateParams {
    /// The `Sec-WebSocket-Extensions` value of the response.
    pub fn response_value(&self) -> String {
        let mut value = String::from("permessage-deflate");
        if self.server_no_context_takeover {
            value.push_str("; server_no_context_takeover");
        }
        if self.client_no_context_takeover {
            value.push_str("; client_no_context_takeover");
        }
        if self.server_max_window_bits < 15 {
            value.push_str(&format!(
                "; server_max_window_bits={}",
                self.server_max_window_bits
            ));
        }
        if let Some(bits) = self.client_max_window_bits {
            value.push_str(&format!("; client_max_window_bits={bits}"));
        }
        value
    }
}

/// Picks the first acceptable permessage-deflate offer from the
/// `Sec-WebSocket-Extensions` values; `None` declines compression (offers
/// with unknown, repeated or out-of-range parameters are skipped, §7.1).
pub fn negotiate<'a>(header_values: impl IntoIterator<Item = &'a str>) -> Option<DeflateParams> {
    header_values
        .into_iter()
        .flat_map(|value| value.split(','))
        .find_map(parse_offer)
}

fn parse_offer(offer: &str) -> Option<DeflateParams> {
    let mut parts = offer.split(';').map(str::trim);
    if !parts.next()?.eq_ignore_ascii_case("permessage-deflate") {
        return None;
    }
    let mut params = DeflateParams {
        server_no_context_takeover: false,
        client_no_context_takeover: false,
        server_max_window_bits: 15,
        client_max_window_bits: None,
    };
    let mut seen = [false; 4];
    for part in parts {
        let (name, value) = match part.split_once('=') {
            Some((name, value)) => (name.trim(), Some(value.trim().trim_matches('"'))),
            None => (part, None),
        };
        let slot = match name.to_ascii_lowercase().as_str() {
            "server_no_context_takeover" if value.is_none() => {
                params.server_no_context_takeover = true;
                0
            }
            "client_no_context_takeover" if value.is_none() => {
                params.client_no_context_takeover = true;
                1
            }
            "server_max_window_bits" => {
                params.server_max_window_bits = window_bits(value?)?;
                2
            }
            "client_max_window_bits" => {
                if let Some(value) = value {
                    params.client_max_window_bits = Some(window_bits(value)?);
                }
                3
            }
            _ => return None,
        };
        if std::mem::replace(&mut seen[slot], true) {
            return None;
        }
    }
    Some(params)
}

fn window_bits(value: &str) -> Option<u8> {
    if value.is_empty() || value.len() > 2 || !value.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    value.parse().ok().filter(|bits| (8..=15).contains(bits))
}

/// Compresses the server's messages.
pub struct Compressor {
    inner: Compress,
    no_context_takeover: bool,
}

impl Compressor {
    pub fn new(params: &DeflateParams) -> Compressor {
        let bits = params.server_max_window_bits;
        // zlib has no raw deflate with an 8-bit window: for 8, stored blocks
        // (level 0) reference nothing, so they respect any window.
        let level = if bits < 9 {
            Compression::none()
        } else {
            Compression::fast()
        };
        Compressor {
            inner: Compress::new_with_window_bits(level, false, bits.max(9)),
            no_context_takeover: params.server_no_context_takeover,
        }
    }

    /// Appends the compressed `payload` (without the sync tail) to `out`.
    pub fn compress(&mut self, payload: &[u8], out: &mut Vec<u8>) -> Result<(), String> {
        let start = out.len();
        let mut input = payload;
        loop {
            out.reserve(input.len() / 2 + 64);
            let before = self.inner.total_in();
            self.inner
                .compress_vec(input, out, FlushCompress::Sync)
                .map_err(|error| error.to_string())?;
            input = &input[(self.inner.total_in() - before) as usize..];
            // Done once all input is in and the flush did not fill the buffer.
            if input.is_empty() && out.len() < out.capacity() {
                break;
            }
        }
        if out[start..].ends_with(&SYNC_TAIL) {
            out.truncate(out.len() - SYNC_TAIL.len());
        }
        if self.no_context_takeover {
            self.inner.reset();
        }
        Ok(())
    }
}

#[derive(Debug, PartialEq, Eq)]
pub enum InflateError {
    /// The message inflates past the size limit.
    TooBig,
    /// Not valid DEFLATE data.
    Corrupt,
}

/// Decompresses the client's messages.
pub struct Decompressor {
    inner: Decompress,
    no_context_takeover: bool,
    /// A final block ended the stream: the rest of the message is ignored.
    ended: bool,
}

impl Decompressor {
    pub fn new(params: &DeflateParams) -> Decompressor {
        Decompressor {
            // 15 bits inflates anything the client's (smaller or equal) window made.
            inner: Decompress::new_with_window_bits(false, 15),
            no_context_takeover: params.client_no_context_takeover,
            ended: false,
        }
    }

    /// Inflates part of a compressed message onto `out`, which never grows
    /// past `limit + 1` bytes: beyond `limit` the message is refused.
    pub fn inflate(
        &mut self,
        mut input: &[u8],
        out: &mut Vec<u8>,
        limit: usize,
    ) -> Result<(), InflateError> {
        // A full output buffer may leave output (or an error) pending in the
        // inflater even with all input consumed: go on until it has room left.
        let mut full = false;
        while (!input.is_empty() || full) && !self.ended {
            if out.len() == out.capacity() {
                if out.len() > limit {
                    return Err(InflateError::TooBig);
                }
                // Doubling, capped so the buffer stops one byte past the limit.
                let room = (limit + 1 - out.len()).min(out.len().max(16 * 1024));
                out.reserve_exact(room);
            }
            let (before_in, before_out) = (self.inner.total_in(), out.len());
            let status = self
                .inner
                .decompress_vec(input, out, FlushDecompress::Sync)
                .map_err(|_| InflateError::Corrupt)?;
            let used = (self.inner.total_in() - before_in) as usize;
            let had_input = !input.is_empty();
            input = &input[used..];
            if out.len() > limit {
                return Err(InflateError::TooBig);
            }
            full = out.len() == out.capacity();
            match status {
                Status::StreamEnd => self.ended = true,
                // No progress although there was input and room: the stream is stuck.
                _ if had_input && used == 0 && out.len() == before_out && !full => {
                    return Err(InflateError::Corrupt)
                }
                _ => {}
            }
        }
        Ok(())
    }

    /// Ends a message: inflates the implied sync tail, then forgets the
    /// window if the client does not keep its context.
    pub fn finish(&mut self, out: &mut Vec<u8>, limit: usize) -> Result<(), InflateError> {
        self.inflate(&SYNC_TAIL, out, limit)?;
        if self.no_context_takeover || self.ended {
            self.inner.reset(false);
            self.ended = false;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn offer(value: &str) -> Option<DeflateParams> {
        negotiate([value])
    }

    #[test]
    fn negotiates_parameters() {
        let plain = offer("permessage-deflate").unwrap();
        assert_eq!(plain.response_value(), "permessage-deflate");
        let full = offer(
            "permessage-deflate; server_no_context_takeover; client_no_context_takeover; \
             server_max_window_bits=10; client_max_window_bits=\"12\"",
        )
        .unwrap();
        assert_eq!(
            full.response_value(),
            "permessage-deflate; server_no_context_takeover; client_no_context_takeover; \
             server_max_window_bits=10; client_max_window_bits=12"
        );
        // A bare client_max_window_bits only says the client could honour one.
        let bare = offer("permessage-deflate; client_max_window_bits").unwrap();
        assert_eq!(bare.client_max_window_bits, None);
    }

    #[test]
    fn skips_bad_offers_and_takes_the_next() {
        for bad in [
            "permessage-deflate; server_max_window_bits=7",
            "permessage-deflate; server_max_window_bits=16",
            "permessage-deflate; server_max_window_bits",
            "permessage-deflate; server_max_window_bits=010",
            "permessage-deflate; unknown",
            "permessage-deflate; server_no_context_takeover; server_no_context_takeover",
            "permessage-deflate; client_no_context_takeover=1",
            "x-webkit-deflate-frame",
        ] {
            assert_eq!(offer(bad), None, "{bad}");
        }
        let chosen = negotiate([
            "permessage-deflate; server_max_window_bits=20, permessage-deflate; client_no_context_takeover",
        ])
        .unwrap();
        assert!(chosen.client_no_context_takeover);
    }

    fn round_trip(params: DeflateParams, messages: &[Vec<u8>]) {
        let mut compressor = Compressor::new(&params);
        let mut decompressor = Decompressor::new(&params);
        for message in messages {
            let mut wire = Vec::new();
            compressor.compress(message, &mut wire).unwrap();
            assert!(!wire.ends_with(&SYNC_TAIL));
            let mut inflated = Vec::new();
            // Fed in uneven pieces, as frames and reads cut it.
            for piece in wire.chunks(7) {
                decompressor.inflate(piece, &mut inflated, 1 << 20).unwrap();
            }
            decompressor.finish(&mut inflated, 1 << 20).unwrap();
            assert_eq!(&inflated, message);
        }
    }

    #[test]
    fn compresses_and_inflates_with_and_without_context() {
        let messages: Vec<Vec<u8>> = (0..5)
            .map(|i| format!("{{\"n\":{i},\"text\":\"{}\"}}", "hello ".repeat(50 * i)).into_bytes())
            .chain([Vec::new()])
            .collect();
        for bits in [8, 9, 12, 15] {
            for no_context in [false, true] {
                let params = DeflateParams {
                    server_no_context_takeover: no_context,
                    client_no_context_takeover: no_context,
                    server_max_window_bits: bits,
                    client_max_window_bits: None,
                };
                round_trip(params, &messages);
            }
        }
    }

    #[test]
    fn inflation_stops_at_the_limit() {
        let params = offer("permessage-deflate").unwrap();
        let mut compressor = Compressor::new(&params);
        let mut wire = Vec::new();
        compressor
            .compress(&vec![b'a'; 1 << 20], &mut wire)
            .unwrap();
        assert!(wire.len() < 100_000, "{}", wire.len());
        let mut decompressor = Decompressor::new(&params);
        let mut out = Vec::new();
        let result = decompressor
            .inflate(&wire, &mut out, 1000)
            .and_then(|()| decompressor.finish(&mut out, 1000));
        assert_eq!(result, Err(InflateError::TooBig));
        assert!(out.capacity() <= 1001 + 16 * 1024, "{}", out.capacity());
    }

    #[test]
    fn an_error_pending_behind_a_full_output_buffer_is_found() {
        // Found by the websocket_frames fuzz target: with the output buffer
        // exactly full, all input was consumed but the error not yet reported.
        let params = offer("permessage-deflate").unwrap();
        let mut payload = vec![
            0x0, 0x0, 0x0, 0x54, 0x19, 0x54, 0x54, 0x54, 0x25, 0x54, 0x54, 0x54, 0x54, 0x54, 0x54,
            0x0, 0x0, 0x2a, 0xf2, 0x80, 0x41, 0x8a, 0x2a,
        ];
        crate::websocket::mask::unmask(&mut payload, [0x8a, 0x23, 0, 0], 0);
        for capacity in [0, 84] {
            let mut out = Vec::with_capacity(capacity);
            let result = Decompressor::new(&params).inflate(&payload, &mut out, 4096);
            assert_eq!(result, Err(InflateError::Corrupt), "capacity {capacity}");
        }
    }

    #[test]
    fn corrupt_data_is_refused() {
        let params = offer("permessage-deflate").unwrap();
        let mut decompressor = Decompressor::new(&params);
        let mut out = Vec::new();
        assert_eq!(
            decompressor.inflate(&[0xff; 32], &mut out, 1 << 20),
            Err(InflateError::Corrupt)
        );
    }
}
