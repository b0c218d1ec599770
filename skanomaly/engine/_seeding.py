"""Seeding that makes training repeatable without touching the user's RNGs."""

import contextlib
import random
import warnings

import numpy as np
from sklearn.utils import check_random_state

from ._backend import keras

_MAX_SEED = np.iinfo(np.int32).max


def draw_seed(random_state):
    """An integer seed from a scikit-learn ``random_state``.

    ``None`` draws from NumPy's global generator (scikit-learn's meaning of
    ``None``); an integer always gives the same seed.
    """
    return int(check_random_state(random_state).randint(_MAX_SEED))


@contextlib.contextmanager
def keep_global_rngs():
    """Restore Python's and NumPy's global generators on exit.

    Keras draws default seeds from Python's ``random`` module; this keeps a
    fit or a model rebuild from shifting the user's own random streams.
    """
    py_state = random.getstate()
    np_state = np.random.get_state()
    try:
        yield
    finally:
        random.setstate(py_state)
        np.random.set_state(np_state)


@contextlib.contextmanager
def seeded(seed):
    """Seed Python, NumPy, TensorFlow and Keras for the duration of a block.

    Everything random in a fit (weight initialisation, shuffling, dropout,
    noise) then follows from ``seed``, so the same ``random_state`` gives
    the same model. The user's Python and NumPy generators are restored on
    exit.
    """
    with keep_global_rngs():
        keras.utils.set_random_seed(seed)
        yield


@contextlib.contextmanager
def own_default_seeds(seed):
    """Keras' default seeds drawn from a generator of this fit's own.

    Keras seeds every initializer built without a seed from Python's global
    ``random``, which other threads use too (a Dask worker's event loop
    draws from it several times a second): a draw in between would change
    the initial weights. ``random.Random(seed)`` draws what the global
    generator seeded with ``seed`` would, whatever other threads do.
    """
    if seed is None:
        yield
        return
    seed_generator = _keras_seed_module()
    if seed_generator is None:
        yield
        return
    shared = seed_generator.python_random
    seed_generator.python_random = random.Random(seed)
    try:
        yield
    finally:
        seed_generator.python_random = shared


_warned_moved = False


def _keras_seed_module():
    """Keras' private module that holds the generator of default seeds, or
    None (with a warning, once a process) if Keras has moved it."""
    global _warned_moved
    try:
        from keras.src.random import seed_generator

        seed_generator.python_random  # noqa: B018 - the attribute must exist
    except (ImportError, AttributeError):
        if not _warned_moved:
            _warned_moved = True
            warnings.warn(
                "This version of Keras keeps its default seeds elsewhere than "
                "keras.src.random.seed_generator.python_random: fits are "
                "still seeded by random_state, but other threads that draw "
                "from Python's global random module during a fit (a Dask "
                "worker, say) can change its initial weights.",
                RuntimeWarning,
                stacklevel=3,
            )
        return None
    return seed_generator
