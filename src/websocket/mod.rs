//! WebSockets (RFC 6455) with permessage-deflate (RFC 7692), pure Rust.
//!
//! - [`handshake`]: checking the upgrade request, the accept key, the 101.
//! - [`frame`], [`mask`]: frame headers and (vectorised) unmasking.
//! - [`decoder`]: client bytes -> messages and control frames, each protocol
//!   violation mapped to its close code.
//! - [`deflate`]: permessage-deflate negotiation and per-connection codecs.
//! - [`doorbell`]: how other threads wake a connection's task.
//! - [`hub`]: what connections share: the batched hand-over of their events
//!   to the application, their outboxes, publish/subscribe.
//! - [`session`]: the task serving one connection after the 101.
//!
//! Nothing here imports PyO3 (tokio, yes): `cargo test` and the fuzz targets reach it.

pub mod decoder;
pub mod deflate;
pub mod doorbell;
pub mod frame;
pub mod handshake;
pub mod hub;
pub mod mask;
pub mod session;
