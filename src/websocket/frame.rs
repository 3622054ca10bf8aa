//! Frame headers (RFC 6455 §5.2): parsing what clients send, writing what
//! the server sends, and the close codes.

/// Opcodes (RFC 6455 §5.2); the others are reserved.
pub mod opcode {
    pub const CONTINUATION: u8 = 0x0;
    pub const TEXT: u8 = 0x1;
    pub const BINARY: u8 = 0x2;
    pub const CLOSE: u8 = 0x8;
    pub const PING: u8 = 0x9;
    pub const PONG: u8 = 0xA;
}

/// Close codes the server sends (RFC 6455 §7.4.1).
pub mod close_code {
    pub const NORMAL: u16 = 1000;
    pub const GOING_AWAY: u16 = 1001;
    pub const PROTOCOL_ERROR: u16 = 1002;
    /// Nothing was received: reported to the application, never sent.
    pub const NO_STATUS: u16 = 1005;
    /// The connection dropped without a close frame: reported, never sent.
    pub const ABNORMAL: u16 = 1006;
    pub const INVALID_PAYLOAD: u16 = 1007;
    pub const POLICY_VIOLATION: u16 = 1008;
    pub const MESSAGE_TOO_BIG: u16 = 1009;
    pub const INTERNAL_ERROR: u16 = 1011;
}

/// Whether `code` may appear in a close frame on the wire: the defined codes
/// (1012-1014 registered with IANA since) and the 3000-4999 private ranges.
pub fn is_valid_close_code(code: u16) -> bool {
    matches!(code, 1000..=1003 | 1007..=1014 | 3000..=4999)
}

/// Largest payload of a control frame.
pub const MAX_CONTROL_PAYLOAD: usize = 125;
/// Longest possible header of a client frame (2 + 8 length + 4 mask).
pub const MAX_HEADER: usize = 14;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct FrameHeader {
    pub fin: bool,
    /// RSV1: "compressed" under permessage-deflate.
    pub rsv1: bool,
    /// RSV2 or RSV3: never valid here (no extension defines them).
    pub rsv23: bool,
    pub opcode: u8,
    /// The masking key; `None` for an unmasked frame (refused from clients).
    pub mask: Option<[u8; 4]>,
    pub length: u64,
}

impl FrameHeader {
    pub fn is_control(&self) -> bool {
        self.opcode & 0x8 != 0
    }
}

/// The 64-bit length had its most significant bit set (RFC 6455 §5.2).
#[derive(Debug, PartialEq, Eq)]
pub struct BadLength;

/// Parses a frame header from the start of `buffer`: the header and its
/// size, or `None` when more bytes are needed.
pub fn parse_header(buffer: &[u8]) -> Result<Option<(FrameHeader, usize)>, BadLength> {
    let [first, second, ..] = *buffer else {
        return Ok(None);
    };
    let masked = second & 0x80 != 0;
    let (length, mut size) = match second & 0x7f {
        126 => match buffer.get(2..4) {
            Some(bytes) => (u64::from(u16::from_be_bytes([bytes[0], bytes[1]])), 4),
            None => return Ok(None),
        },
        127 => match buffer.get(2..10) {
            Some(bytes) => {
                let mut word = [0u8; 8];
                word.copy_from_slice(bytes);
                let length = u64::from_be_bytes(word);
                if length >> 63 != 0 {
                    return Err(BadLength);
                }
                (length, 10)
            }
            None => return Ok(None),
        },
        short => (u64::from(short), 2),
    };
    let mask = if masked {
        match buffer.get(size..size + 4) {
            Some(bytes) => {
                size += 4;
                Some([bytes[0], bytes[1], bytes[2], bytes[3]])
            }
            None => return Ok(None),
        }
    } else {
        None
    };
    Ok(Some((
        FrameHeader {
            fin: first & 0x80 != 0,
            rsv1: first & 0x40 != 0,
            rsv23: first & 0x30 != 0,
            opcode: first & 0x0f,
            mask,
            length,
        },
        size,
    )))
}

