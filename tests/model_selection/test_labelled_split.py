"""Tests of LabelledAnomalySplit, cross-validation for detectors that learn
from a few labelled anomalies (y: 1 anomaly, 0 normal, -1 unlabelled)."""

import pickle

import numpy as np
import pytest
from sklearn.model_selection import GridSearchCV, check_cv, cross_validate

from skanomaly import KerasDetector
from skanomaly.engine import keras
from skanomaly.metrics import (
    anomaly_average_precision_scorer,
    anomaly_roc_auc_score,
    anomaly_roc_auc_scorer,
)
from skanomaly.model_selection import LabelledAnomalySplit

layers = keras.layers
ops = keras.ops


def partial_labels(n_unlabelled=30, n_normals=20, n_anomalies=10, seed=0):
    """``y`` with the three kinds of label interleaved at random."""
    y = np.r_[
        np.full(n_unlabelled, -1), np.zeros(n_normals, dtype=int), np.ones(n_anomalies, dtype=int)
    ]
    return np.random.RandomState(seed).permutation(y)


def as_lists(splits):
    return [(train.tolist(), test.tolist()) for train, test in splits]


# ------------------------------------------------------------ the folds
@pytest.mark.parametrize(
    "shuffle, random_state", [(True, 0), (True, None), (False, None), (False, 3)]
)
@pytest.mark.parametrize("n_labelled", [1, 3, 8])
def test_fold_properties(shuffle, random_state, n_labelled):
    y = partial_labels()  # 30 unlabelled, 20 normals, 10 anomalies
    X = np.zeros((len(y), 2))
    cv = LabelledAnomalySplit(
        n_splits=5, n_labelled=n_labelled, shuffle=shuffle, random_state=random_state
    )
    splits = list(cv.split(X, y))
    assert len(splits) == cv.get_n_splits() == cv.get_n_splits(X, y) == 5
    unlabelled = np.flatnonzero(y == -1)
    labelled = np.flatnonzero(y >= 0)
    anomalies = np.flatnonzero(y == 1)
    for train, test in splits:
        for idx in (train, test):
            assert idx.dtype == np.intp
            assert np.all(np.diff(idx) > 0)  # sorted, no duplicates
        assert np.intersect1d(train, test).size == 0
        # Test folds hold labelled samples only, stratified: 2 anomalies and
        # 4 normals out of 10 and 20.
        assert np.isin(test, labelled).all()
        assert np.bincount(y[test], minlength=2).tolist() == [4, 2]
        # Every unlabelled sample is in every training set.
        assert np.isin(unlabelled, train).all()
        # Every labelled normal outside the test fold is trained on.
        np.testing.assert_array_equal(
            train[y[train] == 0], np.setdiff1d(np.flatnonzero(y == 0), test)
        )
        # Exactly n_labelled anomalies, all from outside the test fold; the
        # others sit out.
        kept = train[y[train] == 1]
        assert len(kept) == n_labelled
        assert np.isin(kept, np.setdiff1d(anomalies, test)).all()
        left_out = np.setdiff1d(np.arange(len(y)), np.union1d(train, test))
        assert len(left_out) == 8 - n_labelled and np.all(y[left_out] == 1)
    # The test folds partition the labelled samples.
    all_tests = np.concatenate([test for _, test in splits])
    np.testing.assert_array_equal(np.sort(all_tests), labelled)


def test_uneven_folds_and_float_budget():
    # 11 anomalies in 3 folds: test folds hold 4, 4 and 3 of them, so 7, 7
    # and 8 are left for training; a share of 0.5 keeps 4 (3.5 rounded half
    # up), 4 and 4.
    y = partial_labels(n_unlabelled=5, n_normals=9, n_anomalies=11)
    X = np.zeros((len(y), 1))
    cv = LabelledAnomalySplit(n_splits=3, n_labelled=0.5, random_state=0)
    counts = [
        (int(np.sum(y[test] == 1)), int(np.sum(y[test] == 0)), int(np.sum(y[train] == 1)))
        for train, test in cv.split(X, y)
    ]
    assert sorted(counts) == [(3, 3, 4), (4, 3, 4), (4, 3, 4)]


