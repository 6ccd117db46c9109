//! Ensembles: several detectors fitted on the same rows, each member's scores standardised
//! with its own training scores' mean and standard deviation (PyOD's `standardizer`), or
//! robustly with their median and `1.4826 · MAD`, then combined by mean, max, median or a
//! weighted mean. Features can be robustly scaled first (each feature to its median and
//! `1.4826 · MAD`, with the `mad` detector's fallbacks), which only distance-based members
//! (knn, lof) notice: the others are invariant to a per-feature affine map.
//!
//! Explanation: with `max`, the member whose standardised score is the row's score
//! ("fired") and its contributions; otherwise each member's contributions turned into
//! shares (summing to 1) and averaged with the combination's weights.

use ndarray::{Array2, ArrayView1, ArrayView2, Axis};
use serde::{Deserialize, Serialize};

use crate::algorithms::{Detector, Fitted, FittedDetector};
use crate::detectors::{FittedSingle, SingleParams};
use crate::error::{Result, invalid};
use crate::stats::{check_data, mean_std, median_in_place, robust_location_scale};

/// How standardised member scores are combined.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum Combination {
    /// Average.
    #[default]
    Mean,
    /// Maximum.
    Max,
    /// Median.
    Median,
    /// Weighted average with `weights`.
    Weighted,
}

/// How each member's training scores set the centre and scale its scores are
/// standardised with.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum Normalization {
    /// Mean and standard deviation (PyOD's `standardizer`).
    #[default]
    Standard,
    /// Median and `1.4826 · MAD`: a member whose few top scores are huge keeps the rest
    /// of its scale.
    Robust,
}

/// How features are scaled before the members see them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum Scaling {
    /// As given.
    #[default]
    None,
    /// Each feature centred on its median and divided by `1.4826 · MAD`.
    Robust,
}

/// Parameters of an ensemble.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct EnsembleParams {
    /// Member detectors (2–16; single detectors, so no ensemble in an ensemble): names
    /// (`"ecod"`, aliases too) for their defaults, or `{"algorithm": ..., "parameters":
    /// {...}}`.
    #[serde(deserialize_with = "members_by_name_or_object")]
    pub members: Vec<SingleParams>,
    /// Combination rule (default mean).
    pub combination: Combination,
    /// One positive weight per member; required for and only for `weighted`.
    pub weights: Option<Vec<f64>>,
    /// How member scores are standardised (default `standard`).
    pub normalization: Normalization,
    /// How features are scaled before fitting the members (default `none`).
    pub scaling: Scaling,
}

impl Default for EnsembleParams {
    fn default() -> Self {
        use crate::algorithms::{ecod, iforest, knn, pca};
        Self {
            members: vec![
                SingleParams::Iforest(iforest::IsolationForestParams::default()),
                SingleParams::Ecod(ecod::EcodParams::default()),
                SingleParams::Copod(ecod::CopodParams::default()),
                SingleParams::Pca(pca::PcaParams::default()),
                SingleParams::Knn(knn::KnnParams::default()),
            ],
            combination: Combination::Mean,
            weights: None,
            normalization: Normalization::Standard,
            scaling: Scaling::None,
        }
    }
}

/// Members as names or as `{"algorithm", "parameters"}` objects, each resolved through
/// the catalogue (aliases allowed) and validated.
fn members_by_name_or_object<'de, D>(
    deserializer: D,
) -> std::result::Result<Vec<SingleParams>, D::Error>
where
    D: serde::Deserializer<'de>,
{
    use serde::de::Error;
    let items = Vec::<serde_json::Value>::deserialize(deserializer)?;
    items
        .into_iter()
        .map(|item| match item {
            serde_json::Value::String(name) => SingleParams::from_name(&name, None),
            serde_json::Value::Object(mut fields) => {
                let name = match fields.remove("algorithm") {
                    Some(serde_json::Value::String(name)) => name,
                    _ => {
                        return Err(invalid(
                            "members",
                            "each member is a name or an object with an `algorithm` name",
                        ));
                    }
                };
                let parameters = fields.remove("parameters");
                if let Some(extra) = fields.keys().next() {
                    return Err(invalid(
                        "members",
                        format!(
                            "unknown field `{extra}` in a member; use `algorithm` and `parameters`"
                        ),
                    ));
                }
                SingleParams::from_name(&name, parameters)
            }
            _ => Err(invalid(
                "members",
                "each member is a name or an object with an `algorithm` name",
            )),
        })
        .collect::<Result<Vec<_>>>()
        .map_err(|e| D::Error::custom(e.to_string()))
}

