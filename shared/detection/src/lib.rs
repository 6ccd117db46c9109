//! # pynomaly-detection
//!
//! The detection algorithms behind Pynomaly: pure, synchronous, no I/O. Data comes in as
//! an `ndarray::Array2<f64>` (rows × features); every detector returns one score per row,
//! higher = more anomalous.
//!
//! ```
//! use ndarray::array;
//! use pynomaly_detection::{AlgorithmParams, Model, ScoreOptions, Threshold};
//!
//! let data = array![[1.0, 2.0], [1.1, 2.1], [0.9, 1.9], [1.0, 2.05], [8.0, -3.0]];
//! let params = AlgorithmParams::from_name("ecod", None)?;
//! let options = ScoreOptions { threshold: Threshold::Contamination(0.2), explain_top: Some(1) };
//! let (model, detection) = Model::detect(&params, data.view(), vec![], 42, options)?;
//! assert!(detection.anomalies[4]);
//! assert_eq!(detection.explanations[0].row, 4);
//! // The fitted model scores new rows without refitting on them.
//! let new_scores = model.score(array![[1.0, 2.0], [9.0, 9.0]].view())?;
//! assert!(new_scores[1] > new_scores[0]);
//! # Ok::<(), pynomaly_detection::DetectionError>(())
//! ```
//!
//! Parallel work uses rayon's current thread pool: run inside
//! `rayon::ThreadPoolBuilder::new().num_threads(1).build()?.install(..)` for one thread.
//! Results do not depend on the number of threads.

pub mod algorithms;
pub mod auto;
mod catalogue;
pub mod cost;
pub mod detectors;
pub mod drift;
pub mod ensemble;
mod error;
pub mod metrics;
pub mod model;
mod neighbors;
pub mod registry;
mod stats;
pub mod timeseries;

pub use algorithms::{Detector, Fitted, FittedDetector};
pub use cost::{Budget, Cost, OverBudget};
pub use detectors::{FittedSingle, SingleParams};
pub use error::{DetectionError, Result};

/// The largest magnitude accepted: squares and products of values up to this bound, summed
/// over any number of columns or points a request can have, stay far from `f64::MAX`
/// (~1.8e308).
pub const MAX_MAGNITUDE: f64 = 1e100;

/// The seed used when none is given, by every door (CLI, service, Python): results are
/// reproducible for a given seed.
pub const DEFAULT_SEED: u64 = 42;
pub use model::{
    Detection, Explanation, FeatureContribution, Model, ScoreOptions, Threshold, TrainingStats,
};
pub use registry::{ALGORITHMS, AlgorithmInfo, AlgorithmParams, FittedModel, find_algorithm};
pub use stats::ScoreDistribution;
