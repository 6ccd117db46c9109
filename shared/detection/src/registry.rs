//! Any algorithm behind one type: a single detector or an ensemble of them, as
//! parameters ([`AlgorithmParams`]) and as a fitted model ([`FittedModel`]). Serialised
//! as before the split: `{"algorithm": "...", "parameters"|"state": {...}}`.

use std::fmt;

use ndarray::ArrayView2;
use serde::de::value::{MapAccessDeserializer, StrDeserializer};
use serde::de::{self, DeserializeSeed, IgnoredAny, IntoDeserializer, MapAccess, Visitor};
use serde::ser::SerializeMap;
use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::algorithms::{Delegating, Detector, Fitted, FittedDetector};
use crate::auto::AutoParams;
pub use crate::catalogue::{ALGORITHMS, AlgorithmInfo, find_algorithm};
use crate::detectors::{FittedSingle, SingleParams};
use crate::ensemble::{EnsembleParams, FittedEnsemble};
use crate::error::{DetectionError, Result};

/// Any algorithm's parameters.
#[derive(Debug, Clone, PartialEq)]
pub enum AlgorithmParams {
    /// One detector.
    Single(SingleParams),
    /// Several, combined.
    Ensemble(EnsembleParams),
    /// The default detector (a fixed ensemble; see [`crate::auto`]).
    Auto(AutoParams),
}

impl From<SingleParams> for AlgorithmParams {
    fn from(params: SingleParams) -> Self {
        Self::Single(params)
    }
}

impl AlgorithmParams {
    /// Parameters for `name` (canonical or alias) with `parameters` (a JSON object, or
    /// null for the defaults), validated.
    pub fn from_name(name: &str, parameters: Option<serde_json::Value>) -> Result<Self> {
        let info = find_algorithm(name)?;
        if !matches!(info.name, "ensemble" | "auto") {
            return Ok(Self::Single(SingleParams::from_name(name, parameters)?));
        }
        let parameters = match parameters {
            None | Some(serde_json::Value::Null) => serde_json::Value::Object(Default::default()),
            Some(v) => v,
        };
        let unreadable = |e: serde_json::Error| DetectionError::InvalidParameter {
            name: "parameters",
            reason: format!("{e} for algorithm `{}`", info.name),
        };
        let params = if info.name == "auto" {
            Self::Auto(serde_json::from_value(parameters).map_err(unreadable)?)
        } else {
            Self::Ensemble(serde_json::from_value(parameters).map_err(unreadable)?)
        };
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
            Self::Single(p) => p.name(),
            Self::Ensemble(_) => "ensemble",
            Self::Auto(_) => "auto",
        }
    }

    /// Checks every parameter.
    pub fn validate(&self) -> Result<()> {
        match self {
            Self::Single(p) => p.validate(),
            Self::Ensemble(p) => p.validate(),
            Self::Auto(p) => p.validate(),
        }
    }

    /// The automatic threshold of an algorithm with a rule of its own, given its training
    /// scores: `auto`'s, for `auto` and for any ensemble whose score is, like its, the
    /// largest of robust z-scores (`max` of `robust`-normalised members).
    pub fn own_threshold(&self, training: &crate::ScoreDistribution) -> Option<f64> {
        use crate::ensemble::{Combination, Normalization};
        match self {
            Self::Auto(_) => Some(crate::auto::threshold(training)),
            Self::Ensemble(p)
                if p.combination == Combination::Max
                    && p.normalization == Normalization::Robust =>
            {
                Some(crate::auto::threshold(training))
            }
            Self::Single(_) | Self::Ensemble(_) => None,
        }
    }

    /// Fits the detector; see [`Detector::fit`].
    pub fn fit(&self, data: ArrayView2<'_, f64>, seed: u64) -> Result<Fitted<FittedModel>> {
        Ok(match self {
            Self::Single(p) => {
                let f = p.fit(data, seed)?;
                Fitted {
                    model: FittedModel::Single(Box::new(f.model)),
                    training_scores: f.training_scores,
                }
            }
            Self::Ensemble(p) => {
                let f = p.fit(data, seed)?;
                Fitted {
                    model: FittedModel::Ensemble(f.model),
                    training_scores: f.training_scores,
                }
            }
            Self::Auto(p) => {
                let f = p.fit(data, seed)?;
                Fitted {
                    model: FittedModel::Auto(f.model),
                    training_scores: f.training_scores,
                }
            }
        })
    }
}

/// Any fitted algorithm.
#[derive(Debug, Clone)]
pub enum FittedModel {
    /// One detector (boxed: some fitted detectors are large next to an ensemble's
    /// handful of vectors).
    Single(Box<FittedSingle>),
    /// An ensemble.
    Ensemble(FittedEnsemble),
    /// `auto` (an ensemble under its own name).
    Auto(FittedEnsemble),
}

