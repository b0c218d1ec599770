"""Cross-validation splitters for novelty detection.

In novelty detection a detector is trained on normal samples only and then
asked to tell new normal samples from anomalies. The splitters here cut the
*normal* samples (``y == 0``) into training and test parts and put *every*
anomaly (``y == 1``) in each test set, so that no anomaly is ever seen in
training and every test set can be scored with ROC AUC.
"""

import numbers
import warnings

import numpy as np
from sklearn.model_selection import BaseCrossValidator
from sklearn.utils import check_random_state
from sklearn.utils.validation import indexable

from ..metrics._classification import _check_anomaly_labels

__all__ = ["NoveltyShuffleSplit", "NoveltySplit"]


def check_folds(owner, n_splits, shuffle, random_state, *, seeds_without_shuffle=False):
    """Refuse a K-fold splitter's parameters that cannot work, with a clear
    error: ``n_splits`` an int of 2 or more, ``shuffle`` a bool, and no
    ``random_state`` without ``shuffle`` unless the splitter draws
    something else with it (``seeds_without_shuffle``)."""
    if not isinstance(n_splits, numbers.Integral) or isinstance(n_splits, bool):
        raise TypeError(
            f"n_splits must be an integer, got {n_splits!r} of type "
            f"{type(n_splits).__name__}."
        )
    if n_splits < 2:
        raise ValueError(
            f"{owner} needs at least two folds: set n_splits=2 or more, "
            f"got n_splits={n_splits}."
        )
    if not isinstance(shuffle, (bool, np.bool_)):
        raise TypeError(f"shuffle must be True or False, got {shuffle!r}.")
    if not shuffle and random_state is not None and not seeds_without_shuffle:
        raise ValueError(
            "Setting a random_state has no effect since shuffle is False. "
            "Leave random_state to its default (None), or set shuffle=True."
        )


def _check_split_target(X, y):
    """Validate ``X`` and ``y``; return the indices of normals and anomalies."""
    if y is None:
        raise ValueError(
            "The 'y' parameter should not be None: novelty splitters need the "
            "labels (1 for an anomaly, 0 for a normal sample) to train on "
            "normal samples only."
        )
    X, y = indexable(X, y)  # checks that X and y have the same length
    y = _check_anomaly_labels(y, name="y")
    normal = np.flatnonzero(y == 0)
    anomalous = np.flatnonzero(y == 1)
    if anomalous.shape[0] == 0:
        warnings.warn(
            "y holds no anomaly (y == 1): every test set holds only normal "
            "samples, on which ROC AUC and average precision are undefined.",
            UserWarning,
        )
    return normal, anomalous


