//! A fitted detector for Python: the engine's `Model`, fitted and scored on numpy arrays.
//! Models are stored only in the engine's versioned JSON envelope — the same files the CLI
//! and the service read — and pickled through it.

use std::io::{BufReader, BufWriter, Read, Write};

use numpy::{PyArray1, PyReadonlyArray1, PyReadonlyArray2};
use pynomaly_detection::{AlgorithmParams, Model as EngineModel, ScoreOptions, Threshold};
use pyo3::exceptions::{PyOSError, PyValueError};
use pyo3::prelude::*;
use pyo3::types::{PyBytes, PyDict, PyTuple};
use rayon::prelude::*;

use crate::engine_error;
use crate::threads::on_threads;

/// The threshold rule named by the Python layer: `auto`, `contamination` or `score`.
fn threshold_rule(rule: &str, value: Option<f64>) -> PyResult<Threshold> {
    let needs_value =
        || value.ok_or_else(|| PyValueError::new_err(format!("the `{rule}` rule needs a value")));
    let threshold = match rule {
        "auto" => Threshold::Auto,
        "contamination" => Threshold::Contamination(needs_value()?),
        "score" => Threshold::Score(needs_value()?),
        other => {
            return Err(PyValueError::new_err(format!(
                "unknown threshold rule `{other}`; use auto, contamination or score"
            )));
        }
    };
    threshold.validate().map_err(engine_error)?;
    Ok(threshold)
}

/// A fitted detector.
#[pyclass(frozen, module = "pynomaly._engine")]
#[derive(Debug)]
pub(crate) struct Model {
    inner: EngineModel,
}

/// What `fit` returns: the model, the training scores, the threshold and the flags.
type Fit<'py> = (
    Model,
    Bound<'py, PyArray1<f64>>,
    f64,
    Bound<'py, PyArray1<bool>>,
);

/// Fits `algorithm` with `parameters` (a JSON object, or None for the defaults) on the
/// rows of `x`, and decides the training rows' flags with the threshold `rule`. Returns
/// the model, the training scores, the threshold and the flags — the engine's
/// unsupervised protocol, as `pynomaly detect`.
#[pyfunction]
#[pyo3(signature = (algorithm, parameters, x, *, seed, feature_names, rule, value = None, n_jobs = 1))]
#[allow(clippy::too_many_arguments)] // the keyword arguments of one Python call
pub(crate) fn fit<'py>(
    py: Python<'py>,
    algorithm: &str,
    parameters: Option<&str>,
    x: PyReadonlyArray2<'py, f64>,
    seed: u64,
    feature_names: Vec<String>,
    rule: &str,
    value: Option<f64>,
    n_jobs: usize,
) -> PyResult<Fit<'py>> {
    let parameters = parameters
        .map(serde_json::from_str::<serde_json::Value>)
        .transpose()
        .map_err(|e| PyValueError::new_err(format!("parameters are not JSON: {e}")))?;
    let params = AlgorithmParams::from_name(algorithm, parameters).map_err(engine_error)?;
    let threshold = threshold_rule(rule, value)?;
    let data = x.as_array();
    let options = ScoreOptions {
        threshold,
        explain_top: None,
    };
    let (model, detection) = py
        .detach(|| {
            on_threads(n_jobs, || {
                EngineModel::detect(&params, data, feature_names, seed, options)
            })
        })?
        .map_err(engine_error)?;
    Ok((
        Model { inner: model },
        PyArray1::from_vec(py, detection.scores),
        detection.threshold,
        PyArray1::from_vec(py, detection.anomalies),
    ))
}

fn read_model(bytes: &[u8]) -> PyResult<Model> {
    Ok(Model {
        inner: EngineModel::from_json(bytes).map_err(engine_error)?,
    })
}

