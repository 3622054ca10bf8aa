//! The built-in middleware's native part, pure Rust (no PyO3).
//!
//! Each built-in is a [`Stage`] with a "before" (may answer alone: a CORS
//! preflight, a 429) and an "after" (headers, compression). The server runs
//! the application's leading built-ins as one [`NativeChain`] around the
//! hand-over to Python, in registration order, exactly as the Python chain
//! would run them; a built-in registered after a custom middleware runs the
//! same [`Stage`] from Python (`hyperdjango.middleware`), so both positions
//! share one implementation.

pub mod compression;
pub mod cors;
pub mod ratelimit;
pub mod security;

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Instant;

use http::header::{HeaderName, RETRY_AFTER, VARY};
use http::{HeaderMap, HeaderValue, StatusCode};
use smallvec::SmallVec;

use crate::http::head::RequestHead;
use crate::http::proxy::TrustedProxies;
use crate::server::{NativeResponse, ResponseBody};
use compression::{CompressionPolicy, Encoding, StreamEncoder};
use cors::{CorsPolicy, CorsRequest};
use ratelimit::{MemoryLimiter, Verdict};
use security::SecurityPolicy;

const X_RESPONSE_TIME: HeaderName = HeaderName::from_static("x-response-time");
const RATELIMIT_LIMIT: HeaderName = HeaderName::from_static("ratelimit-limit");
const RATELIMIT_REMAINING: HeaderName = HeaderName::from_static("ratelimit-remaining");
const RATELIMIT_RESET: HeaderName = HeaderName::from_static("ratelimit-reset");

/// One built-in middleware.
pub enum Stage {
    Cors(CorsPolicy),
    Security(SecurityPolicy),
    Timing,
    /// Keyed by the client address (`request.client_ip`).
    RateLimit(Arc<MemoryLimiter>),
    Compression(CompressionPolicy),
}

/// What a stage's "before" learned that its "after" needs.
pub enum StageState {
    Nothing,
    Cors(CorsRequest),
    Secure(bool),
    Started(Instant),
    Verdict(Verdict),
    Encoding(Option<Encoding>),
}

impl Stage {
    /// Runs the request side. `Some(answer)` ends the chain here (the inner
    /// stages and the application do not run; this stage's "after" neither).
    pub fn before(
        &self,
        head: &RequestHead,
        peer: SocketAddr,
        proxies: &TrustedProxies,
    ) -> (StageState, Option<NativeResponse>) {
        match self {
            Stage::Cors(policy) => {
                let (request, answer) = policy.before(head);
                (StageState::Cors(request), answer)
            }
            Stage::Security(_) => {
                let proto = head
                    .header_values("x-forwarded-proto")
                    .filter_map(|value| std::str::from_utf8(value).ok());
                (
                    StageState::Secure(proxies.is_secure(peer.ip(), proto)),
                    None,
                )
            }
            Stage::Timing => (StageState::Started(Instant::now()), None),
            Stage::RateLimit(limiter) => {
                let forwarded = head
                    .header_values("x-forwarded-for")
                    .filter_map(|value| std::str::from_utf8(value).ok());
                let verdict = match proxies.client_ip(peer.ip(), forwarded) {
                    std::net::IpAddr::V4(address) => limiter.hit(&address.octets()),
                    std::net::IpAddr::V6(address) => limiter.hit(&address.octets()),
                };
                let answer = (!verdict.allowed).then(|| too_many_requests(&verdict));
                (StageState::Verdict(verdict), answer)
            }
            Stage::Compression(policy) => {
                let encoding = head
                    .header("accept-encoding")
                    .and_then(|value| compression::choose(value, policy.brotli));
                (StageState::Encoding(encoding), None)
            }
        }
    }

    /// Runs the response side on the application's (or an inner stage's) answer.
    pub fn after(&self, state: &StageState, response: &mut NativeResponse) {
        match (self, state) {
            (Stage::Cors(policy), StageState::Cors(request)) => {
                policy.after(request, &mut response.headers)
            }
            (Stage::Security(policy), StageState::Secure(secure)) => {
                policy.apply(&mut response.headers, *secure)
            }
            (Stage::Timing, StageState::Started(started)) => {
                // `12.345ms`, with integer formatting (cheaper than a float's).
                let micros = started.elapsed().as_micros();
                let mut text = itoa::Buffer::new().format(micros / 1000).to_owned();
                text.push('.');
                let fraction = micros % 1000;
                text.push_str(&format!("{fraction:03}ms"));
                if let Ok(value) = HeaderValue::from_str(&text) {
                    response.headers.insert(X_RESPONSE_TIME, value);
                }
            }
            (Stage::RateLimit(_), StageState::Verdict(verdict)) => {
                rate_headers(&mut response.headers, verdict)
            }
            (Stage::Compression(policy), StageState::Encoding(Some(encoding))) => {
                compress_response(policy, *encoding, response)
            }
            _ => {}
        }
    }
}

