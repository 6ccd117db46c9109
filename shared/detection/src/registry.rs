//! The catalogue of algorithms: names and aliases, parameter parsing, and the enums that
//! let callers hold any detector's params or fitted model behind one type.

use ndarray::{ArrayView1, ArrayView2};
use serde::{Deserialize, Serialize};

use crate::algorithms::ecod::{CopodParams, EcodParams, FittedTailModel};
use crate::algorithms::hbos::{FittedHbos, HbosParams};
use crate::algorithms::iforest::{FittedIsolationForest, IsolationForestParams};
use crate::algorithms::knn::{FittedKnn, KnnParams};
use crate::algorithms::lof::{FittedLof, LofParams};
use crate::algorithms::mad::{FittedMad, MadParams};
use crate::algorithms::pca::{FittedPca, PcaParams};
use crate::algorithms::rcf::{FittedRcf, RcfParams};
use crate::algorithms::{Detector, Fitted, FittedDetector};
use crate::ensemble::{EnsembleParams, FittedEnsemble};
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

/// Any detector's parameters. Serialised as `{"algorithm": "...", "parameters": {...}}`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "algorithm", content = "parameters", rename_all = "snake_case")]
#[allow(missing_docs)]
pub enum AlgorithmParams {
    Iforest(IsolationForestParams),
    Ecod(EcodParams),
    Copod(CopodParams),
    Hbos(HbosParams),
    Knn(KnnParams),
    Lof(LofParams),
    Pca(PcaParams),
    Mad(MadParams),
    Rcf(RcfParams),
    Ensemble(EnsembleParams),
}

impl AlgorithmParams {
    /// Parameters for `name` (canonical or alias) with `parameters` (a JSON object, or
    /// null for the defaults), validated.
    pub fn from_name(name: &str, parameters: Option<serde_json::Value>) -> Result<Self> {
        let info = find_algorithm(name)?;
        let parameters = match parameters {
            None | Some(serde_json::Value::Null) => serde_json::Value::Object(Default::default()),
            Some(v) => v,
        };
        let tagged = serde_json::json!({ "algorithm": info.name, "parameters": parameters });
        let params: Self =
            serde_json::from_value(tagged).map_err(|e| DetectionError::InvalidParameter {
                name: "parameters",
                reason: format!("{} for algorithm `{}`", e, info.name),
            })?;
        params.validate()?;
        Ok(params)
    }

    /// Default parameters of the algorithm `name`.
    pub fn default_for(name: &str) -> Result<Self> {
        Self::from_name(name, None)
    }

    /// The canonical algorithm name.
    pub fn name(&self) -> &'static str {
        match self {
            Self::Iforest(_) => "iforest",
            Self::Ecod(_) => "ecod",
            Self::Copod(_) => "copod",
            Self::Hbos(_) => "hbos",
            Self::Knn(_) => "knn",
            Self::Lof(_) => "lof",
            Self::Pca(_) => "pca",
            Self::Mad(_) => "mad",
            Self::Rcf(_) => "rcf",
            Self::Ensemble(_) => "ensemble",
        }
    }

    /// Checks every parameter.
    pub fn validate(&self) -> Result<()> {
        match self {
            Self::Iforest(p) => p.validate(),
            Self::Ecod(p) => p.validate(),
            Self::Copod(p) => p.validate(),
            Self::Hbos(p) => p.validate(),
            Self::Knn(p) => p.validate(),
            Self::Lof(p) => p.validate(),
            Self::Pca(p) => p.validate(),
            Self::Mad(p) => p.validate(),
            Self::Rcf(p) => p.validate(),
            Self::Ensemble(p) => p.validate(),
        }
    }

    /// Fits the detector; see [`Detector::fit`].
    pub fn fit(&self, data: ArrayView2<'_, f64>, seed: u64) -> Result<Fitted<FittedModel>> {
        fn wrap<M>(f: Fitted<M>, to: impl FnOnce(M) -> FittedModel) -> Fitted<FittedModel> {
            Fitted {
                model: to(f.model),
                training_scores: f.training_scores,
            }
        }
        Ok(match self {
            Self::Iforest(p) => wrap(p.fit(data, seed)?, FittedModel::Iforest),
            Self::Ecod(p) => wrap(p.fit(data, seed)?, FittedModel::Ecod),
            Self::Copod(p) => wrap(p.fit(data, seed)?, FittedModel::Copod),
            Self::Hbos(p) => wrap(p.fit(data, seed)?, FittedModel::Hbos),
            Self::Knn(p) => wrap(p.fit(data, seed)?, FittedModel::Knn),
            Self::Lof(p) => wrap(p.fit(data, seed)?, FittedModel::Lof),
            Self::Pca(p) => wrap(p.fit(data, seed)?, FittedModel::Pca),
            Self::Mad(p) => wrap(p.fit(data, seed)?, FittedModel::Mad),
            Self::Rcf(p) => wrap(p.fit(data, seed)?, |m| FittedModel::Rcf(Box::new(m))),
            Self::Ensemble(p) => wrap(p.fit(data, seed)?, |m| FittedModel::Ensemble(Box::new(m))),
        })
    }
}

