//! The benchmark protocols as library code that returns values (the binary only prints
//! them): tabular accuracy and speed against PyOD's baseline (`../shared/bench/README.md`),
//! and time-series alarms scored like NAB.

pub mod corpus;
pub mod published;
pub mod tabular;

/// Why a benchmark cannot run.
#[derive(Debug, thiserror::Error)]
pub enum BenchmarkError {
    /// A file cannot be read.
    #[error("cannot read {path}: {message}")]
    Read {
        /// The file.
        path: String,
        /// Why.
        message: String,
    },
    /// A file is not what the protocol expects.
    #[error("{path}: {message}")]
    Malformed {
        /// The file.
        path: String,
        /// What is wrong.
        message: String,
    },
    /// A detector refused the data or its parameters.
    #[error("{context}: {source}")]
    Detection {
        /// Which dataset and algorithm.
        context: String,
        /// Why.
        source: pynomaly_detection::DetectionError,
    },
}

pub(crate) fn read_file(path: &std::path::Path) -> Result<Vec<u8>, BenchmarkError> {
    std::fs::read(path).map_err(|e| BenchmarkError::Read {
        path: path.display().to_string(),
        message: e.to_string(),
    })
}
