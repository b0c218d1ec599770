"""The outlier contract every skanomaly detector keeps.

It is scikit-learn's own (:class:`sklearn.base.OutlierMixin`), so that
``Pipeline``, ``GridSearchCV``, ``clone`` and the estimator checks work
unchanged:

* ``score_samples(X)``: higher means more normal;
* ``decision_function(X) = score_samples(X) - offset_``: negative means outlier;
* ``predict(X)``: ``+1`` for an inlier, ``-1`` for an outlier;
* ``contamination``: ``"auto"`` or a float in ``(0, 0.5]`` that places
  ``offset_`` at that quantile of the training scores.
"""

from numbers import Real

import numpy as np
from sklearn.base import BaseEstimator, OutlierMixin, _fit_context
from sklearn.utils._param_validation import Interval, StrOptions
from sklearn.utils.validation import check_is_fitted, validate_data

from .utils._parameters import Attribute, Parameter, SharedParameters
from .utils._persistence import save
from .utils._validation import check_finite_output

__all__ = ["BaseDetector", "tukey_lower_fence"]

#: Width of Tukey's fences, in inter-quartile ranges.
TUKEY_K = 1.5


def tukey_lower_fence(scores, k=TUKEY_K):
    """Tukey's lower fence ``Q1 - k * (Q3 - Q1)`` of a set of scores.

    This is what ``contamination="auto"`` uses as ``offset_`` unless a
    detector documents a threshold of its own: a training sample is an
    outlier when its score lies below the box of a box plot by more than
    ``k`` box heights. It needs no assumption on the scale of the scores,
    which for a deep detector is arbitrary.

    Parameters
    ----------
    scores : array-like of shape (n_samples,)
        Normality scores (higher is more normal).
    k : float, default=1.5
        Width of the fence in inter-quartile ranges.

    Returns
    -------
    fence : float

    Examples
    --------
    >>> from skanomaly.base import tukey_lower_fence
    >>> float(tukey_lower_fence([1.0, 2.0, 3.0, 4.0, 5.0]))
    -1.0
    """
    q1, q3 = np.percentile(np.asarray(scores, dtype=np.float64), [25.0, 75.0])
    return float(q1 - k * (q3 - q1))


CONTAMINATION = Parameter(
    "contamination",
    "auto",
    [StrOptions({"auto"}), Interval(Real, 0.0, 0.5, closed="right")],
    '"auto" or float in (0, 0.5]',
    """
    Share of outliers expected in the training data: ``offset_`` is that
    quantile of the training scores. ``"auto"`` puts it at Tukey's lower
    fence of the training scores, ``Q1 - 1.5 * IQR``, unless the detector
    says otherwise.
    """,
)


def _plain_float_rows(X, fitted):
    """Whether ``X`` is a plain 2-D float64 or float32 ndarray of finite
    values with the fitted number of features, from a fit without feature
    names: input that scikit-learn's validation returns as it is."""
    return (
        type(X) is np.ndarray
        and X.ndim == 2
        and X.dtype in (np.float64, np.float32)
        and "feature_names_in_" not in fitted
        and X.shape[0] >= 1
        and X.shape[1] == fitted.get("n_features_in_")
        and bool(np.isfinite(X).all())
    )


