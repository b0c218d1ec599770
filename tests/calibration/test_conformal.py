"""ConformalThreshold: the false-positive rate it promises, its p-values and
[0, 1] scores, frozen detectors, labels, deep detectors, pipelines and
errors."""

import pickle

import numpy as np
import pytest
from numpy.testing import assert_allclose, assert_array_equal
from sklearn.ensemble import IsolationForest
from sklearn.exceptions import NotFittedError
from sklearn.frozen import FrozenEstimator
from sklearn.model_selection import GridSearchCV
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler
from sklearn.utils._param_validation import InvalidParameterError
from sklearn.utils.estimator_checks import parametrize_with_checks

from skanomaly import AutoEncoder, DeepSAD
from skanomaly.calibration import ConformalThreshold
from skanomaly.metrics import anomaly_roc_auc_scorer
from skanomaly.model_selection import NoveltySplit


# The checks' data sets are small: fpr=0.5 needs one calibration sample.
@parametrize_with_checks(
    [ConformalThreshold(IsolationForest(n_estimators=10, random_state=0), fpr=0.5,
                        calibration_fraction=0.5, random_state=0)],
)
def test_sklearn_estimator_checks(estimator, check):
    check(estimator)


def normal(n, seed):
    return np.random.RandomState(seed).normal(size=(n, 4))


def test_the_false_positive_rate_stays_at_most_fpr_on_new_normal_data():
    # Over 200 calibration draws, the share of new normal samples flagged
    # averages just under fpr, as the p-values promise: between fpr - 1 /
    # (n_calibration + 1) and fpr, within the draws' noise.
    rates = []
    for seed in range(200):
        detector = ConformalThreshold(IsolationForest(n_estimators=20, random_state=0),
                                      fpr=0.1, calibration_fraction=0.5, random_state=seed)
        detector.fit(normal(400, seed))
        rates.append(np.mean(detector.predict(normal(500, 1000 + seed)) == -1))
    # 200 calibration samples: the rate is floor(0.1 * 201) / 201 = 0.0995 on
    # average; each draw's spread is about sqrt(0.1 * 0.9 / 200) = 0.021.
    assert 0.1 - 1 / 201 - 0.006 < np.mean(rates) < 0.1 + 0.006
    assert 0.010 < np.std(rates) < 0.035


def test_p_values_and_the_threshold_agree():
    detector = ConformalThreshold(IsolationForest(random_state=0), fpr=0.05,
                                  random_state=0).fit(normal(1000, 0))
    X = np.vstack([normal(300, 1), 3.0 + normal(20, 2)])
    p = detector.p_values(X)
    assert_array_equal(detector.predict(X) == -1, p <= 0.05)
    n = detector.calibration_scores_.shape[0]
    assert n == 200
    # The definition: 1 + the calibration scores at or below, over n + 1.
    scores = detector.score_samples(X)
    expected = (1 + (detector.calibration_scores_[None, :] <= scores[:, None]).sum(axis=1)) / (n + 1)
    assert_allclose(p, expected)
    assert_allclose(detector.decision_function(X), scores - detector.offset_)
    # k = floor(0.05 * 201) = 10: the threshold is the 10th lowest score.
    assert detector.offset_ == detector.calibration_scores_[9]
    proba = detector.predict_proba(X)
    assert proba.shape == (320, 2)
    assert_allclose(proba.sum(axis=1), 1.0)
    assert_allclose(proba[:, 1], 1.0 - p)
    # The planted anomalies (moved by 3 in every feature) score near 1.
    assert np.median(proba[300:, 1]) > 0.99 > np.median(proba[:300, 1])


def test_a_frozen_detector_is_calibrated_on_all_the_data():
    fitted = IsolationForest(random_state=0).fit(normal(500, 0))
    calibration = normal(199, 1)
    detector = ConformalThreshold(FrozenEstimator(fitted), fpr=0.01).fit(calibration)
    assert detector.detector_.estimator is fitted
    assert_allclose(detector.calibration_scores_, np.sort(fitted.score_samples(calibration)))
    assert detector.offset_ == detector.calibration_scores_[1]  # floor(0.01 * 200) = 2


def test_labels_reach_the_detector_for_its_training_share():
    rng = np.random.RandomState(0)
    X = np.vstack([rng.normal(size=(190, 4)), 4.0 + rng.normal(size=(10, 4))])
    y = np.r_[-np.ones(190), np.ones(10)].astype(int)
    detector = ConformalThreshold(DeepSAD(hidden_units=(8, 4), epochs=2, random_state=0),
                                  fpr=0.1, calibration_fraction=0.5, random_state=0)
    detector.fit(X, y)
    train = np.sort(np.random.RandomState(0).permutation(200)[100:])
    same = DeepSAD(hidden_units=(8, 4), epochs=2, random_state=0).fit(X[train], y[train])
    assert_allclose(detector.score_samples(X), same.score_samples(X), rtol=1e-6)
    assert detector.calibration_scores_.shape[0] == 100


def test_a_deep_detector_in_a_pipeline_pickles_and_tunes():
    X = normal(300, 0)
    detector = ConformalThreshold(
        make_pipeline(StandardScaler(), AutoEncoder(hidden_units=(4, 2), epochs=2,
                                                    random_state=0)),
        fpr=0.05, random_state=0,
    ).fit(X)
    restored = pickle.loads(pickle.dumps(detector))
    assert_array_equal(restored.predict(X), detector.predict(X))
    assert restored.offset_ == detector.offset_
    X_all = np.vstack([X, 5.0 + normal(30, 1)])
    y_all = np.r_[np.zeros(300), np.ones(30)].astype(int)
    search = GridSearchCV(
        ConformalThreshold(IsolationForest(n_estimators=20, random_state=0), random_state=0),
        {"fpr": [0.05, 0.1]}, scoring=anomaly_roc_auc_scorer,
        cv=NoveltySplit(n_splits=2, random_state=0),
    ).fit(X_all, y_all)
    assert set(search.cv_results_["param_fpr"]) == {0.05, 0.1}


@pytest.mark.parametrize(
    "params, n, error, match",
    [
        ({"fpr": 0.01}, 100, ValueError,
         "fpr=0.01 needs at least 99 calibration samples, and there are 20"),
        ({"calibration_fraction": 0.001}, 100, ValueError,
         "leaves 0 to calibrate and 100 to train"),
        ({"fpr": 0.0}, 100, InvalidParameterError, "'fpr' parameter"),
        ({"calibration_fraction": 1.0}, 100, InvalidParameterError,
         "'calibration_fraction' parameter"),
        ({"detector": "forest"}, 100, InvalidParameterError, "'detector' parameter"),
    ],
)
def test_bad_settings_are_refused(params, n, error, match):
    detector = ConformalThreshold(IsolationForest(random_state=0), random_state=0)
    with pytest.raises(error, match=match):
        detector.set_params(**params).fit(normal(n, 0))


def test_nan_scores_and_unfitted_use_are_refused():
    class NaNScores(IsolationForest):
        def score_samples(self, X):
            return np.full(len(X), np.nan)

    with pytest.raises(ValueError, match="NaN or infinite scores to calibration samples"):
        ConformalThreshold(NaNScores(), fpr=0.1).fit(normal(100, 0))
    with pytest.raises(NotFittedError):
        ConformalThreshold(IsolationForest()).predict(normal(3, 0))
    with pytest.raises(ValueError, match="y has 3 labels but X has 100 samples"):
        ConformalThreshold(IsolationForest(), fpr=0.1).fit(normal(100, 0), [0, 1, 0])
