"""A histogram of a detector's scores, by label, with its threshold."""

from numbers import Real

import numpy as np

from ..metrics._classification import _as_1d, _format_labels
from ._base import import_pyplot
from ._common import (
    _AXIS_LABELS,
    _check_convention,
    _check_same_length,
    _detector_scores,
    _final_step,
)

# Drawn in this order, so that the rarer groups are on top.
_GROUPS = (
    (-1, "unlabelled", "tab:gray"),
    (0, "normal", "tab:blue"),
    (1, "anomaly", "tab:red"),
)



class ScoreHistogramDisplay:
    """Histogram of a detector's scores, by label, with its threshold.

    The scores of all samples share one set of bins. With labels, each
    group has its own histogram, half transparent so that overlaps show:
    normal samples (``0``) in blue, anomalies (``1``) in red and
    unlabelled samples (``-1``) in grey, drawn first, behind the others.
    The legend gives each group's size. A dashed vertical line marks the
    threshold, and its legend entry says which side is flagged.

    Build it with :meth:`from_estimator` or :meth:`from_predictions`; all
    parameters are stored as attributes.

    Parameters
    ----------
    scores : array-like of shape (n_samples,)
        Scores of a detector, finite.
    y : array-like of shape (n_samples,), default=None
        Labels: ``1`` for an anomaly, ``0`` for a normal sample, ``-1`` for
        an unlabelled one. ``None`` draws one histogram of all the scores.
    threshold : float, default=None
        Threshold on the scores, drawn as a vertical line; none when
        ``None``.
    score_convention : {"normality", "anomaly"}, default="normality"
        Which way ``scores`` point. ``"normality"``: higher is more normal,
        like ``score_samples`` of skanomaly's and scikit-learn's detectors;
        samples below the threshold are flagged. ``"anomaly"``: higher is
        more anomalous (PyOD's ``decision_function``); samples above the
        threshold are flagged.
    name : str, default=None
        Title of the axes (``from_estimator`` uses the detector's name);
        none when ``None``.

    Attributes
    ----------
    hist_ : dict of str to list of matplotlib Artist
        The patches of each histogram drawn, by group: ``"normal"``,
        ``"anomaly"`` and ``"unlabelled"`` (only the groups present) with
        labels, ``"all"`` without.
    threshold_line_ : matplotlib Line2D or None
        The threshold's line; ``None`` without a threshold.
    bin_edges_ : ndarray
        Edges of the bins all the histograms share.
    ax_ : matplotlib Axes
        The axes drawn on.
    figure_ : matplotlib Figure
        The figure of the axes.

    See Also
    --------
    AnomalyRocCurveDisplay : ROC curve of the same scores.
    TrainingHistoryDisplay : Losses of a deep detector, epoch by epoch.

    Examples
    --------
    >>> import matplotlib
    >>> matplotlib.use("Agg")
    >>> import numpy as np
    >>> from sklearn.ensemble import IsolationForest
    >>> from skanomaly.plotting import ScoreHistogramDisplay
    >>> rng = np.random.RandomState(0)
    >>> X_train = rng.normal(size=(200, 2))
    >>> X = np.vstack([rng.normal(size=(95, 2)), rng.normal(5, 1, size=(5, 2))])
    >>> y = np.r_[np.zeros(95, dtype=int), np.ones(5, dtype=int)]
    >>> detector = IsolationForest(random_state=0).fit(X_train)
    >>> display = ScoreHistogramDisplay.from_estimator(detector, X, y, density=True)
    >>> sorted(display.hist_)
    ['anomaly', 'normal']
    >>> display.threshold_line_.get_xdata()[0] == detector.offset_
    True
    >>> display.ax_.get_xlabel()
    'normality score (higher = more normal)'
    """

    def __init__(self, *, scores, y=None, threshold=None,
                 score_convention="normality", name=None):
        self.scores = scores
        self.y = y
        self.threshold = threshold
        self.score_convention = score_convention
        self.name = name

    def _validated(self):
        _check_convention(self.score_convention)
        scores = _as_1d(self.scores, "scores")
        if scores.dtype == bool or scores.dtype.kind not in "iuf":
            raise TypeError(
                f"scores must hold real numbers, got dtype {scores.dtype}."
            )
        scores = scores.astype(np.float64)
        if not np.all(np.isfinite(scores)):
            raise ValueError(
                f"scores contain NaN or infinity ({int(np.sum(~np.isfinite(scores)))}"
                f" of {scores.shape[0]} values); a detector must return finite "
                "scores."
            )
        y = self.y
        if y is not None:
            y = _as_1d(y, "y")
            if y.shape[0] != scores.shape[0]:
                raise ValueError(
                    f"y has {y.shape[0]} labels but there are {scores.shape[0]} "
                    "scores; give one label a score."
                )
            if y.dtype != bool and (
                y.dtype.kind not in "iuf" or not np.isin(y, (-1, 0, 1)).all()
            ):
                raise ValueError(
                    "y must hold 1 (anomaly), 0 (normal) or -1 (unlabelled); "
                    f"got labels {_format_labels(y)}. (scikit-learn's predict "
                    "output, +1 inlier and -1 outlier, is not ground truth.)"
                )
            y = y.astype(int)
        threshold = self.threshold
        if threshold is not None:
            if (
                not isinstance(threshold, Real)
                or isinstance(threshold, bool)
                or not np.isfinite(threshold)
            ):
                raise ValueError(
                    f"threshold must be a finite number or None, got {threshold!r}."
                )
            threshold = float(threshold)
        return scores, y, threshold

    def plot(self, ax=None, *, bins="auto", density=False, hist_kwargs=None,
             threshold_kwargs=None):
        """Draw the histograms and the threshold.

        Parameters
        ----------
        ax : matplotlib Axes, default=None
            Where to draw; a new figure when ``None``.
        bins : int, sequence of float or str, default="auto"
            Bins of all the histograms, as :func:`numpy.histogram_bin_edges`
            takes them (a number, the edges, or a rule such as ``"auto"``),
            computed from all the scores.
        density : bool, default=False
            Show each group's density (each histogram's area is 1) rather
            than counts, so that a few anomalies stay visible next to many
            normal samples.
        hist_kwargs : dict, default=None
            Keyword arguments of :meth:`matplotlib.axes.Axes.hist` for every
            histogram, overriding the defaults (``histtype="stepfilled"``,
            ``alpha=0.5`` and the group's colour and label).
        threshold_kwargs : dict, default=None
            Keyword arguments of :meth:`matplotlib.axes.Axes.axvline` for the
            threshold's line, overriding the defaults.

        Returns
        -------
        display : ScoreHistogramDisplay
            This display, with ``ax_``, ``figure_`` and the artists.
        """
        plt = import_pyplot()
        scores, y, threshold = self._validated()
        try:
            edges = np.histogram_bin_edges(scores, bins=bins)
        except (TypeError, ValueError) as exc:
            raise ValueError(
                f"bins={bins!r} is not accepted by numpy.histogram_bin_edges: {exc}"
            ) from exc
        if ax is None:
            _, ax = plt.subplots()

        if y is None:
            groups = [("all", scores, "tab:blue", f"all samples (n={scores.shape[0]})")]
        else:
            groups = [
                (key, scores[y == label], colour,
                 f"{key} ({label}), n={int(np.sum(y == label))}")
                for label, key, colour in _GROUPS
                if np.any(y == label)
            ]
        self.hist_ = {}
        for key, values, colour, label in groups:
            kwargs = {"histtype": "stepfilled", "alpha": 0.5, "color": colour,
                      "label": label, **(hist_kwargs or {})}
            _, _, patches = ax.hist(values, bins=edges, density=density, **kwargs)
            self.hist_[key] = list(patches)

        self.threshold_line_ = None
        if threshold is not None:
            side = "below" if self.score_convention == "normality" else "above"
            kwargs = {"color": "black", "linestyle": "--",
                      "label": f"threshold = {threshold:.3g} ({side}: flagged)",
                      **(threshold_kwargs or {})}
            self.threshold_line_ = ax.axvline(threshold, **kwargs)

        ax.set_xlabel(_AXIS_LABELS[self.score_convention])
        ax.set_ylabel("density" if density else "samples")
        if self.name is not None:
            ax.set_title(self.name)
        if y is not None or threshold is not None:
            ax.legend()
        self.ax_, self.figure_, self.bin_edges_ = ax, ax.figure, edges
        return self

    @classmethod
    def from_estimator(cls, detector, X, y=None, *, bins="auto", density=False,
                       name=None, ax=None, hist_kwargs=None, threshold_kwargs=None):
        """Histogram of a fitted detector's scores on ``X``, with its threshold.

        The scores are ``score_samples(X)`` and the threshold ``offset_``. A
        sample is flagged as an outlier when its normality score is below
        ``offset_`` (``decision_function = score_samples - offset_`` is
        negative), the convention of skanomaly's and scikit-learn's
        detectors.

        Parameters
        ----------
        detector : fitted detector
            A detector with ``score_samples`` and ``offset_``, or a
            :class:`~sklearn.pipeline.Pipeline` ending in one.
        X : array-like of shape (n_samples, ...)
            Samples to score, as the detector takes them.
        y : array-like of shape (n_samples,), default=None
            Labels: ``1`` anomaly, ``0`` normal, ``-1`` unlabelled.
        bins : int, sequence of float or str, default="auto"
            Bins, as :meth:`plot` takes them.
        density : bool, default=False
            Densities rather than counts, see :meth:`plot`.
        name : str, default=None
            Title of the axes; the detector's class name when ``None``.
        ax : matplotlib Axes, default=None
            Where to draw; a new figure when ``None``.
        hist_kwargs, threshold_kwargs : dict, default=None
            Styles of the histograms and of the threshold, see :meth:`plot`.

        Returns
        -------
        display : ScoreHistogramDisplay

        Raises
        ------
        NotFittedError
            If the detector is not fitted.
        TypeError
            If the detector has no ``score_samples`` or no ``offset_``.
        ValueError
            If ``y`` and ``X`` differ in length, ``y`` holds other labels than
            ``1``, ``0`` and ``-1``, or the scores hold NaN or infinity.
        """
        import_pyplot()
        final = _final_step(detector)
        if y is not None:
            y = _as_1d(y, "y")
            _check_same_length(X, y)
        scores = _detector_scores(detector, X, "ScoreHistogramDisplay.from_estimator")
        if not hasattr(final, "offset_"):
            raise TypeError(
                f"{type(final).__name__} has no offset_, the threshold on its "
                "score_samples. Use ScoreHistogramDisplay.from_predictions with "
                "the scores and your own threshold (or none)."
            )
        display = cls(
            scores=scores, y=y, threshold=final.offset_,
            name=type(final).__name__ if name is None else name,
        )
        return display.plot(ax=ax, bins=bins, density=density,
                            hist_kwargs=hist_kwargs, threshold_kwargs=threshold_kwargs)

    @classmethod
    def from_predictions(cls, scores, y=None, *, threshold=None,
                         score_convention="normality", bins="auto", density=False,
                         name=None, ax=None, hist_kwargs=None, threshold_kwargs=None):
        """Histogram of scores, with an optional threshold.

        Parameters
        ----------
        scores : array-like of shape (n_samples,)
            Scores, finite.
        y : array-like of shape (n_samples,), default=None
            Labels: ``1`` anomaly, ``0`` normal, ``-1`` unlabelled.
        threshold : float, default=None
            Threshold to draw; none when ``None``.
        score_convention : {"normality", "anomaly"}, default="normality"
            Which way ``scores`` point: ``"normality"`` (higher is more
            normal, ``score_samples``) or ``"anomaly"`` (higher is more
            anomalous).
        bins : int, sequence of float or str, default="auto"
            Bins, as :meth:`plot` takes them.
        density : bool, default=False
            Densities rather than counts, see :meth:`plot`.
        name : str, default=None
            Title of the axes; none when ``None``.
        ax : matplotlib Axes, default=None
            Where to draw; a new figure when ``None``.
        hist_kwargs, threshold_kwargs : dict, default=None
            Styles of the histograms and of the threshold, see :meth:`plot`.

        Returns
        -------
        display : ScoreHistogramDisplay

        Raises
        ------
        ValueError
            If ``y`` and ``scores`` differ in length, ``y`` holds other
            labels than ``1``, ``0`` and ``-1``, the scores hold NaN or
            infinity, or the threshold is not a finite number.

        Examples
        --------
        >>> import matplotlib
        >>> matplotlib.use("Agg")
        >>> from skanomaly.plotting import ScoreHistogramDisplay
        >>> scores = [0.9, 0.8, 0.85, 0.2, 0.7, 0.75]
        >>> y = [0, 0, -1, 1, -1, 0]
        >>> display = ScoreHistogramDisplay.from_predictions(scores, y, threshold=0.5)
        >>> list(display.hist_)  # unlabelled first, drawn behind the others
        ['unlabelled', 'normal', 'anomaly']
        >>> display.threshold_line_.get_label()
        'threshold = 0.5 (below: flagged)'
        """
        import_pyplot()
        display = cls(scores=scores, y=y, threshold=threshold,
                      score_convention=score_convention, name=name)
        return display.plot(ax=ax, bins=bins, density=density,
                            hist_kwargs=hist_kwargs, threshold_kwargs=threshold_kwargs)
