//! `WebSocketHub` and `WebSocketChannel`: the Python side of WebSockets.
//! The protocol lives in `crate::websocket`; this converts arguments and
//! hands events over as tuples for `hyperdjango.websocket` to dispatch.

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use parking_lot::Mutex;
use pyo3::exceptions::{PyOSError, PyTypeError, PyValueError};
use pyo3::prelude::*;
use pyo3::types::{PyByteArray, PyBytes, PyList, PyString, PyTuple};
use tokio::sync::oneshot;

use super::request::Request;
use super::router::PyRouteTable;
use super::server::{parse_kind, path_kwargs};
use crate::http::proxy::TrustedProxies;
use crate::routing::ParamKind;
use crate::server::{PendingRequest, RequestBody};
use crate::websocket::frame::is_valid_close_code;
use crate::websocket::hub::{Channel, Decision, Event, Hub, Outgoing, Queued, RouteOptions};

/// Event kinds in the tuples `drain()` returns.
const OPEN: u8 = 0;
const MESSAGE: u8 = 1;
const CLOSED: u8 = 2;
const WRITABLE: u8 = 3;

/// Per route, from Python: `(subprotocols, origins, max_message_size,
/// ping_interval, ping_timeout, compression, close_timeout, max_queue,
/// [(param_name, converter)])`.
type RouteSpec = (
    Vec<String>,
    Vec<String>,
    usize,
    Option<f64>,
    f64,
    bool,
    f64,
    usize,
    Vec<(String, String)>,
);

/// The WebSocket side of a server: routes, the event doorbell, publishing.
#[pyclass(
    module = "hyperdjango._hyperdjango_native",
    name = "WebSocketHub",
    frozen
)]
pub struct PyWebSocketHub {
    hub: Arc<Hub>,
    params: Vec<Vec<(Py<PyString>, ParamKind)>>,
    trusted_proxies: Arc<TrustedProxies>,
    batch: Mutex<Vec<Event>>,
}

impl PyWebSocketHub {
    pub fn shared(&self) -> Arc<Hub> {
        Arc::clone(&self.hub)
    }
}

fn seconds(name: &str, value: f64) -> PyResult<Duration> {
    Duration::try_from_secs_f64(value)
        .map_err(|_| PyValueError::new_err(format!("{name} must be a positive number of seconds")))
}

#[pymethods]
impl PyWebSocketHub {
    #[new]
    #[pyo3(signature = (routes, specs, *, trusted_proxies=None))]
    fn new(
        py: Python<'_>,
        routes: &PyRouteTable,
        specs: Vec<RouteSpec>,
        trusted_proxies: Option<Vec<String>>,
    ) -> PyResult<Self> {
        let trusted_proxies = match trusted_proxies {
            Some(specs) => TrustedProxies::parse(&specs).map_err(PyValueError::new_err)?,
            None => TrustedProxies::default(),
        };
        let mut options = Vec::with_capacity(specs.len());
        let mut params = Vec::with_capacity(specs.len());
        for spec in specs {
            let (subprotocols, origins, max_message, ping_interval, ping_timeout) =
                (spec.0, spec.1, spec.2, spec.3, spec.4);
            options.push(RouteOptions {
                subprotocols,
                origins,
                max_message,
                ping_interval: ping_interval
                    .map(|value| seconds("ping_interval", value))
                    .transpose()?,
                ping_timeout: seconds("ping_timeout", ping_timeout)?,
                compression: spec.5,
                close_timeout: seconds("close_timeout", spec.6)?,
                max_queue: spec.7,
            });
            params.push(
                spec.8
                    .iter()
                    .map(|(name, kind)| {
                        Ok((PyString::intern(py, name).unbind(), parse_kind(kind)?))
                    })
                    .collect::<PyResult<Vec<_>>>()?,
            );
        }
        let hub = Hub::new(routes.share(), options)
            .map_err(|error| PyOSError::new_err(error.to_string()))?;
        Ok(PyWebSocketHub {
            hub: Arc::new(hub),
            params,
            trusted_proxies: Arc::new(trusted_proxies),
            batch: Mutex::new(Vec::with_capacity(256)),
        })
    }

    /// The descriptor to watch (`loop.add_reader(hub.fileno(), ...)`).
    fn fileno(&self) -> i32 {
        self.hub.fileno()
    }

    /// Every waiting event, as tuples: `(0, channel, route_id, request, kwargs)`,
    /// `(1, id, str | bytes)`, `(2, id, code, reason)`, `(3, id)`.
    fn drain<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyList>> {
        let mut batch = std::mem::take(&mut *self.batch.lock());
        self.hub.take_batch(&mut batch);
        let events = PyList::empty(py);
        let mut result = Ok(());
        for event in batch.drain(..) {
            if result.is_ok() {
                result = self.convert(py, event).and_then(|item| events.append(item));
            }
        }
        *self.batch.lock() = batch;
        self.hub.finish_batch();
        result.map(|()| events)
    }

    /// Sends `message` (str: text, bytes: binary) to every subscriber of
    /// `topic`, encoded once. Returns how many connections it was queued for.
    fn publish(&self, topic: &str, message: &Bound<'_, PyAny>) -> PyResult<usize> {
        let (text, payload) = message_bytes(message)?;
        Ok(self.hub.publish(topic, text, &payload))
    }