@pytest.mark.parametrize(
    "n_labelled, n_kept",
    [(0.5, 4), (0.3, 2), (0.5625, 5), (0.01, 1), (1.0, 8), (8, 8), (2, 2)],
)
def test_number_of_labelled_anomalies_trained_on(n_labelled, n_kept):
    # 10 anomalies in 5 folds: 8 outside each test fold. A float is a share
    # of the 8, rounded half up (0.5625 * 8 = 4.5 -> 5), at least one.
    y = partial_labels()
    cv = LabelledAnomalySplit(n_splits=5, n_labelled=n_labelled, random_state=0)
    for train, _ in cv.split(np.zeros((len(y), 1)), y):
        assert np.sum(y[train] == 1) == n_kept


def test_more_labelled_anomalies_than_left_for_training():
    # 11 anomalies, 3 folds: as few as 7 outside a test fold.
    y = partial_labels(n_unlabelled=5, n_normals=9, n_anomalies=11)
    X = np.zeros((len(y), 1))
    match = (
        r"n_labelled=8 is more than the labelled anomalies left for training: "
        r"with n_splits=3, 11 labelled anomalies leave as few as 7 outside a "
        r"test fold. Set n_labelled to at most 7"
    )
    with pytest.raises(ValueError, match=match):
        next(LabelledAnomalySplit(n_splits=3, n_labelled=8).split(X, y))
    splits = list(LabelledAnomalySplit(n_splits=3, n_labelled=7, random_state=0).split(X, y))
    assert [int(np.sum(y[train] == 1)) for train, _ in splits] == [7, 7, 7]


def test_labelled_anomalies_only_and_booleans():
    # Without unlabelled samples it is a stratified K-fold whose training
    # sets keep n_labelled anomalies; booleans are labels 1 and 0.
    y = np.r_[np.zeros(6, dtype=bool), np.ones(4, dtype=bool)]
    X = np.zeros((10, 1))
    splits = list(LabelledAnomalySplit(n_splits=2, n_labelled=1, random_state=0).split(X, y))
    for train, test in splits:
        assert y[test].sum() == 2 and (~y[test]).sum() == 3
        assert y[train].sum() == 1 and (~y[train]).sum() == 3


# ------------------------------------------------------- reproducibility
def test_random_state():
    y = partial_labels()
    X = np.zeros((len(y), 1))

    def splits(**params):
        return as_lists(LabelledAnomalySplit(n_splits=4, n_labelled=3, **params).split(X, y))

    assert splits(random_state=0) == splits(random_state=0)
    # an int seed gives the same splits on each call of split
    cv = LabelledAnomalySplit(n_splits=4, n_labelled=3, random_state=0)
    assert as_lists(cv.split(X, y)) == as_lists(cv.split(X, y))
    # other seeds, other test folds and other anomalies trained on
    other = splits(random_state=1)
    assert [test for _, test in other] != [test for _, test in splits(random_state=0)]
    # Without shuffling the test folds are fixed, but the seed still draws
    # the anomalies trained on.
    fixed_0 = splits(shuffle=False, random_state=0)
    fixed_1 = splits(shuffle=False, random_state=1)
    assert [test for _, test in fixed_0] == [test for _, test in fixed_1]
    assert [train for train, _ in fixed_0] != [train for train, _ in fixed_1]
    assert fixed_0 == splits(shuffle=False, random_state=0)
    # A RandomState instance moves on from one call to the next.
    cv = LabelledAnomalySplit(n_splits=4, n_labelled=3, random_state=np.random.RandomState(0))
    assert as_lists(cv.split(X, y)) != as_lists(cv.split(X, y))


def test_repr_pickle_check_cv():
    cv = LabelledAnomalySplit(n_splits=3, n_labelled=0.5, random_state=0)
    assert repr(cv) == (
        "LabelledAnomalySplit(n_labelled=0.5, n_splits=3, random_state=0, shuffle=True)"
    )
    # scikit-learn's repr wraps long lines
    assert " ".join(repr(LabelledAnomalySplit()).split()) == (
        "LabelledAnomalySplit(n_labelled=5, n_splits=5, random_state=None, shuffle=True)"
    )
    assert repr(pickle.loads(pickle.dumps(cv))) == repr(cv)
    assert check_cv(cv) is cv


