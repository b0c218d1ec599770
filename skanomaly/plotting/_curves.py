"""ROC and precision-recall curves for outlier detectors: scikit-learn's
displays, with anomalies as the positive class and normality scores."""

from collections.abc import Mapping

import numpy as np
from sklearn.metrics import (
    PrecisionRecallDisplay,
    RocCurveDisplay,
    auc,
    average_precision_score,
    precision_recall_curve,
    roc_curve,
)
from sklearn.utils import _safe_indexing

from ..metrics._classification import _as_1d
from ..metrics._ranking import _check_scores, _require_anomalies
from ._base import import_pyplot
from ._common import (
    _check_convention,
    _check_same_length,
    _detector_scores,
    _final_step,
)

_ROC_XLABEL = "False positive rate (normal samples flagged)"
_ROC_YLABEL = "True positive rate (anomalies flagged)"
_PR_XLABEL = "Recall (anomalies flagged)"
_PR_YLABEL = "Precision (anomalies among flagged)"

_CURVE_PARAMETERS_DOC = """
        sample_weight : array-like of shape (n_samples,), default=None
            Sample weights.
        drop_intermediate : bool, default={drop}
            Whether to drop thresholds that do not change the curve's shape.
        name : str, default=None
            Name of the curve in the legend; {name_default}.
        ax : matplotlib Axes, default=None
            Where to draw; a new figure when ``None``.
        curve_kwargs : dict, default=None
            Keyword arguments of matplotlib's ``plot`` for the curve.
        plot_chance_level : bool, default=False
            Whether to draw the chance level.
        {chance}
            Keyword arguments of matplotlib's ``plot`` for the chance level.
        despine : bool, default=False
            Whether to remove the top and right spines."""




def _refuse_unlabelled(y_true, curve):
    """A clear error for skanomaly's ``-1`` (unlabelled) in ground truth;
    every other check is the metrics' own."""
    y = np.asarray(y_true)
    if y.dtype != bool and y.dtype.kind in "iuf" and np.any(y == -1):
        n_unlabelled = int(np.sum(y == -1))
        raise ValueError(
            f"y_true holds {n_unlabelled} sample(s) labelled -1, skanomaly's "
            f"mark of an unlabelled sample, but a {curve} needs the true label "
            "of every sample (1 anomaly, 0 normal). Keep the labelled ones, "
            "e.g. `keep = y_true != -1`, then pass y_true[keep] and the "
            "scores of X[keep]. (Predictions of scikit-learn's predict, -1 "
            "outlier and +1 inlier, are not ground truth.)"
        )


def _curve_inputs(y_true, y_score, score_convention, curve):
    """Labels (0/1) and *anomaly* scores for a curve, validated as the
    metrics of :mod:`skanomaly.metrics` validate them."""
    _check_convention(score_convention)
    _refuse_unlabelled(y_true, curve)
    y_true, anomaly_scores = _check_scores(y_true, y_score, score_convention)
    if curve == "ROC curve":
        if np.unique(y_true).shape[0] < 2:
            raise ValueError(
                "A ROC curve needs both normal (y_true == 0) and anomalous "
                "(y_true == 1) samples; y_true holds only "
                f"{'anomalies' if y_true[0] == 1 else 'normal samples'}."
            )
    else:
        _require_anomalies(y_true, "A precision-recall curve")
    return y_true, anomaly_scores


def _cv_folds(cv_results, X, y, sample_weight, curve):
    """Labels, anomaly scores and weights of every test fold of
    ``cross_validate(..., return_estimator=True, return_indices=True)``."""
    if not isinstance(cv_results, Mapping) or not {"estimator", "indices"} <= set(
        cv_results
    ):
        raise ValueError(
            "cv_results must be the dict that cross_validate returns with "
            "return_estimator=True and return_indices=True (it holds the keys "
            "'estimator' and 'indices')."
        )
    y = np.asarray(y)
    _check_same_length(X, y)
    if sample_weight is not None:
        sample_weight = np.asarray(sample_weight)
        if sample_weight.shape[0] != y.shape[0]:
            raise ValueError(
                f"sample_weight has {sample_weight.shape[0]} entries but y has "
                f"{y.shape[0]}."
            )
    folds = []
    for i, (detector, test) in enumerate(
        zip(cv_results["estimator"], cv_results["indices"]["test"])
    ):
        scores = _detector_scores(detector, _safe_indexing(X, test), "from_cv_results")
        try:
            y_fold, anomaly_scores = _curve_inputs(y[test], scores, "normality", curve)
        except ValueError as exc:
            raise ValueError(f"Test fold {i}: {exc}") from exc
        weight = None if sample_weight is None else sample_weight[test]
        folds.append((y_fold, anomaly_scores, weight))
    return folds