class BaseDetector(SharedParameters, OutlierMixin, BaseEstimator):
    """Base class of every skanomaly detector.

    A subclass implements two methods on already validated input:

    * ``_fit(X, y)``, which trains the detector and returns the scores of
      the training samples (or ``None`` to have them computed with
      ``_score_samples``);
    * ``_score_samples(X)``, which returns normality scores, higher for
      more normal samples.

    This class does the rest once for all: parameter and input validation
    (through scikit-learn's own helpers, so pandas input sets
    ``feature_names_in_``), ``offset_``, ``decision_function``,
    ``predict`` and ``fit_predict``. A detector whose input is not a plain
    table (images, sequences) extends :meth:`_validate_input`. One whose
    ``fit`` takes per-sample metadata besides ``X`` and ``y`` (``groups``)
    writes its own ``fit`` with them in its signature, which calls
    :meth:`_fit_checked`, and a ``_fit`` that takes them by keyword.
    """

    _shared_parameters = (CONTAMINATION,)
    _shared_attributes = (
        Attribute(
            "offset_", "float",
            "``decision_function = score_samples - offset_``.",
        ),
        Attribute(
            "n_features_in_", "int",
            "Number of features (values of one sample) seen during ``fit``.",
        ),
        Attribute(
            "feature_names_in_", "ndarray of shape (`n_features_in_`,)",
            "Names of the features seen during ``fit``, for DataFrame input.",
        ),
    )

    # ------------------------------------------------------------------ fit
    @_fit_context(prefer_skip_nested_validation=True)
    def fit(self, X, y=None):
        """Fit the detector on ``X``.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Training data. Unsupervised detectors treat every sample as
            (mostly) normal.
        y : array-like of shape (n_samples,) or None, default=None
            Ignored by unsupervised detectors (present for API
            consistency). A detector that learns from labels takes 1 for an
            anomaly, 0 for a normal sample and -1 for an unlabelled one, as
            its documentation says.

        Returns
        -------
        self : object
            The fitted detector.

        Notes
        -----
        A fit that fails (bad input, bad labels, a diverged training)
        leaves the detector as it was when the fit would have continued it
        (a warm start), and unfitted otherwise: never half-fitted.
        """
        return self._fit_checked(X, y)

    def _fit_checked(self, X, y, **metadata):
        """What ``fit`` does, for a detector whose own ``fit`` takes more.

        ``metadata`` are the per-sample arrays that such a detector's
        ``fit`` names in its signature besides ``X`` and ``y`` (``groups``,
        the task of each sample, for meta-learning): named there, they are
        what scikit-learn's metadata routing requests with
        ``set_fit_request``. They are handed to ``_fit`` by keyword, as
        given; ``_fit`` validates them. None for every other detector.
        """
        kept = dict(vars(self)) if self._continues_fit() else None
        try:
            X = self._validate_input(X, reset=True)
            train_scores = self._fit(X, y, **metadata)
            if train_scores is None:
                train_scores = self._score_samples(X)
            self.offset_ = self._compute_offset(np.asarray(train_scores))
        except BaseException:
            if kept is None:
                self._forget_fit()
            else:
                vars(self).clear()
                vars(self).update(kept)
            raise
        return self

    def _continues_fit(self):
        """Whether ``fit`` continues the fitted model (a warm start) rather
        than start afresh; never here."""
        return False

    def _forget_fit(self):
        """Leave the estimator unfitted: drop its fitted attributes."""
        for name in list(vars(self)):
            if name.endswith("_") and not name.startswith("__"):
                delattr(self, name)

    def _compute_offset(self, train_scores):
        """Set the threshold between inliers and outliers.

        With a float ``contamination``, ``offset_`` is that quantile of the
        training scores, so that this share of the training samples is
        predicted as outliers; with ``"auto"`` it is :meth:`_auto_offset`.
        """
        if not np.all(np.isfinite(train_scores)):
            raise ValueError(
                f"{type(self).__name__} produced non-finite scores on its "
                "training data; the model diverged. Scale the input or lower "
                "the learning rate."
            )
        if self.contamination == "auto":
            return self._auto_offset(train_scores)
        return float(np.percentile(train_scores, 100.0 * self.contamination))

    def _auto_offset(self, train_scores):
        """``offset_`` for ``contamination="auto"``: Tukey's lower fence.

        Detectors with a threshold of their own (a learned radius, say)
        override this and document it.
        """
        return tukey_lower_fence(train_scores)

    # -------------------------------------------------------------- scoring
    def score_samples(self, X):
        """Normality score of each sample: the higher, the more normal.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            The samples to score.

        Returns
        -------
        scores : ndarray of shape (n_samples,)
            The normality scores.
        """
        check_is_fitted(self)
        X = self._validate_input(X, reset=False)
        return check_finite_output(self._score_samples(X), X, type(self).__name__)

    def decision_function(self, X):
        """Score shifted by ``offset_``: negative for outliers.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            The samples to score.

        Returns
        -------
        decision : ndarray of shape (n_samples,)
            ``score_samples(X) - offset_``.
        """
        return self.score_samples(X) - self.offset_

    def predict(self, X):
        """Label each sample: ``+1`` for an inlier, ``-1`` for an outlier.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            The samples to label.

        Returns
        -------
        labels : ndarray of shape (n_samples,)
            ``+1`` where ``decision_function(X) >= 0``, else ``-1``.
        """
        decision = self.decision_function(X)
        labels = np.ones(decision.shape[0], dtype=int)
        labels[decision < 0] = -1
        return labels

    def save(self, path):
        """Save the detector, fitted or not, to one file.

        The same as :func:`skanomaly.save` (which also saves a ``Pipeline``
        holding detectors): the parameters, the fitted state and the
        versions that wrote it, read back by :func:`skanomaly.load` without
        unpickling anything.

        Parameters
        ----------
        path : str or path-like
            The file to write.
        """
        save(self, path)

    # ----------------------------------------------------------- validation
    def _validate_input(self, X, reset):
        """Check ``X`` and return it as a float array.

        ``reset=True`` (in ``fit``) records ``n_features_in_`` and
        ``feature_names_in_``; ``reset=False`` checks ``X`` against them.
        NaN and infinity, complex numbers, sparse matrices, empty input and
        (in ``fit``) a single sample are refused with a clear error.
        """
        if not reset and _plain_float_rows(X, vars(self)):
            # What validate_data would return, without its checks for data
            # frames and dtypes, which cost more than scoring one row.
            return X
        return validate_data(
            self,
            X,
            reset=reset,
            dtype=[np.float64, np.float32],
            ensure_min_samples=2 if reset else 1,
        )

    def _fit(self, X, y):  # pragma: no cover - abstract
        raise NotImplementedError

    def _score_samples(self, X):  # pragma: no cover - abstract
        raise NotImplementedError