# ---------------------------------------------------------------- errors
@pytest.mark.parametrize(
    "params, error, match",
    [
        ({"n_splits": 1}, ValueError, "at least two folds"),
        ({"n_splits": 2.0}, TypeError, "n_splits must be an integer"),
        ({"n_splits": True}, TypeError, "n_splits must be an integer"),
        ({"n_labelled": 0}, ValueError, "n_labelled as an int must be at least 1"),
        ({"n_labelled": -2}, ValueError, "n_labelled as an int must be at least 1"),
        ({"n_labelled": 0.0}, ValueError, r"must lie in \(0, 1\], got n_labelled=0.0"),
        ({"n_labelled": 1.5}, ValueError, r"must lie in \(0, 1\], got n_labelled=1.5"),
        ({"n_labelled": float("nan")}, ValueError, r"must lie in \(0, 1\]"),
        ({"n_labelled": "5"}, TypeError, "n_labelled must be a positive int"),
        ({"n_labelled": None}, TypeError, "n_labelled must be a positive int"),
        ({"n_labelled": True}, TypeError, "n_labelled must be a positive int"),
        ({"shuffle": "yes"}, TypeError, "shuffle must be True or False"),
    ],
)
def test_bad_params(params, error, match):
    with pytest.raises(error, match=match):
        LabelledAnomalySplit(**params)


def test_y_validation():
    cv = LabelledAnomalySplit(n_splits=2, n_labelled=1)
    X = np.zeros((8, 2))
    with pytest.raises(ValueError, match="'y' parameter should not be None"):
        next(cv.split(X))
    with pytest.raises(ValueError, match=r"got labels \[-1, 0, 1, 2\]"):
        next(cv.split(X, [-1, 0, 0, 0, 1, 1, 2, 2]))
    with pytest.raises(ValueError, match=r"got labels \[0.0, 0.5, 1.0\]"):
        next(cv.split(X, [0, 0, 0, 0.5, 1, 1, 1, 1]))
    with pytest.raises(ValueError, match="must hold numeric labels"):
        next(cv.split(X, list("aabbaabb")))
    with pytest.raises(ValueError, match="inconsistent numbers of samples"):
        next(cv.split(X, [0, 0, 1, 1]))
    with pytest.raises(ValueError, match=r"1-D array of shape \(n_samples,\)"):
        next(cv.split(X, np.zeros((8, 2))))


@pytest.mark.parametrize(
    "y, match",
    [
        # anomalies and unlabelled samples, no labelled normal
        ([-1, -1, -1, -1, 1, 1, 1, 1], r"no labelled normal sample \(0\).*Label at least"),
        # scikit-learn's predict output given as labels
        ([1, 1, 1, 1, 1, -1, -1, 1], r"no labelled normal sample.*\+1 inlier, -1 outlier"),
        (
            [-1, -1, 0, 0, 0, 1, 0, 0],
            r"labelled anomalies \(y == 1\), one for each test fold; y holds 1",
        ),
        ([-1, -1, -1, -1, 0, 0, 0, 0], r"labelled anomalies \(y == 1\).*y holds 0"),
        ([-1, -1, -1, 0, 1, 1, 1, 1], r"labelled normal samples \(y == 0\).*y holds 1"),
    ],
)
def test_too_few_labels(y, match):
    with pytest.raises(ValueError, match=match):
        next(LabelledAnomalySplit(n_splits=2, n_labelled=1).split(np.zeros((8, 1)), y))


def test_groups_are_ignored_with_a_warning():
    y = partial_labels()
    X = np.zeros((len(y), 1))
    cv = LabelledAnomalySplit(n_splits=2, n_labelled=2, random_state=0)
    with pytest.warns(UserWarning, match="groups parameter is ignored"):
        with_groups = as_lists(cv.split(X, y, groups=np.arange(len(y))))
    assert with_groups == as_lists(cv.split(X, y))


# ------------------------------------------------------ with sklearn tools
def classifier(sample_shape, units=4):
    return keras.Sequential(
        [
            keras.Input(sample_shape),
            layers.Dense(units, activation="relu"),
            layers.Dense(1, activation="sigmoid"),
        ]
    )


