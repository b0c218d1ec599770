"""Tests of the novelty detection splitters in skanomaly.model_selection."""

import pickle

import numpy as np
import pytest
from sklearn.base import clone
from sklearn.ensemble import IsolationForest
from sklearn.model_selection import GridSearchCV, check_cv, cross_val_score
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from skanomaly.metrics import anomaly_f1_scorer, anomaly_roc_auc_scorer
from skanomaly.model_selection import NoveltyShuffleSplit, NoveltySplit

SPLITTERS = [
    NoveltySplit(n_splits=3, random_state=0),
    NoveltyShuffleSplit(n_splits=3, test_size=0.25, random_state=0),
]


@pytest.fixture(scope="module")
def data():
    rng = np.random.RandomState(0)
    X = np.vstack([rng.normal(size=(40, 2)), rng.normal(5, 1, size=(7, 2))])
    y = np.r_[np.zeros(40, dtype=int), np.ones(7, dtype=int)]
    # interleave anomalies among normals
    order = rng.permutation(len(y))
    return X[order], y[order]


def _splits(cv, X, y):
    return [(train, test) for train, test in cv.split(X, y)]


# ----------------------------------------------------------- NoveltySplit
@pytest.mark.parametrize(
    "shuffle, random_state", [(True, 0), (True, None), (False, None)]
)
def test_novelty_split_properties(data, shuffle, random_state):
    X, y = data
    cv = NoveltySplit(n_splits=4, shuffle=shuffle, random_state=random_state)
    splits = _splits(cv, X, y)
    assert len(splits) == cv.get_n_splits() == cv.get_n_splits(X, y) == 4
    normal = np.flatnonzero(y == 0)
    anomalous = np.flatnonzero(y == 1)
    test_normals = []
    for train, test in splits:
        for idx in (train, test):
            assert idx.dtype.kind == "i"
            assert np.all(np.diff(idx) > 0)  # sorted, no duplicates
        assert np.all(y[train] == 0)  # train folds hold only normals
        assert np.isin(anomalous, test).all()  # every anomaly in every test set
        assert np.intersect1d(train, test).size == 0
        # train and test together cover the whole data set
        np.testing.assert_array_equal(np.union1d(train, test), np.arange(len(y)))
        test_normals.append(test[y[test] == 0])
        assert len(test_normals[-1]) == 10
    # every normal sample is in exactly one test fold
    all_test_normals = np.concatenate(test_normals)
    np.testing.assert_array_equal(np.sort(all_test_normals), normal)


def test_novelty_split_fold_sizes_without_shuffle():
    X = np.zeros((9, 1))
    y = np.array([0, 1, 0, 0, 0, 0, 0, 1, 0])  # 7 normals
    splits = _splits(NoveltySplit(n_splits=3, shuffle=False), X, y)
    tests = [test.tolist() for _, test in splits]
    trains = [train.tolist() for train, _ in splits]
    # normals 0, 2, 3, 4, 5, 6, 8 in folds of sizes 3, 2, 2
    assert tests == [[0, 1, 2, 3, 7], [1, 4, 5, 7], [1, 6, 7, 8]]
    assert trains == [[4, 5, 6, 8], [0, 2, 3, 6, 8], [0, 2, 3, 4, 5]]


def test_novelty_split_random_state(data):
    X, y = data
    first = _splits(NoveltySplit(n_splits=3, random_state=0), X, y)
    again = _splits(NoveltySplit(n_splits=3, random_state=0), X, y)
    other = _splits(NoveltySplit(n_splits=3, random_state=1), X, y)
    for (tr1, te1), (tr2, te2) in zip(first, again):
        np.testing.assert_array_equal(tr1, tr2)
        np.testing.assert_array_equal(te1, te2)
    assert any(not np.array_equal(t1, t2) for (_, t1), (_, t2) in zip(first, other))
    # an int seed gives the same splits on each call of split
    cv = NoveltySplit(n_splits=3, random_state=0)
    for (_, te1), (_, te2) in zip(_splits(cv, X, y), _splits(cv, X, y)):
        np.testing.assert_array_equal(te1, te2)


def test_novelty_split_repr_clone_pickle():
    cv = NoveltySplit(n_splits=3, random_state=0)
    assert repr(cv) == "NoveltySplit(n_splits=3, random_state=0, shuffle=True)"
    assert repr(pickle.loads(pickle.dumps(cv))) == repr(cv)
    assert check_cv(cv) is cv


@pytest.mark.parametrize(
    "kwargs, error, match",
    [
        ({"n_splits": 1}, ValueError, "at least two folds"),
        ({"n_splits": 2.0}, TypeError, "n_splits must be an integer"),
        ({"shuffle": "yes"}, TypeError, "shuffle must be True or False"),
        ({"shuffle": False, "random_state": 0}, ValueError, "shuffle is False"),
    ],
)
def test_novelty_split_bad_params(kwargs, error, match):
    with pytest.raises(error, match=match):
        NoveltySplit(**kwargs)


