"""Model selection for detectors that learn across tasks (meta-learning).

Such a detector (:class:`~skanomaly.PrototypicalDetector`) trains on
several tasks, ``groups`` telling the task of each sample, and is meant for
tasks it has not seen: its test is a *new* task. :class:`NewTaskSplit`
holds out whole tasks; :func:`score_new_tasks` scores a fitted detector on
new tasks, adapting it to each from a few of its labelled samples.
"""

import copy
import numbers

import numpy as np
from sklearn.model_selection import BaseCrossValidator
from sklearn.utils import check_random_state

from ..metrics import anomaly_roc_auc_scorer
from ._labelled import _check_partial_labels
from ._split import check_folds

__all__ = ["NewTaskSplit", "score_new_tasks"]


def _check_groups(groups, n_samples, owner):
    """``groups`` as a 1-D array of one task a sample, or a clear error."""
    if groups is None:
        raise ValueError(
            f"The 'groups' parameter should not be None: {owner} needs the task "
            "of each sample. Pass groups=... (to GridSearchCV.fit, it reaches "
            "the splitter)."
        )
    groups = np.asarray(groups)
    if groups.ndim != 1 or groups.shape[0] != n_samples:
        raise ValueError(
            f"{owner}: groups must hold one task a sample, {n_samples} values; "
            f"got an array of shape {groups.shape}."
        )
    return groups


class NewTaskSplit(BaseCrossValidator):
    """K-fold over tasks: each split holds out whole tasks as new ones.

    For detectors that learn across tasks (meta-learning), with ``groups``
    telling the task of each sample. The tasks are cut into ``n_splits``
    folds of as equal a number of tasks as can be; in split ``k``:

    * the **training set** is every sample of the tasks outside fold ``k``,
      whatever its label: the detector learns from them as it will in use;
    * the **test set** is the labelled samples (``y`` in ``{0, 1}``) of the
      tasks of fold ``k``, the new tasks. Their unlabelled samples (``-1``)
      are in neither set: they carry no truth to test on, and training on
      them would make the new tasks training tasks.

    Each test set must hold at least one labelled anomaly and one labelled
    normal sample, so that ROC AUC can be computed on it. Use it as ``cv=``
    of :class:`~sklearn.model_selection.GridSearchCV` or
    :func:`~sklearn.model_selection.cross_validate`, passing ``groups`` to
    their ``fit``; with metadata routing enabled, ``groups`` also reaches a
    detector that requests it (``set_fit_request(groups=True)``).

    Parameters
    ----------
    n_splits : int, default=5
        Number of folds of the tasks. At least 2, and at most the number of
        tasks.
    shuffle : bool, default=True
        Whether to shuffle the tasks before cutting them into folds.
        Unlike :class:`~sklearn.model_selection.GroupKFold` this is on by
        default, since tasks are often numbered in the order they came.
    random_state : int, RandomState instance or None, default=None
        Seeds the shuffling when ``shuffle=True``. Pass an int for the same
        splits on every call of :meth:`split`. Must be None when
        ``shuffle=False``.

    See Also
    --------
    score_new_tasks : Scores a fitted detector on new tasks, adapting it to
        each from its support set.
    sklearn.model_selection.GroupKFold : K-fold over groups, balancing the
        number of samples rather than of tasks, testing on every sample.
    LabelledAnomalySplit : For detectors that learn from a few labelled
        anomalies within one task.

    Notes
    -----
    **What a search measures.** A scorer calls ``score_samples`` (or
    ``decision_function``, ``predict``) on the test set, and nothing else:
    it cannot first adapt the detector to each new task from a few of its
    labelled samples (:meth:`~skanomaly.PrototypicalDetector.adapt`), which
    is how such a detector is used. Nor can the test set tell the detector
    which of its samples belong to which task. So a search with this
    splitter measures the detector *as fitted*, on tasks it has never seen
    (for :class:`~skanomaly.PrototypicalDetector`, with the prototypes of
    the training tasks pooled): how well what it learnt transfers without
    adaptation. Putting a new task's support set in the training set would
    not help: the detector would train on it as one more task rather than
    adapt to it. To measure the detector adapted to each new task, fit it
    on the training tasks of a split and call :func:`score_new_tasks` on
    the new ones (see its example); scikit-learn's API has no place for
    that step inside a search.

    Examples
    --------
    >>> import numpy as np
    >>> from skanomaly.model_selection import NewTaskSplit
    >>> X = np.zeros((12, 2))
    >>> y = np.array([0, 0, 1, -1, 0, 0, 1, -1, 0, 0, 1, -1])
    >>> groups = np.repeat(["a", "b", "c"], 4)
    >>> cv = NewTaskSplit(n_splits=3, shuffle=False)
    >>> for train, test in cv.split(X, y, groups):
    ...     print(np.unique(groups[train]).tolist(), groups[test].tolist(), y[test].tolist())
    ['b', 'c'] ['a', 'a', 'a'] [0, 0, 1]
    ['a', 'c'] ['b', 'b', 'b'] [0, 0, 1]
    ['a', 'b'] ['c', 'c', 'c'] [0, 0, 1]
    """

    # Requested by default, as scikit-learn's group splitters do.
    __metadata_request__split = {"groups": True}

    def __init__(self, n_splits=5, *, shuffle=True, random_state=None):
        check_folds("NewTaskSplit", n_splits, shuffle, random_state)
        self.n_splits = int(n_splits)
        self.shuffle = bool(shuffle)
        self.random_state = random_state

    def split(self, X, y=None, groups=None):
        """Generate indices to split data into training and test set.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Training data.
        y : array-like of shape (n_samples,)
            Labels: ``1`` for a labelled anomaly, ``0`` for a labelled
            normal sample, ``-1`` for an unlabelled one. Required.
        groups : array-like of shape (n_samples,)
            The task of each sample. Required.

        Yields
        ------
        train : ndarray of int
            Sorted indices of the training set: every sample of the
            training tasks.
        test : ndarray of int
            Sorted indices of the test set: the labelled samples of the new
            tasks.
        """
        y = _check_partial_labels(X, y)
        groups = _check_groups(groups, y.shape[0], type(self).__name__)
        tasks = np.unique(groups)
        if tasks.shape[0] < self.n_splits:
            raise ValueError(
                f"Cannot have n_splits={self.n_splits} greater than the number "
                f"of tasks in groups: {tasks.shape[0]}."
            )
        if self.shuffle:
            tasks = check_random_state(self.random_state).permutation(tasks)
        folds = np.array_split(tasks, self.n_splits)
        # Check every fold before yielding any, so a search fails at once.
        for fold in folds:
            held_out = y[np.isin(groups, fold)]
            for label, what in ((1, "anomaly (1)"), (0, "normal sample (0)")):
                if not np.any(held_out == label):
                    raise ValueError(
                        f"The new tasks {fold.tolist()} hold no labelled {what}: "
                        "their test set could not be scored with ROC AUC. Label "
                        "at least one anomaly and one normal sample in every "
                        "task, or lower n_splits so that folds hold more tasks."
                    )
        for fold in folds:
            new = np.isin(groups, fold)
            yield (
                np.flatnonzero(~new).astype(np.intp),
                np.flatnonzero(new & (y >= 0)).astype(np.intp),
            )

    def get_n_splits(self, X=None, y=None, groups=None):
        """Return the number of splitting iterations in the cross-validator.

        Parameters
        ----------
        X, y, groups : object
            Ignored; present for API consistency.

        Returns
        -------
        n_splits : int
            The number of splits.
        """
        return self.n_splits


