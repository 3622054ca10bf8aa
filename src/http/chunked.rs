//! Decoding a `Transfer-Encoding: chunked` request body (RFC 9112 §7.1),
//! without I/O: the connection feeds whatever bytes it has and gets back how
//! many it may drop and which of them are body data.
//!
//! Strict where leniency is a smuggling risk: every line ends in CRLF (a bare
//! LF is an error), sizes are hex without sign or leading whitespace and fit
//! in 64 bits, chunk data is followed by exactly CRLF. Extensions and trailer
//! fields are skipped, but bounded, so a client cannot make the server read
//! an endless size line.

use std::ops::Range;

/// Longest chunk-size line (size, extensions and all) accepted.
const MAX_SIZE_LINE: usize = 4096;
/// Most trailer bytes accepted after the last chunk.
const MAX_TRAILERS: usize = 16 * 1024;

/// Why a chunked body was refused (always a 400: the stream is out of sync).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ChunkedError(pub &'static str);

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum State {
    /// At the start of a size line.
    SizeStart,
    /// In the hex digits.
    Size,
    /// Whitespace after the digits, before `;` or CR.
    SizeSpace,
    /// In a chunk extension.
    Extension,
    /// CR seen at the end of a size line.
    SizeLf,
    /// In chunk data, this many bytes still to come.
    Data(u64),
    DataCr,
    DataLf,
    /// At the start of a trailer line (or of the final empty line).
    TrailerStart,
    TrailerLine,
    TrailerLf,
    /// CR of the final empty line seen.
    EndLf,
    Done,
}

/// What one call to [`ChunkedDecoder::decode`] did.
#[derive(Debug, PartialEq, Eq)]
pub struct Progress {
    /// Bytes of the input handled: drop them before the next call.
    pub consumed: usize,
    /// Body data inside the consumed bytes (possibly empty).
    pub data: Range<usize>,
    /// The body is complete; bytes after `consumed` belong to the next request.
    pub done: bool,
}

/// Follows one chunked body. See the module docs.
#[derive(Debug)]
pub struct ChunkedDecoder {
    state: State,
    size: u64,
    line_length: usize,
    trailer_bytes: usize,
}

impl Default for ChunkedDecoder {
    fn default() -> Self {
        ChunkedDecoder {
            state: State::SizeStart,
            size: 0,
            line_length: 0,
            trailer_bytes: 0,
        }
    }
}

impl ChunkedDecoder {
    pub fn is_done(&self) -> bool {
        self.state == State::Done
    }

    /// Reads framing bytes from `input` until it reaches chunk data (returned
    /// as a range, at most the whole input), the end of the body, or the end
    /// of the input. Call again with the unconsumed rest plus new bytes.
    pub fn decode(&mut self, input: &[u8]) -> Result<Progress, ChunkedError> {
        let mut position = 0;
        while position < input.len() {
            if let State::Data(remaining) = self.state {
                let available = (input.len() - position) as u64;
                let taken = remaining.min(available) as usize;
                self.state = if taken as u64 == remaining {
                    State::DataCr
                } else {
                    State::Data(remaining - taken as u64)
                };
                return Ok(Progress {
                    consumed: position + taken,
                    data: position..position + taken,
                    done: false,
                });
            }
            if self.state == State::Done {
                break;
            }
            self.step(input[position])?;
            position += 1;
        }
        Ok(Progress {
            consumed: position,
            data: position..position,
            done: self.state == State::Done,
        })
    }

