"""pynomaly.Client against a running `pynomaly serve`."""

from __future__ import annotations

import numpy as np
import pytest

import pynomaly
from pynomaly import ECOD, Client
from pynomaly.exceptions import BadRequest, Conflict, NotFound, PayloadTooLarge, Unauthorized

from conftest import SAMPLES, read_sample


@pytest.fixture(scope="module")
def client(server):
    url, key = server
    return Client(url, key)


def test_detect_gives_the_packages_scores(client):
    X, _, _ = read_sample("breastw")
    answer = client.detect(X, algorithm="ecod", contamination=0.1)
    local = ECOD(contamination=0.1).fit(X)
    np.testing.assert_allclose(answer["scores"], local.decision_scores_, rtol=1e-12)
    assert sorted(a["index"] for a in answer["anomalies"]) == list(np.flatnonzero(local.labels_))
    from_file = client.detect_file(SAMPLES / "breastw.csv", algorithm="ecod", contamination=0.1,
                                   ignore_columns=["label"])
    np.testing.assert_allclose(from_file["scores"], answer["scores"], rtol=1e-12)


def test_a_dataframe_goes_as_records_with_its_column_names(client):
    import pandas as pd

    X, _, names = read_sample("wbc")
    frame = pd.DataFrame(X, columns=[f"cell_{n}" for n in names])
    answer = client.detect(frame, algorithm="ecod", explain=True)
    assert answer["anomalies"], answer
    features = [f["feature"] for a in answer["anomalies"] for f in a["explanation"]]
    assert features and all(f.startswith("cell_") for f in features)


def test_models_train_predict_and_delete(client):
    X, _, _ = read_sample("glass")
    created = client.create_model(X, name="glass-iforest", algorithm="iforest")
    assert created["name"] == "glass-iforest"
    assert any(m["name"] == "glass-iforest" for m in client.models())
    with pytest.raises(Conflict) as taken:
        client.create_model(X, name="glass-iforest", algorithm="iforest")
    assert taken.value.status == 409 and "glass-iforest" in taken.value.detail
    predicted = client.predict("glass-iforest", X[:20])
    assert len(predicted["scores"]) == 20
    local = pynomaly.IForest().fit(X)
    np.testing.assert_allclose(predicted["scores"], local.decision_function(X[:20]), rtol=1e-12)
    client.delete_model("glass-iforest")
    with pytest.raises(NotFound) as missing:
        client.model("glass-iforest")
    assert missing.value.status == 404


def test_a_job_is_uploaded_queued_and_its_results_read(client):
    job = client.submit_job(SAMPLES / "breastw.csv", algorithm="ecod", ignore_columns=["label"])
    assert job.state in ("queued", "running", "succeeded")
    job.wait(timeout=120)
    assert job.state == "succeeded", job.record
    lines = job.results().strip().splitlines()
    assert len(lines) == 1 + 683 and lines[0].startswith("row,")
    assert any(j["id"] == job.id for j in client.jobs())


def test_streams(client):
    stream = client.create_stream(name="pytest-cpu", method="rolling-z", entity_field="host")
    points = [{"host": "web-1", "timestamp": f"2026-12-07T10:{m:02d}:00Z", "value": 1.0 + 0.01 * (m % 3)}
              for m in range(40)]
    answer = client.send_points(stream["id"], points)
    assert len(answer["points"]) == 40 and answer["entities"] == 1
    entities = client.stream_entities(stream["id"])
    assert entities[0]["entity"] == "web-1"
    client.delete_stream(stream["id"])


def test_problems_are_typed_exceptions(server, client):
    url, _ = server
    with pytest.raises(Unauthorized) as no_key:
        Client(url).models()
    assert no_key.value.status == 401
    with pytest.raises(BadRequest) as unknown:
        client.detect([[1.0, 2.0], [2.0, 3.0], [3.0, 1.0]], algorithm="nope")
    assert unknown.value.status in (400, 422) and "nope" in unknown.value.detail
    assert unknown.value.problem.get("detail") == unknown.value.detail
    with pytest.raises(NotFound):
        client.job("0000-no-such-job")
    with pytest.raises(PayloadTooLarge):
        client.detect(np.ones((260_000, 2)))


def test_timeseries_and_the_catalogue(client):
    from test_timeseries import series

    values, stamps = series()
    answer = client.timeseries(values, stamps, method="rolling-z", parameters={"window": 96})
    local = pynomaly.timeseries.detect(values, stamps, method="rolling-z", window=96)
    assert [p["anomaly"] for p in answer["points"]] == list(local["anomaly"])
    np.testing.assert_allclose([p["score"] for p in answer["points"]], local["score"], rtol=1e-12)
    assert answer["points"][0]["timestamp"] == str(stamps[0])
    names = {a["name"] for a in client.algorithms()}
    assert {"ecod", "iforest", "auto"} <= names and names == {a["name"] for a in pynomaly.algorithms()}
    assert client.health()
