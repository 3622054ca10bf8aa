//! A small native WebSocket load client for bench/run_websocket.sh (Python
//! clients cannot saturate the server). One thread (pin it with taskset):
//!
//!   ws_load echo   HOST:PORT PATH CONNECTIONS SECONDS   round trips/s, small text messages
//!   ws_load fanout HOST:PORT PATH SUBSCRIBERS PUBLISH_PATH ROUNDS
//!                  ms until every subscriber got one published message
//!   ws_load idle   HOST:PORT PATH CONNECTIONS SECONDS   holds idle connections open
//!
//! Prints one JSON object. Frames are masked as clients must; the handshake
//! is checked only for its status line.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

type Error = Box<dyn std::error::Error + Send + Sync>;

const MESSAGE: &[u8] = b"hello, websocket echo benchmark!";

async fn open(address: SocketAddr, path: &str) -> Result<(TcpStream, Vec<u8>), Error> {
    let mut stream = TcpStream::connect(address).await?;
    stream.set_nodelay(true)?;
    let request = format!(
        "GET {path} HTTP/1.1\r\nHost: bench\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
         Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n"
    );
    stream.write_all(request.as_bytes()).await?;
    let mut buffer = Vec::with_capacity(4096);
    loop {
        let mut chunk = [0u8; 4096];
        let read = stream.read(&mut chunk).await?;
        if read == 0 {
            return Err("closed during the handshake".into());
        }
        buffer.extend_from_slice(&chunk[..read]);
        if let Some(end) = buffer.windows(4).position(|window| window == b"\r\n\r\n") {
            if !buffer.starts_with(b"HTTP/1.1 101") {
                return Err(format!(
                    "handshake refused: {}",
                    String::from_utf8_lossy(&buffer[..end])
                )
                .into());
            }
            buffer.drain(..end + 4);
            return Ok((stream, buffer));
        }
    }
}

fn masked_text(payload: &[u8]) -> Vec<u8> {
    let key = [0x11, 0x22, 0x33, 0x44];
    let mut frame = vec![0x81, 0x80 | payload.len() as u8];
    frame.extend_from_slice(&key);
    frame.extend(
        payload
            .iter()
            .enumerate()
            .map(|(index, byte)| byte ^ key[index % 4]),
    );
    frame
}

/// Reads one whole server frame (unmasked, short or 16-bit length) off `buffer`/`stream`.
async fn read_frame(stream: &mut TcpStream, buffer: &mut Vec<u8>) -> Result<Vec<u8>, Error> {
    loop {
        if buffer.len() >= 2 {
            let (header, length) = match buffer[1] & 0x7f {
                126 if buffer.len() >= 4 => {
                    (4, u16::from_be_bytes([buffer[2], buffer[3]]) as usize)
                }
                126 | 127 => (usize::MAX, 0),
                short => (2, short as usize),
            };
            if header != usize::MAX && buffer.len() >= header + length {
                let payload = buffer[header..header + length].to_vec();
                buffer.drain(..header + length);
                return Ok(payload);
            }
        }
        let mut chunk = [0u8; 8192];
        let read = stream.read(&mut chunk).await?;
        if read == 0 {
            return Err("connection closed".into());
        }
        buffer.extend_from_slice(&chunk[..read]);
    }
}

