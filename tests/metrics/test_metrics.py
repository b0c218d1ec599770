"""Tests of the anomaly metrics in skanomaly.metrics."""

import re

import numpy as np
import pytest
from sklearn.metrics import average_precision_score, f1_score, roc_auc_score

from skanomaly.metrics import (
    anomaly_average_precision_score,
    anomaly_f1_score,
    anomaly_roc_auc_score,
    best_f1_threshold,
)

SCORE_METRICS = [
    anomaly_roc_auc_score,
    anomaly_average_precision_score,
    best_f1_threshold,
]


@pytest.fixture
def random_scores():
    rng = np.random.RandomState(0)
    y = np.r_[np.zeros(40, dtype=int), np.ones(10, dtype=int)]
    rng.shuffle(y)
    # normality scores, lower on average for anomalies
    scores = rng.normal(size=y.shape[0]) - 1.5 * y
    return y, scores


# ------------------------------------------------------------------ ROC AUC
def test_roc_auc_hand_computed():
    y = [0, 0, 1, 1]
    normality = [0.9, 0.4, 0.5, 0.1]
    # anomaly 3 is below both normals, anomaly 2 below one of two: 3/4
    assert anomaly_roc_auc_score(y, normality) == 0.75
    # ties count one half
    assert anomaly_roc_auc_score([0, 1], [1.0, 1.0]) == 0.5
    assert anomaly_roc_auc_score([0, 1], [2.0, 1.0]) == 1.0
    assert anomaly_roc_auc_score([0, 1], [1.0, 2.0]) == 0.0


def test_roc_auc_matches_sklearn_with_flipped_sign(random_scores):
    y, scores = random_scores
    expected = roc_auc_score(y, -scores)
    assert anomaly_roc_auc_score(y, scores) == pytest.approx(expected)
    assert anomaly_roc_auc_score(
        y, -scores, score_convention="anomaly"
    ) == pytest.approx(expected)
    # the same scores read the other way give the complement
    assert anomaly_roc_auc_score(
        y, scores, score_convention="anomaly"
    ) == pytest.approx(1 - expected)
    assert 0.7 < expected < 1.0


def test_roc_auc_accepts_bool_float_labels_and_lists(random_scores):
    y, scores = random_scores
    expected = anomaly_roc_auc_score(y, scores)
    assert anomaly_roc_auc_score(y.astype(bool), scores) == expected
    assert anomaly_roc_auc_score(y.astype(float), scores) == expected
    assert anomaly_roc_auc_score(y.tolist(), scores.tolist()) == expected
    assert anomaly_roc_auc_score(y.reshape(-1, 1), scores) == expected
    assert anomaly_roc_auc_score(y, scores.astype(np.float32)) == pytest.approx(
        expected
    )
    assert isinstance(expected, float)


def test_roc_auc_needs_both_classes():
    with pytest.raises(ValueError, match="both normal .* and anomalous"):
        anomaly_roc_auc_score([0, 0, 0], [0.1, 0.2, 0.3])
    with pytest.raises(ValueError, match="only anomalies"):
        anomaly_roc_auc_score([1, 1], [0.1, 0.2])


# -------------------------------------------------------- average precision
def test_average_precision_hand_computed():
    y = [0, 0, 1, 1]
    normality = [0.9, 0.4, 0.5, 0.1]
    # ranked by anomaly: 3 (anomaly), 1 (normal), 2 (anomaly), 0
    # AP = 1/2 * 1 + 1/2 * 2/3
    expected = 0.5 * 1.0 + 0.5 * (2.0 / 3.0)
    assert anomaly_average_precision_score(y, normality) == pytest.approx(expected)


def test_average_precision_matches_sklearn_and_convention(random_scores):
    y, scores = random_scores
    expected = average_precision_score(y, -scores)
    assert anomaly_average_precision_score(y, scores) == pytest.approx(expected)
    assert anomaly_average_precision_score(
        y, -scores, score_convention="anomaly"
    ) == pytest.approx(expected)
    assert anomaly_average_precision_score(
        y, scores, score_convention="anomaly"
    ) == pytest.approx(average_precision_score(y, scores))


