"""The detectors, with PyOD's class names, parameter names and defaults.

A PyOD parameter the engine does not implement is accepted at its PyOD default and refused
with a ``ValueError`` naming it at any other value — never silently ignored. Parameters
that only choose how scikit-learn computes the same result (``algorithm``, ``leaf_size``,
``svd_solver``...) are accepted as they are. ``random_state=None`` means the engine's
default seed (42): the same results as ``pynomaly detect`` and the service.
"""

from __future__ import annotations

from typing import Any, Dict, List, Optional, Sequence, Union

from ._base import BaseDetector, Contamination, check_parameter

_MINKOWSKI = "distances are Euclidean"


def _euclidean(metric: Any, p: Any, metric_params: Any) -> None:
    if metric in ("euclidean", "l2"):
        pass
    elif metric == "minkowski":
        check_parameter("p", p, [2], _MINKOWSKI)
    else:
        check_parameter("metric", metric, ["minkowski", "euclidean"], _MINKOWSKI)
    check_parameter("metric_params", metric_params, [None], _MINKOWSKI)


def _whole_number(name: str, value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int) and not hasattr(value, "__index__"):
        raise ValueError(f"{name} must be an integer, got {value!r}")
    return int(value)


class IForest(BaseDetector):
    """Isolation Forest (Liu et al. 2008) with scikit-learn's tree growth: rows isolated by
    few random splits are anomalous."""

    _algorithm = "iforest"

    def __init__(
        self,
        n_estimators: int = 100,
        max_samples: Union[int, float, str] = "auto",
        contamination: Contamination = 0.1,
        max_features: float = 1.0,
        bootstrap: bool = False,
        n_jobs: Optional[int] = 1,
        behaviour: str = "old",
        random_state: Optional[int] = None,
        verbose: int = 0,
    ) -> None:
        self.n_estimators = n_estimators
        self.max_samples = max_samples
        self.contamination = contamination
        self.max_features = max_features
        self.bootstrap = bootstrap
        self.n_jobs = n_jobs
        self.behaviour = behaviour
        self.random_state = random_state
        self.verbose = verbose

    def _engine_parameters(self, rows: int) -> Dict[str, Any]:
        check_parameter("max_features", self.max_features, [1.0], "every tree draws from all features")
        check_parameter("bootstrap", self.bootstrap, [False], "trees sample rows without replacement")
        m = self.max_samples
        if m == "auto":
            samples = 256
        elif isinstance(m, float):
            if not 0.0 < m <= 1.0:
                raise ValueError(f"max_samples as a share of the rows must be in (0, 1], got {m}")
            samples = max(2, int(m * rows))
        else:
            samples = _whole_number("max_samples", m)
        return {"n_estimators": _whole_number("n_estimators", self.n_estimators), "max_samples": samples}


class ECOD(BaseDetector):
    """ECOD (Li et al. 2022): per-feature empirical tail probabilities; parameter-free."""

    _algorithm = "ecod"

    def __init__(self, contamination: Contamination = 0.1, n_jobs: Optional[int] = 1) -> None:
        self.contamination = contamination
        self.n_jobs = n_jobs


class COPOD(BaseDetector):
    """COPOD (Li et al. 2020): copula-based tail probabilities; parameter-free."""

    _algorithm = "copod"

    def __init__(self, contamination: Contamination = 0.1, n_jobs: Optional[int] = 1) -> None:
        self.contamination = contamination
        self.n_jobs = n_jobs


class HBOS(BaseDetector):
    """Histogram-based outlier score (Goldstein & Dengel 2012): per-feature densities."""

    _algorithm = "hbos"

    def __init__(
        self,
        n_bins: int = 10,
        alpha: float = 0.1,
        tol: float = 0.5,
        contamination: Contamination = 0.1,
        n_jobs: Optional[int] = 1,
    ) -> None:
        self.n_bins = n_bins
        self.alpha = alpha
        self.tol = tol
        self.contamination = contamination
        self.n_jobs = n_jobs

    def _engine_parameters(self, rows: int) -> Dict[str, Any]:
        if self.n_bins == "auto":
            raise ValueError("n_bins='auto' is not supported: give the number of bins (default 10)")
        return {"n_bins": _whole_number("n_bins", self.n_bins), "alpha": float(self.alpha), "tol": float(self.tol)}


