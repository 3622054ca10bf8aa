//! The response body type every answer uses.
//!
//! An enum rather than a boxed trait object: the common case (a complete body)
//! costs no allocation, and streamed bodies (files, generators, SSE) are new
//! variants here without touching the connection code.

use std::pin::Pin;
use std::task::{Context, Poll};

use bytes::{Bytes, BytesMut};
use hyper::body::{Body, Frame, SizeHint};
use tokio::io::{AsyncRead, ReadBuf};

/// Chunk size for file bodies: big enough for few reads, small enough that
/// a slow client never makes the server hold much of the file.
const FILE_CHUNK: usize = 64 * 1024;

/// A response body.
pub enum ResponseBody {
    /// The whole body, known up front (sent with Content-Length).
    Full(Option<Bytes>),
    /// `remaining` bytes of a file, read a chunk at a time as the client takes them.
    File {
        file: Box<tokio::fs::File>,
        remaining: u64,
        buffer: BytesMut,
    },
    /// Chunks produced by the application (a generator), through a bounded
    /// channel: when the client reads slowly the channel fills and the
    /// producer waits, so nothing piles up in the server. Sent chunked.
    Stream(tokio::sync::mpsc::Receiver<StreamChunk>),
}

/// One message of a streamed body.
pub enum StreamChunk {
    Data(Bytes),
    /// The producer failed: end the body abnormally (the connection is cut,
    /// so the client can tell the response is incomplete).
    Abort,
}

/// An error that aborts a streamed body.
#[derive(Debug)]
pub struct StreamAborted;

impl std::fmt::Display for StreamAborted {
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        formatter.write_str("the response stream was aborted by the application")
    }
}

impl std::error::Error for StreamAborted {}

impl ResponseBody {
    pub fn full(bytes: impl Into<Bytes>) -> Self {
        let bytes = bytes.into();
        if bytes.is_empty() {
            ResponseBody::Full(None)
        } else {
            ResponseBody::Full(Some(bytes))
        }
    }

    pub fn empty() -> Self {
        ResponseBody::Full(None)
    }

    /// The next `length` bytes of `file` (already positioned).
    pub fn file(file: std::fs::File, length: u64) -> Self {
        ResponseBody::File {
            file: Box::new(tokio::fs::File::from_std(file)),
            remaining: length,
            buffer: BytesMut::new(),
        }
    }
}

impl Body for ResponseBody {
    type Data = Bytes;
    type Error = StreamAborted;

    fn poll_frame(
        self: Pin<&mut Self>,
        context: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, StreamAborted>>> {
        match self.get_mut() {
            ResponseBody::Full(bytes) => {
                Poll::Ready(bytes.take().map(|data| Ok(Frame::data(data))))
            }
            ResponseBody::Stream(receiver) => match receiver.poll_recv(context) {
                Poll::Pending => Poll::Pending,
                Poll::Ready(Some(StreamChunk::Data(data))) => {
                    Poll::Ready(Some(Ok(Frame::data(data))))
                }
                Poll::Ready(Some(StreamChunk::Abort)) => Poll::Ready(Some(Err(StreamAborted))),
                Poll::Ready(None) => Poll::Ready(None),
            },
            ResponseBody::File {
                file,
                remaining,
                buffer,
            } => {
                if *remaining == 0 {
                    return Poll::Ready(None);
                }
                let want = (*remaining).min(FILE_CHUNK as u64) as usize;
                buffer.clear();
                buffer.reserve(want);
                let mut read_buffer = ReadBuf::uninit(&mut buffer.spare_capacity_mut()[..want]);
                match Pin::new(file.as_mut()).poll_read(context, &mut read_buffer) {
                    Poll::Pending => Poll::Pending,
                    Poll::Ready(Ok(())) => {
                        let filled = read_buffer.filled().len();
                        if filled == 0 {
                            // The file shrank under us: end early; hyper then
                            // closes the connection, as Content-Length is unmet.
                            *remaining = 0;
                            return Poll::Ready(None);
                        }
                        // SAFETY: the read just initialised the first `filled`
                        // bytes of the spare capacity.
                        unsafe { buffer.set_len(filled) };
                        *remaining -= filled as u64;
                        Poll::Ready(Some(Ok(Frame::data(buffer.split().freeze()))))
                    }
                    Poll::Ready(Err(_)) => {
                        *remaining = 0;
                        Poll::Ready(None)
                    }
                }
            }
        }
    }

    fn is_end_stream(&self) -> bool {
        match self {
            ResponseBody::Full(bytes) => bytes.is_none(),
            ResponseBody::File { remaining, .. } => *remaining == 0,
            ResponseBody::Stream(_) => false,
        }
    }

    fn size_hint(&self) -> SizeHint {
        match self {
            ResponseBody::Full(bytes) => {
                SizeHint::with_exact(bytes.as_ref().map_or(0, |b| b.len() as u64))
            }
            ResponseBody::File { remaining, .. } => SizeHint::with_exact(*remaining),
            ResponseBody::Stream(_) => SizeHint::default(),
        }
    }
}
