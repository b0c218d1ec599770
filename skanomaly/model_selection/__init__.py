"""Cross-validation splitters for anomaly detection.

A novelty detector is trained on normal samples only: :class:`NoveltySplit`
and :class:`NoveltyShuffleSplit` train on part of the normal samples
(``y == 0``) and test on the rest together with every anomaly (``y == 1``).
A detector that learns from a few labelled anomalies takes ``y`` with ``1``,
``0`` and ``-1`` (unlabelled): :class:`LabelledAnomalySplit` tests it on
labelled samples only and trains it on a set number of labelled anomalies.
All plug into scikit-learn's model selection tools as ``cv=``.
:func:`spread_over_gpus` runs a parallel search with one GPU for each
worker process.
"""

from ._labelled import LabelledAnomalySplit
from ._parallel import spread_over_gpus
from ._split import NoveltyShuffleSplit, NoveltySplit

__all__ = [
    "LabelledAnomalySplit",
    "NoveltyShuffleSplit",
    "NoveltySplit",
    "spread_over_gpus",
]