def test_average_precision_needs_anomalies():
    with pytest.raises(ValueError, match="at least one anomalous sample"):
        anomaly_average_precision_score([0, 0, 0], [0.1, 0.2, 0.3])
    # only anomalies: perfect precision
    assert anomaly_average_precision_score([1, 1], [0.1, 0.2]) == 1.0


# ------------------------------------------------------------------------ F1
def test_f1_sklearn_and_pyod_styles_agree():
    y = [0, 0, 0, 1, 1]
    # flagged: sample 2 (false positive) and 3 (true positive); 4 missed
    # precision 1/2, recall 1/2 -> F1 1/2
    sklearn_style = [1, 1, -1, -1, 1]
    pyod_style = [0, 0, 1, 1, 0]
    assert anomaly_f1_score(y, sklearn_style) == 0.5
    assert anomaly_f1_score(y, pyod_style) == 0.5
    assert anomaly_f1_score(y, np.array(pyod_style, dtype=bool)) == 0.5
    assert anomaly_f1_score(y, sklearn_style, pred_convention="sklearn") == 0.5
    assert anomaly_f1_score(y, pyod_style, pred_convention="pyod") == 0.5


def test_f1_matches_sklearn(random_scores):
    y, scores = random_scores
    flagged = scores < -0.5
    expected = f1_score(y, flagged.astype(int))
    assert anomaly_f1_score(y, np.where(flagged, -1, 1)) == pytest.approx(expected)
    assert anomaly_f1_score(y, flagged.astype(int)) == pytest.approx(expected)


def test_f1_all_ones_is_ambiguous():
    y = [0, 0, 1]
    # read as PyOD style by default (all anomalies): P 1/3, R 1 -> F1 1/2
    with pytest.warns(UserWarning, match="ambiguous"):
        assert anomaly_f1_score(y, [1, 1, 1]) == pytest.approx(0.5)
    # read as scikit-learn style: all inliers, no anomaly found
    assert anomaly_f1_score(y, [1, 1, 1], pred_convention="sklearn") == 0.0


def test_f1_zero_division_is_zero():
    assert anomaly_f1_score([0, 0, 0], [0, 0, 0]) == 0.0
    assert anomaly_f1_score([0, 1, 0], [1, 1, 1], pred_convention="sklearn") == 0.0


@pytest.mark.parametrize(
    "y_pred, convention, match",
    [
        ([0, 1, 2], "auto", r"got labels \[0, 1, 2\]"),
        ([-1, 0, 1], "auto", r"scikit-learn's convention .* or PyOD's"),
        ([0, 1, 1], "sklearn", r"got labels \[0, 1\]"),
        ([-1, 1, 1], "pyod", r"got labels \[-1, 1\]"),
        (["a", "b", "a"], "auto", "y_pred must hold numeric labels"),
        ([True, False, True], "sklearn", "y_pred is boolean"),
    ],
)
def test_f1_bad_predictions(y_pred, convention, match):
    with pytest.raises(ValueError, match=match):
        anomaly_f1_score([0, 1, 0], y_pred, pred_convention=convention)


def test_f1_bad_convention_and_length():
    with pytest.raises(ValueError, match="pred_convention"):
        anomaly_f1_score([0, 1], [0, 1], pred_convention="pyodd")
    with pytest.raises(ValueError, match="different lengths: 3 != 2"):
        anomaly_f1_score([0, 1, 0], [0, 1])


# ------------------------------------------------------------ best threshold
def test_best_f1_threshold_hand_computed():
    y = np.array([0, 0, 0, 1, 1])
    normality = np.array([0.9, 0.8, 0.3, 0.2, 0.5])
    # thresholds 0.2 -> F1 2/3, 0.3 -> 1/2, 0.5 -> 4/5, 0.8 -> 2/3, 0.9 -> 4/7
    threshold, f1 = best_f1_threshold(y, normality)
    assert threshold == 0.5
    assert f1 == pytest.approx(0.8)
    threshold, f1 = best_f1_threshold(y, -normality, score_convention="anomaly")
    assert threshold == -0.5
    assert f1 == pytest.approx(0.8)


