"""Cross-validation splitters for anomaly detection.

A novelty detector is trained on normal samples only: :class:`NoveltySplit`
and :class:`NoveltyShuffleSplit` train on part of the normal samples
(``y == 0``) and test on the rest together with every anomaly (``y == 1``).
A detector that learns from a few labelled anomalies takes ``y`` with ``1``,
``0`` and ``-1`` (unlabelled): :class:`LabelledAnomalySplit` tests it on
labelled samples only and trains it on a set number of labelled anomalies.
A detector that learns across tasks (meta-learning) takes ``groups``, the
task of each sample: :class:`NewTaskSplit` holds out whole tasks as new
ones, and :func:`score_new_tasks` scores a fitted detector on new tasks,
adapting it to each from a few of its labelled samples.
All the splitters plug into scikit-learn's model selection tools as ``cv=``.
:func:`spread_over_gpus` runs a parallel search with one GPU for each
worker process.
"""

from ._labelled import LabelledAnomalySplit
from ._parallel import spread_over_gpus
from ._split import NoveltyShuffleSplit, NoveltySplit
from ._tasks import NewTaskSplit, score_new_tasks

__all__ = [
    "LabelledAnomalySplit",
    "NewTaskSplit",
    "NoveltyShuffleSplit",
    "NoveltySplit",
    "score_new_tasks",
    "spread_over_gpus",
]
