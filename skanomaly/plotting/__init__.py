"""Pictures of anomaly detection results, drawn with matplotlib.

matplotlib is imported only when a function draws, so importing this module
does not need it; install it with ``pip install "skanomaly[plot]"``.
"""

from ._curves import AnomalyPrecisionRecallDisplay, AnomalyRocCurveDisplay
from ._histogram import ScoreHistogramDisplay
from ._history import TrainingHistoryDisplay
from ._images import plot_anomaly_map, plot_top_anomalies

__all__ = [
    "AnomalyPrecisionRecallDisplay",
    "AnomalyRocCurveDisplay",
    "ScoreHistogramDisplay",
    "TrainingHistoryDisplay",
    "plot_anomaly_map",
    "plot_top_anomalies",
]