#[pymethods]
impl Model {
    /// Raw scores of new rows (higher = more anomalous); never refits.
    #[pyo3(signature = (x, n_jobs = 1))]
    fn decision_function<'py>(
        &self,
        py: Python<'py>,
        x: PyReadonlyArray2<'py, f64>,
        n_jobs: usize,
    ) -> PyResult<Bound<'py, PyArray1<f64>>> {
        let data = x.as_array();
        let scores = py
            .detach(|| on_threads(n_jobs, || self.inner.score(data)))?
            .map_err(engine_error)?;
        Ok(PyArray1::from_vec(py, scores))
    }

    /// The score threshold a rule gives for this model, from its training scores.
    #[pyo3(signature = (rule, value = None))]
    fn threshold(&self, rule: &str, value: Option<f64>) -> PyResult<f64> {
        self.inner
            .threshold(threshold_rule(rule, value)?)
            .map_err(engine_error)
    }

    /// Grades of scores in [0, 1]: the share of training scores below each.
    fn grades<'py>(
        &self,
        py: Python<'py>,
        scores: PyReadonlyArray1<'py, f64>,
    ) -> Bound<'py, PyArray1<f64>> {
        let grades: Vec<f64> = scores
            .as_array()
            .iter()
            .map(|&s| self.inner.grade(s))
            .collect();
        PyArray1::from_vec(py, grades)
    }

    /// The `top` largest feature contributions of every row of `x`, as the API's
    /// explanations: `{"row", "detector", "top_features": [{"feature", "index", "value",
    /// "contribution", "share"}]}`.
    #[pyo3(signature = (x, top = 3, n_jobs = 1))]
    fn explain<'py>(
        &self,
        py: Python<'py>,
        x: PyReadonlyArray2<'py, f64>,
        top: usize,
        n_jobs: usize,
    ) -> PyResult<Vec<Bound<'py, PyDict>>> {
        let data = x.as_array();
        let explanations = py
            .detach(|| {
                on_threads(n_jobs, || {
                    // Scoring checks the shape and the values before any row is explained.
                    self.inner.score(data)?;
                    Ok((0..data.nrows())
                        .into_par_iter()
                        .map(|i| self.inner.explain_row(i, data.row(i), top))
                        .collect::<Vec<_>>())
                })
            })?
            .map_err(engine_error)?;
        explanations
            .into_iter()
            .map(|e| {
                let d = PyDict::new(py);
                d.set_item("row", e.row)?;
                d.set_item("detector", e.detector)?;
                let features = e
                    .top_features
                    .into_iter()
                    .map(|f| {
                        let fd = PyDict::new(py);
                        fd.set_item("feature", f.feature)?;
                        fd.set_item("index", f.index)?;
                        fd.set_item("value", f.value)?;
                        fd.set_item("contribution", f.contribution)?;
                        fd.set_item("share", f.share)?;
                        Ok(fd)
                    })
                    .collect::<PyResult<Vec<_>>>()?;
                d.set_item("top_features", features)?;
                Ok(d)
            })
            .collect()
    }

    /// The training scores' summary kept in the model: `count`, `mean`, `std`, `median`,
    /// `mad` and ascending `quantiles` (every training score up to 4,097 rows).
    fn training_scores<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyDict>> {
        let s = &self.inner.training.scores;
        let d = PyDict::new(py);
        d.set_item("count", s.count)?;
        d.set_item("mean", s.mean)?;
        d.set_item("std", s.std)?;
        d.set_item("median", s.median)?;
        d.set_item("mad", s.mad)?;
        d.set_item("quantiles", PyArray1::from_slice(py, &s.quantiles))?;
        Ok(d)
    }

    /// Canonical algorithm name.
    #[getter]
    fn algorithm(&self) -> &'static str {
        self.inner.algorithm()
    }

    /// The parameters it was fitted with, as JSON (`{"algorithm", "parameters"}`).
    #[getter]
    fn parameters(&self) -> PyResult<String> {
        serde_json::to_string(&self.inner.params)
            .map_err(|e| PyValueError::new_err(format!("parameters: {e}")))
    }

    /// Feature names, in column order.
    #[getter]
    fn feature_names(&self) -> Vec<String> {
        self.inner.feature_names.clone()
    }

    /// Number of features.
    #[getter]
    fn n_features(&self) -> usize {
        self.inner.training.features
    }

    /// Number of training rows.
    #[getter]
    fn n_training_rows(&self) -> usize {
        self.inner.training.rows
    }

    /// The seed it was fitted with.
    #[getter]
    fn seed(&self) -> u64 {
        self.inner.seed
    }

    /// The model in the engine's versioned format (JSON bytes).
    fn to_bytes<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyBytes>> {
        let bytes = py.detach(|| self.inner.to_json()).map_err(engine_error)?;
        Ok(PyBytes::new(py, &bytes))
    }

    /// A model from the engine's format; refuses anything else with `ModelFormatError`.
    #[staticmethod]
    fn from_bytes(py: Python<'_>, data: &[u8]) -> PyResult<Self> {
        py.detach(|| read_model(data))
    }

    /// Writes the model file (the format `pynomaly train --output` writes).
    fn save(&self, py: Python<'_>, path: std::path::PathBuf) -> PyResult<()> {
        let write = || -> std::io::Result<()> {
            let mut file = BufWriter::new(std::fs::File::create(&path)?);
            self.inner.write_json(&mut file)?;
            file.flush()
        };
        py.detach(write)
            .map_err(|e| PyOSError::new_err(format!("cannot write {}: {e}", path.display())))
    }

    /// Reads a model file written by `save`, the CLI or the service.
    #[staticmethod]
    fn load(py: Python<'_>, path: std::path::PathBuf) -> PyResult<Self> {
        py.detach(|| {
            let mut bytes = Vec::new();
            std::fs::File::open(&path)
                .map(BufReader::new)
                .and_then(|mut f| f.read_to_end(&mut bytes))
                .map_err(|e| PyOSError::new_err(format!("cannot read {}: {e}", path.display())))?;
            read_model(&bytes)
        })
    }

    /// Pickles through the engine's format: no Rust pointer is ever pickled.
    fn __reduce__<'py>(
        &self,
        py: Python<'py>,
    ) -> PyResult<(Bound<'py, PyAny>, Bound<'py, PyTuple>)> {
        let from_bytes = py.get_type::<Self>().getattr("from_bytes")?;
        Ok((from_bytes, PyTuple::new(py, [self.to_bytes(py)?])?))
    }

    fn __repr__(&self) -> String {
        format!(
            "Model(algorithm={:?}, features={}, training_rows={})",
            self.inner.algorithm(),
            self.inner.training.features,
            self.inner.training.rows
        )
    }
}