class KNN(BaseDetector):
    """k-nearest-neighbour distance (Ramaswamy et al. 2000): far from its neighbours is
    anomalous; ``method`` is ``largest``, ``mean`` or ``median``."""

    _algorithm = "knn"

    def __init__(
        self,
        contamination: Contamination = 0.1,
        n_neighbors: int = 5,
        method: str = "largest",
        radius: float = 1.0,
        algorithm: str = "auto",
        leaf_size: int = 30,
        metric: str = "minkowski",
        p: int = 2,
        metric_params: Optional[dict] = None,
        n_jobs: Optional[int] = 1,
    ) -> None:
        self.contamination = contamination
        self.n_neighbors = n_neighbors
        self.method = method
        self.radius = radius
        self.algorithm = algorithm
        self.leaf_size = leaf_size
        self.metric = metric
        self.p = p
        self.metric_params = metric_params
        self.n_jobs = n_jobs

    def _engine_parameters(self, rows: int) -> Dict[str, Any]:
        _euclidean(self.metric, self.p, self.metric_params)
        return {"n_neighbors": _whole_number("n_neighbors", self.n_neighbors), "method": self.method}


class LOF(BaseDetector):
    """Local Outlier Factor (Breunig et al. 2000), scikit-learn's definition."""

    _algorithm = "lof"

    def __init__(
        self,
        n_neighbors: int = 20,
        algorithm: str = "auto",
        leaf_size: int = 30,
        metric: str = "minkowski",
        p: int = 2,
        metric_params: Optional[dict] = None,
        contamination: Contamination = 0.1,
        n_jobs: Optional[int] = 1,
        novelty: bool = True,
    ) -> None:
        self.n_neighbors = n_neighbors
        self.algorithm = algorithm
        self.leaf_size = leaf_size
        self.metric = metric
        self.p = p
        self.metric_params = metric_params
        self.contamination = contamination
        self.n_jobs = n_jobs
        self.novelty = novelty

    def _engine_parameters(self, rows: int) -> Dict[str, Any]:
        _euclidean(self.metric, self.p, self.metric_params)
        check_parameter("novelty", self.novelty, [True], "new rows are always scored against the training rows")
        return {"n_neighbors": _whole_number("n_neighbors", self.n_neighbors)}


class PCA(BaseDetector):
    """PCA outlier score (Shyu et al. 2003, PyOD's definition): weighted distance of the
    standardised row to the principal components."""

    _algorithm = "pca"

    def __init__(
        self,
        n_components: Optional[int] = None,
        n_selected_components: Optional[int] = None,
        contamination: Contamination = 0.1,
        copy: bool = True,
        whiten: bool = False,
        svd_solver: str = "auto",
        tol: float = 0.0,
        iterated_power: Union[int, str] = "auto",
        random_state: Optional[int] = None,
        weighted: bool = True,
        standardization: bool = True,
        n_jobs: Optional[int] = 1,
    ) -> None:
        self.n_components = n_components
        self.n_selected_components = n_selected_components
        self.contamination = contamination
        self.copy = copy
        self.whiten = whiten
        self.svd_solver = svd_solver
        self.tol = tol
        self.iterated_power = iterated_power
        self.random_state = random_state
        self.weighted = weighted
        self.standardization = standardization
        self.n_jobs = n_jobs

    def _engine_parameters(self, rows: int) -> Dict[str, Any]:
        check_parameter("n_components", self.n_components, [None], "every component is kept")
        check_parameter("whiten", self.whiten, [False], "components are not whitened")
        check_parameter(
            "svd_solver", self.svd_solver, ["auto", "full", "covariance_eigh"], "the decomposition is exact"
        )
        params: Dict[str, Any] = {"weighted": bool(self.weighted), "standardization": bool(self.standardization)}
        if self.n_selected_components is not None:
            params["n_selected_components"] = _whole_number("n_selected_components", self.n_selected_components)
        return params


