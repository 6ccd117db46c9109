//! `pynomaly._engine`: the detection engine (`pynomaly-detection`) for Python.
//!
//! Thin on purpose: PyOD's interface (parameter names, `contamination`, `predict_proba`,
//! scikit-learn's `get_params`) is written in Python (`pynomaly/`); this module fits,
//! scores, thresholds, explains and stores models with the same code as the CLI and the
//! service, on numpy arrays read in place (any strides), with the GIL released and the work
//! on a pool of `n_jobs` threads.
//!
//! | module | owns |
//! |---|---|
//! | `model` | `Model` (a fitted detector in the engine's versioned format) and `fit` |
//! | `series` | `detect_series`: one series through a time-series method |
//! | `special` | `erf` and `binomial_cdf` for PyOD's probability and confidence |
//! | `threads` | the `n_jobs` thread pools |

use pyo3::prelude::*;

mod model;
mod series;
mod special;
mod threads;

pyo3::create_exception!(
    _engine,
    EngineError,
    pyo3::exceptions::PyValueError,
    "The engine refused the input or a parameter; the message names which and why."
);
pyo3::create_exception!(
    _engine,
    ModelFormatError,
    EngineError,
    "A model file that is not a Pynomaly model, is corrupt, or was written by a newer version."
);

/// The engine's error as the Python exception of its kind.
pub(crate) fn engine_error(error: pynomaly_detection::DetectionError) -> PyErr {
    use pynomaly_detection::DetectionError as E;
    match error {
        E::ModelFormat(_) => ModelFormatError::new_err(error.to_string()),
        E::Internal { .. } => pyo3::exceptions::PyRuntimeError::new_err(error.to_string()),
        _ => EngineError::new_err(error.to_string()),
    }
}

/// The algorithms the engine knows: name, aliases, description and parameters (name,
/// default, meaning) of each.
#[pyfunction]
fn algorithms(py: Python<'_>) -> PyResult<Vec<Bound<'_, pyo3::types::PyDict>>> {
    use pyo3::types::PyDict;
    pynomaly_detection::ALGORITHMS
        .iter()
        .map(|info| {
            let d = PyDict::new(py);
            d.set_item("name", info.name)?;
            d.set_item("aliases", info.aliases.to_vec())?;
            d.set_item("description", info.description)?;
            d.set_item("parameters", info.parameters.to_vec())?;
            Ok(d)
        })
        .collect()
}

#[pymodule]
fn _engine(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add("EngineError", m.py().get_type::<EngineError>())?;
    m.add("ModelFormatError", m.py().get_type::<ModelFormatError>())?;
    m.add("DEFAULT_SEED", pynomaly_detection::DEFAULT_SEED)?;
    m.add(
        "SERIES_METHODS",
        pynomaly_detection::timeseries::METHODS.to_vec(),
    )?;
    m.add(
        "DEFAULT_SERIES_METHOD",
        pynomaly_detection::timeseries::DEFAULT_METHOD,
    )?;
    m.add("VERSION", env!("CARGO_PKG_VERSION"))?;
    m.add_class::<model::Model>()?;
    m.add_function(wrap_pyfunction!(model::fit, m)?)?;
    m.add_function(wrap_pyfunction!(series::detect_series, m)?)?;
    m.add_function(wrap_pyfunction!(algorithms, m)?)?;
    m.add_function(wrap_pyfunction!(special::erf, m)?)?;
    m.add_function(wrap_pyfunction!(special::binomial_cdf, m)?)?;
    Ok(())
}
