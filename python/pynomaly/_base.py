"""PyOD's detector interface over the engine.

Fitting, scoring, thresholds and explanations are the engine's (the same code as the CLI
and the service); this module adds PyOD's names and conventions on top: ``contamination``,
``decision_scores_`` / ``threshold_`` / ``labels_``, ``predict_proba`` and
``predict_confidence`` as ``pyod.models.base.BaseDetector`` computes them, and
scikit-learn's ``get_params`` / ``set_params``.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any, Dict, List, Optional, Sequence, Tuple, Union

import numpy as np

from . import _engine
from .exceptions import NotFittedError

try:  # scikit-learn is optional: with it, detectors are real estimators (tags, clone).
    from sklearn.base import BaseEstimator as _Estimator

    _HAVE_SKLEARN = True
except ImportError:  # pragma: no cover - exercised only without scikit-learn
    from ._params import ParamsMixin as _Estimator

    _HAVE_SKLEARN = False

Contamination = Union[float, str]


def _n_threads(n_jobs: Optional[int]) -> int:
    """joblib's meaning of ``n_jobs``: None is 1, -1 every core, -2 all but one..."""
    if n_jobs is None:
        return 1
    if isinstance(n_jobs, bool) or not isinstance(n_jobs, (int, np.integer)) or n_jobs == 0:
        raise ValueError(f"n_jobs must be a non-zero integer or None, got {n_jobs!r}")
    if n_jobs > 0:
        return int(n_jobs)
    return max(1, (os.cpu_count() or 1) + 1 + int(n_jobs))


def _seed(random_state: Any) -> int:
    if random_state is None:
        return int(_engine.DEFAULT_SEED)
    if isinstance(random_state, bool) or not isinstance(random_state, (int, np.integer)):
        raise ValueError(
            f"random_state must be an integer or None, got {type(random_state).__name__}: "
            "the engine takes a seed, not a RandomState"
        )
    if random_state < 0 or random_state >= 2**64:
        raise ValueError(f"random_state must be in [0, 2**64), got {random_state}")
    return int(random_state)


def as_matrix(X: Any, name: str = "X", trained: Optional[List[str]] = None) -> Tuple[np.ndarray, Optional[List[str]]]:
    """``X`` as a float64 matrix (no copy when it already is one, in any memory order) and
    its column names when it is a DataFrame. Scoring a DataFrame with a model trained on
    named columns takes those columns by name, in any order, as the service does."""
    names = None
    columns = getattr(X, "columns", None)
    if columns is not None and hasattr(X, "to_numpy"):
        names = [str(c) for c in columns]
        if trained is not None and names != trained:
            missing = [c for c in trained if c not in names]
            if missing:
                raise ValueError(f"{name} lacks the trained column(s) {missing}; it has {names}")
            X = X[[columns[names.index(c)] for c in trained]]
            names = list(trained)
        X = X.to_numpy(dtype=np.float64)
    try:
        matrix = np.asarray(X, dtype=np.float64)
    except (TypeError, ValueError) as e:
        raise ValueError(f"{name} must hold numbers only: {e}") from None
    if matrix.ndim != 2:
        hint = " Reshape it with X.reshape(-1, 1) for one feature." if matrix.ndim == 1 else ""
        raise ValueError(
            f"{name} must be 2-dimensional (rows x features), got {matrix.ndim} dimension(s).{hint}"
        )
    if matrix.shape[0] == 0 or matrix.shape[1] == 0:
        raise ValueError(f"{name} is empty: shape {matrix.shape}")
    return matrix, names


class TrainingScores:
    """What PyOD's conversions need of the training scores: exact from the scores of a fit,
    or from the model's stored summary (every score up to 4,097 rows, a 4,097-point quantile
    table beyond) when the detector was read from a model file."""

    def __init__(self, ascending: np.ndarray, count: int, mean: float, std: float, exact: bool):
        self.ascending = ascending
        self.count = count
        self.mean = mean
        self.std = std
        self.exact = exact

    @classmethod
    def of_scores(cls, scores: np.ndarray) -> "TrainingScores":
        return cls(np.sort(scores), len(scores), float(np.mean(scores)), float(np.std(scores)), True)

    @classmethod
    def of_model(cls, model: "_engine.Model") -> "TrainingScores":
        s = model.training_scores()
        table = s["quantiles"]
        return cls(table, int(s["count"]), float(s["mean"]), float(s["std"]), len(table) == s["count"])

    def count_at_most(self, scores: np.ndarray) -> np.ndarray:
        """How many training scores are <= each score."""
        if self.exact:
            return np.searchsorted(self.ascending, scores, side="right")
        # A quantile table: the interpolated share of scores below, times their count.
        grid = np.linspace(0.0, 1.0, len(self.ascending))
        return np.floor(np.interp(scores, self.ascending, grid) * self.count).astype(np.int64)