class MAD(BaseDetector):
    """Median absolute deviation: ``|x - median| / (1.4826 MAD)``. As PyOD, rows above
    ``threshold`` are flagged (``contamination`` is then only used by
    ``predict_confidence``); unlike PyOD's, several features are allowed — a row scores
    its largest robust z-score."""

    _algorithm = "mad"

    def __init__(self, threshold: float = 3.5, contamination: Contamination = 0.1, n_jobs: Optional[int] = 1) -> None:
        self.threshold = threshold
        self.contamination = contamination
        self.n_jobs = n_jobs

    def _threshold_rule(self):  # type: ignore[no-untyped-def]
        super()._threshold_rule()  # contamination is still checked
        if isinstance(self.threshold, bool) or not isinstance(self.threshold, (int, float)):
            raise ValueError(f"threshold must be a number, got {self.threshold!r}")
        return "score", float(self.threshold)


class RCF(BaseDetector):
    """Random Cut Forest (Guha et al. 2016, rcf3): how much a row displaces the forest."""

    _algorithm = "rcf"

    def __init__(
        self,
        num_trees: int = 100,
        sample_size: int = 256,
        contamination: Contamination = 0.1,
        random_state: Optional[int] = None,
        n_jobs: Optional[int] = 1,
    ) -> None:
        self.num_trees = num_trees
        self.sample_size = sample_size
        self.contamination = contamination
        self.random_state = random_state
        self.n_jobs = n_jobs

    def _engine_parameters(self, rows: int) -> Dict[str, Any]:
        return {
            "num_trees": _whole_number("num_trees", self.num_trees),
            "sample_size": _whole_number("sample_size", self.sample_size),
        }


class Ensemble(BaseDetector):
    """Several detectors' standardised scores combined (``mean``, ``max``, ``median`` or
    ``weighted``). ``members`` are detector instances or algorithm names (default:
    IForest, ECOD, COPOD, PCA and KNN)."""

    _algorithm = "ensemble"

    def __init__(
        self,
        members: Optional[Sequence[Union[str, BaseDetector]]] = None,
        combination: str = "mean",
        weights: Optional[Sequence[float]] = None,
        normalization: str = "standard",
        scaling: str = "none",
        contamination: Contamination = 0.1,
        random_state: Optional[int] = None,
        n_jobs: Optional[int] = 1,
    ) -> None:
        self.members = members
        self.combination = combination
        self.weights = weights
        self.normalization = normalization
        self.scaling = scaling
        self.contamination = contamination
        self.random_state = random_state
        self.n_jobs = n_jobs

    def _engine_parameters(self, rows: int) -> Dict[str, Any]:
        params: Dict[str, Any] = {
            "combination": self.combination,
            "normalization": self.normalization,
            "scaling": self.scaling,
        }
        if self.weights is not None:
            params["weights"] = [float(w) for w in self.weights]
        if self.members is not None:
            members: List[Any] = []
            for m in self.members:
                if isinstance(m, (str, dict)):  # a name, or {"algorithm", "parameters"}
                    members.append(m)
                elif isinstance(m, (Ensemble, Auto)):
                    raise ValueError("members cannot be ensembles: list single detectors")
                elif isinstance(m, BaseDetector):
                    members.append({"algorithm": m._algorithm, "parameters": m._engine_parameters(rows) or {}})
                else:
                    raise ValueError(f"members must be detectors or algorithm names, got {type(m).__name__}")
            params["members"] = members
        return params


class Auto(BaseDetector):
    """The engine's default detector: the strongest of isolation forest, HBOS, PCA and
    k-NN on robustly scaled features, in robust z-units. Its ``contamination`` defaults to
    ``'auto'``: its own threshold, no guess of the anomaly share needed."""

    _algorithm = "auto"

    def __init__(
        self, contamination: Contamination = "auto", random_state: Optional[int] = None, n_jobs: Optional[int] = 1
    ) -> None:
        self.contamination = contamination
        self.random_state = random_state
        self.n_jobs = n_jobs


#: Every detector class, by the engine's algorithm name.
DETECTORS = {cls._algorithm: cls for cls in (IForest, ECOD, COPOD, HBOS, KNN, LOF, PCA, MAD, RCF, Ensemble, Auto)}
