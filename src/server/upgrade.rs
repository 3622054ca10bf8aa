//! The WebSocket upgrade, on the connection's side: a request for a
//! WebSocket route is checked natively (400/403/426), handed to the
//! application for its accept decision, answered with 101, and the
//! connection becomes a WebSocket session (`crate::websocket::session`)
//! with the bytes already read (frames sent with the handshake included).
//!
//! Costs nothing when the application has no WebSocket routes: one `None`
//! check per request (with routes, plain requests pay a scan for `Upgrade`).

use std::io;
use std::sync::Arc;

use bytes::BytesMut;
use http::header::{HeaderName, HeaderValue, UPGRADE};
use http::{Method, StatusCode, Version};
use tokio::io::{AsyncRead, AsyncWrite};

use super::connection::Connection;
use super::NativeResponse;
use crate::http::head::RequestHead;
use crate::routing::Resolution;
use crate::websocket::handshake::{self, Refusal};
use crate::websocket::hub::{Decision, Hub};
use crate::websocket::session::{self, Upgraded};

const SEC_WEBSOCKET_VERSION: HeaderName = HeaderName::from_static("sec-websocket-version");

/// What became of a request that might have been an upgrade.
enum Upgrade {
    /// Not for a WebSocket route: serve it as HTTP.
    Http(RequestHead),
    /// Refused: answer this and close.
    Refused(NativeResponse),
    /// Upgraded and served until the WebSocket closed.
    Done,
}

impl<S: AsyncRead + AsyncWrite + Unpin> Connection<S> {
    /// Serves `head` if it is an upgrade to a WebSocket route (the whole
    /// WebSocket, or the refusal); `Some(head)` when it is plain HTTP.
    pub(super) async fn websocket_upgrade(
        &mut self,
        head: RequestHead,
    ) -> io::Result<Option<RequestHead>> {
        let secure = self.secure(&head);
        match self.upgrade(head).await? {
            Upgrade::Http(head) => Ok(Some(head)),
            Upgrade::Done => Ok(None),
            Upgrade::Refused(refusal) => {
                // Production's security headers too, as on every answer.
                self.write_answer(Version::HTTP_11, false, refusal, false, secure)
                    .await?;
                self.close_gracefully().await?;
                Ok(None)
            }
        }
    }

    async fn upgrade(&mut self, head: RequestHead) -> io::Result<Upgrade> {
        let Some(hub) = self.shared.config.websockets.clone() else {
            return Ok(Upgrade::Http(head));
        };
        let (route_id, params) = match hub.routes.resolve("GET", head.path()) {
            Resolution::Found { route_id, params } => (
                route_id,
                params
                    .iter()
                    .map(|(_, value, _)| value.into_owned())
                    .collect::<Vec<_>>(),
            ),
            _ => return Ok(Upgrade::Http(head)),
        };
        let Some(options) = hub.options.get(route_id) else {
            return Ok(Upgrade::Http(head));
        };
        let handshake = match handshake::check(&head, options.compression) {
            Ok(handshake) => handshake,
            Err(refusal) => return Ok(Upgrade::Refused(refused(refusal))),
        };
        if !handshake::origin_allowed(head.header("origin"), &options.origins) {
            return Ok(Upgrade::Refused(NativeResponse::detail(
                StatusCode::FORBIDDEN,
                "Origin not allowed",
            )));
        }
        if self.stopping() {
            return Ok(Upgrade::Refused(unavailable()));
        }
        let subprotocol =
            handshake::choose_subprotocol(&handshake.offered_protocols, &options.subprotocols)
                .map(str::to_owned);
        // The head lives as long as the WebSocket (`ws.request`): give it an
        // allocation of its own instead of the connection's read buffer.
        let mut head = head;
        head.compact();
        let (channel, decision) = hub.open(
            route_id,
            head,
            params,
            self.peer,
            subprotocol,
            handshake.offered_protocols,
        );
        self.flush().await?;
        let decision = tokio::select! {
            decision = decision => decision,
            () = self.until_stopping() => Ok(Decision::Reject(503)),
        };
        let protocol = match decision {
            Ok(Decision::Accept(protocol)) => protocol,
            Ok(Decision::Reject(status)) => {
                let status = StatusCode::from_u16(status).unwrap_or(StatusCode::FORBIDDEN);
                let reason = status.canonical_reason().unwrap_or("Refused");
                return Ok(Upgrade::Refused(NativeResponse::detail(status, reason)));
            }
            // The application is gone (shutting down).
            Err(_) => return Ok(Upgrade::Refused(unavailable())),
        };
        let mut output = Vec::with_capacity(256);
        handshake::write_accept(
            &mut output,
            &handshake.accept,
            protocol.as_deref(),
            handshake.deflate.as_ref(),
        );
        let upgraded = Upgraded {
            io: &mut self.io,
            // Usually empty; a fresh buffer lets the HTTP one go.
            input: BytesMut::from(&self.input[..]),
            output,
            deflate: handshake.deflate,
        };
        session::run(
            upgraded,
            channel,
            Arc::clone(&hub),
            route_id,
            self.stop.clone(),
        )
        .await;
        Ok(Upgrade::Done)
    }
}

/// Whether `head` asks for a WebSocket (a GET with `Upgrade: websocket`):
/// only those go through [`Connection::websocket_upgrade`].
pub(super) fn asks(head: &RequestHead) -> bool {
    head.method() == Method::GET && handshake::is_upgrade_request(head)
}

/// The answer to a plain request for a WebSocket-only route: 426 with the
/// headers that say how to upgrade (RFC 6455 §4.4, RFC 9110 §15.5.22).
pub(super) fn upgrade_required(hub: &Hub, path: &str) -> Option<NativeResponse> {
    match hub.routes.resolve("GET", path) {
        Resolution::Found { .. } => {
            let mut response = refused(Refusal {
                status: StatusCode::UPGRADE_REQUIRED,
                reason: "This URL serves WebSocket connections only",
            });
            response
                .headers
                .insert(UPGRADE, HeaderValue::from_static("websocket"));
            Some(response)
        }
        _ => None,
    }
}

fn refused(refusal: Refusal) -> NativeResponse {
    let mut response = NativeResponse::detail(refusal.status, refusal.reason);
    if refusal.status == StatusCode::UPGRADE_REQUIRED {
        response
            .headers
            .insert(SEC_WEBSOCKET_VERSION, HeaderValue::from_static("13"));
    }
    response
}

fn unavailable() -> NativeResponse {
    NativeResponse::detail(StatusCode::SERVICE_UNAVAILABLE, "Service Unavailable")
}
