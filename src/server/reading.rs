//! Reading request bodies off a connection: Content-Length or chunked, with
//! the size limit (413), `100 Continue`, and large multipart uploads written
//! to a temporary file as they arrive instead of being held in memory.

use std::io::{self, Write};

use bytes::{Buf, Bytes, BytesMut};
use http::StatusCode;
use tokio::io::{AsyncRead, AsyncWrite};

use super::connection::Connection;
use super::native::too_large;
use super::request_body::SPOOL_BODY_OVER;
use super::{NativeResponse, RequestBody, SpooledBody};
use crate::http::chunked::ChunkedDecoder;
use crate::http::head::{BodyFraming, RequestHead};
use crate::http::response_head::CONTINUE;

/// Free space to read into while a body arrives.
const BODY_READ_RESERVE: usize = 64 * 1024;

/// Why a body was not read to its end.
pub(super) enum BodyError {
    /// Answer this and close (413, 400, 408, 507). Boxed: the error path is rare.
    Refuse(Box<NativeResponse>),
    /// The client is gone: nobody to answer.
    Gone(io::Error),
}

impl From<io::Error> for BodyError {
    fn from(error: io::Error) -> Self {
        if error.kind() == io::ErrorKind::TimedOut {
            BodyError::Refuse(Box::new(NativeResponse::detail(
                StatusCode::REQUEST_TIMEOUT,
                "Request body not received in time",
            )))
        } else {
            BodyError::Gone(error)
        }
    }
}

impl<S: AsyncRead + AsyncWrite + Unpin> Connection<S> {
    /// Reads the whole body of `head`. A refusal is to be answered, and the
    /// connection closed after it.
    pub(super) async fn read_body(&mut self, head: &RequestHead) -> Result<RequestBody, BodyError> {
        let limit = self.shared.config.max_body_size;
        let framing = head.framing();
        match framing {
            BodyFraming::Empty => return Ok(RequestBody::Memory(Bytes::new())),
            // Refused before a byte is read, and before any `100 Continue`.
            BodyFraming::Length(length) if length > limit => {
                return Err(BodyError::Refuse(Box::new(too_large(limit))))
            }
            _ => {}
        }
        if head.expects_continue() && self.input.is_empty() {
            // Written by the next read's flush, just before we wait for the body.
            self.output.extend_from_slice(CONTINUE);
        }
        let multipart = self.shared.config.spool_every_body || is_multipart(head);
        match framing {
            // The usual small body: already here. Copied out (as the head is),
            // so the read buffer stays the connection's own, to be reused.
            BodyFraming::Length(length) if self.input.len() as u64 >= length => {
                let body = Bytes::copy_from_slice(&self.input[..length as usize]);
                self.input.advance(length as usize);
                Ok(RequestBody::Memory(body))
            }
            // Waiting for more: boxed, so the state of a long read is only
            // allocated when one happens (see `Connection::run`).
            BodyFraming::Length(length) => Box::pin(self.read_sized(length, multipart)).await,
            _ => Box::pin(self.read_chunked(limit, multipart)).await,
        }
    }

    async fn read_sized(&mut self, length: u64, multipart: bool) -> Result<RequestBody, BodyError> {
        let mut sink = BodySink::new(multipart, Some(length))?;
        let mut remaining = length;
        loop {
            let taken = remaining.min(self.input.len() as u64) as usize;
            sink.push(&self.input[..taken])?;
            self.input.advance(taken);
            remaining -= taken as u64;
            if remaining == 0 {
                return sink.finish();
            }
            self.fill_or_gone().await?;
        }
    }

    async fn read_chunked(
        &mut self,
        limit: u64,
        multipart: bool,
    ) -> Result<RequestBody, BodyError> {
        let mut decoder = ChunkedDecoder::default();
        let mut sink = BodySink::new(multipart, None)?;
        loop {
            let progress = decoder.decode(&self.input).map_err(|error| {
                BodyError::Refuse(Box::new(NativeResponse::detail(
                    StatusCode::BAD_REQUEST,
                    error.0,
                )))
            })?;
            let data = &self.input[progress.data];
            if sink.received + data.len() as u64 > limit {
                return Err(BodyError::Refuse(Box::new(too_large(limit))));
            }
            sink.push(data)?;
            self.input.advance(progress.consumed);
            if progress.done {
                return sink.finish();
            }
            if self.input.is_empty() {
                self.fill_or_gone().await?;
            }
        }
    }