async fn echo(
    address: SocketAddr,
    path: String,
    connections: usize,
    seconds: f64,
) -> Result<(), Error> {
    let count = Arc::new(AtomicU64::new(0));
    let running = Arc::new(AtomicBool::new(true));
    let mut tasks = Vec::new();
    let frame = masked_text(MESSAGE);
    for _ in 0..connections {
        let (mut stream, mut buffer) = open(address, &path).await?;
        let (count, running, frame) = (Arc::clone(&count), Arc::clone(&running), frame.clone());
        tasks.push(tokio::spawn(async move {
            while running.load(Ordering::Relaxed) {
                if stream.write_all(&frame).await.is_err() {
                    return;
                }
                match read_frame(&mut stream, &mut buffer).await {
                    Ok(payload) if payload == MESSAGE => count.fetch_add(1, Ordering::Relaxed),
                    _ => return,
                };
            }
        }));
    }
    // Warm up, then measure.
    tokio::time::sleep(Duration::from_secs(1)).await;
    let start_count = count.load(Ordering::Relaxed);
    let started = Instant::now();
    tokio::time::sleep(Duration::from_secs_f64(seconds)).await;
    let done = count.load(Ordering::Relaxed) - start_count;
    let elapsed = started.elapsed().as_secs_f64();
    running.store(false, Ordering::Relaxed);
    println!(
        "{{\"mode\":\"echo\",\"connections\":{connections},\"round_trips\":{done},\"seconds\":{elapsed:.3},\"per_second\":{:.0}}}",
        done as f64 / elapsed
    );
    for task in tasks {
        task.abort();
    }
    Ok(())
}

async fn fanout(
    address: SocketAddr,
    path: String,
    subscribers: usize,
    publish: String,
    rounds: usize,
) -> Result<(), Error> {
    let mut sockets = Vec::with_capacity(subscribers);
    for _ in 0..subscribers {
        let (mut stream, mut buffer) = open(address, &path).await?;
        read_frame(&mut stream, &mut buffer).await?; // "joined": subscribed
        sockets.push((stream, buffer));
    }
    let mut timings = Vec::new();
    for round in 0..rounds {
        let body = format!("news {round}");
        let request = format!(
            "POST {publish} HTTP/1.1\r\nHost: bench\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
            body.len()
        );
        let started = Instant::now();
        let mut http = TcpStream::connect(address).await?;
        http.write_all(request.as_bytes()).await?;
        let mut readers = Vec::with_capacity(subscribers);
        for (mut stream, mut buffer) in sockets.drain(..) {
            let expected = body.clone().into_bytes();
            readers.push(tokio::spawn(async move {
                let payload = read_frame(&mut stream, &mut buffer).await?;
                if payload != expected {
                    return Err::<_, Error>("wrong message".into());
                }
                Ok((stream, buffer))
            }));
        }
        for reader in readers {
            sockets.push(reader.await??);
        }
        timings.push(started.elapsed().as_secs_f64() * 1000.0);
        let mut answer = Vec::new();
        let _ = http.read_to_end(&mut answer).await;
    }
    timings.sort_by(f64::total_cmp);
    println!(
        "{{\"mode\":\"fanout\",\"subscribers\":{subscribers},\"best_ms\":{:.2},\"median_ms\":{:.2}}}",
        timings[0],
        timings[timings.len() / 2]
    );
    Ok(())
}

async fn idle(
    address: SocketAddr,
    path: String,
    connections: usize,
    seconds: f64,
) -> Result<(), Error> {
    let mut sockets = Vec::with_capacity(connections);
    for _ in 0..connections {
        sockets.push(open(address, &path).await?);
    }
    println!("{{\"mode\":\"idle\",\"connections\":{connections},\"open\":true}}");
    tokio::time::sleep(Duration::from_secs_f64(seconds)).await;
    drop(sockets);
    Ok(())
}

fn main() -> Result<(), Error> {
    let args: Vec<String> = std::env::args().collect();
    let usage = "usage: ws_load echo|fanout|idle HOST:PORT PATH N (SECONDS | PUBLISH_PATH ROUNDS)";
    if args.len() < 6 {
        return Err(usage.into());
    }
    let address: SocketAddr = args[2].parse()?;
    let path = args[3].clone();
    let count: usize = args[4].parse()?;
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    runtime.block_on(async {
        match args[1].as_str() {
            "echo" => echo(address, path, count, args[5].parse()?).await,
            "idle" => idle(address, path, count, args[5].parse()?).await,
            "fanout" if args.len() >= 7 => {
                fanout(address, path, count, args[5].clone(), args[6].parse()?).await
            }
            _ => Err(usage.into()),
        }
    })
}
