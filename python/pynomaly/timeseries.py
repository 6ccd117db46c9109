"""Time series: one series of values through one of the engine's methods (the same code as
``pynomaly timeseries detect`` and ``POST /api/v1/timeseries/detect``).

Methods: ``context`` (the default), ``rcf``, ``rolling-z``, ``esd``, ``forecast`` and
``changepoint``; their parameters are keyword arguments (``window=48`` for rolling-z...).
"""

from __future__ import annotations

import json
from typing import Any, Dict, List, Optional

import numpy as np

from . import _engine

METHODS: List[str] = list(_engine.SERIES_METHODS)
DEFAULT_METHOD: str = _engine.DEFAULT_SERIES_METHOD

#: The per-point columns of a result, in order.
COLUMNS = ("timestamp", "value", "expected", "lower", "upper", "score", "grade", "anomaly")


class SeriesResult(dict):
    """Per-point arrays in input order — ``timestamp`` (when given), ``value``,
    ``expected``, ``lower``/``upper`` (the normal band), ``score``, ``grade`` (0-1) and
    ``anomaly`` — plus ``method`` and ``changepoints`` (``index`` in input order,
    ``level_before``, ``level_after``). A dict, so ``pandas.DataFrame(result)`` works;
    ``to_frame()`` builds that frame with the per-point columns."""

    @property
    def changepoints(self) -> List[Dict[str, Any]]:
        return self["changepoints"]

    @property
    def anomalies(self) -> np.ndarray:
        """Input positions of the flagged points."""
        return np.flatnonzero(self["anomaly"])

    def to_frame(self) -> Any:
        try:
            import pandas as pd
        except ImportError:
            raise ImportError("to_frame() needs pandas: pip install pandas") from None
        return pd.DataFrame({c: self[c] for c in COLUMNS if c in self})


def _timestamps(timestamps: Any, n: int) -> np.ndarray:
    ts = np.asarray(timestamps)
    if ts.ndim != 1 or len(ts) != n:
        raise ValueError(f"timestamps must be one per value: got shape {ts.shape} for {n} values")
    if ts.dtype.kind in "UOS":
        try:
            ts = ts.astype("datetime64[ns]")
        except (TypeError, ValueError) as e:
            raise ValueError(f"timestamps must be datetimes, ISO 8601 strings or numbers: {e}") from None
    if ts.dtype.kind == "M":
        bad = np.flatnonzero(np.isnat(ts))
    elif ts.dtype.kind in "iuf":
        bad = np.flatnonzero(~np.isfinite(ts.astype(np.float64)))
    else:
        raise ValueError(f"timestamps must be datetimes, ISO 8601 strings or numbers, got dtype {ts.dtype}")
    if len(bad):
        raise ValueError(f"timestamps[{bad[0]}] is missing (NaT or NaN)")
    return ts


def detect(
    values: Any,
    timestamps: Any = None,
    method: str = DEFAULT_METHOD,
    *,
    period: Optional[int] = None,
    sensitivity: float = 1.0,
    cooldown: Optional[int] = None,
    **parameters: Any,
) -> SeriesResult:
    """Finds the anomalies (and, with ``changepoint``, the level changes) of a series.

    ``values``: numbers (a list, an array, or a pandas Series — whose datetime index is
    used as the timestamps when none are given). ``timestamps``: datetimes, ISO 8601
    strings or numbers, one per value; points are sorted by them (stably: repeated
    timestamps stay separate points) and the results come back in input order. Without
    timestamps the points are taken in the order given. ``period``: the seasonal period in
    points (default: detected). ``sensitivity`` divides every threshold (2 flags more).
    ``cooldown``: points after an alarm during which new flags are cleared (default n/50,
    at least 10; 0 keeps every flag).
    """
    index = getattr(values, "index", None)
    if timestamps is None and index is not None and getattr(index, "dtype", None) is not None:
        if np.asarray(index).dtype.kind == "M":
            timestamps = np.asarray(index)
    try:
        series = np.asarray(values, dtype=np.float64)
    except (TypeError, ValueError) as e:
        raise ValueError(f"values must be numbers: {e}") from None
    if series.ndim != 1:
        raise ValueError(f"values must be one-dimensional, got shape {series.shape}")
    bad = np.flatnonzero(~np.isfinite(series))
    if len(bad):
        raise ValueError(f"values[{bad[0]}] is not a finite number ({series[bad[0]]})")
    order = None
    ts = None
    if timestamps is not None:
        ts = _timestamps(timestamps, len(series))
        order = np.argsort(ts, kind="stable")
        series = series[order]
    found = _engine.detect_series(
        series,
        method,
        json.dumps(parameters) if parameters else None,
        period=period,
        sensitivity=float(sensitivity),
        cooldown=cooldown,
    )
    result = SeriesResult()
    if ts is not None:
        result["timestamp"] = ts
    for column in COLUMNS[1:]:
        column_values = found[column]
        if order is not None:
            back = np.empty_like(column_values)
            back[order] = column_values
            column_values = back
        result[column] = column_values
    changepoints = found["changepoints"]
    if order is not None:
        for c in changepoints:
            c["index"] = int(order[c["index"]])
    result["method"] = found["method"]
    result["changepoints"] = changepoints
    return result


__all__ = ["COLUMNS", "DEFAULT_METHOD", "METHODS", "SeriesResult", "detect"]