    async fn fill_or_gone(&mut self) -> Result<(), BodyError> {
        match self.fill(BODY_READ_RESERVE).await? {
            0 => Err(BodyError::Gone(io::ErrorKind::UnexpectedEof.into())),
            _ => Ok(()),
        }
    }

    /// Reads and drops a body the answer did not need, so the connection can
    /// serve the next request. False if the client stopped sending it.
    pub(super) async fn skip_body(&mut self, length: u64) -> io::Result<bool> {
        let mut remaining = length;
        loop {
            let taken = remaining.min(self.input.len() as u64) as usize;
            self.input.advance(taken);
            remaining -= taken as u64;
            if remaining == 0 {
                return Ok(true);
            }
            match self.fill(BODY_READ_RESERVE).await {
                Ok(0) | Err(_) => return Ok(false),
                Ok(_) => {}
            }
        }
    }
}

fn is_multipart(head: &RequestHead) -> bool {
    head.header_str("content-type").is_some_and(|value| {
        let value = value.trim_start().as_bytes();
        value.len() >= 19 && value[..19].eq_ignore_ascii_case(b"multipart/form-data")
    })
}

/// Where body bytes go: memory, or (multipart over [`SPOOL_BODY_OVER`]) a
/// temporary file, switched to as soon as the body outgrows memory.
struct BodySink {
    memory: BytesMut,
    spool: Option<(SpooledBody, std::fs::File)>,
    received: u64,
    may_spool: bool,
}

impl BodySink {
    fn new(may_spool: bool, declared: Option<u64>) -> Result<BodySink, BodyError> {
        let spool_now = may_spool && declared.is_some_and(|length| length > SPOOL_BODY_OVER);
        let spool = if spool_now {
            Some(SpooledBody::create().map_err(spool_failed)?)
        } else {
            None
        };
        // A declared length is a claim, not bytes received: reserve at most 1 MiB up front.
        let capacity = declared.unwrap_or(0).min(SPOOL_BODY_OVER) as usize;
        Ok(BodySink {
            memory: BytesMut::with_capacity(if spool_now { 0 } else { capacity }),
            spool,
            received: 0,
            may_spool,
        })
    }

    fn push(&mut self, data: &[u8]) -> Result<(), BodyError> {
        if data.is_empty() {
            return Ok(());
        }
        self.received += data.len() as u64;
        if let Some((_, file)) = self.spool.as_mut() {
            // A plain write to the page cache: microseconds, cheaper than a
            // hop to tokio's blocking pool for every read (measured 5x).
            return file.write_all(data).map_err(spool_failed);
        }
        self.memory.extend_from_slice(data);
        if self.may_spool && self.received > SPOOL_BODY_OVER {
            // A chunked upload just outgrew memory: move it to disk.
            let (spooled, mut file) = SpooledBody::create().map_err(spool_failed)?;
            file.write_all(&self.memory).map_err(spool_failed)?;
            self.memory = BytesMut::new();
            self.spool = Some((spooled, file));
        }
        Ok(())
    }

    fn finish(self) -> Result<RequestBody, BodyError> {
        match self.spool {
            Some((mut spooled, mut file)) => {
                file.flush().map_err(spool_failed)?;
                spooled.length = self.received;
                Ok(RequestBody::Spooled(spooled))
            }
            None => Ok(RequestBody::Memory(self.memory.freeze())),
        }
    }
}

fn spool_failed(_: io::Error) -> BodyError {
    BodyError::Refuse(Box::new(NativeResponse::detail(
        StatusCode::INSUFFICIENT_STORAGE,
        "Cannot store the request body",
    )))
}
