"""Metrics on continuous scores, whatever their sign convention.

Detectors disagree on which way their scores point. scikit-learn's and
skanomaly's ``score_samples`` and ``decision_function`` are *normality*
scores (higher means more normal); PyOD's ``decision_function`` is an
*anomaly* score (higher means more anomalous). Every function here takes
``score_convention`` to say which, and treats anomalies (``y_true == 1``)
as the positive class.
"""

import numpy as np
from sklearn.metrics import (
    average_precision_score,
    f1_score,
    precision_recall_curve,
    roc_auc_score,
)
from sklearn.utils._param_validation import StrOptions, validate_params

from ._classification import (
    _as_1d,
    _check_anomaly_labels,
    _check_consistent_length,
)

__all__ = [
    "anomaly_average_precision_score",
    "anomaly_roc_auc_score",
    "best_f1_threshold",
]

_SCORE_PARAMS = {
    "y_true": ["array-like"],
    "scores": ["array-like"],
    "score_convention": [StrOptions({"normality", "anomaly"})],
}


def _check_scores(y_true, scores, score_convention):
    """Validate labels and scores; return labels and *anomaly* scores.

    The returned scores are higher for more anomalous samples, whichever
    convention the input followed.
    """
    y_true = _check_anomaly_labels(y_true)
    scores = _as_1d(scores, "scores")
    if scores.dtype == bool or scores.dtype.kind not in "iuf":
        raise TypeError(
            f"scores must be a numeric array of real values, got dtype "
            f"{scores.dtype}."
        )
    _check_consistent_length(y_true, scores, "scores")
    scores = scores.astype(np.float64)
    if not np.all(np.isfinite(scores)):
        n_bad = int(np.sum(~np.isfinite(scores)))
        raise ValueError(
            f"scores contain NaN or infinity ({n_bad} of {scores.shape[0]} "
            "values); a detector must return finite scores."
        )
    anomaly_scores = -scores if score_convention == "normality" else scores
    return y_true, anomaly_scores


def _require_anomalies(y_true, what):
    if not np.any(y_true == 1):
        raise ValueError(
            f"{what} needs at least one anomalous sample (y_true == 1); "
            "y_true holds only normal samples."
        )


@validate_params(_SCORE_PARAMS, prefer_skip_nested_validation=True)
def anomaly_roc_auc_score(y_true, scores, *, score_convention="normality"):
    """Area under the ROC curve of detecting anomalies from scores.

    Anomalies (``y_true == 1``) are the positive class. The value is the
    probability that a random anomaly is ranked as more anomalous than a
    random normal sample (ties count one half): ``0.5`` is chance, ``1.0``
    a perfect ranking.

    Parameters
    ----------
    y_true : array-like of shape (n_samples,)
        Ground truth: ``1`` for an anomaly, ``0`` for a normal sample
        (booleans accepted, ``True`` meaning anomaly).
    scores : array-like of shape (n_samples,)
        Scores of a detector, finite.
    score_convention : {"normality", "anomaly"}, default="normality"
        Which way ``scores`` point. ``"normality"``: higher is more normal,
        as scikit-learn's and skanomaly's ``score_samples`` and
        ``decision_function``. ``"anomaly"``: higher is more anomalous, as
        PyOD's ``decision_function``.

    Returns
    -------
    auc : float
        ROC AUC, in ``[0, 1]``.

    Raises
    ------
    ValueError
        If ``y_true`` is not encoded as ``0``/``1``, if the lengths differ,
        if ``scores`` hold NaN or infinity, or if ``y_true`` does not hold
        both normal and anomalous samples.

    See Also
    --------
    anomaly_average_precision_score : Area under the precision-recall curve.
    anomaly_roc_auc_scorer : This metric as a scorer for model selection.

    Examples
    --------
    >>> from skanomaly.metrics import anomaly_roc_auc_score
    >>> y_true = [0, 0, 1, 1]
    >>> normality = [0.9, 0.4, 0.5, 0.1]  # e.g. IsolationForest.score_samples
    >>> anomaly_roc_auc_score(y_true, normality)
    0.75
    >>> anomaly_roc_auc_score(y_true, [-0.9, -0.4, -0.5, -0.1],
    ...                       score_convention="anomaly")
    0.75
    """
    y_true, anomaly_scores = _check_scores(y_true, scores, score_convention)
    if np.unique(y_true).shape[0] < 2:
        raise ValueError(
            "ROC AUC needs both normal (y_true == 0) and anomalous "
            "(y_true == 1) samples; y_true holds only "
            f"{'anomalies' if y_true[0] == 1 else 'normal samples'}."
        )
    return float(roc_auc_score(y_true, anomaly_scores))


