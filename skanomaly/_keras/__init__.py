"""The deep-learning engine every deep detector shares.

Training loop, seeding, early stopping, callbacks, chunked compiled scoring
and persistence live here once; a detector writes only its network, its loss
and its score. TensorFlow-specific code stays inside this package.
"""

from ._backend import keras, tf
from ._base import BaseDeepDetector
from ._network import DetectorNetwork
from ._training import TrainingDivergedError

__all__ = [
    "BaseDeepDetector",
    "DetectorNetwork",
    "TrainingDivergedError",
    "keras",
    "tf",
]
