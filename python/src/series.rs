//! One series through a time-series method (the engine's `SeriesMethod`, as
//! `pynomaly timeseries detect` runs it). Points are taken in the order given; the Python
//! layer sorts by timestamp first.

use numpy::{PyArray1, PyReadonlyArray1};
use pynomaly_detection::timeseries::{SeriesMethod, SeriesSettings};
use pyo3::exceptions::PyValueError;
use pyo3::prelude::*;
use pyo3::types::PyDict;

use crate::engine_error;

/// Runs `method` (with `parameters`, a JSON object or None) on `values`. Returns a dict of
/// arrays in input order (`expected`, `lower`, `upper`, `score`, `grade`, `anomaly`) and
/// the `changepoints` (`index`, `level_before`, `level_after`).
#[pyfunction]
#[pyo3(signature = (values, method, parameters = None, *, period = None, sensitivity = 1.0, cooldown = None))]
pub(crate) fn detect_series<'py>(
    py: Python<'py>,
    values: PyReadonlyArray1<'py, f64>,
    method: &str,
    parameters: Option<&str>,
    period: Option<usize>,
    sensitivity: f64,
    cooldown: Option<usize>,
) -> PyResult<Bound<'py, PyDict>> {
    let parameters = parameters
        .map(serde_json::from_str::<serde_json::Value>)
        .transpose()
        .map_err(|e| PyValueError::new_err(format!("parameters are not JSON: {e}")))?;
    let method = SeriesMethod::from_name(method, parameters).map_err(engine_error)?;
    let values: Vec<f64> = values.as_array().to_vec();
    if values.len() < method.min_points() {
        return Err(crate::EngineError::new_err(format!(
            "{} needs at least {} points, got {}",
            method.name(),
            method.min_points(),
            values.len()
        )));
    }
    let settings = SeriesSettings {
        period,
        sensitivity,
        cooldown,
    };
    let found = py
        .detach(|| method.detect(&values, settings))
        .map_err(engine_error)?;
    let out = PyDict::new(py);
    out.set_item("method", method.name())?;
    out.set_item("value", PyArray1::from_vec(py, values))?;
    out.set_item("expected", PyArray1::from_vec(py, found.expected))?;
    out.set_item("lower", PyArray1::from_vec(py, found.lower))?;
    out.set_item("upper", PyArray1::from_vec(py, found.upper))?;
    out.set_item("score", PyArray1::from_vec(py, found.scores))?;
    out.set_item("grade", PyArray1::from_vec(py, found.grades))?;
    out.set_item("anomaly", PyArray1::from_vec(py, found.anomalies))?;
    let changepoints = found
        .changepoints
        .into_iter()
        .map(|c| {
            let d = PyDict::new(py);
            d.set_item("index", c.index)?;
            d.set_item("level_before", c.level_before)?;
            d.set_item("level_after", c.level_after)?;
            Ok(d)
        })
        .collect::<PyResult<Vec<_>>>()?;
    out.set_item("changepoints", changepoints)?;
    Ok(out)
}
