"""Keras on the TensorFlow backend, imported once, and checked.

Every module of the engine imports ``keras`` and ``tensorflow`` from here.
Importing skanomaly leaves the environment and the global settings of
Keras and TensorFlow as they were:

* the backend is whatever the user chose (``KERAS_BACKEND`` or
  ``~/.keras/keras.json``; Keras' own default is TensorFlow), and any
  other than TensorFlow is refused with a clear error;
* if skanomaly is the first to import TensorFlow and the user has not set
  ``TF_CPP_MIN_LOG_LEVEL``, TensorFlow is imported with it at 2, so that
  the warnings of its C++ core (among them one a layer, at every fit, for
  float64 scoring, which oneDNN's graph rewriter does not fuse) are not
  printed, errors still are; the variable is removed again right after,
  so child processes and the environment are unchanged;
* GPU memory growth is turned on only when a detector first places work
  (``_devices.enable_memory_growth``), and the "retracing" warning of
  TensorFlow's logger is dropped only while a detector trains or scores
  (:func:`quiet_retracing`).
"""

import contextlib
import logging
import os
import sys
import threading


def _import_tensorflow():
    if "tensorflow" in sys.modules or "TF_CPP_MIN_LOG_LEVEL" in os.environ:
        import tensorflow

        return tensorflow
    os.environ["TF_CPP_MIN_LOG_LEVEL"] = "2"
    try:
        import tensorflow
    finally:
        del os.environ["TF_CPP_MIN_LOG_LEVEL"]
    return tensorflow


def _wrong_backend(name, detail=""):
    return ImportError(
        "skanomaly's deep detectors need Keras on the TensorFlow backend, but "
        f"Keras is set to {name!r} (KERAS_BACKEND or ~/.keras/keras.json). Set "
        f"KERAS_BACKEND=tensorflow before the first import of Keras.{detail}"
    )


tf = _import_tensorflow()

try:
    import keras
except ImportError as error:
    # Keras imports its backend's library first: a backend chosen in the
    # environment whose library is missing fails here.
    chosen = os.environ.get("KERAS_BACKEND", "tensorflow")
    if chosen != "tensorflow":
        raise _wrong_backend(chosen, f" (Keras: {error})") from None
    raise

if keras.backend.backend() != "tensorflow":
    raise _wrong_backend(keras.backend.backend())


class _DropRetracingWarnings(logging.Filter):
    """Drop TensorFlow's "triggered tf.function retracing" warning.

    Every fitted detector traces its own training and scoring functions
    once; TensorFlow counts those traces per code object and warns of
    "excessive retracing" after a handful of fits (a grid search, the
    estimator checks). The warning says nothing useful there.
    """

    def filter(self, record):
        return "triggered tf.function retracing" not in record.getMessage()


_FILTER = _DropRetracingWarnings()
_lock = threading.Lock()
_users = 0


@contextlib.contextmanager
def quiet_retracing():
    """Drop the retracing warning from TensorFlow's logger inside the block.

    The filter is on TensorFlow's logger only while a detector trains or
    scores (in any thread), so that the user's own TensorFlow code still
    gets the warning.
    """
    global _users
    with _lock:
        if _users == 0:
            tf.get_logger().addFilter(_FILTER)
        _users += 1
    try:
        yield
    finally:
        with _lock:
            _users -= 1
            if _users == 0:
                tf.get_logger().removeFilter(_FILTER)


__all__ = ["keras", "quiet_retracing", "tf"]