impl FittedModel {
    /// The canonical algorithm name.
    pub fn name(&self) -> &'static str {
        match self {
            Self::Single(m) => m.name(),
            Self::Ensemble(_) => "ensemble",
            Self::Auto(_) => "auto",
        }
    }

    /// The row's per-feature contributions and, for an ensemble combined by `max`
    /// (`auto` is one), the member that gives the row its score.
    pub fn explain(&self, row: ndarray::ArrayView1<'_, f64>) -> (Vec<f64>, Option<&'static str>) {
        match self {
            Self::Single(m) => (m.contributions(row), None),
            Self::Ensemble(m) | Self::Auto(m) => {
                let (contributions, fired) = m.explain(row);
                (contributions, fired.and_then(|i| m.member_name(i)))
            }
        }
    }
}

impl Delegating for FittedModel {
    fn inner(&self) -> &dyn FittedDetector {
        match self {
            Self::Single(m) => m.as_ref(),
            Self::Ensemble(m) | Self::Auto(m) => m,
        }
    }
}

// Serde, by hand because the halves live in different modules: a single detector
// serialises itself (`{"algorithm", <content>}`); an ensemble and `auto` are written in
// the same shape. Reading looks at `algorithm` first and hands the content straight to the right
// type, without buffering it (a neighbour model's content holds its training rows).

fn serialize_ensemble<S: Serializer, T: Serialize>(
    serializer: S,
    tag: &'static str,
    content_key: &'static str,
    content: &T,
) -> std::result::Result<S::Ok, S::Error> {
    let mut map = serializer.serialize_map(Some(2))?;
    map.serialize_entry("algorithm", tag)?;
    map.serialize_entry(content_key, content)?;
    map.end()
}

impl Serialize for AlgorithmParams {
    fn serialize<S: Serializer>(&self, serializer: S) -> std::result::Result<S::Ok, S::Error> {
        match self {
            Self::Single(p) => p.serialize(serializer),
            Self::Ensemble(p) => serialize_ensemble(serializer, "ensemble", "parameters", p),
            Self::Auto(p) => serialize_ensemble(serializer, "auto", "parameters", p),
        }
    }
}

impl Serialize for FittedModel {
    fn serialize<S: Serializer>(&self, serializer: S) -> std::result::Result<S::Ok, S::Error> {
        match self {
            Self::Single(m) => m.serialize(serializer),
            Self::Ensemble(m) => serialize_ensemble(serializer, "ensemble", "state", m),
            Self::Auto(m) => serialize_ensemble(serializer, "auto", "state", m),
        }
    }
}

impl<'de> Deserialize<'de> for AlgorithmParams {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> std::result::Result<Self, D::Error> {
        deserializer.deserialize_map(TaggedVisitor::<
            SingleParams,
            EnsembleParams,
            AutoParams,
            Self,
        > {
            content_key: "parameters",
            single: Self::Single,
            ensemble: Self::Ensemble,
            auto: Self::Auto,
        })
    }
}

impl<'de> Deserialize<'de> for FittedModel {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> std::result::Result<Self, D::Error> {
        deserializer.deserialize_map(TaggedVisitor::<
            Box<FittedSingle>,
            FittedEnsemble,
            FittedEnsemble,
            Self,
        > {
            content_key: "state",
            single: Self::Single,
            ensemble: Self::Ensemble,
            auto: Self::Auto,
        })
    }
}

/// Reads `{"algorithm": tag, content_key: content}` (tag first, as written) into `S`, `E`
/// (`ensemble`) or `U` (`auto`).
struct TaggedVisitor<S, E, U, T> {
    content_key: &'static str,
    single: fn(S) -> T,
    ensemble: fn(E) -> T,
    auto: fn(U) -> T,
}

impl<'de, S: Deserialize<'de>, E: Deserialize<'de>, U: Deserialize<'de>, T> Visitor<'de>
    for TaggedVisitor<S, E, U, T>
{
    type Value = T;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "an object with `algorithm` first, then `{}`",
            self.content_key
        )
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> std::result::Result<T, A::Error> {
        // Other keys are skipped; the content cannot be read before the tag says its type.
        loop {
            match map.next_key::<String>()?.as_deref() {
                Some("algorithm") => break,
                Some(key) if key == self.content_key => {
                    return Err(de::Error::custom(format!(
                        "`algorithm` must come before `{key}`"
                    )));
                }
                Some(_) => {
                    map.next_value::<IgnoredAny>()?;
                }
                None => return Err(de::Error::missing_field("algorithm")),
            }
        }
        let tag: String = map.next_value()?;
        // The right type's reader, fed the tag again and then the rest of this map (the
        // single detectors' derived reader wants the tag; the ensemble's ignores it).
        let rest = Retagged {
            tag: Some(tag.clone()),
            content_key: self.content_key,
            map: &mut map,
        };
        let value = if tag == "ensemble" {
            let content = EnsembleContent::<E>::deserialize(MapAccessDeserializer::new(rest))?;
            (self.ensemble)(content.0)
        } else if tag == "auto" {
            let content = EnsembleContent::<U>::deserialize(MapAccessDeserializer::new(rest))?;
            (self.auto)(content.0)
        } else {
            (self.single)(S::deserialize(MapAccessDeserializer::new(rest))?)
        };
        while map.next_entry::<IgnoredAny, IgnoredAny>()?.is_some() {}
        Ok(value)
    }
}

