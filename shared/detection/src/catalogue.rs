//! The catalogue of algorithms: names, aliases, descriptions and parameters, for listings
//! (`pynomaly detect --help`, `/algorithms`) and for looking a name up.

use crate::error::{DetectionError, Result};

/// Description of one algorithm, for listings (`pynomaly detect --help`, `/algorithms`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AlgorithmInfo {
    /// Canonical name.
    pub name: &'static str,
    /// Other accepted names (Pynomaly's and PyOD's spellings).
    pub aliases: &'static [&'static str],
    /// One-line description.
    pub description: &'static str,
    /// Parameters: name, default, range/meaning.
    pub parameters: &'static [(&'static str, &'static str, &'static str)],
}

/// Every algorithm, in the order they are listed.
pub const ALGORITHMS: &[AlgorithmInfo] = &[
    AlgorithmInfo {
        name: "auto",
        aliases: &["default", "automatic"],
        description: "Automatic: the strongest of isolation forest, HBOS, PCA and k-NN on robustly scaled features, each in robust z-units; no parameters.",
        parameters: &[],
    },
    AlgorithmInfo {
        name: "iforest",
        aliases: &["isolation_forest", "isolationforest", "iso_forest"],
        description: "Isolation Forest: rows isolated by few random splits are anomalous.",
        parameters: &[
            ("n_estimators", "100", "trees, 1-10000"),
            (
                "max_samples",
                "256",
                "rows per tree, 2-1000000, capped at the row count",
            ),
        ],
    },
    AlgorithmInfo {
        name: "ecod",
        aliases: &["empirical_cumulative_distribution"],
        description: "ECOD: per-feature empirical tail probabilities, parameter-free.",
        parameters: &[],
    },
    AlgorithmInfo {
        name: "copod",
        aliases: &["copula"],
        description: "COPOD: copula-based per-feature tail probabilities, parameter-free.",
        parameters: &[],
    },
    AlgorithmInfo {
        name: "hbos",
        aliases: &["histogram", "histogram_based"],
        description: "HBOS: per-feature histogram densities.",
        parameters: &[
            ("n_bins", "10", "bins per feature, 2-10000"),
            ("alpha", "0.1", "density regulariser, (0, 1)"),
            (
                "tol",
                "0.5",
                "bin widths outside the range counted as the edge bin, [0, 1]",
            ),
        ],
    },
    AlgorithmInfo {
        name: "knn",
        aliases: &["k_nearest_neighbors", "kneighbors", "nearest_neighbors"],
        description: "k-NN distance: far from its nearest neighbours is anomalous.",
        parameters: &[
            (
                "n_neighbors",
                "5",
                "neighbours, 1-1000 and below the row count",
            ),
            ("method", "largest", "largest | mean | median"),
            (
                "max_reference_rows",
                "all",
                "keep at most this many sampled rows as neighbours, above n_neighbors",
            ),
        ],
    },
    AlgorithmInfo {
        name: "lof",
        aliases: &["local_outlier_factor", "localoutlierfactor"],
        description: "Local Outlier Factor: density relative to the neighbours' density.",
        parameters: &[("n_neighbors", "20", "neighbours, 1-1000")],
    },
    AlgorithmInfo {
        name: "pca",
        aliases: &["principal_component_analysis"],
        description: "PCA: weighted distance to the principal components (PyOD's definition).",
        parameters: &[
            (
                "n_selected_components",
                "all",
                "use the n lowest-variance components",
            ),
            ("standardization", "true", "standardise features first"),
            (
                "weighted",
                "true",
                "weigh components by 1/explained-variance ratio",
            ),
        ],
    },
    AlgorithmInfo {
        name: "mad",
        aliases: &[
            "robust_z",
            "robust_zscore",
            "median_absolute_deviation",
            "zscore",
        ],
        description: "Robust z-score: largest |x - median| / (1.4826 MAD) over features.",
        parameters: &[],
    },
    AlgorithmInfo {
        name: "rcf",
        aliases: &["random_cut_forest", "randomcutforest"],
        description: "Random Cut Forest (rcf3): displacement of the forest when a row is added.",
        parameters: &[
            ("num_trees", "100", "trees, 1-1000"),
            ("sample_size", "256", "points per tree, 4-10000"),
        ],
    },
    AlgorithmInfo {
        name: "ensemble",
        aliases: &["combination", "ensemble_detector"],
        description: "Ensemble: combines standardised scores of several detectors.",
        parameters: &[
            (
                "members",
                "[iforest, ecod, copod, pca, knn]",
                "list of {algorithm, parameters}",
            ),
            ("combination", "mean", "mean | max | median | weighted"),
            (
                "weights",
                "none",
                "one positive weight per member, for weighted",
            ),
            (
                "normalization",
                "standard",
                "member scores to z-units by standard (mean, std) | robust (median, MAD)",
            ),
            (
                "scaling",
                "none",
                "features first scaled by none | robust (median, MAD)",
            ),
        ],
    },
];

fn normalise_name(name: &str) -> String {
    name.trim()
        .chars()
        .filter(|c| !matches!(c, '_' | '-' | ' '))
        .flat_map(char::to_lowercase)
        .collect()
}

/// Looks an algorithm up by canonical name or alias (case, `_` and `-` ignored).
pub fn find_algorithm(name: &str) -> Result<&'static AlgorithmInfo> {
    let wanted = normalise_name(name);
    ALGORITHMS
        .iter()
        .find(|info| {
            normalise_name(info.name) == wanted
                || info.aliases.iter().any(|a| normalise_name(a) == wanted)
        })
        .ok_or_else(|| DetectionError::UnknownAlgorithm {
            name: name.to_string(),
            known: ALGORITHMS
                .iter()
                .map(|i| i.name)
                .collect::<Vec<_>>()
                .join(", "),
        })
}
