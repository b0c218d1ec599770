"""Tests of NewTaskSplit, cross-validation that holds out whole tasks, and
score_new_tasks, which scores a fitted detector adapted to each new task."""

import pickle

import numpy as np
import pytest
import sklearn
from sklearn.ensemble import IsolationForest
from sklearn.model_selection import check_cv, cross_validate
from sklearn.utils.metadata_routing import get_routing_for_object

from skanomaly.metrics import anomaly_average_precision_scorer, anomaly_roc_auc_score
from skanomaly.model_selection import NewTaskSplit, score_new_tasks


def tasks_data(n_tasks=5, n_per_task=12, seed=0):
    """Each task: 3 anomalies (1), 5 normal samples (0), 4 unlabelled (-1),
    in random order; tasks named "t0", "t1", ... and interleaved."""
    rng = np.random.RandomState(seed)
    y = np.concatenate(
        [rng.permutation(np.r_[np.ones(3), np.zeros(5), -np.ones(4)]) for _ in range(n_tasks)]
    ).astype(int)
    groups = np.repeat([f"t{t}" for t in range(n_tasks)], n_per_task)
    order = rng.permutation(len(y))
    X = np.arange(len(y), dtype=float)[:, None]
    return X, y[order], groups[order]


# ------------------------------------------------------------ the folds


@pytest.mark.parametrize("n_splits", [2, 3, 5])
@pytest.mark.parametrize("shuffle, random_state", [(True, 0), (True, None), (False, None)])
def test_each_task_is_new_in_exactly_one_split(n_splits, shuffle, random_state):
    X, y, groups = tasks_data()
    cv = NewTaskSplit(n_splits=n_splits, shuffle=shuffle, random_state=random_state)
    splits = list(cv.split(X, y, groups))
    assert len(splits) == cv.get_n_splits() == n_splits
    new_tasks = []
    for train, test in splits:
        assert np.all(np.diff(train) > 0) and np.all(np.diff(test) > 0)
        train_tasks, test_tasks = set(groups[train]), set(groups[test])
        assert not train_tasks & test_tasks
        assert train_tasks | test_tasks == set(groups)
        # Every sample of a training task, whatever its label.
        assert len(train) == np.isin(groups, list(train_tasks)).sum()
        # The labelled samples of the new tasks; their unlabelled ones in
        # neither set.
        held_out = np.flatnonzero(np.isin(groups, list(test_tasks)))
        assert test.tolist() == held_out[y[held_out] >= 0].tolist()
        new_tasks.append(test_tasks)
    assert sorted(t for tasks in new_tasks for t in tasks) == sorted(set(groups))
    # Folds as equal in tasks as can be: 5 tasks in 3 folds are 2, 2, 1.
    assert sorted(len(t) for t in new_tasks) == sorted(
        len(f) for f in np.array_split(np.arange(5), n_splits)
    )


def test_without_shuffle_the_tasks_go_in_sorted_order():
    X, y, groups = tasks_data()
    firsts = [sorted(set(groups[test])) for _, test in NewTaskSplit(2, shuffle=False).split(
        X, y, groups)]
    assert firsts == [["t0", "t1", "t2"], ["t3", "t4"]]


def test_random_state_gives_the_same_splits():
    X, y, groups = tasks_data(n_tasks=8)

    def splits(random_state):
        cv = NewTaskSplit(4, random_state=random_state)
        return [test.tolist() for _, test in cv.split(X, y, groups)]

    assert splits(0) == splits(0)
    assert splits(0) != splits(1)


def test_a_splitter_checks_its_folds_before_yielding_any():
    X, y, groups = tasks_data()
    y[(groups == "t4") & (y == 1)] = -1  # t4: no labelled anomaly
    splits = NewTaskSplit(5, shuffle=False).split(X, y, groups)
    with pytest.raises(ValueError, match="new tasks \\['t4'\\] hold no labelled anomaly"):
        next(splits)
    # In a fold of more tasks it does no harm.
    assert len(list(NewTaskSplit(2, shuffle=False).split(X, y, groups))) == 2


def test_pickle_and_check_cv():
    cv = NewTaskSplit(3, random_state=0)
    assert check_cv(cv) is cv
    X, y, groups = tasks_data()
    restored = pickle.loads(pickle.dumps(cv))
    assert [t.tolist() for _, t in restored.split(X, y, groups)] == [
        t.tolist() for _, t in cv.split(X, y, groups)
    ]
    assert repr(cv) == "NewTaskSplit(n_splits=3, random_state=0, shuffle=True)"


