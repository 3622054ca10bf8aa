//! `RouteTable`: the native route table as Python sees it (registration,
//! resolution for tests and tools). Routing itself lives in `crate::routing`.

use std::sync::Arc;

use parking_lot::RwLock;
use pyo3::exceptions::{PyRuntimeError, PyValueError};
use pyo3::prelude::*;
use pyo3::types::{PyDict, PyList};

use crate::http::uri::same_site_location;
use crate::routing::{ParamKind, Pattern, Resolution, RouteTable};

/// Routes registered so far. Frozen (read-only) once a server has started.
#[pyclass(
    module = "hyperdjango._hyperdjango_native",
    name = "RouteTable",
    frozen
)]
pub struct PyRouteTable {
    table: RwLock<Arc<RouteTable>>,
}

impl PyRouteTable {
    /// A shared handle for the server; from now on `add` refuses new routes.
    pub fn share(&self) -> Arc<RouteTable> {
        Arc::clone(&self.table.read())
    }
}

#[pymethods]
impl PyRouteTable {
    #[new]
    fn new() -> Self {
        PyRouteTable {
            table: RwLock::new(Arc::new(RouteTable::new())),
        }
    }

    /// Registers `pattern` for every method in `methods`, all or none; raises
    /// `ValueError` for a malformed pattern, an unknown converter or a conflict
    /// with an earlier route.
    fn add(&self, methods: Vec<String>, pattern: &str, route_id: usize) -> PyResult<()> {
        let mut guard = self.table.write();
        let table = Arc::get_mut(&mut guard).ok_or_else(|| {
            PyRuntimeError::new_err(format!(
                "cannot add route {pattern:?}: routes are frozen once the server has started"
            ))
        })?;
        // Insert into a copy so a conflict on the second method leaves no half-added route.
        let mut candidate = table.clone();
        for method in &methods {
            candidate
                .insert(method, pattern, route_id)
                .map_err(|error| PyValueError::new_err(error.to_string()))?;
        }
        *table = candidate;
        Ok(())
    }

    /// Parses a pattern: the list of `(name, converter)` of its parameters.
    #[staticmethod]
    fn parse_pattern(pattern: &str) -> PyResult<Vec<(String, &'static str)>> {
        let parsed =
            Pattern::parse(pattern).map_err(|error| PyValueError::new_err(error.to_string()))?;
        Ok(parsed
            .params()
            .map(|(name, kind)| (name.to_owned(), kind.name()))
            .collect())
    }

    /// Whether `value` fits `converter` (`"int"`, `"slug"`, ...), as matching would judge it.
    #[staticmethod]
    fn converter_matches(converter: &str, value: &str) -> PyResult<bool> {
        let kind = ParamKind::from_name(converter)
            .ok_or_else(|| PyValueError::new_err(format!("unknown converter {converter:?}")))?;
        Ok(kind.matches(value))
    }

    /// Resolves like the server does. Returns one of
    /// `("found", route_id, {name: raw_value})`, `("method_not_allowed", allow)`,
    /// `("redirect", location)` or `("not_found",)`.
    fn resolve<'py>(
        &self,
        py: Python<'py>,
        method: &str,
        path: &str,
    ) -> PyResult<Bound<'py, PyAny>> {
        let table = self.table.read();
        let result = match table.resolve(method, path) {
            Resolution::Found { route_id, params } => {
                let values = PyDict::new(py);
                for (name, value, _) in params.iter() {
                    values.set_item(name, value.as_ref())?;
                }
                ("found", route_id, values).into_pyobject(py)?.into_any()
            }
            Resolution::MethodNotAllowed { allow } => {
                ("method_not_allowed", allow).into_pyobject(py)?.into_any()
            }
            Resolution::RedirectSlash { location } => {
                let location = same_site_location(&location, None);
                ("redirect", location).into_pyobject(py)?.into_any()
            }
            Resolution::NotFound => ("not_found",).into_pyobject(py)?.into_any(),
        };
        Ok(result)
    }

    /// Every `(method, pattern, route_id)`, in registration order.
    fn routes<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyList>> {
        let table = self.table.read();
        let rows: Vec<(String, String, usize)> = table
            .routes()
            .map(|(method, pattern, id)| (method.to_owned(), pattern.to_owned(), id))
            .collect();
        PyList::new(py, rows)
    }
}
