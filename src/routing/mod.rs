//! Route patterns and the route table: typed path parameters, matched natively.
//!
//! Hand-written rather than `matchit`: the spec's converters (`int`, `slug`,
//! `uuid`, ...) must take part in matching with a precedence order and
//! backtracking (`/users/me`, `/users/{id:int}` and `/users/{name}` coexist),
//! which a plain radix router that only knows "a parameter" cannot express.
//!
//! Pure Rust: no PyO3, so `cargo test --no-default-features` reaches it.

mod pattern;
mod table;

pub use pattern::{ParamKind, Pattern, RouteError};
pub use table::{Params, Resolution, RouteTable};

#[cfg(test)]
mod tests;
