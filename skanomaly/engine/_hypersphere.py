"""Pieces of the hypersphere detectors (Deep SVDD, Deep SAD, a head on a
pretrained network): a bias-free dense network, its fixed centre, and Deep
SAD's loss over labelled and unlabelled samples."""

import numpy as np

from ._backend import keras
from ._dense import auto_hidden_units, resolve_hidden_units, validate_hidden_units

__all__ = [
    "EPSILON",
    "HypersphereObjective",
    "bias_free_dense",
    "deep_sad_loss",
    "hypersphere_units",
    "push_from_zero",
]

ops = keras.ops

#: Keeps the inverse distance of a labelled anomaly finite.
EPSILON = 1e-6
#: Width of the representation with ``hidden_units="auto"`` (the papers'
#: MNIST network's).
AUTO_REPRESENTATION = 32


def hypersphere_units(hidden_units, n_features):
    """The layer widths for ``hidden_units``: ``"auto"`` is one hidden
    layer about as wide as the input (16 to 128 units) and a 32-d
    representation, which needs no bottleneck (unlike an autoencoder's
    code); a wider one collapses less readily."""
    validate_hidden_units(hidden_units)
    if isinstance(hidden_units, str):  # "auto", checked above
        return (auto_hidden_units(n_features)[0], AUTO_REPRESENTATION)
    return resolve_hidden_units(hidden_units, n_features)


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


class HypersphereObjective:
    """Mixin of the networks trained to map normal samples close to a fixed
    centre ``self.center`` (a non-trainable weight), with Deep SAD's
    weight ``self.eta`` for labelled samples: the loss is the squared
    distance to the centre without labels, :func:`deep_sad_loss` with
    them, and the score minus the squared distance."""

    def squared_distances(self, outputs):
        return ops.sum(ops.square(outputs - self.center), axis=-1)

    def detector_loss(self, x, outputs, training, labels=None):
        distances = self.squared_distances(outputs)
        if labels is None:
            return distances
        return deep_sad_loss(distances, labels, self.eta)

    def score(self, x):
        return -self.squared_distances(self(x))
