"""Scorers for model selection of outlier detectors.

A scorer calls a fitted estimator's response method on the test samples
and compares the result with the test labels. These ones read
``decision_function`` (higher is more normal, the scikit-learn contract
every skanomaly detector keeps) or ``predict`` (``+1`` inlier, ``-1``
outlier), and expect ``y`` to use ``1`` for an anomaly and ``0`` for a
normal sample. They work on a detector or on a
:class:`~sklearn.pipeline.Pipeline` ending in one, in
:class:`~sklearn.model_selection.GridSearchCV`,
:func:`~sklearn.model_selection.cross_val_score` and
:func:`~sklearn.model_selection.cross_validate`; pair them with
:class:`~skanomaly.model_selection.NoveltySplit` to train on normal samples
only.
"""

from sklearn.metrics import make_scorer

from ._classification import anomaly_f1_score
from ._ranking import anomaly_average_precision_score, anomaly_roc_auc_score

__all__ = [
    "anomaly_average_precision_scorer",
    "anomaly_f1_scorer",
    "anomaly_roc_auc_scorer",
]

#: ROC AUC of :func:`anomaly_roc_auc_score` on ``decision_function``.
anomaly_roc_auc_scorer = make_scorer(
    anomaly_roc_auc_score,
    response_method="decision_function",
    score_convention="normality",
)

#: Average precision of :func:`anomaly_average_precision_score` on
#: ``decision_function``.
anomaly_average_precision_scorer = make_scorer(
    anomaly_average_precision_score,
    response_method="decision_function",
    score_convention="normality",
)

#: F1 of the anomaly class, :func:`anomaly_f1_score`, on ``predict``
#: (read with scikit-learn's convention, ``+1`` inlier, ``-1`` outlier).
anomaly_f1_scorer = make_scorer(
    anomaly_f1_score,
    response_method="predict",
    pred_convention="sklearn",
)