    /// One framing byte.
    fn step(&mut self, byte: u8) -> Result<(), ChunkedError> {
        self.state = match self.state {
            State::SizeStart => {
                self.size = 0;
                self.line_length = 0;
                self.add_digit(byte)
                    .ok_or(ChunkedError("Malformed chunk size"))?;
                State::Size
            }
            State::Size => match byte {
                b';' => State::Extension,
                b' ' | b'\t' => State::SizeSpace,
                b'\r' => State::SizeLf,
                _ => {
                    self.add_digit(byte)
                        .ok_or(ChunkedError("Malformed chunk size"))?;
                    State::Size
                }
            },
            State::SizeSpace => match byte {
                b' ' | b'\t' => State::SizeSpace,
                b';' => State::Extension,
                b'\r' => State::SizeLf,
                _ => return Err(ChunkedError("Malformed chunk size")),
            },
            State::Extension => match byte {
                b'\r' => State::SizeLf,
                b'\t' => State::Extension,
                _ if byte.is_ascii_control() => {
                    return Err(ChunkedError("Invalid byte in chunk extension"))
                }
                _ => State::Extension,
            },
            State::SizeLf => match (byte, self.size) {
                (b'\n', 0) => State::TrailerStart,
                (b'\n', size) => State::Data(size),
                _ => return Err(ChunkedError("Chunk size line must end with CRLF")),
            },
            State::DataCr if byte == b'\r' => State::DataLf,
            State::DataLf if byte == b'\n' => State::SizeStart,
            State::DataCr | State::DataLf => {
                return Err(ChunkedError("Chunk data must be followed by CRLF"))
            }
            State::TrailerStart if byte == b'\r' => State::EndLf,
            State::TrailerStart | State::TrailerLine => match byte {
                b'\r' => State::TrailerLf,
                b'\n' => return Err(ChunkedError("Trailer line must end with CRLF")),
                b'\t' => State::TrailerLine,
                _ if byte.is_ascii_control() => {
                    return Err(ChunkedError("Invalid byte in trailer field"))
                }
                _ => State::TrailerLine,
            },
            State::TrailerLf if byte == b'\n' => State::TrailerStart,
            State::EndLf if byte == b'\n' => State::Done,
            State::TrailerLf | State::EndLf => {
                return Err(ChunkedError("Trailer line must end with CRLF"))
            }
            // `decode` never steps in these states.
            State::Data(_) | State::Done => self.state,
        };
        match self.state {
            State::Size | State::SizeSpace | State::Extension | State::SizeLf => {
                self.line_length += 1;
                if self.line_length > MAX_SIZE_LINE {
                    return Err(ChunkedError("Chunk size line too long"));
                }
            }
            State::TrailerLine | State::TrailerLf | State::EndLf => {
                self.trailer_bytes += 1;
                if self.trailer_bytes > MAX_TRAILERS {
                    return Err(ChunkedError("Chunked trailer section too large"));
                }
            }
            _ => {}
        }
        Ok(())
    }