class AnomalyRocCurveDisplay(RocCurveDisplay):
    """ROC curve of detecting anomalies, from a detector or its scores.

    A subclass of scikit-learn's :class:`~sklearn.metrics.RocCurveDisplay`
    with anomalies (``y == 1``) as the positive class:
    :meth:`from_estimator` takes a fitted outlier detector (scikit-learn's
    takes classifiers only) and ranks the samples by its ``score_samples``,
    lowest first, and :meth:`from_predictions` takes skanomaly's normality
    scores (or anomaly scores with ``score_convention="anomaly"``). The
    labels are checked as :mod:`skanomaly.metrics` checks them: ``1`` for an
    anomaly and ``0`` for a normal sample; ``-1`` (unlabelled) is refused,
    as a ROC curve needs every sample's label. The area under the curve is
    :func:`~skanomaly.metrics.anomaly_roc_auc_score`'s.

    Parameters
    ----------
    fpr : ndarray or list of ndarray
        False positive rates: shares of normal samples flagged.
    tpr : ndarray or list of ndarray
        True positive rates: shares of anomalies flagged.
    roc_auc : float or list of float, default=None
        Area under the curve, shown in the legend.
    name : str or list of str, default=None
        Name of the curve in the legend.
    pos_label : int, default=None
        The positive label; ``1`` (anomaly) when built by the ``from_*``
        methods.

    Attributes
    ----------
    line_ : matplotlib Artist or list of matplotlib Artist
        The curve (one a fold with :meth:`from_cv_results`).
    chance_level_ : matplotlib Artist or None
        The chance level's line, ``None`` if not drawn.
    ax_ : matplotlib Axes
        The axes drawn on.
    figure_ : matplotlib Figure
        The figure of the axes.

    See Also
    --------
    AnomalyPrecisionRecallDisplay : Precision-recall curve of the same.
    skanomaly.metrics.anomaly_roc_auc_score : The area under this curve.

    Examples
    --------
    >>> import matplotlib
    >>> matplotlib.use("Agg")
    >>> import numpy as np
    >>> from sklearn.ensemble import IsolationForest
    >>> from skanomaly.metrics import anomaly_roc_auc_score
    >>> from skanomaly.plotting import AnomalyRocCurveDisplay
    >>> rng = np.random.RandomState(0)
    >>> X_train = rng.normal(size=(200, 2))
    >>> X = np.vstack([rng.normal(size=(90, 2)), rng.normal(2.5, 1, size=(10, 2))])
    >>> y = np.r_[np.zeros(90, dtype=int), np.ones(10, dtype=int)]
    >>> detector = IsolationForest(random_state=0).fit(X_train)
    >>> display = AnomalyRocCurveDisplay.from_estimator(detector, X, y)
    >>> auc = anomaly_roc_auc_score(y, detector.score_samples(X))
    >>> bool(np.isclose(display.roc_auc, auc))
    True
    >>> display.line_.get_label()
    'IsolationForest (AUC = 0.96)'
    """

    def plot(self, ax=None, *, name=None, curve_kwargs=None, plot_chance_level=False,
             chance_level_kw=None, despine=False):
        """Draw the curve, its axes named for anomaly detection.

        Parameters
        ----------
        ax : matplotlib Axes, default=None
            Where to draw; a new figure when ``None``.
        name : str or list of str, default=None
            Name of the curve in the legend; the display's ``name`` when
            ``None``.
        curve_kwargs : dict or list of dict, default=None
            Keyword arguments of matplotlib's ``plot`` for the curve (one
            dict a curve, or one for all).
        plot_chance_level : bool, default=False
            Whether to draw the chance level.
        chance_level_kw : dict, default=None
            Keyword arguments of matplotlib's ``plot`` for the chance level.
        despine : bool, default=False
            Whether to remove the top and right spines.

        Returns
        -------
        display : AnomalyRocCurveDisplay
        """
        import_pyplot()
        super().plot(ax=ax, name=name, curve_kwargs=curve_kwargs,
                     plot_chance_level=plot_chance_level,
                     chance_level_kw=chance_level_kw, despine=despine)
        self.ax_.set_xlabel(_ROC_XLABEL)
        self.ax_.set_ylabel(_ROC_YLABEL)
        return self

    @classmethod
    def from_estimator(cls, estimator, X, y, *, sample_weight=None,
                       drop_intermediate=True, name=None, ax=None, curve_kwargs=None,
                       plot_chance_level=False, chance_level_kw=None, despine=False):
        """ROC curve of a fitted outlier detector on labelled samples.

        The samples are ranked by ``-estimator.score_samples(X)``, the most
        anomalous first.

        Parameters
        ----------
        estimator : fitted detector
            A detector with ``score_samples`` (higher = more normal), or a
            :class:`~sklearn.pipeline.Pipeline` ending in one.
        X : array-like of shape (n_samples, ...)
            Samples to score, as the detector takes them.
        y : array-like of shape (n_samples,)
            Ground truth: ``1`` for an anomaly, ``0`` for a normal sample.
        {params}

        Returns
        -------
        display : AnomalyRocCurveDisplay

        Raises
        ------
        NotFittedError
            If the detector is not fitted.
        TypeError
            If the detector has no ``score_samples``.
        ValueError
            If ``y`` and ``X`` differ in length, ``y`` holds ``-1``
            (unlabelled) or other labels than ``0`` and ``1``, or lacks
            either class, or the scores hold NaN or infinity.
        """
        import_pyplot()
        y = _as_1d(y, "y")
        _check_same_length(X, y)
        scores = _detector_scores(estimator, X, f"{cls.__name__}.from_estimator")
        return cls.from_predictions(
            y, scores, score_convention="normality", sample_weight=sample_weight,
            drop_intermediate=drop_intermediate,
            name=type(_final_step(estimator)).__name__ if name is None else name,
            ax=ax, curve_kwargs=curve_kwargs, plot_chance_level=plot_chance_level,
            chance_level_kw=chance_level_kw, despine=despine,
        )

    @classmethod
    def from_predictions(cls, y_true, y_score, *, score_convention="normality",
                         sample_weight=None, drop_intermediate=True, name=None,
                         ax=None, curve_kwargs=None, plot_chance_level=False,
                         chance_level_kw=None, despine=False):
        """ROC curve of scores against ground truth.

        Parameters
        ----------
        y_true : array-like of shape (n_samples,)
            Ground truth: ``1`` for an anomaly, ``0`` for a normal sample
            (booleans accepted, ``True`` meaning anomaly).
        y_score : array-like of shape (n_samples,)
            Scores of a detector, finite.
        score_convention : {"normality", "anomaly"}, default="normality"
            Which way ``y_score`` points. ``"normality"``: higher is more
            normal, as ``score_samples`` and ``decision_function`` of
            skanomaly's and scikit-learn's detectors. ``"anomaly"``: higher
            is more anomalous, as PyOD's ``decision_function``.
        {params}

        Returns
        -------
        display : AnomalyRocCurveDisplay

        Raises
        ------
        ValueError
            If ``y_true`` holds ``-1`` (unlabelled) or other labels than
            ``0`` and ``1``, or lacks either class, if the lengths differ,
            or if the scores hold NaN or infinity.

        Examples
        --------
        >>> import matplotlib
        >>> matplotlib.use("Agg")
        >>> from skanomaly.plotting import AnomalyRocCurveDisplay
        >>> y_true = [0, 0, 1, 1]
        >>> normality = [0.9, 0.4, 0.5, 0.1]  # e.g. score_samples
        >>> display = AnomalyRocCurveDisplay.from_predictions(y_true, normality)
        >>> float(display.roc_auc)
        0.75
        """
        import_pyplot()
        y_true, anomaly_scores = _curve_inputs(
            y_true, y_score, score_convention, "ROC curve"
        )
        return super().from_predictions(
            y_true, anomaly_scores, sample_weight=sample_weight,
            drop_intermediate=drop_intermediate, pos_label=1,
            name="Detector" if name is None else name, ax=ax,
            curve_kwargs=curve_kwargs, plot_chance_level=plot_chance_level,
            chance_level_kw=chance_level_kw, despine=despine,
        )

    @classmethod
    def from_cv_results(cls, cv_results, X, y, *, sample_weight=None,
                        drop_intermediate=True, name=None, ax=None, curve_kwargs=None,
                        plot_chance_level=False, chance_level_kwargs=None,
                        despine=False):
        """ROC curves of the test folds of a cross-validation of a detector.

        Parameters
        ----------
        cv_results : dict
            What :func:`~sklearn.model_selection.cross_validate` returns with
            ``return_estimator=True`` and ``return_indices=True``, for
            example with a :class:`~skanomaly.model_selection.NoveltySplit`.
        X : array-like of shape (n_samples, ...)
            The samples given to ``cross_validate``.
        y : array-like of shape (n_samples,)
            Ground truth of ``X``: every test fold must hold only ``1``
            (anomaly) and ``0`` (normal), both of them.
        {params}

        Returns
        -------
        display : AnomalyRocCurveDisplay
            With one curve a fold.

        Raises
        ------
        ValueError
            If ``cv_results`` lacks the estimators or the indices, or a
            test fold's labels or scores are not valid (the message names
            the fold).
        """
        import_pyplot()
        fprs, tprs, aucs = [], [], []
        for y_fold, anomaly_scores, weight in _cv_folds(
            cv_results, X, y, sample_weight, "ROC curve"
        ):
            fpr, tpr, _ = roc_curve(
                y_fold, anomaly_scores, pos_label=1, sample_weight=weight,
                drop_intermediate=drop_intermediate,
            )
            fprs.append(fpr)
            tprs.append(tpr)
            aucs.append(auc(fpr, tpr))
        display = cls(fpr=fprs, tpr=tprs, roc_auc=aucs, name=name, pos_label=1)
        return display.plot(
            ax=ax, curve_kwargs=curve_kwargs, plot_chance_level=plot_chance_level,
            chance_level_kw=chance_level_kwargs, despine=despine,
        )


