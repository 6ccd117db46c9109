"""scikit-learn's protocol: clone, set_params, Pipeline and GridSearchCV."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.base import clone, is_outlier_detector
from sklearn.metrics import roc_auc_score
from sklearn.model_selection import GridSearchCV, StratifiedKFold
from sklearn.pipeline import Pipeline, make_pipeline
from sklearn.preprocessing import RobustScaler, StandardScaler

from pynomaly import KNN, LOF, PCA, Ensemble, IForest

from conftest import read_sample


def test_clone_and_params():
    detector = IForest(n_estimators=20, contamination=0.05, random_state=1)
    copy = clone(detector)
    assert copy is not detector and copy.get_params() == detector.get_params()
    assert is_outlier_detector(detector)
    assert detector.set_params(n_estimators=30) is detector and detector.n_estimators == 30
    with pytest.raises(ValueError, match="Invalid parameter"):
        detector.set_params(n_trees=3)
    assert repr(IForest(n_estimators=20)) == "IForest(n_estimators=20)"
    # Fitted state is not cloned.
    X, _, _ = read_sample("glass")
    assert not hasattr(clone(IForest().fit(X)), "model_")
    nested = Ensemble(members=[IForest(n_estimators=10), "ecod"])
    assert clone(nested).get_params()["members"][0].get_params()["n_estimators"] == 10


def test_pipeline_with_a_scaler_scores_the_scaled_rows():
    X, y, _ = read_sample("breastw")
    pipeline = make_pipeline(StandardScaler(), KNN(n_neighbors=10)).fit(X)
    direct = KNN(n_neighbors=10).fit(StandardScaler().fit_transform(X))
    np.testing.assert_allclose(pipeline.decision_function(X), direct.decision_function(StandardScaler().fit_transform(X)))
    np.testing.assert_array_equal(pipeline.predict(X), direct.predict(StandardScaler().fit_transform(X)))
    assert roc_auc_score(y, pipeline.decision_function(X)) > 0.9
    named = Pipeline([("scale", RobustScaler()), ("detect", PCA(contamination=0.2))]).fit(X)
    assert named.named_steps["detect"].labels_.mean() == pytest.approx(0.2, abs=0.01)


def test_grid_search_picks_parameters_by_roc_auc():
    X, y, _ = read_sample("breastw")
    search = GridSearchCV(
        Pipeline([("scale", StandardScaler()), ("knn", KNN())]),
        {"knn__n_neighbors": [1, 40], "knn__method": ["largest", "mean"]},
        scoring="roc_auc",
        cv=StratifiedKFold(3, shuffle=True, random_state=0),
    ).fit(X, y)
    means = search.cv_results_["mean_test_score"]
    assert len(means) == 4 and np.all((means > 0.8) & (means <= 1.0))
    best = search.cv_results_["params"][int(np.argmax(means))]
    assert search.best_params_ == best
    assert search.best_estimator_.named_steps["knn"].n_neighbors == best["knn__n_neighbors"]