/// One fitted member with the statistics that standardise its scores.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct Member {
    model: FittedSingle,
    /// Mean or median of the member's training scores (`mean` in models of 2026-12).
    #[serde(alias = "mean")]
    center: f64,
    /// Standard deviation or `1.4826 · MAD` (`std` in models of 2026-12).
    #[serde(alias = "std")]
    scale: f64,
}

impl Member {
    fn new(model: FittedSingle, training_scores: &[f64], normalization: Normalization) -> Self {
        let (center, scale) = match normalization {
            Normalization::Standard => mean_std(training_scores),
            Normalization::Robust => robust_location_scale(training_scores),
        };
        Self {
            model,
            center,
            scale,
        }
    }

    fn standardise(&self, score: f64) -> f64 {
        if self.scale > 0.0 {
            (score - self.center) / self.scale
        } else {
            score - self.center
        }
    }
}

/// Per-feature centre and scale applied to rows before the members see them.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
struct FeatureScaler {
    center: Vec<f64>,
    scale: Vec<f64>,
}

impl FeatureScaler {
    fn robust(data: ArrayView2<'_, f64>) -> Self {
        let (center, scale) = data
            .axis_iter(Axis(1))
            .map(|col| robust_location_scale(&col.to_vec()))
            .unzip();
        Self { center, scale }
    }

    /// Scaled values are clamped to ±[`crate::MAX_MAGNITUDE`]: a feature whose scale is
    /// tiny next to one far value must not overflow the members' arithmetic.
    fn apply_in_place(&self, row: &mut [f64]) {
        for ((v, c), s) in row.iter_mut().zip(&self.center).zip(&self.scale) {
            *v = ((*v - c) / s).clamp(-crate::MAX_MAGNITUDE, crate::MAX_MAGNITUDE);
        }
    }

    fn apply(&self, data: ArrayView2<'_, f64>) -> Array2<f64> {
        let mut out = data.as_standard_layout().into_owned();
        for mut row in out.rows_mut() {
            if let Some(values) = row.as_slice_mut() {
                self.apply_in_place(values);
            }
        }
        out
    }

    fn check(&self) -> std::result::Result<(), String> {
        crate::algorithms::same_len("the feature scales", self.scale.len(), self.center.len())?;
        if self
            .center
            .iter()
            .chain(&self.scale)
            .any(|v| !v.is_finite())
            || self.scale.iter().any(|&s| s <= 0.0)
        {
            return Err("a feature scale is not a positive finite number".into());
        }
        Ok(())
    }
}

/// A fitted ensemble.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct FittedEnsemble {
    members: Vec<Member>,
    combination: Combination,
    weights: Vec<f64>,
    /// Present when the features were scaled before fitting.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    scaler: Option<FeatureScaler>,
}

impl Detector for EnsembleParams {
    type Fitted = FittedEnsemble;

    fn validate(&self) -> Result<()> {
        if !(2..=16).contains(&self.members.len()) {
            return Err(invalid(
                "members",
                format!(
                    "an ensemble needs 2 to 16 members, got {}",
                    self.members.len()
                ),
            ));
        }
        for member in &self.members {
            member.validate()?;
        }
        match (&self.combination, &self.weights) {
            (Combination::Weighted, None) => {
                return Err(invalid(
                    "weights",
                    "required when combination is `weighted`",
                ));
            }
            (Combination::Weighted, Some(w)) => {
                if w.len() != self.members.len() {
                    return Err(invalid(
                        "weights",
                        format!("{} weights for {} members", w.len(), self.members.len()),
                    ));
                }
                if w.iter().any(|v| !(v.is_finite() && *v > 0.0)) {
                    return Err(invalid("weights", "every weight must be a positive number"));
                }
            }
            (_, Some(_)) => {
                return Err(invalid("weights", "only used with combination `weighted`"));
            }
            _ => {}
        }
        Ok(())
    }

