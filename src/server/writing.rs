//! Writing answers: the head (`crate::http::response_head`), then the body
//! as its kind needs: in the same buffer (small), after it (large), read from
//! disk a chunk at a time (files), or chunk-encoded as the application
//! produces it (streams, with the channel bounding what is queued).

use std::io;
use std::time::Duration;

use bytes::Bytes;
use http::Version;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::sync::mpsc::{self, error::TryRecvError};

use super::connection::{stopping, Connection, OUTPUT_HIGH_WATER};
use super::header_pool;
use super::{NativeResponse, ResponseBody, StreamChunk};
use crate::http::head::RequestHead;
use crate::http::proxy::says_https;
use crate::http::response_head::{
    framing_for, write_chunk_start, write_head, Framing, LAST_CHUNK, NO_HEAD_DEFAULTS,
};
use crate::middleware::compression::StreamEncoder;
use crate::middleware::security::SecurityPolicy;

/// Bodies up to this size are copied behind the head and written with it
/// (one write beats a two-part writev for the small answers that dominate).
const INLINE_BODY: usize = 16 * 1024;
/// Bytes read from disk at a time for a file body.
const FILE_CHUNK: u64 = 64 * 1024;
/// Input (pipelined requests) buffered while a stream waits, beyond which
/// the socket is no longer watched for the client leaving.
const WATCHED_INPUT_LIMIT: usize = 64 * 1024;

impl<S: AsyncRead + AsyncWrite + Unpin> Connection<S> {
    /// Whether production mode's answer to `head` gets HSTS (see
    /// `write_answer`): only for a secure request, which a trusted proxy
    /// vouches for with `X-Forwarded-Proto: https`.
    #[inline]
    pub(super) fn secure(&self, head: &RequestHead) -> bool {
        self.shared.config.prod
            && self.peer_is_proxy
            && says_https(
                head.header_values("x-forwarded-proto")
                    .filter_map(|value| std::str::from_utf8(value).ok()),
            )
    }

    /// Writes one answer; returns whether the connection may serve another
    /// request after it (false when the body is delimited by closing).
    /// In production mode every answer gets the security headers it lacks
    /// (HSTS only when `secure`), written beside its own.
    pub(super) async fn write_answer(
        &mut self,
        version: Version,
        is_head_request: bool,
        response: NativeResponse,
        keep_alive: bool,
        secure: bool,
    ) -> io::Result<bool> {
        let NativeResponse {
            status,
            headers,
            body,
        } = response;
        let (framing, send_body) = framing_for(status, is_head_request, body.length(), version);
        let defaults = if self.shared.config.prod {
            SecurityPolicy::production().head_defaults(secure)
        } else {
            &NO_HEAD_DEFAULTS
        };
        write_head(
            &mut self.output,
            version,
            status,
            &headers,
            defaults,
            framing,
            keep_alive,
        );
        header_pool::give_back(headers);
        // Small bodies go behind the head; the rest is written by futures
        // boxed on use, so answering keeps a small state (see `Connection::run`).
        if send_body {
            match body {
                ResponseBody::Full(None) => {}
                ResponseBody::Full(Some(bytes)) if bytes.len() <= INLINE_BODY => {
                    self.output.extend_from_slice(&bytes)
                }
                ResponseBody::Full(Some(bytes)) => Box::pin(self.write_large(bytes)).await?,
                ResponseBody::File { file, remaining } => {
                    Box::pin(self.write_file(file, remaining)).await?
                }
                ResponseBody::Stream(receiver) => {
                    Box::pin(self.write_stream(receiver, None, framing)).await?
                }
                ResponseBody::EncodedStream { receiver, encoder } => {
                    Box::pin(self.write_stream(receiver, Some(encoder), framing)).await?
                }
            }
        }
        // Pipelined requests waiting: answer them first and write together.
        if self.input.is_empty() || self.output.len() >= OUTPUT_HIGH_WATER {
            self.flush().await?;
        }
        Ok(keep_alive && framing != Framing::UntilClose)
    }

    async fn write_large(&mut self, bytes: Bytes) -> io::Result<()> {
        self.flush().await?;
        let timeout = self.shared.config.deadlines.send;
        write_all(&mut self.io, &bytes, timeout).await
    }

    async fn write_file(
        &mut self,
        mut file: Box<tokio::fs::File>,
        remaining: u64,
    ) -> io::Result<()> {
        let mut remaining = remaining;
        while remaining > 0 {
            let want = remaining.min(FILE_CHUNK);
            self.output.reserve(want as usize);
            let read = (&mut *file).take(want).read_buf(&mut self.output).await?;
            if read == 0 {
                // The file shrank under us: the promised length cannot be met,
                // so the connection is cut (the client sees a short body).
                return Err(io::ErrorKind::UnexpectedEof.into());
            }
            remaining -= read as u64;
            if self.output.len() >= OUTPUT_HIGH_WATER {
                self.flush().await?;
            }
        }
        Ok(())
    }

