//! The incremental decoder of what a client sends: frames parsed as bytes
//! arrive, payloads unmasked and checked piece by piece, fragments
//! reassembled into messages (control frames may arrive between them), and
//! every protocol violation mapped to the close code the connection fails
//! with (RFC 6455 §7.4.1).
//!
//! Nothing waits for a whole frame: a payload is unmasked, inflated and
//! UTF-8 checked as far as it has arrived, so invalid text fails on the
//! first bad byte, and a message is refused (1009) as soon as its declared
//! or inflated size passes the limit, before anything past it is buffered.

use bytes::{Buf, BytesMut};

use super::deflate::{Decompressor, DeflateParams, InflateError};
use super::frame::{self, close_code, opcode, FrameHeader, MAX_CONTROL_PAYLOAD};
use super::mask::unmask;

/// Default limit on a message, as uvicorn's (16 MiB).
pub const DEFAULT_MAX_MESSAGE: usize = 16 * 1024 * 1024;

/// A complete unit from the client.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Event {
    Text(String),
    Binary(Vec<u8>),
    Ping(Vec<u8>),
    Pong(Vec<u8>),
    /// The client's close frame: its code and reason, or none.
    Close(Option<(u16, String)>),
}

/// Why the connection is failed: the close code to send, and a reason.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Failure {
    pub code: u16,
    pub reason: &'static str,
}

const fn protocol(reason: &'static str) -> Failure {
    Failure {
        code: close_code::PROTOCOL_ERROR,
        reason,
    }
}

const INVALID_UTF8: Failure = Failure {
    code: close_code::INVALID_PAYLOAD,
    reason: "invalid UTF-8",
};
const TOO_BIG: Failure = Failure {
    code: close_code::MESSAGE_TOO_BIG,
    reason: "message too big",
};

/// A data message being reassembled.
struct Message {
    text: bool,
    compressed: bool,
    /// The (inflated) payload so far.
    payload: Vec<u8>,
    /// Compressed bytes received, counted against the limit too.
    wire_bytes: usize,
    /// Length of the prefix already known to be valid UTF-8.
    checked: usize,
}

/// The frame whose payload is being read.
struct Current {
    header: FrameHeader,
    key: [u8; 4],
    remaining: u64,
    offset: usize,
}

pub struct Decoder {
    max_message: usize,
    decompressor: Option<Decompressor>,
    current: Option<Current>,
    message: Option<Message>,
    control: Vec<u8>,
}

impl Decoder {
    /// `deflate`: the negotiated permessage-deflate parameters, if any.
    pub fn new(max_message: usize, deflate: Option<&DeflateParams>) -> Decoder {
        Decoder {
            max_message,
            decompressor: deflate.map(Decompressor::new),
            current: None,
            message: None,
            control: Vec::new(),
        }
    }

    /// Consumes what it can of `input`. `Ok(None)`: everything buffered was
    /// used, read more. After an `Err` the decoder must not be used again.
    pub fn decode(&mut self, input: &mut BytesMut) -> Result<Option<Event>, Failure> {
        loop {
            if self.current.is_none() {
                let Some((header, size)) = frame::parse_header(input)
                    .map_err(|_| protocol("frame length with the top bit set"))?
                else {
                    return Ok(None);
                };
                input.advance(size);
                self.start_frame(header)?;
            }
            let Some(current) = self.current.as_mut() else {
                continue;
            };
            let take = current.remaining.min(input.len() as u64) as usize;
            if take == 0 && current.remaining > 0 {
                return Ok(None);
            }
            let piece = &mut input[..take];
            unmask(piece, current.key, current.offset);
            current.offset += take;
            current.remaining -= take as u64;
            let header = current.header;
            let frame_done = current.remaining == 0;
            if header.is_control() {
                self.control.extend_from_slice(piece);
            } else {
                let last = frame_done && header.fin;
                append_data(
                    self.message.as_mut(),
                    self.decompressor.as_mut(),
                    piece,
                    last,
                    self.max_message,
                )?;
            }
            input.advance(take);
            if frame_done {
                self.current = None;
                if let Some(event) = self.finish_frame(&header)? {
                    return Ok(Some(event));
                }
            }
        }
    }