class NoveltySplit(BaseCrossValidator):
    """K-fold cross-validation over the normal samples, for novelty detection.

    The normal samples (``y == 0``) are split into ``n_splits`` folds. In
    split ``k`` the detector is trained on the normal samples outside fold
    ``k`` and tested on the normal samples of fold ``k`` together with
    *all* the anomalies (``y == 1``). No anomaly is ever in a training set,
    and each normal sample is in exactly one test set. The first
    ``n_normals % n_splits`` folds have ``n_normals // n_splits + 1``
    normal samples, the others ``n_normals // n_splits``.

    Use it as ``cv=`` of :class:`~sklearn.model_selection.GridSearchCV`,
    :func:`~sklearn.model_selection.cross_val_score` or
    :func:`~sklearn.model_selection.cross_validate`, with a scorer from
    :mod:`skanomaly.metrics`.

    Parameters
    ----------
    n_splits : int, default=5
        Number of folds of the normal samples. Must be at least 2.
    shuffle : bool, default=True
        Whether to shuffle the normal samples before cutting them into
        folds. Unlike :class:`~sklearn.model_selection.KFold` this is on by
        default, since anomaly data sets are often sorted by label or time.
    random_state : int, RandomState instance or None, default=None
        Seeds the shuffling when ``shuffle=True``. Pass an int for the same
        splits on every call of :meth:`split`. Must be None when
        ``shuffle=False``.

    See Also
    --------
    NoveltyShuffleSplit : Random splits of the normal samples.
    sklearn.model_selection.KFold : K-fold over all the samples.

    Notes
    -----
    ``y`` holding no anomaly is allowed, with a warning: every test set then
    holds only normal samples, and metrics that need anomalies (ROC AUC,
    average precision) cannot be computed on them.

    Examples
    --------
    >>> import numpy as np
    >>> from skanomaly.model_selection import NoveltySplit
    >>> X = np.zeros((8, 2))
    >>> y = np.array([0, 0, 0, 0, 0, 0, 1, 1])
    >>> cv = NoveltySplit(n_splits=3, shuffle=False)
    >>> cv
    NoveltySplit(n_splits=3, random_state=None, shuffle=False)
    >>> for train, test in cv.split(X, y):
    ...     print(train.tolist(), test.tolist())
    [2, 3, 4, 5] [0, 1, 6, 7]
    [0, 1, 4, 5] [2, 3, 6, 7]
    [0, 1, 2, 3] [4, 5, 6, 7]

    With an outlier detector and a scorer:

    >>> from sklearn.ensemble import IsolationForest
    >>> from sklearn.model_selection import cross_val_score
    >>> from skanomaly.metrics import anomaly_roc_auc_scorer
    >>> rng = np.random.RandomState(0)
    >>> X = np.vstack([rng.normal(size=(60, 2)), rng.normal(6, 1, size=(6, 2))])
    >>> y = np.r_[np.zeros(60, dtype=int), np.ones(6, dtype=int)]
    >>> scores = cross_val_score(
    ...     IsolationForest(random_state=0), X, y,
    ...     cv=NoveltySplit(n_splits=3, random_state=0),
    ...     scoring=anomaly_roc_auc_scorer)
    >>> scores.round(2).tolist()
    [1.0, 1.0, 1.0]
    """

    def __init__(self, n_splits=5, *, shuffle=True, random_state=None):
        check_folds("NoveltySplit", n_splits, shuffle, random_state)
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
            Labels: ``1`` for an anomaly, ``0`` for a normal sample
            (booleans accepted). Required: None raises a ValueError.
        groups : None
            Ignored; present for API consistency.

        Yields
        ------
        train : ndarray of int
            Sorted indices of the training set: normal samples only.
        test : ndarray of int
            Sorted indices of the test set: the normal samples of the fold
            and all the anomalies.
        """
        normal, anomalous = _check_split_target(X, y)
        n_normals = normal.shape[0]
        if n_normals < self.n_splits:
            raise ValueError(
                f"Cannot have n_splits={self.n_splits} greater than the number "
                f"of normal samples (y == 0): {n_normals}."
            )
        if self.shuffle:
            normal = check_random_state(self.random_state).permutation(normal)
        fold_sizes = np.full(self.n_splits, n_normals // self.n_splits, dtype=int)
        fold_sizes[: n_normals % self.n_splits] += 1
        start = 0
        for size in fold_sizes:
            in_fold = np.zeros(n_normals, dtype=bool)
            in_fold[start : start + size] = True
            start += size
            train = np.sort(normal[~in_fold])
            test = np.sort(np.concatenate([normal[in_fold], anomalous]))
            yield train.astype(np.intp), test.astype(np.intp)

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


class NoveltyShuffleSplit(BaseCrossValidator):
    """Random train/test splits of the normal samples, for novelty detection.

    Each split draws ``test_size`` of the normal samples (``y == 0``) at
    random for the test set and keeps the others for training; the test
    set also holds *all* the anomalies (``y == 1``). No anomaly is ever in
    a training set. Unlike :class:`NoveltySplit`, a normal sample may be in
    the test set of several splits, or of none.

    Parameters
    ----------
    n_splits : int, default=10
        Number of re-shuffling and splitting iterations.
    test_size : float or int, default=0.2
        A float in ``(0, 1)`` is the share of the normal samples put in
        each test set (rounded up); an int is their number. At least one
        normal sample must be left for training.
    random_state : int, RandomState instance or None, default=None
        Seeds the draws. Pass an int for the same splits on every call of
        :meth:`split`.

    See Also
    --------
    NoveltySplit : K-fold over the normal samples.
    sklearn.model_selection.ShuffleSplit : Random splits of all the samples.

    Notes
    -----
    ``y`` holding no anomaly is allowed, with a warning: every test set then
    holds only normal samples.

    Examples
    --------
    >>> import numpy as np
    >>> from skanomaly.model_selection import NoveltyShuffleSplit
    >>> X = np.zeros((12, 2))
    >>> y = np.r_[np.zeros(10, dtype=int), np.ones(2, dtype=int)]
    >>> cv = NoveltyShuffleSplit(n_splits=3, test_size=0.3, random_state=0)
    >>> cv
    NoveltyShuffleSplit(n_splits=3, random_state=0, test_size=0.3)
    >>> for train, test in cv.split(X, y):
    ...     print(len(train), len(test), bool(np.all(y[train] == 0)))
    7 5 True
    7 5 True
    7 5 True
    """

    def __init__(self, n_splits=10, *, test_size=0.2, random_state=None):
        if not isinstance(n_splits, numbers.Integral) or isinstance(n_splits, bool):
            raise TypeError(
                f"n_splits must be an integer, got {n_splits!r} of type "
                f"{type(n_splits).__name__}."
            )
        if n_splits < 1:
            raise ValueError(f"n_splits must be at least 1, got n_splits={n_splits}.")
        if isinstance(test_size, bool) or not isinstance(test_size, numbers.Real):
            raise TypeError(
                "test_size must be a float in (0, 1) or a positive int, got "
                f"{test_size!r}."
            )
        if isinstance(test_size, numbers.Integral):
            if test_size < 1:
                raise ValueError(
                    f"test_size must be a positive int or a float in (0, 1), got "
                    f"test_size={test_size}."
                )
        elif not 0.0 < test_size < 1.0:
            raise ValueError(
                "test_size as a float must lie strictly between 0 and 1, got "
                f"test_size={test_size}."
            )
        self.n_splits = int(n_splits)
        self.test_size = test_size
        self.random_state = random_state

    def _n_test(self, n_normals):
        if isinstance(self.test_size, numbers.Integral):
            n_test = int(self.test_size)
        else:
            n_test = int(np.ceil(self.test_size * n_normals))
        if n_test >= n_normals:
            raise ValueError(
                f"test_size={self.test_size} leaves no normal sample for "
                f"training: there are {n_normals} normal samples (y == 0) and "
                f"{n_test} would go to the test set."
            )
        return n_test

    def split(self, X, y=None, groups=None):
        """Generate indices to split data into training and test set.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Training data.
        y : array-like of shape (n_samples,)
            Labels: ``1`` for an anomaly, ``0`` for a normal sample
            (booleans accepted). Required: None raises a ValueError.
        groups : None
            Ignored; present for API consistency.

        Yields
        ------
        train : ndarray of int
            Sorted indices of the training set: normal samples only.
        test : ndarray of int
            Sorted indices of the test set: the drawn normal samples and
            all the anomalies.
        """
        normal, anomalous = _check_split_target(X, y)
        n_test = self._n_test(normal.shape[0])
        rng = check_random_state(self.random_state)
        for _ in range(self.n_splits):
            permuted = rng.permutation(normal)
            test = np.sort(np.concatenate([permuted[:n_test], anomalous]))
            train = np.sort(permuted[n_test:])
            yield train.astype(np.intp), test.astype(np.intp)

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