    /// Adds one hex digit to the size; `None` for a non-digit or an overflow.
    fn add_digit(&mut self, byte: u8) -> Option<()> {
        let digit = (byte as char).to_digit(16)?;
        self.size = self.size.checked_mul(16)?.checked_add(u64::from(digit))?;
        Some(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Decodes `stream` fed in pieces of `piece` bytes, as a connection would:
    /// unconsumed bytes are kept and new ones appended.
    fn decode_in_pieces(stream: &[u8], piece: usize) -> Result<(Vec<u8>, usize), ChunkedError> {
        let mut decoder = ChunkedDecoder::default();
        let mut pending: Vec<u8> = Vec::new();
        let mut body = Vec::new();
        let mut fed = 0;
        loop {
            let progress = decoder.decode(&pending)?;
            body.extend_from_slice(&pending[progress.data.clone()]);
            pending.drain(..progress.consumed);
            if progress.done {
                // Bytes never fed plus the unconsumed ones: what follows the body.
                return Ok((body, pending.len() + stream.len() - fed));
            }
            if progress.consumed == 0 || pending.is_empty() {
                if fed == stream.len() {
                    return Err(ChunkedError("incomplete"));
                }
                let next = (fed + piece).min(stream.len());
                pending.extend_from_slice(&stream[fed..next]);
                fed = next;
            }
        }
    }

    #[test]
    fn decodes_at_every_piece_size() {
        let stream = b"5\r\nhello\r\n1;name=value;x\r\n \r\n000B \t; ext\r\nworld, and \r\n0\r\nTrailer: yes\r\nX: 1\r\n\r\nGET / HTTP/1.1";
        for piece in 1..=stream.len() {
            let (body, rest) = decode_in_pieces(stream, piece).expect("valid");
            assert_eq!(body, b"hello world, and ", "piece {piece}");
            assert_eq!(rest, b"GET / HTTP/1.1".len(), "piece {piece}");
        }
    }

    #[test]
    fn empty_body() {
        assert_eq!(decode_in_pieces(b"0\r\n\r\n", 1), Ok((Vec::new(), 0)));
        assert_eq!(decode_in_pieces(b"00\r\n\r\n", 3), Ok((Vec::new(), 0)));
    }

    #[test]
    fn large_sizes_are_exact() {
        let mut decoder = ChunkedDecoder::default();
        let progress = decoder
            .decode(b"ffffffffffffffff\r\nab")
            .expect("fits in u64");
        assert_eq!(progress.data, 18..20);
        assert_eq!(decoder.state, State::Data(u64::MAX - 2));
    }

    #[test]
    fn refusals() {
        for (stream, reason) in [
            (&b"zz\r\nhello\r\n0\r\n\r\n"[..], "Malformed chunk size"),
            (
                b"fffffffffffffffff\r\nx\r\n0\r\n\r\n",
                "Malformed chunk size",
            ),
            (b" 5\r\nhello\r\n0\r\n\r\n", "Malformed chunk size"),
            (b"-5\r\nhello\r\n0\r\n\r\n", "Malformed chunk size"),
            (b"0x5\r\nhello\r\n0\r\n\r\n", "Malformed chunk size"),
            (b"5 5\r\nhello\r\n0\r\n\r\n", "Malformed chunk size"),
            (b"\r\n0\r\n\r\n", "Malformed chunk size"),
            (b"5\nhello\r\n0\r\n\r\n", "Malformed chunk size"),
            (
                b"5\r\rhello\r\n0\r\n\r\n",
                "Chunk size line must end with CRLF",
            ),
            (
                b"5;a\x00b\r\nhello\r\n0\r\n\r\n",
                "Invalid byte in chunk extension",
            ),
            (
                b"5;a\nhello\r\n0\r\n\r\n",
                "Invalid byte in chunk extension",
            ),
            (
                b"3\r\nabcXX0\r\n\r\n",
                "Chunk data must be followed by CRLF",
            ),
            (
                b"3\r\nabc\rX0\r\n\r\n",
                "Chunk data must be followed by CRLF",
            ),
            (
                b"3\r\nabc\n0\r\n\r\n",
                "Chunk data must be followed by CRLF",
            ),
            (b"0\r\nT: v\n\r\n", "Trailer line must end with CRLF"),
            (b"0\r\n\n", "Trailer line must end with CRLF"),
            (b"0\r\n\rX", "Trailer line must end with CRLF"),
            (b"0\r\nT: \x01\r\n\r\n", "Invalid byte in trailer field"),
        ] {
            for piece in [1, 2, stream.len()] {
                assert_eq!(
                    decode_in_pieces(stream, piece).map(|(body, _)| body),
                    Err(ChunkedError(reason)),
                    "{:?} in pieces of {piece}",
                    String::from_utf8_lossy(stream)
                );
            }
        }
    }

    #[test]
    fn endless_lines_are_bounded() {
        let mut decoder = ChunkedDecoder::default();
        let mut line = b"1;".to_vec();
        line.extend(std::iter::repeat_n(b'a', MAX_SIZE_LINE));
        assert_eq!(
            decoder.decode(&line),
            Err(ChunkedError("Chunk size line too long"))
        );
        let mut decoder = ChunkedDecoder::default();
        let mut trailers = b"0\r\n".to_vec();
        for _ in 0..2000 {
            trailers.extend_from_slice(b"X-Trailer: value\r\n");
        }
        assert_eq!(
            decoder.decode(&trailers),
            Err(ChunkedError("Chunked trailer section too large"))
        );
    }
}
