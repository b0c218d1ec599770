"""Cross-validation splitters for novelty detection.

A novelty detector is trained on normal samples only. These splitters
train on part of the normal samples (``y == 0``) and test on the rest
together with every anomaly (``y == 1``), and plug into scikit-learn's
model selection tools as ``cv=``. :func:`spread_over_gpus` runs a
parallel search with one GPU for each worker process.
"""

from ._parallel import spread_over_gpus
from ._split import NoveltyShuffleSplit, NoveltySplit

__all__ = ["NoveltyShuffleSplit", "NoveltySplit", "spread_over_gpus"]
