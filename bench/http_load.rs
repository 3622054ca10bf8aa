//! A small native HTTP/1.1 load client for bench/run_overload.sh: it measures
//! the latency of every answer *by status*, which wrk cannot (a 503 answered
//! in 100 us and a 200 answered in 800 ms land in one histogram there).
//! One thread (pin it with taskset):
//!
//!   http_load HOST:PORT PATH CONNECTIONS SECONDS [PAUSE_AFTER_503_MS]
//!
//! Each connection sends a request, reads the whole answer, and sends the
//! next one at once (after `PAUSE_AFTER_503_MS`, default 0, following a 503):
//! a closed loop of CONNECTIONS concurrent requests. Latency is from the first
//! byte written to the last byte of the answer read. A connection the server
//! closes is reopened. Prints one JSON object: per status the count and
//! min/p50/p90/p99/max in milliseconds, and whether every 503 had `Retry-After`.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::sync::Mutex;

type Error = Box<dyn std::error::Error + Send + Sync>;

#[derive(Default)]
struct Results {
    /// Latencies in microseconds, per status.
    latencies: BTreeMap<u16, Vec<u64>>,
    errors: u64,
    shed_without_retry_after: u64,
}

struct Answer {
    status: u16,
    retry_after: bool,
    close: bool,
}

/// Reads one answer (Content-Length framing; the server under test uses it).
async fn read_answer(stream: &mut TcpStream, buffer: &mut Vec<u8>) -> Result<Answer, Error> {
    loop {
        if let Some(end) = buffer.windows(4).position(|window| window == b"\r\n\r\n") {
            let head = String::from_utf8_lossy(&buffer[..end]).to_ascii_lowercase();
            let mut lines = head.split("\r\n");
            let status = lines
                .next()
                .and_then(|line| line.split(' ').nth(1))
                .and_then(|code| code.parse().ok())
                .ok_or("bad status line")?;
            let (mut length, mut retry_after, mut close) = (0usize, false, false);
            for line in lines {
                if let Some((name, value)) = line.split_once(':') {
                    match name.trim() {
                        "content-length" => length = value.trim().parse()?,
                        "retry-after" => retry_after = true,
                        "connection" => close = value.trim() == "close",
                        _ => {}
                    }
                }
            }
            while buffer.len() < end + 4 + length {
                read_more(stream, buffer).await?;
            }
            buffer.drain(..end + 4 + length);
            return Ok(Answer {
                status,
                retry_after,
                close,
            });
        }
        read_more(stream, buffer).await?;
    }
}

async fn read_more(stream: &mut TcpStream, buffer: &mut Vec<u8>) -> Result<(), Error> {
    let mut chunk = [0u8; 8192];
    let read = stream.read(&mut chunk).await?;
    if read == 0 {
        return Err("connection closed".into());
    }
    buffer.extend_from_slice(&chunk[..read]);
    Ok(())
}

async fn client(
    address: SocketAddr,
    request: Arc<Vec<u8>>,
    until: Instant,
    pause: Duration,
    results: Arc<Mutex<Results>>,
) {
    let mut connection: Option<(TcpStream, Vec<u8>)> = None;
    while Instant::now() < until {
        if connection.is_none() {
            match TcpStream::connect(address).await {
                Ok(stream) => {
                    let _ = stream.set_nodelay(true);
                    connection = Some((stream, Vec::with_capacity(4096)));
                }
                Err(_) => {
                    results.lock().await.errors += 1;
                    tokio::time::sleep(Duration::from_millis(10)).await;
                    continue;
                }
            }
        }
        let Some((stream, buffer)) = connection.as_mut() else {
            continue;
        };
        let started = Instant::now();
        let answer = match stream.write_all(&request).await {
            Ok(()) => read_answer(stream, buffer).await,
            Err(error) => Err(error.into()),
        };
        let elapsed = started.elapsed().as_micros() as u64;
        match answer {
            Ok(answer) => {
                {
                    let mut results = results.lock().await;
                    results
                        .latencies
                        .entry(answer.status)
                        .or_default()
                        .push(elapsed);
                    if answer.status == 503 && !answer.retry_after {
                        results.shed_without_retry_after += 1;
                    }
                }
                if answer.close {
                    connection = None;
                }
                if answer.status == 503 && !pause.is_zero() {
                    tokio::time::sleep(pause).await;
                }
            }
            Err(_) => {
                results.lock().await.errors += 1;
                connection = None;
            }
        }
    }
}

fn percentile(sorted: &[u64], fraction: f64) -> f64 {
    let index = ((sorted.len() as f64 - 1.0) * fraction).round() as usize;
    sorted[index.min(sorted.len() - 1)] as f64 / 1000.0
}

fn main() -> Result<(), Error> {
    let args: Vec<String> = std::env::args().collect();
    if args.len() < 5 {
        return Err(
            "usage: http_load HOST:PORT PATH CONNECTIONS SECONDS [PAUSE_AFTER_503_MS]".into(),
        );
    }
    let address: SocketAddr = args[1].parse()?;
    let path = &args[2];
    let connections: usize = args[3].parse()?;
    let seconds: f64 = args[4].parse()?;
    let pause = Duration::from_millis(args.get(5).map_or(Ok(0), |text| text.parse())?);
    let request = Arc::new(format!("GET {path} HTTP/1.1\r\nHost: bench\r\n\r\n").into_bytes());
    let results = Arc::new(Mutex::new(Results::default()));
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    let started = Instant::now();
    runtime.block_on(async {
        let until = Instant::now() + Duration::from_secs_f64(seconds);
        let tasks: Vec<_> = (0..connections)
            .map(|_| {
                tokio::spawn(client(
                    address,
                    Arc::clone(&request),
                    until,
                    pause,
                    Arc::clone(&results),
                ))
            })
            .collect();
        for task in tasks {
            let _ = task.await;
        }
    });
    let elapsed = started.elapsed().as_secs_f64();
    let Results {
        mut latencies,
        errors,
        shed_without_retry_after,
    } = std::mem::take(&mut *runtime.block_on(results.lock()));
    let mut parts = Vec::new();
    for (status, latencies) in latencies.iter_mut() {
        latencies.sort_unstable();
        parts.push(format!(
            "\"{status}\":{{\"count\":{},\"min_ms\":{:.3},\"p50_ms\":{:.3},\"p90_ms\":{:.3},\"p99_ms\":{:.3},\"max_ms\":{:.3}}}",
            latencies.len(),
            percentile(latencies, 0.0),
            percentile(latencies, 0.5),
            percentile(latencies, 0.9),
            percentile(latencies, 0.99),
            percentile(latencies, 1.0),
        ));
    }
    println!(
        "{{\"connections\":{connections},\"seconds\":{elapsed:.3},\"pause_after_503_ms\":{},\"errors\":{errors},\"shed_without_retry_after\":{shed_without_retry_after},\"statuses\":{{{}}}}}",
        pause.as_millis(),
        parts.join(",")
    );
    Ok(())
}