class BaseDetector(_Estimator):
    """The interface every detector shares (PyOD's ``BaseDetector``).

    Subclasses set ``_algorithm`` (the engine's name) and map their constructor parameters
    to the engine's in ``_engine_parameters``; unsupported values raise ``ValueError``
    naming the parameter rather than being ignored.
    """

    _algorithm: str = ""
    _estimator_type = "outlier_detector"

    # --- what subclasses provide -------------------------------------------------------
    def _engine_parameters(self, rows: int) -> Optional[Dict[str, Any]]:
        """The engine's parameters for a fit on ``rows`` rows (None: its defaults)."""
        return None

    # --- fitting -----------------------------------------------------------------------
    def _threshold_rule(self) -> Tuple[str, Optional[float]]:
        c = self.contamination
        if isinstance(c, str):
            if c != "auto":
                raise ValueError(f"contamination must be a number in (0, 0.5] or 'auto', got {c!r}")
            return "auto", None
        if isinstance(c, bool) or not isinstance(c, (int, float, np.integer, np.floating)):
            raise ValueError(f"contamination must be a number in (0, 0.5] or 'auto', got {c!r}")
        if not 0.0 < float(c) <= 0.5:
            raise ValueError(f"contamination must be in (0, 0.5], got: {float(c):f}")
        return "contamination", float(c)

    def _threads(self) -> int:
        return _n_threads(getattr(self, "n_jobs", 1))

    def fit(self, X: Any, y: Any = None) -> "BaseDetector":
        """Fits the detector on the rows of ``X`` (``y`` is ignored: unsupervised)."""
        rule, value = self._threshold_rule()
        matrix, names = as_matrix(X)
        parameters = self._engine_parameters(matrix.shape[0])
        model, scores, threshold, labels = _engine.fit(
            self._algorithm,
            None if parameters is None else json.dumps(parameters),
            matrix,
            seed=_seed(getattr(self, "random_state", None)),
            feature_names=names or [],
            rule=rule,
            value=value,
            n_jobs=self._threads(),
        )
        self._set_fitted(model, threshold)
        self.decision_scores_ = scores
        self.labels_ = labels.astype(int)
        self._training = TrainingScores.of_scores(scores)
        self._mu, self._sigma = self._training.mean, self._training.std
        if names is not None:
            self.feature_names_in_ = np.asarray(names, dtype=object)
        elif hasattr(self, "feature_names_in_"):
            del self.feature_names_in_
        return self

    def _set_fitted(self, model: "_engine.Model", threshold: float) -> None:
        self.model_ = model
        self.threshold_ = float(threshold)
        self.n_features_in_ = model.n_features

    def fit_predict(self, X: Any, y: Any = None) -> np.ndarray:
        """Fits and returns ``labels_`` (1 = anomaly), as PyOD."""
        return self.fit(X, y).labels_

    # --- scoring -----------------------------------------------------------------------
    def _check_fitted(self) -> None:
        if not hasattr(self, "model_"):
            raise NotFittedError(
                f"This {type(self).__name__} instance is not fitted yet. Call 'fit' with "
                "appropriate arguments before using this detector."
            )

    def decision_function(self, X: Any) -> np.ndarray:
        """Raw anomaly scores of ``X`` (higher = more anomalous); never refits."""
        self._check_fitted()
        matrix, _ = as_matrix(X, trained=self._trained_names())
        return self.model_.decision_function(matrix, self._threads())

    def _trained_names(self) -> Optional[List[str]]:
        """The trained columns' names, when the model was fitted on named columns."""
        names = getattr(self, "feature_names_in_", None)
        if names is not None:
            return [str(n) for n in names]
        model_names = self.model_.feature_names
        return None if model_names == [f"f{i}" for i in range(len(model_names))] else model_names

    def predict(self, X: Any, return_confidence: bool = False) -> Any:
        """1 for the rows scored above ``threshold_``, else 0; with ``return_confidence``
        also each prediction's confidence (see ``predict_confidence``)."""
        scores = self.decision_function(X)
        labels = (scores > self.threshold_).astype(int)
        if return_confidence:
            return labels, self._confidence(scores)
        return labels

    def predict_proba(self, X: Any, method: str = "linear", return_confidence: bool = False) -> Any:
        """The probability of each row being normal and anomalous, shape (n, 2): ``linear``
        scales scores by the training scores' range, ``unify`` is Kriegel et al.'s
        Gaussian scaling (PyOD's two methods)."""
        if method not in ("linear", "unify"):
            raise ValueError(f"method must be 'linear' or 'unify', got {method!r}")
        scores = self.decision_function(X)
        train = self._training_scores()
        if method == "linear":
            low, high = float(train.ascending[0]), float(train.ascending[-1])
            scale = (high - low) or 1.0  # scikit-learn's MinMaxScaler on a constant column
            outlier = ((scores - low) / scale).clip(0.0, 1.0)
        else:
            sigma = train.std or 1.0
            outlier = _engine.erf((scores - train.mean) / (sigma * np.sqrt(2.0))).clip(0.0, 1.0)
        probabilities = np.column_stack([1.0 - outlier, outlier])
        if return_confidence:
            return probabilities, self._confidence(scores)
        return probabilities

    def predict_confidence(self, X: Any) -> np.ndarray:
        """How surely each prediction would stay the same under a slightly different
        training set, in [0, 1] (Perini et al. 2020's ExCeeD, as PyOD)."""
        return self._confidence(self.decision_function(X))

    def _training_scores(self) -> TrainingScores:
        training = getattr(self, "_training", None)
        if training is None:
            training = TrainingScores.of_model(self.model_)
            self._training = training
        return training

    def _confidence(self, scores: np.ndarray) -> np.ndarray:
        train = self._training_scores()
        n = train.count
        below = train.count_at_most(scores)
        posterior = (1.0 + below) / (2.0 + n)
        if isinstance(self.contamination, str):
            # The automatic threshold: the share of training rows above it stands for the
            # contamination (PyOD does the same for a thresholder's labels).
            contamination = 1.0 - float(train.count_at_most(np.array([self.threshold_]))[0]) / n
        else:
            contamination = float(self.contamination)
        confidence = 1.0 - _engine.binomial_cdf(
            n - int(n * contamination), n, posterior.astype(np.float64)
        )
        normal = scores <= self.threshold_
        confidence[normal] = 1.0 - confidence[normal]
        return confidence

    # --- explanations ------------------------------------------------------------------
    def explain(self, X: Any, top: int = 3) -> List[Dict[str, Any]]:
        """Each row's ``top`` largest feature contributions (the engine's explanations, as
        the API returns them): ``{"row", "detector", "top_features": [{"feature", "index",
        "value", "contribution", "share"}]}``, one per row of ``X``."""
        self._check_fitted()
        if isinstance(top, bool) or not isinstance(top, (int, np.integer)) or top < 1:
            raise ValueError(f"top must be a positive integer, got {top!r}")
        matrix, _ = as_matrix(X, trained=self._trained_names())
        return self.model_.explain(matrix, int(top), self._threads())

    # --- storage -----------------------------------------------------------------------
    def save(self, path: Union[str, "os.PathLike[str]"]) -> None:
        """Writes the fitted model in the engine's versioned format: the file
        ``pynomaly detect --model``, ``pynomaly serve`` and ``pynomaly.load`` read."""
        self._check_fitted()
        self.model_.save(Path(path))

    def __getstate__(self) -> Dict[str, Any]:
        # The engine model pickles itself through the engine's format (Model.__reduce__);
        # the training-score summary is rebuilt from the fitted attributes on load.
        state = dict(self.__dict__)
        state.pop("_training", None)
        return state

    def __setstate__(self, state: Dict[str, Any]) -> None:
        self.__dict__.update(state)
        if "decision_scores_" in state:
            self._training = TrainingScores.of_scores(state["decision_scores_"])

    if _HAVE_SKLEARN:

        def __sklearn_tags__(self):  # type: ignore[no-untyped-def]
            tags = super().__sklearn_tags__()
            tags.estimator_type = "outlier_detector"
            tags.target_tags.required = False
            return tags


def check_parameter(name: str, value: Any, allowed: Sequence[Any], why: str) -> None:
    """Refuses a PyOD parameter value the engine does not implement."""
    if not any(value is a or (not isinstance(value, bool) and value == a) for a in allowed):
        choices = ", ".join(repr(a) for a in allowed)
        raise ValueError(f"{name}={value!r} is not supported: {why} (use {choices})")