fn rate_headers(headers: &mut HeaderMap, verdict: &Verdict) {
    headers.insert(RATELIMIT_LIMIT, HeaderValue::from(verdict.limit));
    headers.insert(RATELIMIT_REMAINING, HeaderValue::from(verdict.remaining));
    headers.insert(RATELIMIT_RESET, HeaderValue::from(verdict.reset));
}

/// 429 with `Retry-After` and the IETF `RateLimit-*` headers.
pub fn too_many_requests(verdict: &Verdict) -> NativeResponse {
    let mut answer = NativeResponse::detail(StatusCode::TOO_MANY_REQUESTS, "Too Many Requests");
    answer
        .headers
        .insert(RETRY_AFTER, HeaderValue::from(verdict.reset));
    rate_headers(&mut answer.headers, verdict);
    answer
}

fn compress_response(
    policy: &CompressionPolicy,
    encoding: Encoding,
    response: &mut NativeResponse,
) {
    let length = match &response.body {
        ResponseBody::Full(bytes) => Some(bytes.as_ref().map_or(0, |b| b.len() as u64)),
        ResponseBody::Stream(_) => None,
        // Files are sent from disk as they are (precompressed siblings: StaticFilesMiddleware).
        _ => return,
    };
    if !policy.applies(response.status, &response.headers, length) {
        return;
    }
    let body = std::mem::replace(&mut response.body, ResponseBody::empty());
    response.body = match body {
        ResponseBody::Full(Some(bytes)) => ResponseBody::full(policy.compress(encoding, &bytes)),
        ResponseBody::Stream(receiver) => ResponseBody::EncodedStream {
            receiver,
            encoder: Box::new(StreamEncoder::new(encoding, policy)),
        },
        other => other,
    };
    policy.mark(&mut response.headers, encoding);
}

/// Appends `token` to `Vary` unless it is already listed.
pub fn add_vary(headers: &mut HeaderMap, token: &str) {
    let listed = headers.get_all(VARY).iter().any(|value| {
        value
            .to_str()
            .unwrap_or("")
            .split(',')
            .any(|item| item.trim().eq_ignore_ascii_case(token) || item.trim() == "*")
    });
    if !listed {
        if let Ok(value) = HeaderValue::from_str(token) {
            headers.append(VARY, value);
        }
    }
}

/// The application's leading built-ins, run around the hand-over to Python.
pub struct NativeChain {
    stages: Vec<Arc<Stage>>,
    proxies: Arc<TrustedProxies>,
}

impl std::fmt::Debug for NativeChain {
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        formatter
            .debug_struct("NativeChain")
            .field("stages", &self.stages.len())
            .finish()
    }
}

/// One request's pass through a [`NativeChain`].
pub struct Run {
    /// State of the stages entered; only their "after" runs.
    states: SmallVec<[StageState; 6]>,
}

impl NativeChain {
    pub fn new(stages: Vec<Arc<Stage>>, proxies: Arc<TrustedProxies>) -> NativeChain {
        NativeChain { stages, proxies }
    }

    pub fn before(&self, head: &RequestHead, peer: SocketAddr) -> (Run, Option<NativeResponse>) {
        let mut states = SmallVec::new();
        for stage in &self.stages {
            let (state, answer) = stage.before(head, peer, &self.proxies);
            if answer.is_some() {
                return (Run { states }, answer);
            }
            states.push(state);
        }
        (Run { states }, None)
    }

    /// The "after" of every stage entered, innermost first.
    pub fn after(&self, run: &Run, response: &mut NativeResponse) {
        // Room for what the stages add, so the map is not regrown (rehashed) on the way.
        response.headers.reserve(16);
        for (stage, state) in self.stages.iter().zip(&run.states).rev() {
            stage.after(state, response);
        }
    }
}