    fn fit(&self, data: ArrayView2<'_, f64>, seed: u64) -> Result<Fitted<FittedEnsemble>> {
        self.validate()?;
        check_data(data, "ensemble", 2)?;
        let scaler = match self.scaling {
            Scaling::None => None,
            Scaling::Robust => Some(FeatureScaler::robust(data)),
        };
        let scaled = scaler.as_ref().map(|s| s.apply(data));
        let data = scaled.as_ref().map_or(data, |s| s.view());
        let mut members = Vec::with_capacity(self.members.len());
        let mut standardised: Vec<Vec<f64>> = Vec::with_capacity(self.members.len());
        for (i, params) in self.members.iter().enumerate() {
            let fitted = params.fit(data, seed.wrapping_add(i as u64))?;
            let member = Member::new(fitted.model, &fitted.training_scores, self.normalization);
            standardised.push(
                fitted
                    .training_scores
                    .iter()
                    .map(|&s| member.standardise(s))
                    .collect(),
            );
            members.push(member);
        }
        let weights = match self.combination {
            Combination::Weighted => self.weights.clone().unwrap_or_default(),
            _ => vec![1.0; members.len()],
        };
        let model = FittedEnsemble {
            members,
            combination: self.combination,
            weights,
            scaler,
        };
        let training_scores = model.combine_columns(&standardised, data.nrows());
        Ok(Fitted {
            model,
            training_scores,
        })
    }
}

impl FittedEnsemble {
    fn combine(&self, values: &mut [f64]) -> f64 {
        match self.combination {
            Combination::Mean => values.iter().sum::<f64>() / values.len() as f64,
            Combination::Max => values.iter().copied().fold(f64::NEG_INFINITY, f64::max),
            Combination::Median => median_in_place(values),
            Combination::Weighted => {
                let total: f64 = self.weights.iter().sum();
                values
                    .iter()
                    .zip(&self.weights)
                    .map(|(v, w)| v * w)
                    .sum::<f64>()
                    / total
            }
        }
    }

    fn combine_columns(&self, columns: &[Vec<f64>], rows: usize) -> Vec<f64> {
        let mut buf = vec![0.0; columns.len()];
        (0..rows)
            .map(|i| {
                for (b, col) in buf.iter_mut().zip(columns) {
                    *b = col[i];
                }
                self.combine(&mut buf)
            })
            .collect()
    }
}

impl FittedEnsemble {
    fn scaled_row(&self, row: ArrayView1<'_, f64>) -> Vec<f64> {
        let mut values = row.to_vec();
        if let Some(scaler) = &self.scaler {
            scaler.apply_in_place(&mut values);
        }
        values
    }

    /// With `max`, the index of the member whose standardised score is the row's score.
    pub fn firing_member(&self, row: ArrayView1<'_, f64>) -> Option<usize> {
        self.fired(ArrayView1::from(&self.scaled_row(row)))
    }

    /// [`Self::firing_member`] of a row already scaled: every member scores it.
    fn fired(&self, scaled: ArrayView1<'_, f64>) -> Option<usize> {
        if self.combination != Combination::Max {
            return None;
        }
        let view = scaled.insert_axis(Axis(0));
        self.members
            .iter()
            .map(|m| m.standardise(m.model.score(view)[0]))
            .enumerate()
            .max_by(|a, b| a.1.total_cmp(&b.1))
            .map(|(i, _)| i)
    }