def test_groups_are_requested_by_default():
    routing = get_routing_for_object(NewTaskSplit())
    assert routing.consumes("split", ["groups"]) == {"groups"}


@pytest.mark.parametrize("routing", [False, True])
def test_cross_validate_holds_out_tasks_with_and_without_routing(routing):
    X, y, groups = tasks_data()
    with sklearn.config_context(enable_metadata_routing=routing):
        extra = {"params": {"groups": groups}} if routing else {"groups": groups}
        results = cross_validate(
            IsolationForest(n_estimators=5, random_state=0), X, y,
            cv=NewTaskSplit(5, random_state=0), scoring=anomaly_average_precision_scorer,
            return_indices=True, **extra,
        )
    for test in results["indices"]["test"]:
        assert len(set(groups[test])) == 1
    assert np.isfinite(results["test_score"]).all()


# ------------------------------------------------------------------ errors


@pytest.mark.parametrize(
    "kwargs, error, match",
    [
        ({"n_splits": 1}, ValueError, "at least two folds"),
        ({"n_splits": 2.0}, TypeError, "n_splits must be an integer"),
        ({"shuffle": "yes"}, TypeError, "shuffle must be True or False"),
        ({"shuffle": False, "random_state": 0}, ValueError, "no effect since shuffle is False"),
    ],
)
def test_bad_parameters(kwargs, error, match):
    with pytest.raises(error, match=match):
        NewTaskSplit(**kwargs)


@pytest.mark.parametrize(
    "case, match",
    [
        ("no groups", "'groups' parameter should not be None: NewTaskSplit needs the task"),
        ("no y", "'y' parameter should not be None"),
        ("short groups", "groups must hold one task a sample, 60 values"),
        ("too few tasks", "Cannot have n_splits=6 greater than the number of tasks in "
         "groups: 5"),
        ("no normal", "hold no labelled normal sample \\(0\\)"),
        ("bad labels", "y must encode a labelled anomaly as 1"),
    ],
)
def test_bad_input(case, match):
    X, y, groups = tasks_data()
    n_splits = 6 if case == "too few tasks" else 5
    y_given = {"no y": None, "no normal": np.where(y == 0, -1, y),
               "bad labels": np.where(y == -1, 2, y)}.get(case, y)
    groups_given = {"no groups": None, "short groups": groups[:10]}.get(case, groups)
    with pytest.raises(ValueError, match=match):
        next(NewTaskSplit(n_splits).split(X, y_given, groups_given))


# ---------------------------------------------------------- score_new_tasks


class ShiftDetector:
    """A stand-in with ``adapt``: scores minus the distance of a sample's
    single feature from the mean of the normal samples of its support set,
    and records the support sets it was given."""

    def __init__(self):
        self.supports = []
        self.center = 0.0

    def adapt(self, X, y):
        self.supports.append((np.asarray(X)[:, 0].tolist(), np.asarray(y).tolist()))
        self.center = np.asarray(X)[np.asarray(y) != 1, 0].mean()
        return self

    def score_samples(self, X):
        return -np.abs(np.asarray(X)[:, 0] - self.center)


def scorer(estimator, X, y):
    return anomaly_roc_auc_score(y, estimator.score_samples(X))


def test_each_task_is_scored_on_its_query_set_after_adapting_to_its_support_set():
    rng = np.random.RandomState(0)
    # Two tasks around 0 and 100; anomalies 5 away from their task's centre.
    X = np.r_[rng.normal(0, 1, 30), 5 + rng.normal(0, 0.1, 6),
              rng.normal(100, 1, 30), 105 + rng.normal(0, 0.1, 6)][:, None]
    y = np.r_[np.tile([0, -1], 15), np.ones(6), np.tile([0, -1], 15), np.ones(6)].astype(int)
    groups = np.repeat([7, 3], 36)
    detector = ShiftDetector()
    scores = score_new_tasks(detector, X, y, groups, n_support_anomalies=2,
                             n_support_normals=10, scoring=scorer, random_state=0)
    assert list(scores) == [3, 7] and all(type(t) is int for t in scores)
    assert scores == {3: 1.0, 7: 1.0}
    # The detector given was not adapted: a copy was.
    assert detector.supports == []
    again = score_new_tasks(detector, X, y, groups, n_support_anomalies=2,
                            n_support_normals=10, scoring=scorer, random_state=0)
    assert again == scores


