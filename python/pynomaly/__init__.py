"""Pynomaly: anomaly detection on a Rust engine.

- Detectors with PyOD's interface: ``IForest``, ``ECOD``, ``COPOD``, ``HBOS``, ``KNN``,
  ``LOF``, ``PCA``, ``MAD``, ``RCF``, ``Ensemble`` and ``Auto``.
- ``load(path)``: a detector from a model file written by ``save``, the CLI or the service.
- ``timeseries.detect``: anomalies and changepoints of a series.
- ``Client``: the Pynomaly HTTP API.
"""

from __future__ import annotations

import os

# The engine's matrix products have a thread pool of their own; keep rayon (sized by
# n_jobs) the only source of threads, as the pynomaly binary does.
os.environ.setdefault("MATMUL_NUM_THREADS", "1")

import json  # noqa: E402
from pathlib import Path  # noqa: E402
from typing import Any, Dict, List, Union  # noqa: E402

from . import timeseries  # noqa: E402
from ._base import BaseDetector  # noqa: E402
from ._engine import VERSION as __version__  # noqa: E402
from ._engine import Model  # noqa: E402
from . import _engine  # noqa: E402
from .client import Client, Job  # noqa: E402
from .detectors import (  # noqa: E402
    COPOD, DETECTORS, ECOD, HBOS, KNN, LOF, MAD, PCA, RCF, Auto, Ensemble, IForest,
)
from .exceptions import (  # noqa: E402
    ApiError, EngineError, ModelFormatError, NotFittedError,
)


def load(path: Union[str, "os.PathLike[str]"], **params: Any) -> BaseDetector:
    """Reads a model file (written by ``save``, ``pynomaly models export`` or the
    service) into a fitted detector of its class, with the parameters the model was
    fitted with. The threshold rule is the detector's, not the model's: pass
    ``contamination`` (or MAD's ``threshold``) when it is not the class's default.
    ``threshold_`` comes from the training scores kept in the file (every score up to
    4,097 training rows; a quantile table beyond); the training rows' own
    ``decision_scores_`` and ``labels_`` are not in the file."""
    model = Model.load(Path(path))
    return from_model(model, **params)


def from_model(model: Model, **params: Any) -> BaseDetector:
    """A fitted detector around an engine ``Model`` (see ``load``)."""
    cls = DETECTORS[model.algorithm]
    detector = cls()
    engine_params: Dict[str, Any] = json.loads(model.parameters).get("parameters") or {}
    names = set(detector.get_params(deep=False))
    detector.set_params(**{k: v for k, v in engine_params.items() if k in names})
    if "random_state" in names:
        detector.set_params(random_state=model.seed)
    detector.set_params(**params)
    rule, value = detector._threshold_rule()
    detector._set_fitted(model, model.threshold(rule, value))
    return detector


def algorithms() -> List[Dict[str, Any]]:
    """The engine's algorithms: name, aliases, description and parameters."""
    return _engine.algorithms()


__all__ = [
    "ApiError", "Auto", "BaseDetector", "COPOD", "Client", "ECOD", "Ensemble", "EngineError",
    "HBOS", "IForest", "Job", "KNN", "LOF", "MAD", "Model", "ModelFormatError",
    "NotFittedError", "PCA", "RCF", "algorithms", "from_model", "load", "timeseries",
    "__version__",
]
