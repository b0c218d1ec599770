"""Cross-validation for detectors that learn from a few labelled anomalies.

Semi-supervised detectors (Deep SAD, DevNet, a classifier in
:class:`~skanomaly.KerasDetector`) are trained on ``y`` holding ``1`` for a
labelled anomaly, ``0`` for a labelled normal sample and ``-1`` for an
unlabelled one. :class:`LabelledAnomalySplit` tests them on labelled samples
only, and trains them on as many labelled anomalies as they will have in
use.
"""

import numbers
import warnings

import numpy as np
from sklearn.model_selection import BaseCrossValidator, StratifiedKFold
from sklearn.utils import check_random_state
from sklearn.utils.validation import indexable

from ..metrics._classification import _as_1d, _format_labels
from ._split import check_folds

__all__ = ["LabelledAnomalySplit"]

#: The labels of a semi-supervised y: anomaly, normal, unlabelled.
_LABELS = {1, 0, -1}


def _check_partial_labels(X, y):
    """Validate ``X`` and ``y``; return ``y`` as ints in ``{1, 0, -1}``."""
    if y is None:
        raise ValueError(
            "The 'y' parameter should not be None: LabelledAnomalySplit needs "
            "the labels (1 for a labelled anomaly, 0 for a labelled normal "
            "sample, -1 for an unlabelled one) to build its folds."
        )
    X, y = indexable(X, y)  # checks that X and y have the same length
    y = _as_1d(y, "y")
    if y.dtype == bool:
        return y.astype(int)
    if y.dtype.kind not in "iuf":
        raise ValueError(
            "y must hold numeric labels, 1 for a labelled anomaly, 0 for a "
            f"labelled normal sample and -1 for an unlabelled one; got labels "
            f"{_format_labels(y)} of dtype {y.dtype}."
        )
    labels = set(np.unique(y).tolist())
    if not labels <= _LABELS:
        raise ValueError(
            "y must encode a labelled anomaly as 1, a labelled normal sample "
            f"as 0 and an unlabelled one as -1; got labels {sorted(labels)}."
        )
    return y.astype(int)


