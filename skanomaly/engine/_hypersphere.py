"""Pieces of the hypersphere detectors (Deep SVDD, Deep SAD, a head on a
pretrained network): a bias-free dense network, its fixed centre, and Deep
SAD's loss over labelled and unlabelled samples."""

import numpy as np

from ._backend import keras

__all__ = ["EPSILON", "bias_free_dense", "deep_sad_loss", "push_from_zero"]

ops = keras.ops

#: Keeps the inverse distance of a labelled anomaly finite.
EPSILON = 1e-6


def bias_free_dense(hidden_units, *, activation, weight_decay, name):
    """A ``Sequential`` of ``Dense`` layers without biases: every layer but
    the last followed by ``activation``, the last one linear, each kernel
    with an L2 penalty of ``weight_decay`` (none when 0).

    No biases: a network with them can map every input onto a fixed centre
    by zeroing its kernels and letting a bias equal the centre (Ruff et
    al., 2018, Proposition 2).
    """
    *hidden, representation = hidden_units
    # Keras' L2 regulariser adds weight_decay * sum(W ** 2) to the loss.
    decay = keras.regularizers.L2(weight_decay) if weight_decay > 0 else None
    return keras.Sequential(
        [
            keras.layers.Dense(
                width, activation=activation, use_bias=False, kernel_regularizer=decay
            )
            for width in hidden
        ]
        + [keras.layers.Dense(representation, use_bias=False, kernel_regularizer=decay)],
        name=name,
    )


def push_from_zero(center, eps):
    """The centre ``center`` (a float64 array) with each coordinate closer
    to zero than ``eps`` set to ``eps`` with its sign (``+eps`` for zero):
    a bias-free network maps every input to zero trivially."""
    center = np.array(center, dtype=np.float64)
    near_zero = np.abs(center) < eps
    center[near_zero] = np.where(center[near_zero] < 0, -eps, eps)
    return center


def deep_sad_loss(distances, labels, eta):
    """Deep SAD's per-sample loss (Ruff et al., 2020) from the squared
    distances to the centre.

    An unlabelled sample (label -1) is pulled in as in Deep SVDD,
    ``d``; a labelled normal one (0) too, with weight ``eta``,
    ``eta * d``; a labelled anomaly (1) is pushed out, ``eta / d``.
    """
    labels = ops.cast(labels, distances.dtype)
    labelled = ops.where(ops.equal(labels, 1.0), 1.0 / (distances + EPSILON), distances)
    return ops.where(ops.equal(labels, -1.0), distances, eta * labelled)
