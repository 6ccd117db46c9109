//! The two special functions PyOD's score conversions need (`predict_proba(method="unify")`
//! uses `erf`, `predict_confidence` a binomial CDF), from `statrs`, so the package needs
//! no scipy. (`puruspe`, already in the engine's tree, was tried first: its incomplete beta
//! switches to a quadrature for large shapes that was off by up to 1.9 against scipy at
//! n = 5,000.)

use numpy::{PyArray1, PyReadonlyArray1};
use pyo3::prelude::*;

/// The error function of every element.
#[pyfunction]
pub(crate) fn erf<'py>(
    py: Python<'py>,
    x: PyReadonlyArray1<'py, f64>,
) -> Bound<'py, PyArray1<f64>> {
    let out: Vec<f64> = x
        .as_array()
        .iter()
        .map(|&v| statrs::function::erf::erf(v))
        .collect();
    PyArray1::from_vec(py, out)
}

/// `P(X <= k)` for `X ~ Binomial(n, p)`, for every `p` (scipy's `binom.cdf(k, n, p)`):
/// the regularised incomplete beta `I_{1-p}(n - k, k + 1)`.
#[pyfunction]
pub(crate) fn binomial_cdf<'py>(
    py: Python<'py>,
    k: i64,
    n: u64,
    p: PyReadonlyArray1<'py, f64>,
) -> Bound<'py, PyArray1<f64>> {
    let cdf = |p: f64| -> f64 {
        if !(0.0..=1.0).contains(&p) {
            return f64::NAN;
        }
        if k < 0 {
            0.0
        } else if k as u64 >= n {
            1.0
        } else {
            // Shapes are positive and 1 - p is in [0, 1] here, as `beta_reg` requires.
            statrs::function::beta::beta_reg((n - k as u64) as f64, (k + 1) as f64, 1.0 - p)
        }
    };
    let out: Vec<f64> = p.as_array().iter().map(|&v| cdf(v)).collect();
    PyArray1::from_vec(py, out)
}
