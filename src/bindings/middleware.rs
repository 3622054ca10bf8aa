//! `MiddlewareStage`: a built-in middleware's native part (`crate::middleware`)
//! as Python sees it. The server runs the leading built-ins itself; a
//! built-in placed after a custom middleware calls `before`/`after` from its
//! Python `__call__`, so both positions run the same code.

use std::sync::Arc;

use parking_lot::Mutex;
use pyo3::exceptions::PyValueError;
use pyo3::prelude::*;
use pyo3::types::{PyBytes, PyList, PyTuple};

use super::request::Request;
use super::response::{response_object, status_and_headers};
use crate::middleware::compression::{CompressionPolicy, StreamEncoder};
use crate::middleware::cors::{CorsOptions, CorsPolicy};
use crate::middleware::ratelimit::{MemoryLimiter, Rate};
use crate::middleware::security::{SecurityOptions, SecurityPolicy};
use crate::middleware::{Stage, StageState};
use crate::server::{NativeResponse, ResponseBody};

/// One built-in middleware's native part.
#[pyclass(
    module = "hyperdjango._hyperdjango_native",
    name = "MiddlewareStage",
    frozen
)]
pub struct PyStage {
    pub stage: Arc<Stage>,
}

/// What `before` learned, for `after`.
#[pyclass(
    module = "hyperdjango._hyperdjango_native",
    name = "StageState",
    frozen
)]
pub struct PyStageState {
    state: Mutex<Option<StageState>>,
}

/// A compressor waiting for its stream to start (set on a `StreamResponse`).
#[pyclass(
    module = "hyperdjango._hyperdjango_native",
    name = "PendingEncoder",
    frozen
)]
pub struct PendingEncoder {
    encoder: Mutex<Option<Box<StreamEncoder>>>,
}

impl PendingEncoder {
    pub fn take(&self) -> Option<Box<StreamEncoder>> {
        self.encoder.lock().take()
    }
}

#[pymethods]
impl PendingEncoder {
    /// Compresses and flushes one chunk (for servers that stream from Python: ASGI).
    fn compress<'py>(&self, py: Python<'py>, chunk: &[u8]) -> Bound<'py, PyBytes> {
        let out = match self.encoder.lock().as_mut() {
            Some(encoder) => encoder.chunk(chunk),
            None => Vec::new(),
        };
        PyBytes::new(py, &out)
    }

    /// Ends the compressed stream: its last bytes.
    fn finish<'py>(&self, py: Python<'py>) -> Bound<'py, PyBytes> {
        let out = self
            .take()
            .map(|encoder| encoder.finish())
            .unwrap_or_default();
        PyBytes::new(py, &out)
    }
}

fn stage(stage: Stage) -> PyStage {
    PyStage {
        stage: Arc::new(stage),
    }
}

#[pymethods]
impl PyStage {
    #[staticmethod]
    fn cors(
        origins: Vec<String>,
        methods: Vec<String>,
        headers: Vec<String>,
        max_age: Option<u64>,
        allow_credentials: bool,
        expose_headers: Vec<String>,
    ) -> PyResult<PyStage> {
        let options = CorsOptions {
            origins,
            methods,
            headers,
            max_age,
            allow_credentials,
            expose_headers,
        };
        let policy = CorsPolicy::new(&options).map_err(PyValueError::new_err)?;
        Ok(stage(Stage::Cors(policy)))
    }

    #[staticmethod]
    #[allow(clippy::too_many_arguments)]
    fn security(
        hsts: bool,
        hsts_max_age: u64,
        hsts_include_subdomains: bool,
        hsts_preload: bool,
        frame_deny: bool,
        content_type_nosniff: bool,
        referrer_policy: Option<String>,
        csp: Option<String>,
    ) -> PyResult<PyStage> {
        let options = SecurityOptions {
            hsts,
            hsts_max_age,
            hsts_include_subdomains,
            hsts_preload,
            frame_deny,
            content_type_nosniff,
            referrer_policy,
            content_security_policy: csp,
        };
        let policy = SecurityPolicy::new(&options).map_err(PyValueError::new_err)?;
        Ok(stage(Stage::Security(policy)))
    }

    #[staticmethod]
    fn timing() -> PyStage {
        stage(Stage::Timing)
    }

    #[staticmethod]
    fn rate_limit(rate: &str) -> PyResult<PyStage> {
        let rate = Rate::parse(rate).map_err(PyValueError::new_err)?;
        Ok(stage(Stage::RateLimit(Arc::new(MemoryLimiter::new(rate)))))
    }

    /// `(limit, window_seconds)` of a rate string; `ValueError` when malformed.
    #[staticmethod]
    fn parse_rate(rate: &str) -> PyResult<(u32, u64)> {
        let rate = Rate::parse(rate).map_err(PyValueError::new_err)?;
        Ok((rate.limit, rate.window_seconds))
    }