class AnomalyPrecisionRecallDisplay(PrecisionRecallDisplay):
    """Precision-recall curve of detecting anomalies, from a detector or scores.

    A subclass of scikit-learn's
    :class:`~sklearn.metrics.PrecisionRecallDisplay` with anomalies
    (``y == 1``) as the positive class: :meth:`from_estimator` takes a
    fitted outlier detector (scikit-learn's takes classifiers only) and
    ranks the samples by its ``score_samples``, lowest first, and
    :meth:`from_predictions` takes skanomaly's normality scores (or anomaly
    scores with ``score_convention="anomaly"``). The labels are checked as
    :mod:`skanomaly.metrics` checks them: ``1`` for an anomaly and ``0`` for
    a normal sample; ``-1`` (unlabelled) is refused, as precision needs
    every sample's label. The average precision is
    :func:`~skanomaly.metrics.anomaly_average_precision_score`'s, and the
    chance level is the share of anomalies.

    Parameters
    ----------
    precision : ndarray or list of ndarray
        Precisions: shares of the flagged samples that are anomalies.
    recall : ndarray or list of ndarray
        Recalls: shares of the anomalies flagged.
    average_precision : float or list of float, default=None
        Average precision, shown in the legend.
    name : str or list of str, default=None
        Name of the curve in the legend.
    pos_label : int, default=None
        The positive label; ``1`` (anomaly) when built by the ``from_*``
        methods.
    prevalence_pos_label : float or list of float, default=None
        Share of anomalies, the chance level.

    Attributes
    ----------
    line_ : matplotlib Artist or list of matplotlib Artist
        The curve (one a fold with :meth:`from_cv_results`).
    chance_level_ : matplotlib Artist or None
        The chance level's line, ``None`` if not drawn.
    ax_ : matplotlib Axes
        The axes drawn on.
    figure_ : matplotlib Figure
        The figure of the axes.

    See Also
    --------
    AnomalyRocCurveDisplay : ROC curve of the same.
    skanomaly.metrics.anomaly_average_precision_score : The average
        precision.

    Examples
    --------
    >>> import matplotlib
    >>> matplotlib.use("Agg")
    >>> import numpy as np
    >>> from sklearn.ensemble import IsolationForest
    >>> from skanomaly.metrics import anomaly_average_precision_score
    >>> from skanomaly.plotting import AnomalyPrecisionRecallDisplay
    >>> rng = np.random.RandomState(0)
    >>> X_train = rng.normal(size=(200, 2))
    >>> X = np.vstack([rng.normal(size=(90, 2)), rng.normal(2.5, 1, size=(10, 2))])
    >>> y = np.r_[np.zeros(90, dtype=int), np.ones(10, dtype=int)]
    >>> detector = IsolationForest(random_state=0).fit(X_train)
    >>> display = AnomalyPrecisionRecallDisplay.from_estimator(
    ...     detector, X, y, plot_chance_level=True)
    >>> ap = anomaly_average_precision_score(y, detector.score_samples(X))
    >>> display.average_precision == ap
    True
    >>> float(display.prevalence_pos_label)
    0.1
    """

    def __init__(self, *, precision, recall, average_precision=None, name=None,
                 pos_label=None, prevalence_pos_label=None):
        # scikit-learn's also takes estimator_name, deprecated since 1.8
        self.precision = precision
        self.recall = recall
        self.average_precision = average_precision
        self.name = name
        self.pos_label = pos_label
        self.prevalence_pos_label = prevalence_pos_label

    def plot(self, ax=None, *, name=None, curve_kwargs=None, plot_chance_level=False,
             chance_level_kw=None, despine=False):
        """Draw the curve, its axes named for anomaly detection.

        Parameters
        ----------
        ax : matplotlib Axes, default=None
            Where to draw; a new figure when ``None``.
        name : str or list of str, default=None
            Name of the curve in the legend; the display's ``name`` when
            ``None``.
        curve_kwargs : dict or list of dict, default=None
            Keyword arguments of matplotlib's ``plot`` for the curve (one
            dict a curve, or one for all).
        plot_chance_level : bool, default=False
            Whether to draw the chance level, the share of anomalies.
        chance_level_kw : dict, default=None
            Keyword arguments of matplotlib's ``plot`` for the chance level.
        despine : bool, default=False
            Whether to remove the top and right spines.

        Returns
        -------
        display : AnomalyPrecisionRecallDisplay
        """
        import_pyplot()
        super().plot(ax=ax, name=name, curve_kwargs=curve_kwargs,
                     plot_chance_level=plot_chance_level,
                     chance_level_kw=chance_level_kw, despine=despine)
        self.ax_.set_xlabel(_PR_XLABEL)
        self.ax_.set_ylabel(_PR_YLABEL)
        return self

    @classmethod
    def from_estimator(cls, estimator, X, y, *, sample_weight=None,
                       drop_intermediate=False, name=None, ax=None, curve_kwargs=None,
                       plot_chance_level=False, chance_level_kw=None, despine=False):
        """Precision-recall curve of a fitted detector on labelled samples.

        The samples are ranked by ``-estimator.score_samples(X)``, the most
        anomalous first.

        Parameters
        ----------
        estimator : fitted detector
            A detector with ``score_samples`` (higher = more normal), or a
            :class:`~sklearn.pipeline.Pipeline` ending in one.
        X : array-like of shape (n_samples, ...)
            Samples to score, as the detector takes them.
        y : array-like of shape (n_samples,)
            Ground truth: ``1`` for an anomaly, ``0`` for a normal sample.
        {params}

        Returns
        -------
        display : AnomalyPrecisionRecallDisplay

        Raises
        ------
        NotFittedError
            If the detector is not fitted.
        TypeError
            If the detector has no ``score_samples``.
        ValueError
            If ``y`` and ``X`` differ in length, ``y`` holds ``-1``
            (unlabelled) or other labels than ``0`` and ``1``, or no
            anomaly, or the scores hold NaN or infinity.
        """
        import_pyplot()
        y = _as_1d(y, "y")
        _check_same_length(X, y)
        scores = _detector_scores(estimator, X, f"{cls.__name__}.from_estimator")
        return cls.from_predictions(
            y, scores, score_convention="normality", sample_weight=sample_weight,
            drop_intermediate=drop_intermediate,
            name=type(_final_step(estimator)).__name__ if name is None else name,
            ax=ax, curve_kwargs=curve_kwargs, plot_chance_level=plot_chance_level,
            chance_level_kw=chance_level_kw, despine=despine,
        )

    @classmethod
    def from_predictions(cls, y_true, y_score, *, score_convention="normality",
                         sample_weight=None, drop_intermediate=False, name=None,
                         ax=None, curve_kwargs=None, plot_chance_level=False,
                         chance_level_kw=None, despine=False):
        """Precision-recall curve of scores against ground truth.

        Parameters
        ----------
        y_true : array-like of shape (n_samples,)
            Ground truth: ``1`` for an anomaly, ``0`` for a normal sample
            (booleans accepted, ``True`` meaning anomaly).
        y_score : array-like of shape (n_samples,)
            Scores of a detector, finite.
        score_convention : {"normality", "anomaly"}, default="normality"
            Which way ``y_score`` points. ``"normality"``: higher is more
            normal, as ``score_samples`` and ``decision_function`` of
            skanomaly's and scikit-learn's detectors. ``"anomaly"``: higher
            is more anomalous, as PyOD's ``decision_function``.
        {params}

        Returns
        -------
        display : AnomalyPrecisionRecallDisplay

        Raises
        ------
        ValueError
            If ``y_true`` holds ``-1`` (unlabelled) or other labels than
            ``0`` and ``1``, or no anomaly, if the lengths differ, or if the
            scores hold NaN or infinity.

        Examples
        --------
        >>> import matplotlib
        >>> matplotlib.use("Agg")
        >>> from skanomaly.plotting import AnomalyPrecisionRecallDisplay
        >>> y_true = [0, 0, 1, 1]
        >>> anomaly = [-0.9, -0.4, -0.5, -0.1]  # e.g. PyOD's decision_function
        >>> display = AnomalyPrecisionRecallDisplay.from_predictions(
        ...     y_true, anomaly, score_convention="anomaly")
        >>> round(float(display.average_precision), 4)
        0.8333
        """
        import_pyplot()
        y_true, anomaly_scores = _curve_inputs(
            y_true, y_score, score_convention, "precision-recall curve"
        )
        return super().from_predictions(
            y_true, anomaly_scores, sample_weight=sample_weight,
            drop_intermediate=drop_intermediate, pos_label=1,
            name="Detector" if name is None else name, ax=ax,
            curve_kwargs=curve_kwargs, plot_chance_level=plot_chance_level,
            chance_level_kw=chance_level_kw, despine=despine,
        )

    @classmethod
    def from_cv_results(cls, cv_results, X, y, *, sample_weight=None,
                        drop_intermediate=False, name=None, ax=None, curve_kwargs=None,
                        plot_chance_level=False, chance_level_kwargs=None,
                        despine=False):
        """Precision-recall curves of the test folds of a detector's cross-validation.

        Parameters
        ----------
        cv_results : dict
            What :func:`~sklearn.model_selection.cross_validate` returns with
            ``return_estimator=True`` and ``return_indices=True``, for
            example with a :class:`~skanomaly.model_selection.NoveltySplit`.
        X : array-like of shape (n_samples, ...)
            The samples given to ``cross_validate``.
        y : array-like of shape (n_samples,)
            Ground truth of ``X``: every test fold must hold only ``1``
            (anomaly) and ``0`` (normal), and at least one anomaly.
        {params}

        Returns
        -------
        display : AnomalyPrecisionRecallDisplay
            With one curve a fold.

        Raises
        ------
        ValueError
            If ``cv_results`` lacks the estimators or the indices, or a
            test fold's labels or scores are not valid (the message names
            the fold).
        """
        import_pyplot()
        precisions, recalls, aps, prevalences = [], [], [], []
        for y_fold, anomaly_scores, weight in _cv_folds(
            cv_results, X, y, sample_weight, "precision-recall curve"
        ):
            precision, recall, _ = precision_recall_curve(
                y_fold, anomaly_scores, pos_label=1, sample_weight=weight,
                drop_intermediate=drop_intermediate,
            )
            precisions.append(precision)
            recalls.append(recall)
            aps.append(average_precision_score(
                y_fold, anomaly_scores, pos_label=1, sample_weight=weight
            ))
            prevalences.append(np.count_nonzero(y_fold == 1) / y_fold.shape[0])
        display = cls(precision=precisions, recall=recalls, average_precision=aps,
                      name=name, pos_label=1, prevalence_pos_label=prevalences)
        return display.plot(
            ax=ax, curve_kwargs=curve_kwargs, plot_chance_level=plot_chance_level,
            chance_level_kw=chance_level_kwargs, despine=despine,
        )


def _fill_curve_docs(klass, drop):
    """Write the parameters the curve methods share into their docstrings."""
    for method, name_default, chance in (
        ("from_estimator", "the detector's class name when ``None``",
         "chance_level_kw : dict, default=None"),
        ("from_predictions", '``"Detector"`` when ``None``',
         "chance_level_kw : dict, default=None"),
        ("from_cv_results", "none when ``None``",
         "chance_level_kwargs : dict, default=None"),
    ):
        function = vars(klass)[method].__func__
        params = _CURVE_PARAMETERS_DOC.format(
            drop=drop, name_default=name_default, chance=chance
        ).strip()
        function.__doc__ = function.__doc__.replace("{params}", params)


_fill_curve_docs(AnomalyRocCurveDisplay, drop=True)
_fill_curve_docs(AnomalyPrecisionRecallDisplay, drop=False)
