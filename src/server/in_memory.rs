//! A server without a listening socket: connections are in-memory pipes
//! served by the same connection loop as TCP ones (`TestClient`).
//!
//! The caller holds the client end of each pipe and drives it with plain
//! blocking calls from any non-runtime thread (the Python test's thread);
//! the server end runs on the server's runtime as an accepted TCP
//! connection would, sharing its limits, stats and shutdown signal.

use std::io;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use parking_lot::Mutex;
use tokio::io::{AsyncReadExt, AsyncWriteExt, DuplexStream, ReadHalf};
use tokio::runtime::Handle;
use tokio::sync::mpsc;

use super::{connection, runtime, Completions, Handoff, PendingRequest, Server, ServerConfig};
use crate::routing::RouteTable;

/// Bytes the pipe buffers in each direction before a writer waits for the
/// reader, like a socket's buffer.
const PIPE_CAPACITY: usize = 256 * 1024;

impl Server {
    /// Starts the runtime and the answer delivery, but listens nowhere:
    /// connections come from [`Server::connect_in_memory`].
    pub fn start_in_memory(
        config: ServerConfig,
        routes: Arc<RouteTable>,
        handoff: Arc<Handoff<PendingRequest>>,
        completions: Arc<Completions>,
    ) -> io::Result<Server> {
        let runtime = runtime(&config, &handoff)?;
        let shared = super::Shared::new(config, routes, handoff);
        runtime.spawn(async move { completions.deliver_forever().await });
        runtime.spawn(Arc::clone(&shared.lifecycle).enforce_deadline());
        Ok(Server {
            shared,
            local_addr: SocketAddr::from(([127, 0, 0, 1], 0)),
            runtime: Some(runtime),
            signals: None,
        })
    }

    /// Opens a connection from `peer`, served as an accepted TCP connection
    /// is. `None` once the server has begun shutting down.
    pub fn connect_in_memory(&self, peer: SocketAddr) -> Option<InMemoryClient> {
        let runtime = self.runtime.as_ref()?;
        if self.shared.lifecycle.draining() {
            return None;
        }
        let (client, server) = tokio::io::duplex(PIPE_CAPACITY);
        runtime.spawn(connection::serve_connection(
            server,
            peer,
            Arc::clone(&self.shared),
            self.shared.lifecycle.stop_receiver(),
        ));
        Some(InMemoryClient::new(client, runtime.handle().clone()))
    }
}

/// The client end of an in-memory connection.
///
/// Writes are queued to a task that writes them in order, so a caller never
/// blocks on a server that stopped reading (a 413 answered before the body);
/// reads block the calling thread until data, the end, or the timeout.
pub struct InMemoryClient {
    reader: Mutex<ReadHalf<DuplexStream>>,
    /// `None` once the write side is shut.
    writer: Mutex<Option<mpsc::UnboundedSender<Bytes>>>,
    runtime: Handle,
}

impl InMemoryClient {
    fn new(stream: DuplexStream, runtime: Handle) -> InMemoryClient {
        let (reader, mut write_half) = tokio::io::split(stream);
        let (writer, mut queue) = mpsc::unbounded_channel::<Bytes>();
        runtime.spawn(async move {
            while let Some(data) = queue.recv().await {
                // The server closed its end (after a refusal): what the
                // client still had to say is dropped, as a reset socket would.
                if write_half.write_all(&data).await.is_err() {
                    return;
                }
            }
            let _ = write_half.shutdown().await;
        });
        InMemoryClient {
            reader: Mutex::new(reader),
            writer: Mutex::new(Some(writer)),
            runtime,
        }
    }

    /// Queues `data` to be sent. False if the write side is already shut.
    pub fn send(&self, data: Bytes) -> bool {
        match self.writer.lock().as_ref() {
            Some(writer) => writer.send(data).is_ok(),
            None => false,
        }
    }

    /// Ends the client's side once everything queued is written (the
    /// server reads end-of-stream, as after `shutdown(SHUT_WR)`).
    pub fn shutdown_write(&self) {
        self.writer.lock().take();
    }