    /// How many connections are subscribed to `topic`.
    fn subscribers(&self, topic: &str) -> usize {
        self.hub.subscriber_count(topic)
    }
}

impl PyWebSocketHub {
    fn convert<'py>(&self, py: Python<'py>, event: Event) -> PyResult<Bound<'py, PyTuple>> {
        match event {
            Event::Open(opening) => {
                let opening = *opening;
                let values = self
                    .params
                    .get(opening.route_id)
                    .map_or(&[][..], Vec::as_slice);
                let kwargs = path_kwargs(py, values, &opening.params)?;
                let (reply, _) = oneshot::channel();
                let pending = PendingRequest {
                    route_id: opening.route_id,
                    head: opening.head,
                    body: RequestBody::Memory(Bytes::new()),
                    params: opening.params,
                    peer: opening.peer,
                    reply,
                    router_answer: None,
                    queued_at: crate::clock::Tick::now(),
                };
                let request = Request::new(
                    pending,
                    kwargs.as_ref().map(|kwargs| kwargs.clone().unbind()),
                    Arc::clone(&self.trusted_proxies),
                );
                let channel = PyChannel {
                    channel: opening.channel,
                    hub: Arc::clone(&self.hub),
                };
                (OPEN, channel, opening.route_id, request, kwargs).into_pyobject(py)
            }
            Event::Text(id, text) => (MESSAGE, id, PyString::new(py, &text)).into_pyobject(py),
            Event::Binary(id, data) => (MESSAGE, id, PyBytes::new(py, &data)).into_pyobject(py),
            Event::Closed(id, code, reason) => (CLOSED, id, code, reason).into_pyobject(py),
            Event::Writable(id) => (WRITABLE, id).into_pyobject(py),
        }
    }
}

fn message_bytes(message: &Bound<'_, PyAny>) -> PyResult<(bool, Vec<u8>)> {
    if let Ok(text) = message.cast::<PyString>() {
        Ok((true, text.to_str()?.as_bytes().to_vec()))
    } else if let Ok(bytes) = message.cast::<PyBytes>() {
        Ok((false, bytes.as_bytes().to_vec()))
    } else if let Ok(array) = message.cast::<PyByteArray>() {
        Ok((false, array.to_vec()))
    } else {
        let type_name = message.get_type().name()?;
        Err(PyTypeError::new_err(format!(
            "WebSocket messages must be str or bytes, not {type_name}"
        )))
    }
}

/// One WebSocket connection (used by `hyperdjango.websocket.WebSocket`).
#[pyclass(
    module = "hyperdjango._hyperdjango_native",
    name = "WebSocketChannel",
    frozen
)]
pub struct PyChannel {
    channel: Arc<Channel>,
    hub: Arc<Hub>,
}

#[pymethods]
impl PyChannel {
    #[getter]
    fn id(&self) -> u64 {
        self.channel.id
    }

    /// The subprotocol the server would pick (its preference among the client's).
    #[getter]
    fn subprotocol(&self) -> Option<&str> {
        self.channel.subprotocol.as_deref()
    }

    /// The client's `Sec-WebSocket-Protocol` values, in its order.
    #[getter]
    fn offered_protocols(&self) -> Vec<String> {
        self.channel.offered_protocols.clone()
    }

    /// Completes the handshake (101) with `subprotocol`. False if already decided.
    #[pyo3(signature = (subprotocol=None))]
    fn accept(&self, subprotocol: Option<String>) -> bool {
        self.channel.decide(Decision::Accept(subprotocol))
    }

    /// Refuses the handshake with an HTTP `status`. False if already decided.
    fn reject(&self, status: u16) -> PyResult<bool> {
        if !(400..=599).contains(&status) {
            return Err(PyValueError::new_err(format!(
                "a refused handshake needs a 4xx or 5xx status, not {status}"
            )));
        }
        Ok(self.channel.decide(Decision::Reject(status)))
    }

    /// Queues a message: 0 queued, 1 full (wait for writable), 2 closed.
    fn send(&self, message: &Bound<'_, PyAny>) -> PyResult<u8> {
        let (text, payload) = message_bytes(message)?;
        Ok(
            match self.channel.send(Outgoing::Message { text, payload }) {
                Queued::Yes => 0,
                Queued::Full => 1,
                Queued::Closed => 2,
            },
        )
    }

    /// Queues the close frame. False if the connection is already closing.
    fn close(&self, code: u16, reason: &str) -> PyResult<bool> {
        if !is_valid_close_code(code) {
            return Err(PyValueError::new_err(format!(
                "invalid WebSocket close code {code}: use 1000-1003, 1007-1014 or 3000-4999"
            )));
        }
        if reason.len() > 123 {
            return Err(PyValueError::new_err(
                "a close reason must fit in 123 bytes of UTF-8",
            ));
        }
        Ok(self.channel.send(Outgoing::Close(code, reason.to_owned())) == Queued::Yes)
    }

    /// The handler took the oldest delivered message (lets reading resume).
    fn consumed(&self) {
        self.channel.consumed();
    }

    fn subscribe(&self, topic: &str) {
        self.hub.subscribe(&self.channel, topic);
    }

    fn unsubscribe(&self, topic: &str) {
        self.hub.unsubscribe(&self.channel, topic);
    }
}
