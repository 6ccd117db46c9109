//! The crate's error type. Every variant names what is wrong so that callers can show it
//! to a user unchanged.

/// Errors raised while validating parameters, fitting or scoring.
#[derive(Debug, thiserror::Error, Clone, PartialEq)]
#[non_exhaustive]
pub enum DetectionError {
    /// A parameter is outside its valid range.
    #[error("invalid parameter `{name}`: {reason}")]
    InvalidParameter {
        /// Parameter name as the user spells it.
        name: &'static str,
        /// Why the value is rejected, including the allowed range.
        reason: String,
    },
    /// The input has no rows.
    #[error("the input has no rows")]
    EmptyInput,
    /// The input has rows but no feature columns.
    #[error("the input has no feature columns")]
    NoFeatures,
    /// The algorithm needs more rows than were given.
    #[error("{algorithm} needs at least {min} rows, got {got}")]
    TooFewRows {
        /// Algorithm name.
        algorithm: &'static str,
        /// Minimum number of rows.
        min: usize,
        /// Rows given.
        got: usize,
    },
    /// A value is NaN or infinite.
    #[error("row {row}, column {column}: value is not a finite number ({value})")]
    NonFinite {
        /// Zero-based row index.
        row: usize,
        /// Zero-based column index.
        column: usize,
        /// The offending value, as text.
        value: String,
    },
    /// A value so large that the detector's arithmetic would overflow.
    #[error(
        "row {row}, column {column}: value {value:e} is beyond ±1e100, where the arithmetic would overflow; rescale the values (e.g. divide them by a power of ten)"
    )]
    TooLarge {
        /// Zero-based row index.
        row: usize,
        /// Zero-based column index.
        column: usize,
        /// The offending value.
        value: f64,
    },
    /// Scoring data does not have the model's number of features.
    #[error("the model was trained on {expected} features but the data has {got}")]
    FeatureMismatch {
        /// Features seen at training.
        expected: usize,
        /// Features in the data to score.
        got: usize,
    },
    /// An algorithm name that is not known.
    #[error("unknown algorithm `{name}`; known algorithms: {known}")]
    UnknownAlgorithm {
        /// The name given.
        name: String,
        /// Comma-separated list of known names.
        known: String,
    },
    /// A stored model cannot be read.
    #[error("cannot load model: {0}")]
    ModelFormat(String),
    /// An internal failure of a third-party component, with its message.
    #[error("{component} failed: {message}")]
    Internal {
        /// The component that failed.
        component: &'static str,
        /// Its message.
        message: String,
    },
}

/// Result alias for this crate.
pub type Result<T> = std::result::Result<T, DetectionError>;

/// Shorthand for [`DetectionError::InvalidParameter`].
pub(crate) fn invalid(name: &'static str, reason: impl Into<String>) -> DetectionError {
    DetectionError::InvalidParameter {
        name,
        reason: reason.into(),
    }
}
