//! One detector, never an ensemble: the parameters and fitted state of every single
//! algorithm behind one type each. Ensemble members are these, so an ensemble inside an
//! ensemble cannot be written down.

use ndarray::ArrayView2;
use serde::{Deserialize, Serialize};

use crate::algorithms::ecod::{CopodParams, EcodParams, FittedTailModel};
use crate::algorithms::hbos::{FittedHbos, HbosParams};
use crate::algorithms::iforest::{FittedIsolationForest, IsolationForestParams};
use crate::algorithms::knn::{FittedKnn, KnnParams};
use crate::algorithms::lof::{FittedLof, LofParams};
use crate::algorithms::mad::{FittedMad, MadParams};
use crate::algorithms::pca::{FittedPca, PcaParams};
use crate::algorithms::rcf::{FittedRcf, RcfParams};
use crate::algorithms::{Delegating, Detector, Fitted, FittedDetector};
use crate::catalogue::find_algorithm;
use crate::error::{DetectionError, Result, invalid};

/// A single detector's parameters. Serialised as `{"algorithm": "...", "parameters": {...}}`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "algorithm", content = "parameters", rename_all = "snake_case")]
#[allow(missing_docs)]
pub enum SingleParams {
    Iforest(IsolationForestParams),
    Ecod(EcodParams),
    Copod(CopodParams),
    Hbos(HbosParams),
    Knn(KnnParams),
    Lof(LofParams),
    Pca(PcaParams),
    Mad(MadParams),
    Rcf(RcfParams),
}

impl SingleParams {
    /// Parameters for `name` (canonical or alias; not `ensemble`) with `parameters` (a
    /// JSON object, or null for the defaults), validated.
    pub fn from_name(name: &str, parameters: Option<serde_json::Value>) -> Result<Self> {
        let info = find_algorithm(name)?;
        if matches!(info.name, "ensemble" | "auto") {
            return Err(invalid(
                "members",
                format!(
                    "an ensemble cannot contain an ensemble (`{}` is one); list single detectors",
                    info.name
                ),
            ));
        }
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
        }
    }

    /// Fits the detector; see [`Detector::fit`].
    pub fn fit(&self, data: ArrayView2<'_, f64>, seed: u64) -> Result<Fitted<FittedSingle>> {
        fn wrap<M>(f: Fitted<M>, to: impl FnOnce(M) -> FittedSingle) -> Fitted<FittedSingle> {
            Fitted {
                model: to(f.model),
                training_scores: f.training_scores,
            }
        }
        Ok(match self {
            Self::Iforest(p) => wrap(p.fit(data, seed)?, FittedSingle::Iforest),
            Self::Ecod(p) => wrap(p.fit(data, seed)?, FittedSingle::Ecod),
            Self::Copod(p) => wrap(p.fit(data, seed)?, FittedSingle::Copod),
            Self::Hbos(p) => wrap(p.fit(data, seed)?, FittedSingle::Hbos),
            Self::Knn(p) => wrap(p.fit(data, seed)?, FittedSingle::Knn),
            Self::Lof(p) => wrap(p.fit(data, seed)?, FittedSingle::Lof),
            Self::Pca(p) => wrap(p.fit(data, seed)?, FittedSingle::Pca),
            Self::Mad(p) => wrap(p.fit(data, seed)?, FittedSingle::Mad),
            Self::Rcf(p) => wrap(p.fit(data, seed)?, |m| FittedSingle::Rcf(Box::new(m))),
        })
    }
}

/// A single fitted detector. Serialised as `{"algorithm": "...", "state": {...}}`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(tag = "algorithm", content = "state", rename_all = "snake_case")]
#[allow(missing_docs)]
pub enum FittedSingle {
    Iforest(FittedIsolationForest),
    Ecod(FittedTailModel),
    Copod(FittedTailModel),
    Hbos(FittedHbos),
    Knn(FittedKnn),
    Lof(FittedLof),
    Pca(FittedPca),
    Mad(FittedMad),
    Rcf(Box<FittedRcf>),
}

/// `name()` for the two enums over single detectors, whose variants are the same.
macro_rules! canonical_names {
    ($($enum:ty),+) => {$(
        impl $enum {
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
                }
            }
        }
    )+};
}

canonical_names!(SingleParams, FittedSingle);

impl Delegating for FittedSingle {
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
        }
    }
}