# ----------------------------------------------------- NoveltyShuffleSplit
@pytest.mark.parametrize("test_size, n_test", [(0.25, 10), (0.26, 11), (5, 5)])
def test_novelty_shuffle_split_properties(data, test_size, n_test):
    X, y = data
    cv = NoveltyShuffleSplit(n_splits=5, test_size=test_size, random_state=0)
    splits = _splits(cv, X, y)
    assert len(splits) == cv.get_n_splits() == 5
    anomalous = np.flatnonzero(y == 1)
    for train, test in splits:
        assert np.all(np.diff(train) > 0) and np.all(np.diff(test) > 0)
        assert np.all(y[train] == 0)
        assert np.isin(anomalous, test).all()
        assert np.sum(y[test] == 0) == n_test
        assert len(train) == 40 - n_test
        np.testing.assert_array_equal(np.union1d(train, test), np.arange(len(y)))
    # the splits differ from one another
    assert len({tuple(test) for _, test in splits}) > 1


def test_novelty_shuffle_split_random_state(data):
    X, y = data
    first = _splits(NoveltyShuffleSplit(n_splits=3, random_state=0), X, y)
    again = _splits(NoveltyShuffleSplit(n_splits=3, random_state=0), X, y)
    other = _splits(NoveltyShuffleSplit(n_splits=3, random_state=1), X, y)
    for (_, te1), (_, te2) in zip(first, again):
        np.testing.assert_array_equal(te1, te2)
    assert any(not np.array_equal(t1, t2) for (_, t1), (_, t2) in zip(first, other))
    cv = NoveltyShuffleSplit(n_splits=3, random_state=0)
    assert repr(cv) == "NoveltyShuffleSplit(n_splits=3, random_state=0, test_size=0.2)"


@pytest.mark.parametrize(
    "kwargs, error, match",
    [
        ({"n_splits": 0}, ValueError, "n_splits must be at least 1"),
        ({"n_splits": "3"}, TypeError, "n_splits must be an integer"),
        ({"test_size": 1.0}, ValueError, "strictly between 0 and 1"),
        ({"test_size": 0.0}, ValueError, "strictly between 0 and 1"),
        ({"test_size": 0}, ValueError, "positive int"),
        ({"test_size": "0.2"}, TypeError, "test_size must be"),
    ],
)
def test_novelty_shuffle_split_bad_params(kwargs, error, match):
    with pytest.raises(error, match=match):
        NoveltyShuffleSplit(**kwargs)


def test_novelty_shuffle_split_leaves_training_normals():
    X = np.zeros((6, 1))
    y = np.array([0, 0, 0, 0, 1, 1])
    with pytest.raises(ValueError, match="leaves no normal sample for training"):
        next(NoveltyShuffleSplit(test_size=4).split(X, y))
    train, test = next(NoveltyShuffleSplit(test_size=3, random_state=0).split(X, y))
    assert len(train) == 1 and len(test) == 5


# --------------------------------------------------------- shared checks
@pytest.mark.parametrize("cv", SPLITTERS, ids=repr)
def test_y_validation(cv):
    X = np.zeros((6, 2))
    with pytest.raises(ValueError, match="'y' parameter should not be None"):
        next(cv.split(X))
    with pytest.raises(ValueError, match=r"\{-1, \+1\} of scikit-learn's predict"):
        next(cv.split(X, [1, 1, 1, 1, -1, -1]))
    with pytest.raises(ValueError, match=r"got labels \[0, 1, 2\]"):
        next(cv.split(X, [0, 0, 0, 1, 2, 2]))
    with pytest.raises(ValueError, match="inconsistent numbers of samples"):
        next(cv.split(X, [0, 0, 0, 1]))
    # booleans are fine
    train, test = next(cv.split(X, np.array([0, 0, 0, 0, 1, 1], dtype=bool)))
    assert {4, 5} <= set(test.tolist()) and not {4, 5} & set(train.tolist())


def test_too_few_normals():
    X = np.zeros((5, 1))
    y = [0, 0, 1, 1, 1]
    match = r"n_splits=3 greater than the number of normal samples \(y == 0\): 2"
    with pytest.raises(ValueError, match=match):
        next(NoveltySplit(n_splits=3).split(X, y))


@pytest.mark.parametrize("cv", SPLITTERS, ids=repr)
def test_no_anomalies_warns(cv):
    X = np.zeros((8, 1))
    y = np.zeros(8, dtype=int)
    with pytest.warns(UserWarning, match="holds no anomaly"):
        splits = list(cv.split(X, y))
    for train, test in splits:
        assert np.all(y[test] == 0)


# ------------------------------------------------------ with sklearn tools
def test_brief_snippet_grid_search(data):
    X, y = data
    search = GridSearchCV(
        make_pipeline(StandardScaler(), IsolationForest(random_state=0)),
        {"isolationforest__n_estimators": [50, 100]},
        cv=NoveltySplit(n_splits=3, random_state=0),
        scoring=anomaly_roc_auc_scorer,
    )
    search.fit(X, y)
    assert search.n_splits_ == 3
    assert not np.isnan(search.cv_results_["mean_test_score"]).any()
    assert search.best_score_ > 0.9


@pytest.mark.parametrize("cv", SPLITTERS, ids=repr)
def test_cross_val_score(data, cv):
    X, y = data
    for scoring in (anomaly_roc_auc_scorer, anomaly_f1_scorer):
        scores = cross_val_score(
            IsolationForest(n_estimators=30, random_state=0),
            X,
            y,
            cv=clone(cv) if hasattr(cv, "get_params") else cv,
            scoring=scoring,
            error_score="raise",
        )
        assert scores.shape == (3,)
        assert np.all((0 <= scores) & (scores <= 1))
    assert scores.mean() > 0  # F1 of a working detector