/// Appends the header of an unmasked (server) frame.
pub fn write_header(out: &mut Vec<u8>, fin: bool, rsv1: bool, opcode: u8, length: usize) {
    let first = (u8::from(fin) << 7) | (u8::from(rsv1) << 6) | (opcode & 0x0f);
    if length < 126 {
        out.extend_from_slice(&[first, length as u8]);
    } else if let Ok(short) = u16::try_from(length) {
        out.extend_from_slice(&[first, 126]);
        out.extend_from_slice(&short.to_be_bytes());
    } else {
        out.extend_from_slice(&[first, 127]);
        out.extend_from_slice(&(length as u64).to_be_bytes());
    }
}

/// Appends a whole unfragmented server frame.
pub fn write_frame(out: &mut Vec<u8>, opcode: u8, rsv1: bool, payload: &[u8]) {
    out.reserve(payload.len() + 10);
    write_header(out, true, rsv1, opcode, payload.len());
    out.extend_from_slice(payload);
}

/// Appends a close frame: the code (if any) and the reason, cut to fit 125
/// bytes at a character boundary.
pub fn write_close(out: &mut Vec<u8>, code: Option<u16>, reason: &str) {
    let Some(code) = code else {
        return write_frame(out, opcode::CLOSE, false, &[]);
    };
    let mut end = reason.len().min(MAX_CONTROL_PAYLOAD - 2);
    while !reason.is_char_boundary(end) {
        end -= 1;
    }
    let mut payload = [0u8; MAX_CONTROL_PAYLOAD];
    payload[..2].copy_from_slice(&code.to_be_bytes());
    payload[2..2 + end].copy_from_slice(&reason.as_bytes()[..end]);
    write_frame(out, opcode::CLOSE, false, &payload[..2 + end]);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_rfc_examples() {
        // RFC 6455 §5.7: a masked "Hello" from a client.
        let frame = [
            0x81, 0x85, 0x37, 0xfa, 0x21, 0x3d, 0x7f, 0x9f, 0x4d, 0x51, 0x58,
        ];
        let (header, size) = parse_header(&frame).unwrap().unwrap();
        assert_eq!(size, 6);
        assert!(header.fin && !header.rsv1 && !header.rsv23);
        assert_eq!(header.opcode, opcode::TEXT);
        assert_eq!(header.mask, Some([0x37, 0xfa, 0x21, 0x3d]));
        assert_eq!(header.length, 5);
        // Every strict prefix of the header is "need more".
        for cut in 0..6 {
            assert_eq!(parse_header(&frame[..cut]), Ok(None));
        }
    }

    #[test]
    fn extended_lengths_round_trip() {
        for length in [0, 125, 126, 127, 65535, 65536, 1 << 40] {
            let mut out = Vec::new();
            write_header(&mut out, true, false, opcode::BINARY, length);
            let (header, size) = parse_header(&out).unwrap().unwrap();
            assert_eq!(size, out.len());
            assert_eq!(header.length, length as u64);
            assert_eq!(header.mask, None);
        }
    }

    #[test]
    fn refuses_a_length_with_the_top_bit() {
        let frame = [0x82, 0xff, 0x80, 0, 0, 0, 0, 0, 0, 1, 1, 2, 3, 4];
        assert_eq!(parse_header(&frame), Err(BadLength));
    }

    #[test]
    fn close_reason_is_cut_at_a_character_boundary() {
        let mut out = Vec::new();
        let reason = "é".repeat(100);
        write_close(&mut out, Some(1000), &reason);
        let payload = &out[2..];
        assert!(payload.len() <= MAX_CONTROL_PAYLOAD);
        assert!(std::str::from_utf8(&payload[2..]).is_ok());
        assert_eq!(&payload[..2], &1000u16.to_be_bytes());
    }

    #[test]
    fn close_codes() {
        for code in [
            1000, 1001, 1002, 1003, 1007, 1008, 1009, 1010, 1011, 3000, 4999,
        ] {
            assert!(is_valid_close_code(code), "{code}");
        }
        for code in [
            0, 999, 1004, 1005, 1006, 1015, 1016, 1100, 2000, 2999, 5000, 65535,
        ] {
            assert!(!is_valid_close_code(code), "{code}");
        }
    }
}