    /// The row's per-feature contributions and, with `max`, the member that fired, found
    /// together: the row is scaled once and scored by the members once.
    pub fn explain(&self, row: ArrayView1<'_, f64>) -> (Vec<f64>, Option<usize>) {
        let values = self.scaled_row(row);
        let row = ArrayView1::from(&values);
        if let Some(fired) = self.fired(row) {
            return (self.members[fired].model.contributions(row), Some(fired));
        }
        let mut out = vec![0.0; row.len()];
        let total_weight: f64 = self.weights.iter().sum();
        for (member, w) in self.members.iter().zip(&self.weights) {
            let c = member.model.contributions(row);
            let sum: f64 = c.iter().sum();
            if sum > 0.0 {
                for (o, v) in out.iter_mut().zip(&c) {
                    *o += w / total_weight * v / sum;
                }
            }
        }
        (out, None)
    }

    /// The algorithm name of member `index`.
    pub fn member_name(&self, index: usize) -> Option<&'static str> {
        self.members.get(index).map(|m| m.model.name())
    }
}

impl FittedDetector for FittedEnsemble {
    fn check(&self) -> std::result::Result<(), String> {
        crate::algorithms::same_len("weights", self.weights.len(), self.members.len())?;
        let features = self.n_features();
        if let Some(scaler) = &self.scaler {
            scaler.check()?;
            crate::algorithms::same_len("the feature scales", scaler.center.len(), features)?;
        }
        for member in &self.members {
            member.model.check()?;
            crate::algorithms::same_len(
                "a member's features",
                member.model.n_features(),
                features,
            )?;
        }
        Ok(())
    }

    fn n_features(&self) -> usize {
        self.members.first().map_or(0, |m| m.model.n_features())
    }

    fn score(&self, data: ArrayView2<'_, f64>) -> Vec<f64> {
        let scaled = self.scaler.as_ref().map(|s| s.apply(data));
        let data = scaled.as_ref().map_or(data, |s| s.view());
        let columns: Vec<Vec<f64>> = self
            .members
            .iter()
            .map(|m| {
                m.model
                    .score(data)
                    .into_iter()
                    .map(|s| m.standardise(s))
                    .collect()
            })
            .collect();
        self.combine_columns(&columns, data.nrows())
    }