    /// Checks a header against the protocol before any payload is read.
    fn start_frame(&mut self, header: FrameHeader) -> Result<(), Failure> {
        let Some(key) = header.mask else {
            return Err(protocol("client frames must be masked"));
        };
        if header.rsv23 {
            return Err(protocol("reserved bits set"));
        }
        match header.opcode {
            opcode::CLOSE | opcode::PING | opcode::PONG => {
                if !header.fin {
                    return Err(protocol("fragmented control frame"));
                }
                if header.length > MAX_CONTROL_PAYLOAD as u64 {
                    return Err(protocol("control frame payload over 125 bytes"));
                }
                if header.rsv1 {
                    return Err(protocol("reserved bit set on a control frame"));
                }
                self.control.clear();
            }
            opcode::TEXT | opcode::BINARY => {
                if self.message.is_some() {
                    return Err(protocol("new message before the last one ended"));
                }
                if header.rsv1 && self.decompressor.is_none() {
                    return Err(protocol("reserved bit set without an extension"));
                }
                check_size(0, header.length, self.max_message)?;
                self.message = Some(Message {
                    text: header.opcode == opcode::TEXT,
                    compressed: header.rsv1,
                    payload: Vec::with_capacity((header.length as usize).min(64 * 1024)),
                    wire_bytes: header.length as usize,
                    checked: 0,
                });
            }
            opcode::CONTINUATION => {
                let Some(message) = self.message.as_mut() else {
                    return Err(protocol("continuation frame without a message"));
                };
                if header.rsv1 {
                    return Err(protocol("reserved bit set on a continuation frame"));
                }
                let so_far = if message.compressed {
                    message.wire_bytes
                } else {
                    message.payload.len()
                };
                check_size(so_far, header.length, self.max_message)?;
                message.wire_bytes += header.length as usize;
            }
            _ => return Err(protocol("reserved opcode")),
        }
        self.current = Some(Current {
            header,
            key,
            remaining: header.length,
            offset: 0,
        });
        Ok(())
    }

    fn finish_frame(&mut self, header: &FrameHeader) -> Result<Option<Event>, Failure> {
        let payload = std::mem::take(&mut self.control);
        match header.opcode {
            opcode::PING => Ok(Some(Event::Ping(payload))),
            opcode::PONG => Ok(Some(Event::Pong(payload))),
            opcode::CLOSE => parse_close(&payload).map(|close| Some(Event::Close(close))),
            _ if !header.fin => Ok(None),
            _ => {
                let Some(message) = self.message.take() else {
                    return Ok(None);
                };
                if !message.text {
                    return Ok(Some(Event::Binary(message.payload)));
                }
                // A character cut off by the end of the message.
                if message.checked != message.payload.len() {
                    return Err(INVALID_UTF8);
                }
                // Already validated piece by piece; the checked conversion
                // costs one more pass, and keeps this free of `unsafe`.
                String::from_utf8(message.payload)
                    .map(|text| Some(Event::Text(text)))
                    .map_err(|_| INVALID_UTF8)
            }
        }
    }
}

/// Adds a piece of a data frame's (unmasked) payload to the message.
fn append_data(
    message: Option<&mut Message>,
    decompressor: Option<&mut Decompressor>,
    piece: &[u8],
    last: bool,
    limit: usize,
) -> Result<(), Failure> {
    let Some(message) = message else {
        return Ok(());
    };
    if message.compressed {
        let Some(decompressor) = decompressor else {
            return Err(protocol("reserved bit set without an extension"));
        };
        let inflated = decompressor
            .inflate(piece, &mut message.payload, limit)
            .and_then(|()| {
                if last {
                    decompressor.finish(&mut message.payload, limit)
                } else {
                    Ok(())
                }
            });
        inflated.map_err(|error| match error {
            InflateError::TooBig => TOO_BIG,
            InflateError::Corrupt => Failure {
                code: close_code::INVALID_PAYLOAD,
                reason: "invalid compressed data",
            },
        })?;
    } else {
        message.payload.extend_from_slice(piece);
    }
    if message.text {
        check_utf8(message)?;
    }
    Ok(())
}

/// Validates the unchecked part of a text message. A character still
/// incomplete at the end is left for the next piece; an invalid byte fails
/// at once (fail fast, RFC 6455 §8.1).
fn check_utf8(message: &mut Message) -> Result<(), Failure> {
    match std::str::from_utf8(&message.payload[message.checked..]) {
        Ok(_) => message.checked = message.payload.len(),
        Err(error) if error.error_len().is_none() => message.checked += error.valid_up_to(),
        Err(_) => return Err(INVALID_UTF8),
    }
    Ok(())
}

fn check_size(so_far: usize, more: u64, limit: usize) -> Result<(), Failure> {
    if so_far as u64 + more > limit as u64 {
        Err(TOO_BIG)
    } else {
        Ok(())
    }
}

fn parse_close(payload: &[u8]) -> Result<Option<(u16, String)>, Failure> {
    match payload {
        [] => Ok(None),
        [_] => Err(protocol("close frame with a one-byte payload")),
        [high, low, reason @ ..] => {
            let code = u16::from_be_bytes([*high, *low]);
            if !frame::is_valid_close_code(code) {
                return Err(protocol("invalid close code"));
            }
            let reason = std::str::from_utf8(reason).map_err(|_| INVALID_UTF8)?;
            Ok(Some((code, reason.to_owned())))
        }
    }
}

#[cfg(test)]
#[path = "decoder_tests.rs"]
mod tests;
