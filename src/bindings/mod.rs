//! PyO3 bindings: thin wrappers that convert arguments, call plain Rust and map errors.

mod asgi;
mod helpers;
mod in_memory;
mod json;
mod middleware;
mod request;
mod response;
mod router;
mod server;
mod shutdown;
mod stream;
mod websocket;
mod wsgi;
mod wsgi_call;

use pyo3::prelude::*;

#[pymodule]
#[pyo3(name = "_hyperdjango_native")]
pub fn native_module(module: &Bound<'_, PyModule>) -> PyResult<()> {
    module.add_class::<request::Request>()?;
    module.add_class::<asgi::AsgiBridge>()?;
    module.add_class::<router::PyRouteTable>()?;
    module.add_class::<server::PyServer>()?;
    module.add_class::<stream::StreamSender>()?;
    module.add_class::<in_memory::InMemoryConnection>()?;
    module.add_class::<middleware::PyStage>()?;
    module.add_class::<middleware::PyStageState>()?;
    module.add_class::<middleware::PendingEncoder>()?;
    module.add_class::<response::CachedAnswer>()?;
    module.add_function(wrap_pyfunction!(middleware::static_file_path, module)?)?;
    module.add_function(wrap_pyfunction!(middleware::choose_encoding, module)?)?;
    module.add_class::<wsgi::WsgiServer>()?;
    module.add_class::<wsgi::WsgiExchange>()?;
    module.add_class::<wsgi::WsgiInput>()?;
    module.add_class::<wsgi_call::StartResponse>()?;
    module.add_function(wrap_pyfunction!(shutdown::_server_shutdown, module)?)?;
    module.add_class::<websocket::PyWebSocketHub>()?;
    module.add_class::<websocket::PyChannel>()?;
    module.add_function(wrap_pyfunction!(helpers::_install_helpers, module)?)?;
    module.add_function(wrap_pyfunction!(json::json_dumps, module)?)?;
    module.add_function(wrap_pyfunction!(response::response_from_result, module)?)?;
    module.add_function(wrap_pyfunction!(response::encode_uri, module)?)?;
    module.add("__version__", env!("CARGO_PKG_VERSION"))?;
    // `hyper-build` checks an installed wheel is optimised ("release").
    let profile = if cfg!(debug_assertions) {
        "debug"
    } else {
        "release"
    };
    module.add("BUILD_PROFILE", profile)?;
    Ok(())
}
