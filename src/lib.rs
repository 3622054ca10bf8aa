//! hyperdjango's native core.
//!
//! `http`, `routing`, `server`, `websocket` and `wsgi` are plain Rust (no PyO3): `cargo test
//! --no-default-features` reaches them. `bindings` is the thin PyO3 layer that
//! makes the `hyperdjango._hyperdjango_native` extension module.

pub mod clock;
pub mod http;
pub mod middleware;
pub mod routing;
pub mod server;
pub mod websocket;
pub mod wsgi;

#[cfg(feature = "python")]
mod bindings;

#[cfg(test)]
mod test_random;

// The extension's own allocations (request heads, bodies, responses) are many
// and short-lived; mimalloc serves them faster than glibc's malloc. Python's
// objects keep using Python's allocator.
#[cfg(feature = "python")]
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;