def test_the_support_and_query_sets():
    X = np.arange(40, dtype=float)[:, None]
    y = np.r_[np.ones(4), np.zeros(8), -np.ones(8), np.ones(4), np.zeros(8), -np.ones(8)]
    groups = np.repeat(["a", "b"], 20)
    seen = []

    def recording(estimator, X_query, y_query):
        support_rows, support_labels = estimator.supports[-1]
        seen.append((support_rows, support_labels, X_query[:, 0].tolist(), y_query.tolist()))
        return 0.5

    score_new_tasks(ShiftDetector(), X, y, groups.astype(object), n_support_anomalies=3,
                    n_support_normals=6, scoring=recording, random_state=0)
    for (support, labels, query, query_labels), offset in zip(seen, (0, 20)):
        assert all(offset <= r < offset + 20 for r in support + query)
        assert labels.count(1) == 3 and len(labels) == 9
        assert not set(support) & set(query)
        # The query set: the task's labelled samples outside the support set.
        assert -1 not in query_labels and query_labels.count(1) == 1
        expected = [r for r in range(offset, offset + 12) if r not in support]
        assert query == expected


def test_score_new_tasks_with_a_real_detector():
    from skanomaly import PrototypicalDetector

    rng = np.random.RandomState(0)

    def task(location, feature, n=50):
        X = rng.normal(location, 1.0, size=(n, 4))
        X[:10, feature] += 4.0
        return X, np.r_[np.ones(10), np.zeros(n - 10)].astype(int)

    tasks = [task(0.0, 0), task(3.0, 1), task(-3.0, 2), task(1.0, 3), task(2.0, 0)]
    X = np.vstack([X for X, _ in tasks])
    y = np.concatenate([y for _, y in tasks])
    groups = np.repeat(np.arange(5), 50)
    old = groups < 3
    detector = PrototypicalDetector(hidden_units=(8,), epochs=5, random_state=0)
    detector.fit(X[old], y[old], groups[old])
    prototype = detector.anomaly_prototype_.copy()
    scores = score_new_tasks(detector, X[~old], y[~old], groups[~old], random_state=0)
    assert set(scores) == {3, 4}
    # Measured: 1.0 and 0.99 (0.49 on the two tasks with the pooled
    # prototypes, without adapting).
    assert min(scores.values()) > 0.9
    np.testing.assert_array_equal(detector.anomaly_prototype_, prototype)


@pytest.mark.parametrize(
    "case, error, match",
    [
        ("no adapt", TypeError, "needs a detector that learns a new task from its support "
         "set with an adapt\\(X, y\\) method"),
        ("few anomalies", ValueError, "task 'a' holds 4 labelled anomalies; its support set "
         "takes n_support_anomalies=4 and at least one must be left"),
        ("few normals", ValueError, "task 'a' holds 16 normal or unlabelled samples, fewer "
         "than n_support_normals=17"),
        ("no normal left", ValueError, "task 'a' has no sample labelled normal \\(0\\) left"),
        ("bad count", ValueError, "n_support_normals must be at least 1, got 0"),
        ("float count", TypeError, "n_support_anomalies must be an int, got 2.0"),
        ("bad scoring", TypeError, "scoring must be a scorer"),
        ("no groups", ValueError, "score_new_tasks needs the task of each sample"),
    ],
)
def test_score_new_tasks_refuses(case, error, match):
    X = np.arange(40, dtype=float)[:, None]
    y = np.r_[np.ones(4), np.zeros(8), -np.ones(8), np.ones(4), np.zeros(8), -np.ones(8)]
    groups = np.repeat(["a", "b"], 20)
    kwargs = {"n_support_anomalies": 2, "n_support_normals": 5}
    detector = ShiftDetector()
    if case == "no adapt":
        detector = IsolationForest()
    elif case == "few anomalies":
        kwargs["n_support_anomalies"] = 4
    elif case == "few normals":
        kwargs["n_support_normals"] = 17
    elif case == "no normal left":
        y = np.where(y == 0, -1, y)
    elif case == "bad count":
        kwargs["n_support_normals"] = 0
    elif case == "float count":
        kwargs["n_support_anomalies"] = 2.0
    elif case == "bad scoring":
        kwargs["scoring"] = "roc_auc"
    elif case == "no groups":
        groups = None
    with pytest.raises(error, match=match):
        score_new_tasks(detector, X, y, groups, random_state=0, **kwargs)
