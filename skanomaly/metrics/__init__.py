"""Metrics and scorers for anomaly detection.

Ground truth uses ``1`` for an anomaly and ``0`` for a normal sample, and
anomalies are the positive class. Functions on scores take
``score_convention``: ``"normality"`` (higher is more normal: scikit-learn's
and skanomaly's ``score_samples`` and ``decision_function``) or
``"anomaly"`` (higher is more anomalous: PyOD's ``decision_function``).

Examples
--------
>>> import numpy as np
>>> from sklearn.ensemble import IsolationForest
>>> from skanomaly.metrics import anomaly_roc_auc_score, anomaly_roc_auc_scorer
>>> rng = np.random.RandomState(0)
>>> X = np.vstack([rng.normal(size=(50, 2)), rng.normal(6, 1, size=(5, 2))])
>>> y = np.r_[np.zeros(50, dtype=int), np.ones(5, dtype=int)]
>>> detector = IsolationForest(random_state=0).fit(X[:50])
>>> anomaly_roc_auc_score(y, detector.score_samples(X))
1.0
>>> anomaly_roc_auc_scorer(detector, X, y)
1.0
"""

from ._classification import anomaly_f1_score
from ._pixel import aupro_score, pixel_roc_auc_score, pro_curve
from ._ranking import (
    anomaly_average_precision_score,
    anomaly_roc_auc_score,
    best_f1_threshold,
)
from ._scorer import (
    anomaly_average_precision_scorer,
    anomaly_f1_scorer,
    anomaly_roc_auc_scorer,
)

__all__ = [
    "anomaly_average_precision_score",
    "anomaly_average_precision_scorer",
    "anomaly_f1_score",
    "anomaly_f1_scorer",
    "anomaly_roc_auc_score",
    "anomaly_roc_auc_scorer",
    "aupro_score",
    "best_f1_threshold",
    "pixel_roc_auc_score",
    "pro_curve",
]
