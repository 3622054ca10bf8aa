//! A second look at request framing, for what hyper resolves silently.
//!
//! hyper follows RFC 9112's lenient rules: with both Content-Length and
//! Transfer-Encoding it drops Content-Length (and closes afterwards), and it
//! merges repeated equal Content-Length values. Both leave no trace in the
//! parsed request, yet both are the raw material of request smuggling, and an
//! origin server should refuse them with 400. So the connection's raw bytes
//! are also fed through this scanner, which follows message boundaries
//! (head, Content-Length body, chunked body) and records which message numbers
//! had ambiguous framing. It only ever *refuses*: anything it cannot follow
//! switches it off and is left to hyper's parser, which rejects it anyway.

/// Largest head the scanner buffers; beyond it hyper answers 431 anyway.
const MAX_HEAD: usize = 96 * 1024;

#[derive(Debug)]
enum State {
    Head,
    Body(u64),
    ChunkSize,
    ChunkData(u64),
    ChunkDataEnd(u8),
    Trailers,
    Off,
}

/// Follows one connection's request stream. See the module docs.
#[derive(Debug)]
pub struct FramingScanner {
    state: State,
    pending: Vec<u8>,
    message: u64,
    refused: Vec<(u64, &'static str)>,
    served: u64,
}

impl Default for FramingScanner {
    fn default() -> Self {
        FramingScanner {
            state: State::Head,
            pending: Vec::new(),
            message: 0,
            refused: Vec::new(),
            served: 0,
        }
    }
}

impl FramingScanner {
    /// Why message number `index` (0-based, in arrival order) must be refused, if it must.
    pub fn refusal(&self, index: u64) -> Option<&'static str> {
        self.refused
            .iter()
            .find(|(message, _)| *message == index)
            .map(|(_, reason)| *reason)
    }

    /// For the server, once per request in order: why the next request must be refused, if it must.
    pub fn next_request_refusal(&mut self) -> Option<&'static str> {
        let index = self.served;
        self.served += 1;
        if self.refused.is_empty() {
            None
        } else {
            self.refusal(index)
        }
    }

    /// Feeds bytes as they arrive from the socket.
    pub fn feed(&mut self, mut data: &[u8]) {
        while !data.is_empty() {
            data = match self.state {
                State::Off => return,
                State::Head => self.feed_head(data),
                State::Body(remaining) => {
                    let taken = remaining.min(data.len() as u64);
                    self.state = if taken == remaining {
                        State::Head
                    } else {
                        State::Body(remaining - taken)
                    };
                    &data[taken as usize..]
                }
                State::ChunkSize | State::Trailers => self.feed_line(data),
                State::ChunkData(remaining) => {
                    let taken = remaining.min(data.len() as u64);
                    self.state = if taken == remaining {
                        State::ChunkDataEnd(2)
                    } else {
                        State::ChunkData(remaining - taken)
                    };
                    &data[taken as usize..]
                }
                State::ChunkDataEnd(left) => {
                    let expected: &[u8] = if left == 2 { b"\r\n" } else { b"\n" };
                    if data[0] != expected[0] {
                        self.state = State::Off;
                        return;
                    }
                    self.state = if left == 2 {
                        State::ChunkDataEnd(1)
                    } else {
                        State::ChunkSize
                    };
                    &data[1..]
                }
            };
        }
    }

    fn feed_head<'d>(&mut self, mut data: &'d [u8]) -> &'d [u8] {
        if self.pending.is_empty() {
            // Empty lines before a request line are allowed (RFC 9112 §2.2).
            while let Some(rest) = data
                .strip_prefix(b"\r\n")
                .or_else(|| data.strip_prefix(b"\n"))
            {
                data = rest;
            }
            if data.is_empty() {
                return data;
            }
            // The common case: the whole head arrived in one read; no copy.
            if let Some((end, framing)) = scan_head(data) {
                self.conclude_head(framing);
                return &data[end..];
            }
        }
        let previous = self.pending.len();
        self.pending.extend_from_slice(data);
        let pending = std::mem::take(&mut self.pending);
        let Some((end, framing)) = scan_head(&pending) else {
            self.pending = pending;
            if self.pending.len() > MAX_HEAD {
                self.state = State::Off;
            }
            return &[];
        };
        self.conclude_head(framing);
        &data[end - previous..]
    }

    fn conclude_head(&mut self, framing: HeadFraming<'_>) {
        let message = self.message;
        self.message += 1;
        if framing.lengths > 0 && framing.chunked.is_some() {
            self.refused
                .push((message, "Both Content-Length and Transfer-Encoding present"));
            self.state = State::Off; // the connection is closed after the refusal
            return;
        }
        if framing.lengths > 1 {
            self.refused
                .push((message, "Duplicate Content-Length header"));
            self.state = State::Off;
            return;
        }
        self.state = match (framing.chunked, framing.lengths) {
            (Some(true), _) => State::ChunkSize,
            (Some(false), _) => State::Off,
            (None, 1) => match std::str::from_utf8(framing.length)
                .ok()
                .and_then(|value| value.parse::<u64>().ok())
            {
                Some(0) => State::Head,
                Some(length) => State::Body(length),
                None => State::Off,
            },
            (None, _) => State::Head,
        };
    }

    /// Chunk-size lines and trailer lines.
    fn feed_line<'d>(&mut self, data: &'d [u8]) -> &'d [u8] {
        let Some(newline) = memchr::memchr(b'\n', data) else {
            self.pending.extend_from_slice(data);
            if self.pending.len() > 8 * 1024 {
                self.state = State::Off;
            }
            return &[];
        };
        self.pending.extend_from_slice(&data[..newline]);
        let line = std::mem::take(&mut self.pending);
        let line = line.strip_suffix(b"\r").unwrap_or(&line);
        self.state = match self.state {
            State::Trailers if line.is_empty() => State::Head,
            State::Trailers => State::Trailers,
            _ => {
                let size_text = line
                    .split(|&b| b == b';')
                    .next()
                    .unwrap_or_default()
                    .trim_ascii();
                match std::str::from_utf8(size_text)
                    .ok()
                    .and_then(|text| u64::from_str_radix(text, 16).ok())
                {
                    Some(0) => State::Trailers,
                    Some(size) => State::ChunkData(size),
                    None => State::Off,
                }
            }
        };
        &data[newline + 1..]
    }
}