class LabelledAnomalySplit(BaseCrossValidator):
    """Stratified K-fold over the labelled samples, training on a budget of
    labelled anomalies.

    For detectors that learn from a few labelled anomalies, with ``y``
    holding ``1`` for a labelled anomaly, ``0`` for a labelled normal sample
    and ``-1`` for an unlabelled sample (which may hide anomalies nobody
    found). In split ``k``:

    * the **test set** is fold ``k`` of a stratified K-fold over the
      labelled samples (``y`` in ``{0, 1}``): each labelled sample is in
      exactly one test set, and each test set holds labelled anomalies and
      labelled normal samples in about the proportion of the whole, at
      least one of each, so that ROC AUC can be computed on it;
    * the **training set** is every other sample: all the unlabelled
      samples, the labelled normal samples outside fold ``k``, and
      ``n_labelled`` of the labelled anomalies outside fold ``k``, drawn at
      random. The labelled anomalies not drawn are in neither set of that
      split.

    Use it as ``cv=`` of :class:`~sklearn.model_selection.GridSearchCV`,
    :func:`~sklearn.model_selection.cross_val_score` or
    :func:`~sklearn.model_selection.cross_validate`, with a scorer from
    :mod:`skanomaly.metrics`.

    Parameters
    ----------
    n_splits : int, default=5
        Number of folds of the labelled samples. Must be at least 2; ``y``
        must hold at least ``n_splits`` labelled anomalies and as many
        labelled normal samples.
    n_labelled : int or float, default=5
        How many labelled anomalies each training set keeps: the labelling
        budget the detector is tuned for. An int is their number; a float
        in ``(0, 1]`` is the share of the labelled anomalies outside the
        test fold, rounded half up, at least one (``1.0`` keeps them all).
        An int larger than the labelled anomalies outside some test fold
        raises a ValueError when :meth:`split` is called (see Notes).
    shuffle : bool, default=True
        Whether to shuffle the labelled samples of each class before
        cutting them into folds (as
        :class:`~sklearn.model_selection.StratifiedKFold` does). Unlike
        ``StratifiedKFold`` this is on by default, since anomaly data sets
        are often sorted by label or time.
    random_state : int, RandomState instance or None, default=None
        Seeds the shuffling of the folds (when ``shuffle=True``) and the
        draw of the labelled anomalies each training set keeps (always, so
        it may be set with ``shuffle=False``). Pass an int for the same
        splits on every call of :meth:`split`.

    See Also
    --------
    NoveltySplit : K-fold over the normal samples, for detectors trained on
        normal samples only.
    sklearn.model_selection.StratifiedKFold : Stratified K-fold over all the
        samples.

    Notes
    -----
    **Why a budget.** A detector that learns from labelled anomalies is used
    with the few that someone labelled, often a handful. Plain
    ``StratifiedKFold`` would train it on all the labelled anomalies outside
    the test fold, 80% of them with five folds, and so tune it (its
    learning rate, its weight on the labelled term, its stopping) for more
    labels than it will have. Here each training set holds ``n_labelled``
    of them, the number the detector will meet. The labelled anomalies left
    out of a training set cannot stay in it as unlabelled samples, which
    would be closer to how they occur in use: that needs their label
    changed to ``-1``, and a splitter returns indices, not labels. Nor can
    they go to the test set, which would then differ from fold to fold in
    its share of anomalies and hold samples tested in other folds too. So
    they sit out that split.

    **Why test on labelled samples only.** An unlabelled sample carries no
    truth to score against (it may be an anomaly nobody found), and the
    scorers of :mod:`skanomaly.metrics` refuse the label ``-1``. Unlabelled
    samples are therefore always in the training set, where the detector
    learns from them as it will in use.

    **Too few labels.** ``y`` must hold at least ``n_splits`` labelled
    anomalies and ``n_splits`` labelled normal samples, one of each for
    every test fold; a ``y`` with anomalies and unlabelled samples but no
    normal sample labelled ``0`` is refused, since no test fold could be
    scored. An int ``n_labelled`` larger than the labelled anomalies left
    outside a test fold is refused rather than lowered, since the search
    would then tune for another budget than the one asked for without
    saying so; the error gives the largest ``n_labelled`` that fits.

    **When to use NoveltySplit instead.** For a detector trained on normal
    samples only (an autoencoder, Deep SVDD, ``IsolationForest`` used for
    novelty detection), whose ``fit`` ignores the labels: it never sees an
    anomaly in training, so every anomaly can be in every test set.
    ``LabelledAnomalySplit`` is for detectors whose ``fit`` reads ``y``.
    A detector that takes only ``0`` and ``1`` (``KerasDetector`` with
    ``objective="classification"``) works with it too, on a ``y`` without
    ``-1``.

    Examples
    --------
    >>> import numpy as np
    >>> from skanomaly.model_selection import LabelledAnomalySplit
    >>> X = np.zeros((14, 2))
    >>> y = np.array([-1, -1, -1, -1, 0, 0, 0, 0, 0, 0, 1, 1, 1, 1])
    >>> cv = LabelledAnomalySplit(n_splits=2, n_labelled=1, random_state=0)
    >>> cv
    LabelledAnomalySplit(n_labelled=1, n_splits=2, random_state=0, shuffle=True)
    >>> for train, test in cv.split(X, y):
    ...     print(y[train].tolist(), y[test].tolist())
    [-1, -1, -1, -1, 0, 0, 0, 1] [0, 0, 0, 1, 1]
    [-1, -1, -1, -1, 0, 0, 0, 1] [0, 0, 0, 1, 1]

    Tuning a detector that learns from labels (here a small classifier,
    on a ``y`` without unlabelled samples, which it does not take):

    >>> import keras
    >>> from sklearn.model_selection import GridSearchCV
    >>> from skanomaly import KerasDetector
    >>> from skanomaly.metrics import anomaly_roc_auc_scorer
    >>> def classifier(sample_shape):
    ...     return keras.Sequential([
    ...         keras.Input(sample_shape),
    ...         keras.layers.Dense(1, activation="sigmoid"),
    ...     ])
    >>> rng = np.random.RandomState(0)
    >>> X = np.vstack([rng.normal(size=(60, 2)), rng.normal(4, 1, size=(9, 2))])
    >>> y = np.r_[np.zeros(60, dtype=int), np.ones(9, dtype=int)]
    >>> search = GridSearchCV(
    ...     KerasDetector(classifier, objective="classification", epochs=20,
    ...                   random_state=0),
    ...     {"learning_rate": [1e-3, 1e-1]},
    ...     cv=LabelledAnomalySplit(n_splits=3, n_labelled=3, random_state=0),
    ...     scoring=anomaly_roc_auc_scorer,
    ... ).fit(X, y)
    >>> search.n_splits_, round(float(search.best_score_), 2)
    (3, 1.0)
    """

    def __init__(self, n_splits=5, *, n_labelled=5, shuffle=True, random_state=None):
        # The labelled anomalies kept are drawn with random_state always.
        check_folds(
            "LabelledAnomalySplit", n_splits, shuffle, random_state,
            seeds_without_shuffle=True,
        )
        if isinstance(n_labelled, bool) or not isinstance(n_labelled, numbers.Real):
            raise TypeError(
                "n_labelled must be a positive int (a number of labelled "
                "anomalies) or a float in (0, 1] (a share of them), got "
                f"{n_labelled!r} of type {type(n_labelled).__name__}."
            )
        if isinstance(n_labelled, numbers.Integral):
            if n_labelled < 1:
                raise ValueError(
                    "n_labelled as an int must be at least 1: a detector that "
                    "learns from labelled anomalies needs one. Got "
                    f"n_labelled={n_labelled}."
                )
        elif not 0.0 < n_labelled <= 1.0:
            raise ValueError(
                "n_labelled as a float is a share of the labelled anomalies and "
                f"must lie in (0, 1], got n_labelled={n_labelled}."
            )
        self.n_splits = int(n_splits)
        self.n_labelled = n_labelled
        self.shuffle = bool(shuffle)
        self.random_state = random_state

    def _n_kept(self, n_available):
        """How many of ``n_available`` labelled anomalies a training set keeps."""
        if isinstance(self.n_labelled, numbers.Integral):
            return int(self.n_labelled)
        return max(1, int(np.floor(self.n_labelled * n_available + 0.5)))

    def _check_label_counts(self, y):
        n_normals = int(np.sum(y == 0))
        n_anomalies = int(np.sum(y == 1))
        if n_normals == 0:
            raise ValueError(
                "y holds no labelled normal sample (0): every test fold would "
                "hold anomalies only, on which ROC AUC and average precision "
                f"are undefined. Label at least n_splits={self.n_splits} samples "
                "you know to be normal with 0 (keep -1 for the others). If y "
                "holds scikit-learn's predictions (+1 inlier, -1 outlier), "
                "convert them: 1 for an anomaly, 0 for a normal sample."
            )
        counts = ((n_anomalies, "anomalies (y == 1)"), (n_normals, "normal samples (y == 0)"))
        for count, what in counts:
            if count < self.n_splits:
                raise ValueError(
                    f"LabelledAnomalySplit needs at least n_splits={self.n_splits} "
                    f"labelled {what}, one for each test fold; y holds {count}. "
                    "Label more samples or lower n_splits."
                )

    def split(self, X, y=None, groups=None):
        """Generate indices to split data into training and test set.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Training data.
        y : array-like of shape (n_samples,)
            Labels: ``1`` for a labelled anomaly, ``0`` for a labelled
            normal sample, ``-1`` for an unlabelled sample. Required: None
            raises a ValueError.
        groups : None
            Ignored, with a warning when given; present for API
            consistency.

        Yields
        ------
        train : ndarray of int
            Sorted indices of the training set: every unlabelled sample,
            the labelled normal samples outside the test fold and
            ``n_labelled`` labelled anomalies outside it.
        test : ndarray of int
            Sorted indices of the test set: one fold of the labelled
            samples, anomalies and normal samples alike.
        """
        if groups is not None:
            warnings.warn(
                f"The groups parameter is ignored by {type(self).__name__}",
                UserWarning,
            )
        y = _check_partial_labels(X, y)
        self._check_label_counts(y)
        rng = check_random_state(self.random_state)
        labelled = np.flatnonzero(y >= 0)
        folds = StratifiedKFold(
            self.n_splits, shuffle=self.shuffle, random_state=rng if self.shuffle else None
        )
        test_folds = [labelled[test] for _, test in folds.split(labelled, y[labelled])]
        # Check every fold before yielding any, so a search fails at once.
        anomalies = np.flatnonzero(y == 1)
        n_available = [anomalies.shape[0] - int(np.sum(y[test] == 1)) for test in test_folds]
        if self._n_kept(min(n_available)) > min(n_available):
            raise ValueError(
                f"n_labelled={self.n_labelled} is more than the labelled "
                f"anomalies left for training: with n_splits={self.n_splits}, "
                f"{anomalies.shape[0]} labelled anomalies leave as few as "
                f"{min(n_available)} outside a test fold. Set n_labelled to at "
                f"most {min(n_available)} (or a float share), lower n_splits, "
                "or label more anomalies."
            )
        for test, available in zip(test_folds, n_available):
            candidates = np.setdiff1d(anomalies, test)
            kept = rng.choice(candidates, size=self._n_kept(available), replace=False)
            rest = np.setdiff1d(np.arange(y.shape[0]), np.concatenate([test, anomalies]))
            train = np.sort(np.concatenate([rest, kept]))
            yield train.astype(np.intp), np.sort(test).astype(np.intp)

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