/// The content of `{"algorithm": "ensemble", <content key>: content}`.
struct EnsembleContent<E>(E);

impl<'de, E: Deserialize<'de>> Deserialize<'de> for EnsembleContent<E> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> std::result::Result<Self, D::Error> {
        struct ContentVisitor<E>(std::marker::PhantomData<E>);
        impl<'de, E: Deserialize<'de>> Visitor<'de> for ContentVisitor<E> {
            type Value = EnsembleContent<E>;

            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("an ensemble's content")
            }

            fn visit_map<A: MapAccess<'de>>(
                self,
                mut map: A,
            ) -> std::result::Result<Self::Value, A::Error> {
                // First entry: the tag again; then the content under its key.
                let _: Option<(IgnoredAny, IgnoredAny)> = map.next_entry()?;
                match map.next_key::<IgnoredAny>()? {
                    Some(_) => Ok(EnsembleContent(map.next_value()?)),
                    None => Err(de::Error::custom("an ensemble needs its content")),
                }
            }
        }
        deserializer.deserialize_map(ContentVisitor(std::marker::PhantomData))
    }
}

/// A map that yields `algorithm: tag`, then the next entry of `map`.
struct Retagged<'a, A> {
    tag: Option<String>,
    content_key: &'static str,
    map: &'a mut A,
}

impl<'de, A: MapAccess<'de>> MapAccess<'de> for Retagged<'_, A> {
    type Error = A::Error;

    fn next_key_seed<K: DeserializeSeed<'de>>(
        &mut self,
        seed: K,
    ) -> std::result::Result<Option<K::Value>, A::Error> {
        if self.tag.is_some() {
            let key: StrDeserializer<'_, A::Error> = "algorithm".into_deserializer();
            return seed.deserialize(key).map(Some);
        }
        // Only the content is handed on; anything else in the object is skipped.
        while let Some(key) = self.map.next_key::<String>()? {
            if key == self.content_key {
                let key: StrDeserializer<'_, A::Error> = self.content_key.into_deserializer();
                return seed.deserialize(key).map(Some);
            }
            self.map.next_value::<IgnoredAny>()?;
        }
        Ok(None)
    }

    fn next_value_seed<V: DeserializeSeed<'de>>(
        &mut self,
        seed: V,
    ) -> std::result::Result<V::Value, A::Error> {
        match self.tag.take() {
            Some(tag) => seed.deserialize(tag.into_deserializer()),
            None => self.map.next_value_seed(seed),
        }
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
    fn the_wire_shape_is_one_for_single_detectors_and_ensembles() {
        let knn = AlgorithmParams::default_for("knn").unwrap();
        let json = serde_json::to_value(&knn).unwrap();
        assert_eq!(json["algorithm"], "knn");
        assert_eq!(json["parameters"]["n_neighbors"], 5);
        let ensemble = AlgorithmParams::default_for("ensemble").unwrap();
        let json = serde_json::to_value(&ensemble).unwrap();
        assert_eq!(json["algorithm"], "ensemble");
        assert_eq!(json["parameters"]["members"][0]["algorithm"], "iforest");
        // Both read back; keys the content does not use are skipped.
        for params in [knn, ensemble] {
            let mut json = serde_json::to_value(&params).unwrap();
            json["note"] = serde_json::json!("written by hand");
            let back: AlgorithmParams = serde_json::from_value(json).unwrap();
            assert_eq!(back, params);
        }
        // The tag must come first, as every writer puts it.
        let err =
            serde_json::from_str::<AlgorithmParams>(r#"{"parameters": {}, "algorithm": "knn"}"#)
                .unwrap_err();
        assert!(
            err.to_string()
                .contains("`algorithm` must come before `parameters`"),
            "{err}"
        );
        let err =
            serde_json::from_str::<AlgorithmParams>(r#"{"algorithm": "svm", "parameters": {}}"#)
                .unwrap_err();
        assert!(err.to_string().contains("unknown variant `svm`"), "{err}");
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
