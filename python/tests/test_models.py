"""Models stored in the engine's versioned format: saved and loaded by the package, read
and written by the CLI, pickled through that format."""

from __future__ import annotations

import json
import pickle
import subprocess

import numpy as np
import pytest

import pynomaly
from pynomaly import ECOD, KNN, MAD, Auto, Ensemble, IForest

from conftest import SAMPLES, read_sample


@pytest.mark.parametrize(
    "detector", [IForest(n_estimators=30), ECOD(contamination=0.05), KNN(n_neighbors=7), MAD(threshold=3.0),
                 Ensemble(members=["ecod", "hbos"]), Auto()], ids=lambda d: type(d).__name__)
def test_save_and_load_round_trip(detector, tmp_path):
    X, _, _ = read_sample("wbc")
    detector.fit(X)
    path = tmp_path / "model.json"
    detector.save(path)
    envelope = json.loads(path.read_text())
    assert envelope["format"] == "pynomaly-model" and envelope["algorithm"] == detector._algorithm
    # The threshold rule is the detector's, not the model's: given again when loading.
    rule = {"threshold": detector.threshold} if isinstance(detector, MAD) else {}
    loaded = pynomaly.load(path, contamination=detector.contamination, **rule)
    assert type(loaded) is type(detector)
    np.testing.assert_array_equal(loaded.decision_function(X), detector.decision_function(X))
    # Up to 4,097 rows the file keeps every training score: the same threshold and flags.
    assert loaded.threshold_ == pytest.approx(detector.threshold_, rel=1e-12)
    np.testing.assert_array_equal(loaded.predict(X), detector.predict(X))
    np.testing.assert_allclose(loaded.predict_confidence(X), detector.predict_confidence(X), atol=1e-12)
    np.testing.assert_allclose(loaded.predict_proba(X, method="unify"), detector.predict_proba(X, method="unify"))
    assert loaded.get_params()["contamination"] == detector.contamination


def test_pickle_goes_through_the_engine_format():
    X, _, _ = read_sample("glass")
    detector = IForest(n_estimators=40, random_state=3).fit(X)
    payload = pickle.dumps(detector)
    assert b"pynomaly-model" in payload  # the model travels as its envelope, not as memory
    restored = pickle.loads(payload)
    np.testing.assert_array_equal(restored.decision_function(X), detector.decision_function(X))
    np.testing.assert_array_equal(restored.labels_, detector.labels_)
    np.testing.assert_array_equal(restored.predict_confidence(X), detector.predict_confidence(X))
    assert restored.get_params() == detector.get_params()
    assert pickle.loads(pickle.dumps(IForest(n_estimators=5))).get_params()["n_estimators"] == 5


def test_the_cli_scores_with_a_model_saved_in_python_and_python_loads_a_cli_model(pynomaly_bin, tmp_path):
    X, _, _ = read_sample("breastw")
    detector = ECOD(contamination=0.1).fit(X)
    path = tmp_path / "ecod.json"
    detector.save(path)
    data_dir = tmp_path / "data"
    cli = [str(pynomaly_bin), "--data-dir", str(data_dir)]
    subprocess.run([*cli, "models", "import", str(path), "--name", "from-python"], check=True, capture_output=True)
    out = tmp_path / "scored.json"
    subprocess.run([*cli, "score", str(SAMPLES / "breastw.csv"), "--model", "from-python", "-o", str(out),
                    "--contamination", "0.1"], check=True, capture_output=True)
    rows = json.loads(out.read_text())
    np.testing.assert_allclose([r["score"] for r in rows], detector.decision_function(X), rtol=1e-12)
    assert [int(r["anomaly"]) for r in rows] == list(detector.predict(X))

    subprocess.run([*cli, "train", str(SAMPLES / "breastw.csv"), "--model", "cli-knn", "-a", "knn",
                    "--ignore-columns", "label"], check=True, capture_output=True)
    exported = tmp_path / "cli-knn.json"
    subprocess.run([*cli, "models", "export", "cli-knn", str(exported)], check=True, capture_output=True)
    loaded = pynomaly.load(exported)
    assert isinstance(loaded, KNN) and loaded.model_.feature_names == [f"f{i}" for i in range(9)]
    np.testing.assert_allclose(loaded.decision_function(X), KNN().fit(X).decision_function(X), rtol=1e-12)


def test_a_file_that_is_not_a_model_is_refused(tmp_path):
    bad = tmp_path / "bad.json"
    bad.write_text('{"format": "something-else"}')
    with pytest.raises(pynomaly.ModelFormatError, match="not a Pynomaly model file"):
        pynomaly.load(bad)
    newer = tmp_path / "newer.json"
    newer.write_text('{"format": "pynomaly-model", "format_version": 999, "crate_version": "9.0.0"}')
    with pytest.raises(pynomaly.ModelFormatError, match="newer Pynomaly"):
        pynomaly.load(newer)
    with pytest.raises(OSError, match="cannot read"):
        pynomaly.load(tmp_path / "missing.json")
    with pytest.raises(pynomaly.NotFittedError):
        ECOD().save(tmp_path / "unfitted.json")