    /// Up to `max` bytes from the server, waiting at most `timeout`:
    /// `Ok(empty)` once the server closed its end, `TimedOut` when nothing
    /// came in time. Must not be called from a runtime thread.
    pub fn receive(&self, max: usize, timeout: Duration) -> io::Result<Bytes> {
        let mut reader = self.reader.lock();
        let mut buffer = vec![0; max.max(1)];
        let read = self
            .runtime
            .block_on(async { tokio::time::timeout(timeout, reader.read(&mut buffer)).await });
        match read {
            Ok(Ok(count)) => {
                buffer.truncate(count);
                Ok(Bytes::from(buffer))
            }
            Ok(Err(error)) => Err(error),
            Err(_) => Err(io::Error::new(
                io::ErrorKind::TimedOut,
                "no answer from the server in time",
            )),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::server::{NativeResponse, ResponseBody};
    use http::{HeaderMap, StatusCode};
    use std::sync::atomic::Ordering;

    fn read_all(client: &InMemoryClient) -> Vec<u8> {
        let mut all = Vec::new();
        loop {
            let chunk = client
                .receive(1024, Duration::from_secs(10))
                .expect("an answer");
            if chunk.is_empty() {
                return all;
            }
            all.extend_from_slice(&chunk);
        }
    }

    fn server() -> (Server, Arc<Handoff<PendingRequest>>) {
        let mut table = RouteTable::new();
        table.insert("POST", "/echo", 0).expect("valid route");
        let handoff = Arc::new(Handoff::new().expect("eventfd"));
        let mut config = ServerConfig::new("127.0.0.1", 0);
        config.max_body_size = 16;
        config.worker_threads = 1;
        let server = Server::start_in_memory(
            config,
            Arc::new(table),
            Arc::clone(&handoff),
            Arc::new(Completions::default()),
        )
        .expect("runtime");
        (server, handoff)
    }

    #[test]
    fn answers_natively_and_from_the_handoff_then_closes_on_end_of_input() {
        let (server, handoff) = server();
        let answering = std::thread::spawn(move || {
            let mut batch = Vec::new();
            while batch.is_empty() {
                std::thread::sleep(Duration::from_millis(5));
                handoff.take_batch(&mut batch);
            }
            for pending in batch.drain(..) {
                let _ = pending.reply.send(NativeResponse {
                    status: StatusCode::OK,
                    headers: HeaderMap::new(),
                    body: ResponseBody::full(b"answered".to_vec()),
                });
            }
        });
        let client = server
            .connect_in_memory(SocketAddr::from(([127, 0, 0, 1], 1)))
            .expect("serving");
        assert!(client.send(Bytes::from_static(
            b"GET /missing HTTP/1.1\r\nHost: x\r\n\r\nPOST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\n\r\nhi"
        )));
        client.shutdown_write();
        assert!(!client.send(Bytes::from_static(b"late")));
        let answer = String::from_utf8(read_all(&client)).expect("ascii");
        answering.join().expect("answering thread");
        assert!(answer.starts_with("HTTP/1.1 404 "), "{answer}");
        assert!(answer.ends_with("answered"), "{answer}");
    }

    #[test]
    fn replaced_routes_serve_the_next_requests() {
        let (server, _handoff) = server();
        let ask = |request: &'static [u8]| {
            let client = server
                .connect_in_memory(SocketAddr::from(([127, 0, 0, 1], 1)))
                .expect("serving");
            assert!(client.send(Bytes::from_static(request)));
            client.shutdown_write();
            String::from_utf8(read_all(&client)).expect("ascii")
        };
        assert!(ask(b"GET /new HTTP/1.1\r\nHost: x\r\n\r\n").starts_with("HTTP/1.1 404 "));
        let mut table = RouteTable::new();
        table.insert("POST", "/new", 1).expect("valid route");
        server.replace_routes(Arc::new(table));
        let answer = ask(b"GET /new HTTP/1.1\r\nHost: x\r\n\r\n");
        assert!(answer.starts_with("HTTP/1.1 405 "), "{answer}");
        let answer = ask(b"POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\n\r\n");
        assert!(answer.starts_with("HTTP/1.1 404 "), "{answer}");
    }

    #[test]
    fn a_connection_opened_before_the_stop_may_still_send_its_first_request() {
        let (server, _handoff) = server();
        let peer = SocketAddr::from(([127, 0, 0, 1], 1));
        let early = server.connect_in_memory(peer).expect("serving");
        let served = server.connect_in_memory(peer).expect("serving");
        assert!(served.send(Bytes::from_static(b"GET /a HTTP/1.1\r\nHost: x\r\n\r\n")));
        let first = served
            .receive(4096, Duration::from_secs(10))
            .expect("an answer");
        assert!(first.starts_with(b"HTTP/1.1 404 "));
        assert_eq!(server.stats().unstarted.load(Ordering::SeqCst), 1);
        server.begin_shutdown();
        // The idle connection that was served closes at once...
        assert!(read_all(&served).is_empty());
        // ...the one that never sent a request is still heard.
        std::thread::sleep(Duration::from_millis(100));
        assert!(early.send(Bytes::from_static(b"GET /b HTTP/1.1\r\nHost: x\r\n\r\n")));
        let answer = String::from_utf8(read_all(&early)).expect("ascii");
        assert!(answer.starts_with("HTTP/1.1 404 "), "{answer}");
        assert!(answer.contains("connection: close"), "{answer}");
        assert_eq!(server.stats().unstarted.load(Ordering::SeqCst), 0);
    }

    #[test]
    fn a_refused_body_does_not_block_the_writer() {
        let (server, _handoff) = server();
        let client = server
            .connect_in_memory(SocketAddr::from(([127, 0, 0, 1], 1)))
            .expect("serving");
        let mut request =
            b"POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 4000000\r\n\r\n".to_vec();
        request.resize(request.len() + 4_000_000, b'x');
        assert!(client.send(Bytes::from(request)));
        let answer = String::from_utf8(read_all(&client)).expect("ascii");
        assert!(answer.starts_with("HTTP/1.1 413 "), "{answer}");
        server.begin_shutdown();
        assert!(server
            .connect_in_memory(SocketAddr::from(([127, 0, 0, 1], 1)))
            .is_none());
    }
}
