"""Tests of the anomaly scorers in skanomaly.metrics."""

import warnings

import numpy as np
import pytest
from sklearn.ensemble import IsolationForest
from sklearn.metrics import average_precision_score, f1_score, roc_auc_score
from sklearn.model_selection import GridSearchCV, cross_val_score, cross_validate
from sklearn.neighbors import LocalOutlierFactor
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from skanomaly.metrics import (
    anomaly_average_precision_scorer,
    anomaly_f1_scorer,
    anomaly_roc_auc_scorer,
)
from skanomaly.model_selection import NoveltySplit


@pytest.fixture(scope="module")
def data():
    rng = np.random.RandomState(42)
    X_normal = rng.normal(size=(80, 3))
    X_anomalous = rng.uniform(-6, 6, size=(12, 3))
    X_anomalous[:, 0] = 5 + rng.uniform(size=12)  # far from the normal data
    X = np.vstack([X_normal, X_anomalous]) * [1.0, 10.0, 100.0]
    y = np.r_[np.zeros(80, dtype=int), np.ones(12, dtype=int)]
    return X, y


@pytest.fixture(scope="module")
def fitted(data):
    X, y = data
    return make_pipeline(StandardScaler(), IsolationForest(random_state=0)).fit(
        X[y == 0]
    )


def test_scorers_match_metrics_on_pipeline(data, fitted):
    X, y = data
    decision = fitted.decision_function(X)
    assert anomaly_roc_auc_scorer(fitted, X, y) == pytest.approx(
        roc_auc_score(y, -decision)
    )
    assert anomaly_average_precision_scorer(fitted, X, y) == pytest.approx(
        average_precision_score(y, -decision)
    )
    assert anomaly_f1_scorer(fitted, X, y) == pytest.approx(
        f1_score(y, fitted.predict(X) == -1)
    )
    assert anomaly_roc_auc_scorer(fitted, X, y) > 0.9


def test_scorers_use_decision_function_and_predict():
    assert anomaly_roc_auc_scorer._response_method == "decision_function"
    assert anomaly_average_precision_scorer._response_method == "decision_function"
    assert anomaly_f1_scorer._response_method == "predict"


def test_f1_scorer_reads_all_inliers_as_sklearn_style(data):
    X, y = data

    class AllInliers(IsolationForest):
        def predict(self, X):
            return np.ones(len(X), dtype=int)

    detector = AllInliers(random_state=0).fit(X[y == 0])
    # sklearn style all +1: nothing flagged, F1 0, and no ambiguity warning
    with warnings.catch_warnings():
        warnings.simplefilter("error", UserWarning)
        assert anomaly_f1_scorer(detector, X, y) == 0.0


def test_scorers_in_cross_validate(data):
    X, y = data
    results = cross_validate(
        make_pipeline(StandardScaler(), IsolationForest(random_state=0)),
        X,
        y,
        cv=NoveltySplit(n_splits=3, random_state=0),
        scoring={
            "auc": anomaly_roc_auc_scorer,
            "ap": anomaly_average_precision_scorer,
            "f1": anomaly_f1_scorer,
        },
        error_score="raise",
    )
    assert np.all(results["test_auc"] > 0.9)
    assert np.all(results["test_ap"] > 0.5)
    assert np.all((results["test_f1"] >= 0) & (results["test_f1"] <= 1))


def test_scorers_in_grid_search(data):
    X, y = data
    search = GridSearchCV(
        make_pipeline(StandardScaler(), IsolationForest(random_state=0)),
        {"isolationforest__n_estimators": [20, 50]},
        cv=NoveltySplit(n_splits=3, random_state=0),
        scoring=anomaly_roc_auc_scorer,
        error_score="raise",
    )
    search.fit(X, y)
    assert search.best_score_ > 0.9
    assert search.best_params_["isolationforest__n_estimators"] in (20, 50)
    # refit on all of X (normals and anomalies) and still usable
    assert search.predict(X).shape == (X.shape[0],)


def test_scorer_with_novelty_lof(data):
    X, y = data
    scores = cross_val_score(
        LocalOutlierFactor(novelty=True),
        X,
        y,
        cv=NoveltySplit(n_splits=4, random_state=0),
        scoring=anomaly_roc_auc_scorer,
        error_score="raise",
    )
    assert scores.shape == (4,)
    assert np.all(scores > 0.9)


def test_scorer_rejects_predict_style_y(data, fitted):
    X, y = data
    with pytest.raises(ValueError, match=r"\(y_true == -1\).astype\(int\)"):
        anomaly_roc_auc_scorer(fitted, X, np.where(y == 1, -1, 1))