def test_grid_search_with_a_classifier():
    # KerasDetector's classification objective takes 0 and 1 only: y
    # without unlabelled samples. Anomalies beyond a line in 2 of 4
    # features; 12 labelled anomalies, training sets keep 4 of the 8 left.
    rng = np.random.RandomState(0)
    X = rng.normal(size=(160, 4))
    y = (X[:, 0] + X[:, 1] > 1.9).astype(int)
    assert y.sum() == 12
    cv = LabelledAnomalySplit(n_splits=3, n_labelled=4, random_state=0)
    detector = KerasDetector(
        classifier, objective="classification", epochs=30, learning_rate=0.02, random_state=0
    )
    search = GridSearchCV(
        detector, {"model__units": [2, 8]}, cv=cv, scoring=anomaly_roc_auc_scorer,
        refit=False, error_score="raise",
    ).fit(X, y)
    assert search.n_splits_ == 3
    scores = search.cv_results_["mean_test_score"]
    assert np.all(np.isfinite(scores))
    # Measured 0.94 (2 units) and 0.96 (8 units): 4 labelled anomalies
    # suffice to find a line.
    assert search.best_score_ > 0.85
    # The search scored the folds that split gives: refit one by hand.
    train, test = next(cv.split(X, y))
    assert np.sum(y[train] == 1) == 4
    fitted = detector.set_params(model__units=2).fit(X[train], y[train])
    by_hand = anomaly_roc_auc_score(y[test], fitted.decision_function(X[test]))
    assert by_hand == pytest.approx(search.cv_results_["split0_test_score"][0])


def svdd_encoder(sample_shape):
    # No biases, so that the network cannot map everything to the centre.
    return keras.Sequential(
        [
            keras.Input(sample_shape),
            layers.Dense(8, activation="tanh", use_bias=False),
            layers.Dense(2, use_bias=False),
        ]
    )


def semi_supervised_loss(x, outputs, labels):
    # Deep SAD's loss with the centre at the origin: unlabelled and normal
    # samples pulled in, labelled anomalies pushed out.
    distances = ops.sum(ops.square(outputs), axis=-1)
    return ops.where(ops.equal(labels, 1), 1.0 / (distances + 1e-6), distances)


def minus_distance(x, outputs):
    return -ops.sum(ops.square(outputs), axis=-1)


def test_cross_validate_with_unlabelled_samples():
    # A detector that takes all three labels. Normals in two clusters,
    # anomalies between them but off their axis, as far from the mean as
    # the normals (distance from the mean: AUC 0.46); 5 of the 15 anomalies
    # hide among the unlabelled samples.
    rng = np.random.RandomState(0)
    X = np.vstack(
        [
            rng.normal([-3.0, 0.0], 0.7, size=(75, 2)),
            rng.normal([3.0, 0.0], 0.7, size=(75, 2)),
            rng.normal([0.0, 3.0], 0.5, size=(15, 2)),
        ]
    )
    y = np.full(165, -1)
    y[:20] = 0
    y[75:95] = 0
    y[150:160] = 1
    detector = KerasDetector(
        svdd_encoder, objective="custom", loss=semi_supervised_loss,
        score_function=minus_distance, epochs=30, learning_rate=0.01, random_state=0,
    )
    result = cross_validate(
        detector, X, y,
        cv=LabelledAnomalySplit(n_splits=5, n_labelled=3, random_state=0),
        scoring={"auc": anomaly_roc_auc_scorer, "ap": anomaly_average_precision_scorer},
        return_indices=True, error_score="raise",
    )
    for train, test in zip(result["indices"]["train"], result["indices"]["test"]):
        # 110 normals and 5 anomalies unlabelled, 32 labelled normals, 3
        # labelled anomalies; tested on 8 normals and 2 anomalies.
        assert np.bincount(y[train] + 1).tolist() == [115, 32, 3]
        assert np.bincount(y[test] + 1).tolist() == [0, 8, 2]
    for key in ("test_auc", "test_ap"):
        assert np.all((result[key] >= 0) & (result[key] <= 1))
    # Measured 1.0 in every fold.
    assert result["test_auc"].mean() > 0.9