    fn contributions(&self, row: ArrayView1<'_, f64>) -> Vec<f64> {
        self.explain(row).0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn members_by_name_as_the_readme_documents() {
        let params = crate::AlgorithmParams::from_name(
            "ensemble",
            Some(serde_json::json!({"members": ["ecod", "isolation_forest", {"algorithm": "knn", "parameters": {"n_neighbors": 3}}]})),
        )
        .unwrap();
        let crate::AlgorithmParams::Ensemble(ensemble) = &params else {
            panic!("not an ensemble");
        };
        let names: Vec<&str> = ensemble.members.iter().map(SingleParams::name).collect();
        assert_eq!(names, vec!["ecod", "iforest", "knn"]);
        for (bad, says) in [
            (
                serde_json::json!({"members": ["ecod", "nope"]}),
                "unknown algorithm `nope`",
            ),
            (
                serde_json::json!({"members": ["ecod", "ensemble"]}),
                "cannot contain an ensemble",
            ),
            (
                serde_json::json!({"members": ["ecod", {"name": "knn"}]}),
                "`algorithm` name",
            ),
            (
                serde_json::json!({"members": ["ecod", {"algorithm": "knn", "k": 3}]}),
                "unknown field `k`",
            ),
        ] {
            let err = crate::AlgorithmParams::from_name("ensemble", Some(bad))
                .unwrap_err()
                .to_string();
            assert!(err.contains(says), "{err}");
        }
    }
    use ndarray::Array2;

    fn data() -> Array2<f64> {
        let mut rows: Vec<[f64; 2]> = (0..120)
            .map(|i| [(i % 11) as f64, (i % 7) as f64])
            .collect();
        rows.push([40.0, 3.0]);
        Array2::from(rows)
    }

    #[test]
    fn default_ensemble_ranks_the_outlier_first() {
        let fit = EnsembleParams::default().fit(data().view(), 0).unwrap();
        let s = &fit.training_scores;
        let top = (0..s.len()).max_by(|&a, &b| s[a].total_cmp(&s[b])).unwrap();
        assert_eq!(top, 120);
        let c = fit.model.contributions(data().row(120));
        assert!(c[0] > c[1]);
        assert!((c.iter().sum::<f64>() - 1.0).abs() < 1e-9);
    }

    #[test]
    fn combinations_differ_and_new_scores_match_training() {
        let d = data();
        for combination in [Combination::Mean, Combination::Max, Combination::Median] {
            let p = EnsembleParams {
                combination,
                ..Default::default()
            };
            let fit = p.fit(d.view(), 0).unwrap();
            // ECOD/PCA/iforest score the same on re-scoring; KNN includes self, so compare
            // only on a model without neighbour members.
            assert_eq!(fit.training_scores.len(), 121);
        }
        for (normalization, scaling) in [
            (Normalization::Standard, Scaling::None),
            (Normalization::Robust, Scaling::Robust),
        ] {
            let p = EnsembleParams {
                members: vec![
                    SingleParams::from_name("ecod", None).unwrap(),
                    SingleParams::from_name("pca", None).unwrap(),
                ],
                combination: Combination::Weighted,
                weights: Some(vec![3.0, 1.0]),
                normalization,
                scaling,
            };
            let fit = p.fit(d.view(), 0).unwrap();
            let again = fit.model.score(d.view());
            for (a, b) in again.iter().zip(&fit.training_scores) {
                assert!((a - b).abs() < 1e-9);
            }
            // Robust normalisation puts the median training row at 0.
            if normalization == Normalization::Robust {
                let mut sorted = fit.training_scores.clone();
                sorted.sort_by(f64::total_cmp);
                assert!(sorted[60].abs() < 1.0, "{}", sorted[60]);
            }
        }
    }

    #[test]
    fn robust_scaling_lets_a_small_unit_feature_count_for_knn() {
        // Feature 0 spans hundreds, feature 1 hundredths; row 60 is off only in feature 1.
        let mut rows: Vec<[f64; 2]> = (0..120)
            .map(|i| [((i * 37) % 101) as f64 * 3.0, ((i * 13) % 7) as f64 * 0.001])
            .collect();
        rows[60] = [150.0, 0.05];
        let d = Array2::from(rows);
        let top_of = |scaling| {
            let p = EnsembleParams {
                members: vec![
                    SingleParams::from_name("knn", None).unwrap(),
                    SingleParams::from_name("lof", None).unwrap(),
                ],
                combination: Combination::Max,
                normalization: Normalization::Robust,
                scaling,
                weights: None,
            };
            let fit = p.fit(d.view(), 0).unwrap();
            let s = fit.training_scores;
            let top = (0..s.len()).max_by(|&a, &b| s[a].total_cmp(&s[b])).unwrap();
            (top, fit.model)
        };
        assert_ne!(top_of(Scaling::None).0, 60);
        let (top, model) = top_of(Scaling::Robust);
        assert_eq!(top, 60);
        // With `max`, the explanation is the firing member's, on the scaled row.
        let fired = model.firing_member(d.row(60)).unwrap();
        assert!(matches!(model.member_name(fired), Some("knn" | "lof")));
        let c = model.contributions(d.row(60));
        assert!(c[1] > c[0], "{c:?}");
    }

    #[test]
    fn validation_errors_name_the_problem() {
        let p = EnsembleParams {
            combination: Combination::Weighted,
            ..Default::default()
        };
        assert!(p.validate().unwrap_err().to_string().contains("weights"));
        let p = EnsembleParams {
            members: vec![SingleParams::from_name("ecod", None).unwrap()],
            ..Default::default()
        };
        assert!(p.validate().unwrap_err().to_string().contains("2 to 16"));
        // A nested ensemble cannot be written down; read from JSON it is refused.
        let nested = serde_json::from_value::<EnsembleParams>(
            serde_json::json!({"members": [{"algorithm": "ensemble"}, "ecod"]}),
        )
        .unwrap_err();
        assert!(nested.to_string().contains("cannot contain"), "{nested}");
    }
}