def test_best_f1_threshold_perfect_separation():
    y = [0, 0, 1, 1]
    threshold, f1 = best_f1_threshold(y, [5.0, 4.0, 1.0, 2.0])
    assert (threshold, f1) == (2.0, 1.0)
    threshold, f1 = best_f1_threshold(
        y, [5.0, 4.0, 1.0, 2.0], score_convention="anomaly"
    )
    # read the wrong way, flagging everything is best: P 1/2, R 1
    assert (threshold, f1) == (1.0, pytest.approx(2 / 3))


@pytest.mark.parametrize("seed", range(5))
@pytest.mark.parametrize("convention", ["normality", "anomaly"])
def test_best_f1_threshold_reproduces_f1_and_is_best(seed, convention):
    rng = np.random.RandomState(seed)
    y = (rng.uniform(size=60) < 0.2).astype(int)
    y[:2] = [0, 1]
    # rounded scores to have ties
    scores = np.round(rng.normal(size=60) - y, 1)
    threshold, f1 = best_f1_threshold(y, scores, score_convention=convention)
    assert threshold in scores
    if convention == "normality":
        flagged = scores <= threshold
    else:
        flagged = scores >= threshold
    # applying the documented rule reproduces the F1 exactly
    assert anomaly_f1_score(y, flagged) == f1
    assert f1_score(y, flagged) == f1
    # and no other threshold does better
    for candidate in np.unique(scores):
        if convention == "normality":
            other = scores <= candidate
        else:
            other = scores >= candidate
        assert f1_score(y, other, zero_division=0.0) <= f1


def test_best_f1_threshold_needs_anomalies():
    with pytest.raises(ValueError, match="at least one anomalous sample"):
        best_f1_threshold([0, 0], [0.1, 0.2])


# --------------------------------------------------------------- bad inputs
@pytest.mark.parametrize("metric", SCORE_METRICS)
@pytest.mark.parametrize(
    "y_true, match",
    [
        ([-1, 1, 1, -1], re.escape("{-1, +1} of scikit-learn's predict")),
        ([0, 1, 2, 1], r"anomalies as 1 and normal .* got labels \[0, 1, 2\]"),
        (["normal", "anomaly", "normal", "anomaly"], "numeric labels"),
        ([0.0, 0.5, 1.0, 1.0], r"got labels \[0.0, 0.5, 1.0\]"),
    ],
)
def test_bad_y_true(metric, y_true, match):
    with pytest.raises(ValueError, match=match):
        metric(y_true, [0.1, 0.2, 0.3, 0.4])


def test_predict_style_labels_tell_how_to_convert():
    with pytest.raises(ValueError, match=re.escape("(y_true == -1).astype(int)")):
        anomaly_roc_auc_score([1, -1, 1], [0.1, 0.2, 0.3])
    with pytest.raises(ValueError, match=re.escape("{-1, +1}")):
        anomaly_f1_score([1, -1, 1], [1, -1, 1])


@pytest.mark.parametrize("metric", SCORE_METRICS)
def test_bad_scores(metric):
    y = [0, 1, 0, 1]
    with pytest.raises(ValueError, match="different lengths: 4 != 3"):
        metric(y, [0.1, 0.2, 0.3])
    with pytest.raises(ValueError, match="NaN or infinity"):
        metric(y, [0.1, np.nan, 0.3, 0.4])
    with pytest.raises(ValueError, match="NaN or infinity"):
        metric(y, [0.1, np.inf, 0.3, 0.4])
    with pytest.raises(ValueError, match=r"1-D array .* shape \(2, 2\)"):
        metric(y, [[0.1, 0.2], [0.3, 0.4]])
    with pytest.raises(ValueError, match="y_true is empty"):
        metric([], [])
    with pytest.raises(TypeError, match="scores must be a numeric array"):
        metric(y, ["a", "b", "c", "d"])
    with pytest.raises(ValueError, match="score_convention"):
        metric(y, [0.1, 0.2, 0.3, 0.4], score_convention="higher_is_normal")
