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
  so child processes and the environment are unchanged. The notes its
  C++ core prints before that setting applies (CUDA not found on a
  machine without a GPU, oneDNN's rounding) are dropped from standard
  error while it imports and while skanomaly first lists the GPUs
  (:func:`quiet_native_logs`); anything else printed then still shows;
* GPU memory growth is turned on only when a detector first places work
  (``_devices.enable_memory_growth``), and the "retracing" warning of
  TensorFlow's logger is dropped only while a detector trains or scores
  (:func:`quiet_retracing`).
"""

import contextlib
import logging
import os
import re
import sys
import tempfile
import threading


#: Lines TensorFlow's C++ core prints on a machine without a GPU that say
#: nothing a user can act on: absl's note that it logs to stderr before it is
#: set up, oneDNN's note on rounding, the CUDA libraries or driver not
#: found, and the CPU instructions it could use if rebuilt.
_NATIVE_NOISE = re.compile(
    r"All log messages before absl::InitializeLog\(\) is called"
    r"|port\.cc:\d+\] oneDNN custom operations are on"
    r"|cudart_stub\.cc:\d+\] Could not find cuda drivers"
    r"|cuda_platform\.cc:\d+\] failed call to cuInit"
    r"|cpu_feature_guard\.cc:\d+\] This TensorFlow binary is optimized"
    r"|^To enable the following instructions: .* rebuild TensorFlow"
)


@contextlib.contextmanager
def quiet_native_logs():
    """Drop TensorFlow's known C++ start-up notes from standard error
    inside the block (:data:`_NATIVE_NOISE`); everything else written to
    it there is written again when the block ends.

    TensorFlow's C++ core writes them to file descriptor 2 before any of
    its logging settings apply, so only a redirection of the descriptor
    catches them. The block is where skanomaly imports TensorFlow and
    where it first lists the GPUs (CUDA's initialisation); the user's own
    TensorFlow calls are never filtered.
    """
    try:
        sys.stderr.flush()
        saved = os.dup(2)
    except (AttributeError, OSError, ValueError):
        # No file descriptor 2 to redirect (an embedded interpreter).
        yield
        return
    with tempfile.TemporaryFile() as captured:
        os.dup2(captured.fileno(), 2)
        try:
            yield
        finally:
            try:
                sys.stderr.flush()
            finally:
                os.dup2(saved, 2)
                os.close(saved)
            captured.seek(0)
            lines = captured.read().decode("utf-8", "replace").splitlines(keepends=True)
            kept = "".join(line for line in lines if not _NATIVE_NOISE.search(line))
            if kept:
                sys.stderr.write(kept)
                sys.stderr.flush()


def _import_tensorflow():
    if "tensorflow" in sys.modules or "TF_CPP_MIN_LOG_LEVEL" in os.environ:
        import tensorflow

        return tensorflow
    os.environ["TF_CPP_MIN_LOG_LEVEL"] = "2"
    try:
        with quiet_native_logs():
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


class ScopedLogFilter(logging.Filter):
    """Drop TensorFlow's log records that contain ``text``, inside the
    blocks of ``with filter():`` only (in any thread), so that the user's
    own TensorFlow code outside them still gets them.
    """

    def __init__(self, text):
        super().__init__()
        self.text = text
        self._lock = threading.Lock()
        self._users = 0

    def filter(self, record):
        return self.text not in record.getMessage()

    @contextlib.contextmanager
    def __call__(self):
        with self._lock:
            if self._users == 0:
                tf.get_logger().addFilter(self)
            self._users += 1
        try:
            yield
        finally:
            with self._lock:
                self._users -= 1
                if self._users == 0:
                    tf.get_logger().removeFilter(self)


#: Drop TensorFlow's "triggered tf.function retracing" warning while a
#: detector trains or scores. Every fitted detector traces its own training
#: and scoring functions once; TensorFlow counts those traces per code
#: object and warns of "excessive retracing" after a handful of fits (a
#: grid search, the estimator checks). The warning says nothing useful there.
quiet_retracing = ScopedLogFilter("triggered tf.function retracing")


__all__ = ["ScopedLogFilter", "keras", "quiet_native_logs", "quiet_retracing", "tf"]