/// Any fitted detector.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(tag = "algorithm", content = "state", rename_all = "snake_case")]
#[allow(missing_docs)]
pub enum FittedModel {
    Iforest(FittedIsolationForest),
    Ecod(FittedTailModel),
    Copod(FittedTailModel),
    Hbos(FittedHbos),
    Knn(FittedKnn),
    Lof(FittedLof),
    Pca(FittedPca),
    Mad(FittedMad),
    Rcf(Box<FittedRcf>),
    Ensemble(Box<FittedEnsemble>),
}

impl FittedModel {
    fn inner(&self) -> &dyn FittedDetector {
        match self {
            Self::Iforest(m) => m,
            Self::Ecod(m) | Self::Copod(m) => m,
            Self::Hbos(m) => m,
            Self::Knn(m) => m,
            Self::Lof(m) => m,
            Self::Pca(m) => m,
            Self::Mad(m) => m,
            Self::Rcf(m) => m.as_ref(),
            Self::Ensemble(m) => m.as_ref(),
        }
    }
}

impl FittedDetector for FittedModel {
    fn n_features(&self) -> usize {
        self.inner().n_features()
    }

    fn score(&self, data: ArrayView2<'_, f64>) -> Vec<f64> {
        self.inner().score(data)
    }

    fn contributions(&self, row: ArrayView1<'_, f64>) -> Vec<f64> {
        self.inner().contributions(row)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn aliases_resolve() {
        assert_eq!(find_algorithm("isolation_forest").unwrap().name, "iforest");
        assert_eq!(find_algorithm("IsolationForest").unwrap().name, "iforest");
        assert_eq!(find_algorithm("Local-Outlier-Factor").unwrap().name, "lof");
        let err = find_algorithm("svm").unwrap_err().to_string();
        assert!(
            err.contains("unknown algorithm `svm`") && err.contains("iforest"),
            "{err}"
        );
    }

    #[test]
    fn parameters_are_parsed_and_validated() {
        let p = AlgorithmParams::from_name(
            "knn",
            Some(serde_json::json!({"n_neighbors": 3, "method": "mean"})),
        )
        .unwrap();
        assert_eq!(p.name(), "knn");
        let err = AlgorithmParams::from_name("knn", Some(serde_json::json!({"neighbours": 3})))
            .unwrap_err()
            .to_string();
        assert!(err.contains("unknown field `neighbours`"), "{err}");
        let err =
            AlgorithmParams::from_name("iforest", Some(serde_json::json!({"n_estimators": 0})))
                .unwrap_err()
                .to_string();
        assert!(err.contains("n_estimators"), "{err}");
        let err = AlgorithmParams::from_name("hbos", Some(serde_json::json!({"alpha": "big"})))
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("alpha") || err.contains("invalid type"),
            "{err}"
        );
    }

    #[test]
    fn every_listed_algorithm_has_default_params() {
        for info in ALGORITHMS {
            let p = AlgorithmParams::default_for(info.name).unwrap();
            assert_eq!(p.name(), info.name);
        }
    }

    #[test]
    fn every_algorithm_rejects_non_finite_values_naming_the_cell() {
        // Several detectors fold this check into their first pass over the data (a NaN or
        // infinity makes a column sum non-finite), so each must still name the cell.
        for info in ALGORITHMS {
            let params = AlgorithmParams::default_for(info.name).unwrap();
            for bad in [f64::NAN, f64::INFINITY, f64::NEG_INFINITY] {
                let mut data =
                    ndarray::Array2::from_shape_fn((40, 3), |(i, j)| ((i * 7 + j * 3) % 11) as f64);
                data[[17, 2]] = bad;
                let err = params.fit(data.view(), 0).unwrap_err();
                assert!(
                    matches!(
                        err,
                        crate::DetectionError::NonFinite {
                            row: 17,
                            column: 2,
                            ..
                        }
                    ),
                    "{} with {bad}: {err}",
                    info.name
                );
            }
        }
    }
}