@validate_params(_SCORE_PARAMS, prefer_skip_nested_validation=True)
def anomaly_average_precision_score(y_true, scores, *, score_convention="normality"):
    """Average precision of detecting anomalies from scores.

    Anomalies (``y_true == 1``) are the positive class. Average precision
    summarises the precision-recall curve as the mean of the precisions
    reached at each anomaly, ``sum_n (R_n - R_{n-1}) P_n``. Its chance level
    is the share of anomalies, so it is more telling than ROC AUC when
    anomalies are rare.

    Parameters
    ----------
    y_true : array-like of shape (n_samples,)
        Ground truth: ``1`` for an anomaly, ``0`` for a normal sample
        (booleans accepted, ``True`` meaning anomaly).
    scores : array-like of shape (n_samples,)
        Scores of a detector, finite.
    score_convention : {"normality", "anomaly"}, default="normality"
        Which way ``scores`` point. ``"normality"``: higher is more normal,
        as scikit-learn's and skanomaly's ``score_samples`` and
        ``decision_function``. ``"anomaly"``: higher is more anomalous, as
        PyOD's ``decision_function``.

    Returns
    -------
    average_precision : float
        Average precision, in ``[0, 1]``.

    Raises
    ------
    ValueError
        If ``y_true`` is not encoded as ``0``/``1``, if the lengths differ,
        if ``scores`` hold NaN or infinity, or if ``y_true`` holds no
        anomaly.

    See Also
    --------
    anomaly_roc_auc_score : Area under the ROC curve.
    anomaly_average_precision_scorer : This metric as a scorer.

    Examples
    --------
    >>> from skanomaly.metrics import anomaly_average_precision_score
    >>> y_true = [0, 0, 1, 1]
    >>> normality = [0.9, 0.4, 0.5, 0.1]
    >>> round(anomaly_average_precision_score(y_true, normality), 4)
    0.8333
    """
    y_true, anomaly_scores = _check_scores(y_true, scores, score_convention)
    _require_anomalies(y_true, "Average precision")
    return float(average_precision_score(y_true, anomaly_scores, pos_label=1))


@validate_params(_SCORE_PARAMS, prefer_skip_nested_validation=True)
def best_f1_threshold(y_true, scores, *, score_convention="normality"):
    """Threshold on scores that maximises the F1 score of the anomaly class.

    Every distinct score is tried as a threshold (through
    :func:`sklearn.metrics.precision_recall_curve`), and the one giving the
    highest F1 of the anomaly class is returned, in the convention of
    ``scores``. The threshold is *inclusive*, a sample whose score equals
    it is flagged:

    * ``score_convention="normality"``: a sample is flagged as an anomaly
      when ``score <= threshold``;
    * ``score_convention="anomaly"``: a sample is flagged as an anomaly
      when ``score >= threshold``.

    Applying that rule to ``scores`` gives exactly the returned F1. Among
    thresholds that tie, the one flagging the most samples is returned.

    This is an oracle threshold, chosen with the labels of the very samples
    it is scored on: it measures how separable the scores are, and is
    optimistic as an estimate of the F1 on new data.

    Parameters
    ----------
    y_true : array-like of shape (n_samples,)
        Ground truth: ``1`` for an anomaly, ``0`` for a normal sample
        (booleans accepted, ``True`` meaning anomaly).
    scores : array-like of shape (n_samples,)
        Scores of a detector, finite.
    score_convention : {"normality", "anomaly"}, default="normality"
        Which way ``scores`` point. ``"normality"``: higher is more normal,
        as scikit-learn's and skanomaly's ``score_samples`` and
        ``decision_function``. ``"anomaly"``: higher is more anomalous, as
        PyOD's ``decision_function``.

    Returns
    -------
    threshold : float
        The best threshold, one of the values of ``scores``.
    f1 : float
        The F1 score of the anomaly class that the threshold reaches.

    Raises
    ------
    ValueError
        If ``y_true`` is not encoded as ``0``/``1``, if the lengths differ,
        if ``scores`` hold NaN or infinity, or if ``y_true`` holds no
        anomaly.

    See Also
    --------
    anomaly_f1_score : F1 of the anomaly class from predicted labels.

    Examples
    --------
    >>> import numpy as np
    >>> from skanomaly.metrics import anomaly_f1_score, best_f1_threshold
    >>> y_true = np.array([0, 0, 0, 1, 1])
    >>> normality = np.array([0.9, 0.8, 0.3, 0.2, 0.5])
    >>> threshold, f1 = best_f1_threshold(y_true, normality)
    >>> float(threshold), round(f1, 4)
    (0.5, 0.8)
    >>> flagged = (normality <= threshold).astype(int)
    >>> round(anomaly_f1_score(y_true, flagged), 4)
    0.8
    """
    y_true, anomaly_scores = _check_scores(y_true, scores, score_convention)
    _require_anomalies(y_true, "best_f1_threshold")
    precision, recall, thresholds = precision_recall_curve(
        y_true, anomaly_scores, pos_label=1, drop_intermediate=False
    )
    # The last (precision, recall) pair, (1, 0), has no threshold.
    precision, recall = precision[:-1], recall[:-1]
    denominator = precision + recall
    f1 = np.divide(
        2 * precision * recall,
        denominator,
        out=np.zeros_like(denominator),
        where=denominator > 0,
    )
    best = int(np.argmax(f1))
    anomaly_threshold = thresholds[best]
    # Recompute F1 from the labels the rule gives, so that applying the
    # returned threshold reproduces the returned value to the last bit.
    flagged = (anomaly_scores >= anomaly_threshold).astype(int)
    best_f1 = float(f1_score(y_true, flagged, pos_label=1, zero_division=0.0))
    if score_convention == "normality":
        threshold = float(-anomaly_threshold)
    else:
        threshold = float(anomaly_threshold)
    return threshold, best_f1