    /// Counts a hit for `key` on a `rate_limit` stage:
    /// `(allowed, limit, remaining, reset_seconds)`.
    fn hit(&self, key: &str) -> PyResult<(bool, u32, u32, u64)> {
        match &*self.stage {
            Stage::RateLimit(limiter) => {
                let verdict = limiter.hit(key.as_bytes());
                Ok((
                    verdict.allowed,
                    verdict.limit,
                    verdict.remaining,
                    verdict.reset,
                ))
            }
            _ => Err(PyValueError::new_err("hit() is for rate_limit stages")),
        }
    }

    #[staticmethod]
    fn compression(min_size: usize, level: u32, brotli: bool) -> PyResult<PyStage> {
        if !(1..=9).contains(&level) {
            return Err(PyValueError::new_err(format!(
                "compression level must be 1 to 9, not {level}"
            )));
        }
        Ok(stage(Stage::Compression(CompressionPolicy {
            min_size,
            level,
            brotli_quality: 4,
            brotli,
        })))
    }

    /// `(state, answer)`: `answer` is a `Response` that ends the chain here
    /// (a preflight, a 429), or None.
    fn before<'py>(
        &self,
        request: &Bound<'py, Request>,
    ) -> PyResult<(PyStageState, Option<Bound<'py, PyAny>>)> {
        let py = request.py();
        let native = request.get();
        let (state, answer) =
            self.stage
                .before(native.head(), native.peer(), native.trusted_proxies());
        let answer = answer
            .map(|answer| response_object(py, answer))
            .transpose()?;
        let state = PyStageState {
            state: Mutex::new(Some(state)),
        };
        Ok((state, answer))
    }

    /// Applies the response side to `response` (a `Response`), in place.
    fn after(&self, state: &PyStageState, response: &Bound<'_, PyAny>) -> PyResult<()> {
        let Some(state) = state.state.lock().take() else {
            return Ok(());
        };
        let py = response.py();
        let compressing = matches!(*self.stage, Stage::Compression(_));
        let is_file = response.hasattr(pyo3::intern!(py, "file_path"))?;
        if compressing && is_file {
            return Ok(()); // files go out from disk as they are
        }
        let is_stream = response.hasattr(pyo3::intern!(py, "stream_source"))?;
        let (status, headers) = status_and_headers(response)?;
        let body = if is_stream {
            // Stands in for the stream, which starts later (see `_encoder`).
            ResponseBody::Stream(tokio::sync::mpsc::channel(1).1)
        } else if compressing {
            let body: Vec<u8> = response.getattr(pyo3::intern!(py, "body"))?.extract()?;
            ResponseBody::full(body)
        } else {
            ResponseBody::empty()
        };
        let mut native = NativeResponse {
            status,
            headers,
            body,
        };
        self.stage.after(&state, &mut native);
        let pairs = PyList::empty(py);
        for (name, value) in &native.headers {
            let value: String = value.as_bytes().iter().map(|&byte| byte as char).collect();
            pairs.append(PyTuple::new(py, [name.as_str(), value.as_str()])?)?;
        }
        response
            .getattr(pyo3::intern!(py, "headers"))?
            .setattr(pyo3::intern!(py, "_pairs"), pairs)?;
        if compressing {
            match native.body {
                ResponseBody::Full(bytes) if !is_stream => {
                    let bytes = bytes.unwrap_or_default();
                    response.setattr(pyo3::intern!(py, "body"), PyBytes::new(py, &bytes))?;
                }
                ResponseBody::EncodedStream { encoder, .. } => {
                    let pending = PendingEncoder {
                        encoder: Mutex::new(Some(encoder)),
                    };
                    response.setattr(pyo3::intern!(py, "_encoder"), pending)?;
                }
                _ => {}
            }
        }
        Ok(())
    }
}

/// The file under `root` (canonical) that the percent-encoded `relative` path
/// names, or None when it must not be served (see `server::files`).
#[pyfunction]
pub fn static_file_path(root: std::path::PathBuf, relative: &str) -> Option<std::path::PathBuf> {
    crate::server::files::static_file_path(&root, relative)
}

/// The encoding `Accept-Encoding` prefers among gzip and (if `brotli`) br,
/// with q-values (`q=0` refuses); None for identity.
#[pyfunction]
#[pyo3(signature = (accept_encoding, brotli=true))]
pub fn choose_encoding(accept_encoding: &str, brotli: bool) -> Option<&'static str> {
    crate::middleware::compression::choose(accept_encoding.as_bytes(), brotli)
        .map(|encoding| encoding.token())
}
