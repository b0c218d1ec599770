"""Import Keras on the TensorFlow backend, once, quietly.

Every module of the engine imports ``keras`` and ``tensorflow`` from here, so
that the backend is checked in one place.
"""

import logging
import os

# Keras picks its backend when first imported; the engine is written for
# TensorFlow (tf.function scoring, tf.distribute later on).
os.environ.setdefault("KERAS_BACKEND", "tensorflow")
# TensorFlow's C++ start-up chatter (CUDA probing on CPU machines) is noise
# for a scikit-learn user; a user who wants it sets the variable first.
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import keras  # noqa: E402
import tensorflow as tf  # noqa: E402

if keras.backend.backend() != "tensorflow":  # pragma: no cover - environment
    raise ImportError(
        "skanomaly's deep detectors need Keras on the TensorFlow backend, but "
        f"KERAS_BACKEND={keras.backend.backend()!r}. Unset KERAS_BACKEND or "
        "set it to 'tensorflow' before importing skanomaly."
    )



class _DropRetracingWarnings(logging.Filter):
    """Drop TensorFlow's "triggered tf.function retracing" warning.

    Every fitted detector traces its own training and scoring functions
    once; TensorFlow counts those traces per code object and warns of
    "excessive retracing" after a handful of fits (a grid search, the
    estimator checks). The warning says nothing useful here.
    """

    def filter(self, record):
        return "triggered tf.function retracing" not in record.getMessage()


tf.get_logger().addFilter(_DropRetracingWarnings())

__all__ = ["keras", "tf"]
