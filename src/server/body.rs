//! The response body type every answer uses.
//!
//! An enum rather than a boxed trait object: the common case (a complete body)
//! costs no allocation, and streamed bodies (files, generators, SSE) are new
//! variants here without touching the connection code.

use bytes::Bytes;

/// A response body.
pub enum ResponseBody {
    /// The whole body, known up front (sent with Content-Length).
    Full(Option<Bytes>),
    /// `remaining` bytes of a file, read a chunk at a time as the client takes them.
    File {
        file: Box<tokio::fs::File>,
        remaining: u64,
    },
    /// Chunks produced by the application (a generator), through a bounded
    /// channel: when the client reads slowly the channel fills and the
    /// producer waits, so nothing piles up in the server. Sent chunked.
    Stream(tokio::sync::mpsc::Receiver<StreamChunk>),
    /// A stream compressed as it goes (`CompressionMiddleware`): each chunk
    /// is compressed and flushed, so it reaches the client when it is sent.
    EncodedStream {
        receiver: tokio::sync::mpsc::Receiver<StreamChunk>,
        encoder: Box<crate::middleware::compression::StreamEncoder>,
    },
}

/// One message of a streamed body.
pub enum StreamChunk {
    Data(Bytes),
    /// The producer failed: end the body abnormally (the connection is cut,
    /// so the client can tell the response is incomplete).
    Abort,
}

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
        }
    }

    /// The body's size when known before it is sent (`None` for streams).
    pub fn length(&self) -> Option<u64> {
        match self {
            ResponseBody::Full(bytes) => Some(bytes.as_ref().map_or(0, |b| b.len() as u64)),
            ResponseBody::File { remaining, .. } => Some(*remaining),
            ResponseBody::Stream(_) | ResponseBody::EncodedStream { .. } => None,
        }
    }
}
