"""Detectors that learn from a few labelled anomalies: besides the
unlabelled (mostly normal) training data, ``fit(X, y)`` takes labels, 1 for
an anomaly, 0 for a normal sample and -1 for an unlabelled one, and uses
the few anomalies that someone has labelled to score anomalies of their
kind higher.

Deep SAD and DevNet are here; ScoreBoostingDetector, gradient boosting on
the features and unsupervised outlier scores (after XGBOD); and two
detectors that learn across tasks (meta-learning) so that a new task is learnt from a few labelled anomalies:
PrototypicalDetector, without training, and MAMLDetector, by a few gradient
steps."""

from ._deep_sad import DeepSAD
from ._devnet import DevNet
from ._maml import MAMLDetector
from ._prototypical import PrototypicalDetector
from ._score_boosting import ScoreBoostingDetector

__all__ = ["DeepSAD", "DevNet", "MAMLDetector", "PrototypicalDetector",
           "ScoreBoostingDetector"]
