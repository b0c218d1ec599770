"""Cross-validation splitters for novelty detection.

A novelty detector is trained on normal samples only. These splitters
train on part of the normal samples (``y == 0``) and test on the rest
together with every anomaly (``y == 1``), and plug into scikit-learn's
model selection tools as ``cv=``.
"""

from ._split import NoveltyShuffleSplit, NoveltySplit

__all__ = ["NoveltyShuffleSplit", "NoveltySplit"]
