"""pynomaly.timeseries.detect: the CLI's results on the same series, input order kept."""

from __future__ import annotations

import csv
import json
import subprocess

import numpy as np
import pytest

import pynomaly
from pynomaly import timeseries


def series(n=1200, spikes=(500, 900)):
    """A daily cycle of 48 points with noise, two spikes and a level shift at 1000."""
    rng = np.random.default_rng(11)
    t = np.arange(n)
    values = 10 + 3 * np.sin(2 * np.pi * t / 48) + rng.normal(0, 0.3, n)
    for s in spikes:
        values[s] += 30
    values[1000:] += 6
    stamps = np.datetime64("2026-01-01T00:00") + t * np.timedelta64(30, "m")
    return np.round(values, 6), stamps


def cli(binary, tmp_path, values, stamps, *flags):
    path = tmp_path / "series.csv"
    with open(path, "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["timestamp", "value"])
        for s, v in zip(stamps, values):
            w.writerow([f"{s.astype('datetime64[s]')}Z", repr(float(v))])
    out = tmp_path / "out.json"
    subprocess.run([str(binary), "timeseries", "detect", str(path), "-o", str(out), *flags],
                   check=True, capture_output=True)
    return json.loads(out.read_text())


@pytest.mark.parametrize("method,params", [("context", {}), ("rolling-z", {"window": 96}), ("rcf", {}),
                                           ("esd", {}), ("changepoint", {})])
def test_same_flags_as_the_cli(method, params, pynomaly_bin, tmp_path):
    values, stamps = series()
    found = timeseries.detect(values, stamps, method=method, **params)
    flags = ["--method", method] + (["--params", json.dumps(params)] if params else [])
    expected = cli(pynomaly_bin, tmp_path, values, stamps, *flags)
    points = expected["points"] if isinstance(expected, dict) else expected
    assert [bool(p["anomaly"]) for p in points] == list(found["anomaly"])
    np.testing.assert_allclose([p["score"] for p in points], found["score"], rtol=1e-9)
    assert found["method"] == method
    if method == "changepoint":
        assert any(abs(c["index"] - 1000) <= 5 for c in found.changepoints)
    else:
        assert found["anomaly"][500] and found["anomaly"][900]


def test_timestamps_sort_the_points_and_results_come_back_in_input_order():
    values, stamps = series()
    in_order = timeseries.detect(values, stamps, method="rolling-z")
    shuffle = np.random.default_rng(0).permutation(len(values))
    shuffled = timeseries.detect(values[shuffle], stamps[shuffle].astype(str), method="rolling-z")
    for column in ("value", "expected", "score", "anomaly"):
        np.testing.assert_array_equal(shuffled[column], in_order[column][shuffle])
    assert set(shuffled.anomalies) == {int(np.flatnonzero(shuffle == i)[0]) for i in in_order.anomalies}


def test_a_pandas_series_and_a_frame():
    import pandas as pd

    values, stamps = series()
    s = pd.Series(values, index=pd.DatetimeIndex(stamps))
    result = timeseries.detect(s, method="rolling-z")
    frame = result.to_frame()
    assert list(frame.columns) == ["timestamp", "value", "expected", "lower", "upper", "score", "grade", "anomaly"]
    assert len(frame) == len(values) and frame["anomaly"].dtype == bool
    assert ((frame["grade"] >= 0) & (frame["grade"] <= 1)).all()
    assert frame.loc[500, "anomaly"]


def test_errors_name_the_point_or_parameter():
    values, stamps = series(200, ())
    bad = values.copy()
    bad[17] = np.nan
    with pytest.raises(ValueError, match=r"values\[17\] is not a finite number"):
        timeseries.detect(bad)
    with pytest.raises(ValueError, match="one per value"):
        timeseries.detect(values, stamps[:10])
    with pytest.raises(pynomaly.EngineError, match="unknown algorithm `wavelet`"):
        timeseries.detect(values, method="wavelet")
    with pytest.raises(pynomaly.EngineError, match="window"):
        timeseries.detect(values, method="rolling-z", window=1)
    with pytest.raises(pynomaly.EngineError, match="sensitivity"):
        timeseries.detect(values, sensitivity=0)
    with pytest.raises(pynomaly.EngineError, match="needs at least"):
        timeseries.detect(values[:3], method="esd")
    with pytest.raises(ValueError, match="timestamps must be datetimes"):
        timeseries.detect(values, ["yesterday"] * len(values))