/// What a head says about its body's framing.
#[derive(Default)]
struct HeadFraming<'h> {
    lengths: usize,
    length: &'h [u8],
    /// Present when Transfer-Encoding is: whether its last coding is chunked.
    chunked: Option<bool>,
}

/// Finds the end of a head (just past its empty line) and reads the framing
/// headers on the way. Only the first byte of each line is looked at unless
/// it could start `Content-Length` or `Transfer-Encoding`: hyper does the parse.
fn scan_head(head: &[u8]) -> Option<(usize, HeadFraming<'_>)> {
    let mut framing = HeadFraming::default();
    for newline in memchr::memchr_iter(b'\n', head) {
        let line = &head[newline + 1..];
        match line.first() {
            Some(b'\r') if line.get(1) == Some(&b'\n') => return Some((newline + 3, framing)),
            Some(b'\n') => return Some((newline + 2, framing)),
            Some(b'c' | b'C') => {
                if let Some(value) = header_value(line, b"content-length:") {
                    framing.lengths += 1;
                    framing.length = value;
                }
            }
            Some(b't' | b'T') => {
                if let Some(value) = header_value(line, b"transfer-encoding:") {
                    let last = value
                        .rsplit(|&byte| byte == b',')
                        .next()
                        .unwrap_or_default();
                    framing.chunked = Some(last.trim_ascii().eq_ignore_ascii_case(b"chunked"));
                }
            }
            _ => {}
        }
    }
    None
}

/// The trimmed value of the line starting `rest` if it is the header `name`
/// (given lowercase, with its colon).
fn header_value<'l>(rest: &'l [u8], name: &[u8]) -> Option<&'l [u8]> {
    if rest.len() < name.len() || !rest[..name.len()].eq_ignore_ascii_case(name) {
        return None;
    }
    let line_end = memchr::memchr(b'\n', rest).unwrap_or(rest.len());
    Some(rest[name.len()..line_end].trim_ascii())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn scan(stream: &[u8], piece: usize) -> FramingScanner {
        let mut scanner = FramingScanner::default();
        for chunk in stream.chunks(piece) {
            scanner.feed(chunk);
        }
        scanner
    }

    #[test]
    fn ordinary_pipelined_stream_has_no_refusals() {
        let stream = b"GET / HTTP/1.1\r\nHost: x\r\n\r\n\
            POST /a HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n\r\nhello\
            POST /b HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n5;x=y\r\nhello\r\n0\r\nT: v\r\n\r\n\
            GET /c HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\nContent-Length: 3\r\n\r\nabc";
        for piece in [1, 2, 7, 1000] {
            let scanner = scan(stream, piece);
            assert_eq!(scanner.message, 4, "piece {piece}");
            assert_eq!(scanner.refusal(0), None);
            assert_eq!(scanner.refusal(1), None);
            assert_eq!(scanner.refusal(2), None);
            assert_eq!(scanner.refusal(3), Some("Duplicate Content-Length header"));
        }
    }

    #[test]
    fn content_length_with_transfer_encoding_is_refused_in_either_order() {
        for head in [
            &b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 4\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n"[..],
            &b"POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\nContent-Length: 4\r\n\r\n0\r\n\r\n"[..],
        ] {
            let scanner = scan(head, 3);
            assert_eq!(scanner.refusal(0), Some("Both Content-Length and Transfer-Encoding present"));
        }
    }

    #[test]
    fn body_bytes_that_look_like_headers_are_not_inspected() {
        let stream = b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 56\r\n\r\n\
            GET / HTTP/1.1\r\nContent-Length: 1\r\nContent-Length: 1\r\n\r\n\
            GET / HTTP/1.1\r\nHost: x\r\n\r\n";
        let scanner = scan(stream, 5);
        assert_eq!(scanner.refused, vec![]);
        assert_eq!(scanner.message, 2);
    }

    #[test]
    fn garbage_is_left_to_hyper() {
        // Not a request: hyper answers 400 and closes, so the scanner only has
        // to get through it without refusing anything.
        let scanner = scan(b"\x16\x03\x01garbage\r\n\r\n", 4);
        assert!(scanner.refused.is_empty());
        assert_eq!(scanner.message, 1);
    }
}
