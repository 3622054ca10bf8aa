//! hyperdjango's native core.
//!
//! `http`, `routing` and `server` are plain Rust (no PyO3): `cargo test
//! --no-default-features` reaches them. `bindings` is the thin PyO3 layer that
//! makes the `hyperdjango._hyperdjango_native` extension module.

pub mod http;
pub mod routing;
pub mod server;

#[cfg(feature = "python")]
mod bindings;
