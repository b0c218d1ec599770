"""A threshold at a target false-positive rate, from held-out normal data:
split-conformal p-values over any detector's scores."""

import math
from numbers import Real

import numpy as np
from sklearn.base import BaseEstimator, MetaEstimatorMixin, OutlierMixin, _fit_context, clone
from sklearn.frozen import FrozenEstimator
from sklearn.utils import _safe_indexing, check_random_state, get_tags
from sklearn.utils._param_validation import HasMethods, Interval
from sklearn.utils._tags import ClassifierTags
from sklearn.utils.validation import _num_samples, check_is_fitted, indexable


class ConformalThreshold(MetaEstimatorMixin, OutlierMixin, BaseEstimator):
    """Threshold a detector at a target false-positive rate measured on
    normal data it was not trained on.

    ``contamination`` places a detector's threshold at a share of its own
    training scores, which assumes the share of anomalies in the training
    data is known. Often it is not, while what matters is how many normal
    samples get flagged: the false-positive rate. This wrapper trains a
    clone of ``detector`` on part of the (normal) training data, scores the
    rest, the *calibration* set, and turns any score into a split-conformal
    p-value (Vovk et al., 2005; Bates et al., 2023):

    ``p(x) = (1 + #{calibration scores <= s(x)}) / (n_calibration + 1)``,

    the share of calibration samples that score as low as ``x`` or lower
    (counting ``x``). A sample is flagged as an outlier when ``p(x) <=
    fpr``. If the calibration samples and a new normal sample are
    exchangeable (drawn alike, as from a stable process), a new normal
    sample is flagged with probability at most ``fpr``, and above ``fpr -
    1 / (n_calibration + 1)``, whatever the detector and its scores. The
    guarantee is on average over calibration sets; a given one can be off
    by about ``sqrt(fpr (1 - fpr) / n_calibration)``.

    Parameters
    ----------
    detector : estimator with ``fit`` and ``score_samples``
        The detector (or a ``Pipeline`` ending in one) whose scores are
        thresholded, higher for more normal samples. A clone of it is
        trained on the training share of ``X``. Wrapped in
        ``sklearn.frozen.FrozenEstimator``, a detector already fitted is
        used as it is, and all of ``X`` calibrates it.
    fpr : float in (0, 1), default=0.01
        Target false-positive rate: the largest share of normal samples
        flagged. The calibration set must hold at least ``1 / fpr - 1``
        samples (99 for 0.01).
    calibration_fraction : float in (0, 1), default=0.2
        Share of ``X`` held out (at random) to calibrate; the rest trains
        the detector. Ignored for a frozen detector.
    random_state : int, RandomState instance or None, default=None
        Seeds the choice of the calibration samples.

    Attributes
    ----------
    detector_ : estimator
        The fitted detector.
    calibration_scores_ : ndarray of shape (n_calibration,)
        The calibration samples' scores, sorted.
    offset_ : float
        The threshold on the detector's scores: a sample is an outlier when
        its score is below it, which is when ``p(x) <= fpr``.
    n_features_in_ : int
        Number of features seen by the detector, where it records them.

    See Also
    --------
    skanomaly.base.tukey_lower_fence : The threshold of
        ``contamination="auto"``.

    Notes
    -----
    The calibration samples must be normal: an anomaly among them lowers
    the threshold and with it the share of anomalies found (never the
    guarantee on normal samples, which only grows safer). Labels given to
    ``fit`` reach the detector for its training share and leave the
    calibration as it is: to keep known anomalies out of it, leave them
    out of ``X`` or calibrate a frozen detector on normal data.

    :meth:`predict_proba` maps scores to [0, 1] without assuming anything
    about their scale: its anomaly column is ``1 - p(x)``, the share of
    normal calibration samples that score more normally than ``x``. It is
    not the probability that ``x`` is an anomaly, which no detector trained
    on normal data alone can give (that needs the share and the scores of
    the anomalies); it is calibrated in the sense that, for a normal
    sample, ``P(1 - p(x) >= 1 - a) <= a`` for every ``a``.

    References
    ----------
    .. [1] V. Vovk, A. Gammerman and G. Shafer, "Algorithmic Learning in a
       Random World", Springer, 2005.
    .. [2] S. Bates, E. Candès, L. Lei, Y. Romano and M. Sesia, "Testing for
       outliers with conformal p-values", The Annals of Statistics 51(1),
       2023.

    Examples
    --------
    >>> import numpy as np
    >>> from sklearn.ensemble import IsolationForest
    >>> from skanomaly.calibration import ConformalThreshold
    >>> rng = np.random.RandomState(0)
    >>> X = rng.normal(size=(1000, 3))
    >>> detector = ConformalThreshold(IsolationForest(random_state=0), fpr=0.05,
    ...                               random_state=0).fit(X)
    >>> flagged = detector.predict(rng.normal(size=(2000, 3))) == -1
    >>> bool(0.03 < flagged.mean() < 0.07)
    True
    >>> detector.predict([[0.0, 0.0, 0.0], [6.0, 6.0, 6.0]])
    array([ 1, -1])
    """

    _parameter_constraints: dict = {
        "detector": [HasMethods(["fit", "score_samples"])],
        "fpr": [Interval(Real, 0.0, 1.0, closed="neither")],
        "calibration_fraction": [Interval(Real, 0.0, 1.0, closed="neither")],
        "random_state": ["random_state"],
    }

    def __init__(self, detector, *, fpr=0.01, calibration_fraction=0.2, random_state=None):
        self.detector = detector
        self.fpr = fpr
        self.calibration_fraction = calibration_fraction
        self.random_state = random_state

    @_fit_context(prefer_skip_nested_validation=False)
    def fit(self, X, y=None, **fit_params):
        """Train the detector on one share of ``X`` and calibrate the
        threshold on the other.

        Parameters
        ----------
        X : array-like of shape (n_samples, ...)
            Normal training data, in whatever form the detector takes.
        y : array-like of shape (n_samples,), default=None
            Labels (1 anomaly, 0 normal, -1 unlabelled) for a detector that
            learns from them: those of its training share reach its
            ``fit``. They do not change the calibration (see Notes).
        **fit_params : dict
            Passed on to the detector's ``fit``.

        Returns
        -------
        self : object
        """
        # Lists and other sequences without indexing become arrays; images,
        # file names and sparse rows pass as they are, for the detector.
        (X,) = indexable(X)
        n_samples = _num_samples(X)
        labels = None if y is None else np.asarray(y)
        if labels is not None and labels.shape[0] != n_samples:
            raise ValueError(
                f"y has {labels.shape[0]} labels but X has {n_samples} samples."
            )
        if isinstance(self.detector, FrozenEstimator):
            self.detector_ = self.detector
            calibration = np.arange(n_samples)
        else:
            calibration, train = self._split(n_samples)
            self.detector_ = clone(self.detector).fit(
                _safe_indexing(X, train), None if labels is None else labels[train],
                **fit_params,
            )
        self._set_threshold(self.detector_.score_samples(_safe_indexing(X, calibration)))
        if hasattr(self.detector_, "n_features_in_"):
            self.n_features_in_ = self.detector_.n_features_in_
        return self

    def _split(self, n_samples):
        n_calibration = int(math.floor(self.calibration_fraction * n_samples))
        if n_calibration < 1 or n_samples - n_calibration < 2:
            raise ValueError(
                f"{type(self).__name__}: calibration_fraction="
                f"{self.calibration_fraction} of {n_samples} samples leaves "
                f"{n_calibration} to calibrate and {n_samples - n_calibration} "
                "to train; both need samples (at least 1 and 2)."
            )
        order = check_random_state(self.random_state).permutation(n_samples)
        return np.sort(order[:n_calibration]), np.sort(order[n_calibration:])

    def _set_threshold(self, scores):
        scores = np.sort(np.asarray(scores, dtype=np.float64).ravel())
        if not np.all(np.isfinite(scores)):
            raise ValueError(
                f"{type(self).__name__}: the detector gave NaN or infinite "
                "scores to calibration samples; a threshold cannot be set "
                "from them."
            )
        # p(x) <= fpr for the scores below the k-th smallest calibration
        # score (the class's p-value, counted out).
        k = int(math.floor(self.fpr * (scores.shape[0] + 1)))
        if k < 1:
            needed = int(math.ceil(1.0 / self.fpr)) - 1
            raise ValueError(
                f"{type(self).__name__}: fpr={self.fpr} needs at least "
                f"{needed} calibration samples, and there are "
                f"{scores.shape[0]}: with fewer, no p-value is that small. "
                "Give more normal data, a larger calibration_fraction, or a "
                "larger fpr."
            )
        self.calibration_scores_ = scores
        self.offset_ = float(scores[k - 1])

    def score_samples(self, X):
        """The detector's scores, higher for more normal samples.

        Parameters
        ----------
        X : array-like of shape (n_samples, ...)

        Returns
        -------
        scores : ndarray of shape (n_samples,)
        """
        check_is_fitted(self)
        return np.asarray(self.detector_.score_samples(X), dtype=np.float64)

    def decision_function(self, X):
        """``score_samples(X) - offset_``: negative for outliers.

        Parameters
        ----------
        X : array-like of shape (n_samples, ...)

        Returns
        -------
        decisions : ndarray of shape (n_samples,)
        """
        return self.score_samples(X) - self.offset_

    def predict(self, X):
        """``-1`` for an outlier (``p(x) <= fpr``), ``+1`` for an inlier.

        Parameters
        ----------
        X : array-like of shape (n_samples, ...)

        Returns
        -------
        labels : ndarray of shape (n_samples,)
        """
        return np.where(self.decision_function(X) < 0, -1, 1)

    def p_values(self, X):
        """Conformal p-values: the share of calibration samples (counting
        the sample itself) that score as low as each sample or lower.
        Small for anomalies.

        Parameters
        ----------
        X : array-like of shape (n_samples, ...)

        Returns
        -------
        p_values : ndarray of shape (n_samples,)
            In ``(0, 1]``, in steps of ``1 / (n_calibration + 1)``.
        """
        scores = self.score_samples(X)
        below = np.searchsorted(self.calibration_scores_, scores, side="right")
        return (1.0 + below) / (self.calibration_scores_.shape[0] + 1.0)

    def predict_proba(self, X):
        """Scores mapped to [0, 1]: columns ``1 - a`` and ``a``, where the
        anomaly column ``a = 1 - p(x)`` is the share of calibration
        samples that score more normally (see Notes for what it means).

        The layout of PyOD's ``predict_proba``: column 0 normal, column 1
        anomalous.

        Parameters
        ----------
        X : array-like of shape (n_samples, ...)

        Returns
        -------
        proba : ndarray of shape (n_samples, 2)
        """
        p = self.p_values(X)
        return np.column_stack([p, 1.0 - p])

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        inner = get_tags(self.detector)
        tags.input_tags = inner.input_tags
        tags.non_deterministic = inner.non_deterministic
        # predict_proba has two columns, normal and anomalous: scikit-learn's
        # checks read its shape from these tags.
        tags.classifier_tags = ClassifierTags(multi_class=False)
        return tags