    /// Writes a stream; if it ends early (the client left, the application
    /// aborted) the Python side is told at once, so the generator is closed
    /// now rather than when it next produces a chunk.
    async fn write_stream(
        &mut self,
        receiver: mpsc::Receiver<StreamChunk>,
        encoder: Option<Box<StreamEncoder>>,
        framing: Framing,
    ) -> io::Result<()> {
        let result = self.write_stream_chunks(receiver, encoder, framing).await;
        if result.is_err() {
            self.shared.handoff.stream_closed();
        }
        result
    }

    /// Chunks as the application sends them; whatever is already queued is
    /// written together, and output is flushed before waiting for more.
    async fn write_stream_chunks(
        &mut self,
        mut receiver: mpsc::Receiver<StreamChunk>,
        mut encoder: Option<Box<StreamEncoder>>,
        framing: Framing,
    ) -> io::Result<()> {
        let chunked = framing == Framing::Chunked;
        // At the drain deadline the body ends cleanly, as if the producer had
        // finished; dropping the receiver tells the producer to stop.
        let mut deadline = self.shared.lifecycle.deadline_receiver();
        loop {
            let chunk = match receiver.try_recv() {
                Ok(chunk) => chunk,
                Err(TryRecvError::Disconnected) => break,
                Err(TryRecvError::Empty) => {
                    self.flush().await?;
                    let next = tokio::select! {
                        next = self.next_chunk_or_hang_up(&mut receiver) => next?,
                        _ = stopping(&mut deadline) => None,
                    };
                    match next {
                        Some(chunk) => chunk,
                        None => break,
                    }
                }
            };
            match chunk {
                StreamChunk::Data(data) if data.is_empty() => {}
                StreamChunk::Data(data) => {
                    let data = match encoder.as_mut() {
                        Some(encoder) => Bytes::from(encoder.chunk(&data)),
                        None => data,
                    };
                    // A zero-length chunk would end a chunked body.
                    if data.is_empty() {
                        continue;
                    }
                    if chunked {
                        write_chunk_start(&mut self.output, data.len());
                    }
                    self.output.extend_from_slice(&data);
                    if chunked {
                        self.output.extend_from_slice(b"\r\n");
                    }
                    if self.output.len() >= OUTPUT_HIGH_WATER {
                        self.flush().await?;
                    }
                }
                StreamChunk::Abort => {
                    // No last chunk: the client can tell the body is incomplete.
                    self.flush().await?;
                    return Err(io::Error::other("the application aborted the stream"));
                }
            }
        }
        if let Some(encoder) = encoder {
            let tail = encoder.finish();
            if !tail.is_empty() {
                if chunked {
                    write_chunk_start(&mut self.output, tail.len());
                }
                self.output.extend_from_slice(&tail);
                if chunked {
                    self.output.extend_from_slice(b"\r\n");
                }
            }
        }
        if chunked {
            self.output.extend_from_slice(LAST_CHUNK);
        }
        Ok(())
    }

    /// Waits for the application's next chunk while watching the socket: a
    /// client that closes (or resets) the connection meanwhile ends the
    /// stream at once, however long the application takes to produce more.
    /// Bytes that arrive instead (a pipelined request) stay in the input for
    /// after the stream, up to a bound; past it only the chunk is awaited.
    async fn next_chunk_or_hang_up(
        &mut self,
        receiver: &mut mpsc::Receiver<StreamChunk>,
    ) -> io::Result<Option<StreamChunk>> {
        loop {
            if self.input.len() >= WATCHED_INPUT_LIMIT {
                return Ok(receiver.recv().await);
            }
            self.input.reserve(1024);
            tokio::select! {
                chunk = receiver.recv() => return Ok(chunk),
                read = self.io.read_buf(&mut self.input) => match read {
                    Ok(0) => return Err(io::ErrorKind::ConnectionAborted.into()),
                    Ok(_) => {}
                    Err(error) => return Err(error),
                },
            }
        }
    }
}

/// Writes `data`, giving up when the client takes nothing for `timeout`: a
/// client that stops reading must not hold its connection (and a stream's
/// producer) forever. The timer is only armed when a write has to wait.
pub(super) async fn write_all<S: AsyncWrite + Unpin>(
    io: &mut S,
    mut data: &[u8],
    timeout: Duration,
) -> io::Result<()> {
    while !data.is_empty() {
        match tokio::time::timeout(timeout, io.write(data)).await {
            Ok(Ok(0)) => return Err(io::ErrorKind::WriteZero.into()),
            Ok(Ok(written)) => data = &data[written..],
            Ok(Err(error)) => return Err(error),
            Err(_) => {
                return Err(io::Error::new(
                    io::ErrorKind::TimedOut,
                    "the client stopped reading",
                ))
            }
        }
    }
    Ok(())
}