def score_new_tasks(
    detector,
    X,
    y,
    groups,
    *,
    n_support_anomalies=5,
    n_support_normals=20,
    scoring=anomaly_roc_auc_scorer,
    random_state=None,
):
    """Score a fitted detector on new tasks, adapting it to each first.

    For a detector that learns across tasks and has an ``adapt(X, y)``
    method (:class:`~skanomaly.PrototypicalDetector`,
    :class:`~skanomaly.MAMLDetector`). For each task of
    ``groups``, in sorted order, a *support set* is drawn at random:
    ``n_support_anomalies`` of its labelled anomalies and
    ``n_support_normals`` of its other samples (labelled ``0`` or
    unlabelled, taken as normal). A copy of the detector is adapted to it,
    then scored with ``scoring`` on the task's other labelled samples (its
    *query set*). The detector given is not changed.

    Parameters
    ----------
    detector : fitted detector with an ``adapt(X, y)`` method
        Trained on other tasks than those of ``groups``.
    X : array-like of shape (n_samples, n_features)
        Samples of the new tasks.
    y : array-like of shape (n_samples,)
        Labels: ``1`` for a labelled anomaly, ``0`` for a labelled normal
        sample, ``-1`` for an unlabelled one. Each task must hold more than
        ``n_support_anomalies`` labelled anomalies and, besides the
        ``n_support_normals`` samples the support set takes, at least one
        sample labelled ``0`` left to score.
    groups : array-like of shape (n_samples,)
        The task of each sample.
    n_support_anomalies : int, default=5
        Labelled anomalies in each task's support set.
    n_support_normals : int, default=20
        Normal (or unlabelled) samples in each task's support set.
    scoring : callable, default=anomaly_roc_auc_scorer
        A scorer, ``scoring(estimator, X, y)``, such as those of
        :mod:`skanomaly.metrics`.
    random_state : int, RandomState instance or None, default=None
        Seeds the draws of the support sets.

    Returns
    -------
    scores : dict
        The score of each task, by task.

    See Also
    --------
    NewTaskSplit : Cross-validation that holds out whole tasks.

    Examples
    --------
    >>> import numpy as np
    >>> from skanomaly import PrototypicalDetector
    >>> from skanomaly.model_selection import score_new_tasks
    >>> rng = np.random.RandomState(0)
    >>> def task(location, feature, n=60):
    ...     X = rng.normal(location, 1.0, size=(n, 4))
    ...     X[:10, feature] += 4.0          # ten anomalies of the task's kind
    ...     return X, np.r_[np.ones(10), np.zeros(n - 10)].astype(int)
    >>> tasks = [task(0.0, 0), task(3.0, 1), task(-3.0, 2), task(1.0, 3)]
    >>> X = np.vstack([X for X, _ in tasks])
    >>> y = np.concatenate([y for _, y in tasks])
    >>> groups = np.repeat([0, 1, 2, 3], 60)
    >>> old = groups < 3
    >>> detector = PrototypicalDetector(epochs=5, random_state=0)
    >>> detector = detector.fit(X[old], y[old], groups[old])
    >>> scores = score_new_tasks(detector, X[~old], y[~old], groups[~old],
    ...                          random_state=0)
    >>> list(scores), bool(scores[3] > 0.9)
    ([3], True)
    """
    if not callable(getattr(type(detector), "adapt", None)):
        raise TypeError(
            "score_new_tasks needs a detector that learns a new task from its "
            "support set with an adapt(X, y) method, such as "
            f"PrototypicalDetector; got {type(detector).__name__}."
        )
    for name, value in (("n_support_anomalies", n_support_anomalies),
                        ("n_support_normals", n_support_normals)):
        if not isinstance(value, numbers.Integral) or isinstance(value, bool):
            raise TypeError(f"{name} must be an int, got {value!r}.")
        if value < 1:
            raise ValueError(f"{name} must be at least 1, got {value}.")
    if not callable(scoring):
        raise TypeError(
            "scoring must be a scorer, a callable scoring(estimator, X, y) "
            f"such as skanomaly.metrics.anomaly_roc_auc_scorer; got {scoring!r}."
        )
    y = _check_partial_labels(X, y)
    if not hasattr(X, "iloc"):
        X = np.asarray(X)
    groups = _check_groups(groups, y.shape[0], "score_new_tasks")
    rng = check_random_state(random_state)
    # One copy, adapted to each task in turn: the detector given is kept.
    adapted = copy.deepcopy(detector)
    scores = {}
    for task in np.unique(groups).tolist():
        members = groups == task
        anomalies = np.flatnonzero(members & (y == 1))
        others = np.flatnonzero(members & (y != 1))
        if anomalies.shape[0] <= n_support_anomalies:
            raise ValueError(
                f"score_new_tasks: task {task!r} holds {anomalies.shape[0]} "
                f"labelled anomalies; its support set takes "
                f"n_support_anomalies={n_support_anomalies} and at least one "
                "must be left to score."
            )
        if others.shape[0] < n_support_normals:
            raise ValueError(
                f"score_new_tasks: task {task!r} holds {others.shape[0]} normal "
                f"or unlabelled samples, fewer than n_support_normals="
                f"{n_support_normals} for its support set."
            )
        support = np.r_[
            rng.choice(anomalies, n_support_anomalies, replace=False),
            rng.choice(others, n_support_normals, replace=False),
        ]
        query = np.setdiff1d(np.flatnonzero(members & (y >= 0)), support)
        if not np.any(y[query] == 0):
            raise ValueError(
                f"score_new_tasks: task {task!r} has no sample labelled normal "
                "(0) left to score once its support set is drawn; label more "
                "of its normal samples 0 or lower n_support_normals."
            )
        adapted.adapt(_rows(X, support), y[support])
        scores[task] = float(scoring(adapted, _rows(X, query), y[query]))
    return scores


def _rows(X, indices):
    """Rows of an array or a DataFrame."""
    return X.iloc[indices] if hasattr(X, "iloc") else X[indices]
