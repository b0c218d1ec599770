"""The kinds of input a deep detector takes: rows, images, sequences.

Rows of features are the engine's default. :class:`ImageInput` and
:class:`SequenceInput` are mixins, placed before the engine's base class,
that make a detector take images or sequences: they validate the input
(through :mod:`skanomaly.utils._validation`, shared with the transformers),
scale each channel with one centre and scale, bound the scoring memory,
add ``anomaly_map`` (and ``reconstruct`` for a detector whose network
reconstructs its input), and declare their own parameters once.
"""

import functools
import math
from numbers import Integral, Real

from sklearn.utils._param_validation import Interval, StrOptions
from sklearn.utils._available_if import available_if
from sklearn.utils.validation import check_is_fitted

import numpy as np

from ..utils._parameters import Attribute, Parameter
from ..utils._validation import check_finite_output, validate_images, validate_sequences
from ._backend import keras

__all__ = ["AGGREGATIONS", "ImageInput", "SequenceInput", "aggregate_map"]

ops = keras.ops

#: How ``score_samples`` reduces an anomaly map to one score an image.
AGGREGATIONS = ("mean", "max", "topk_mean")
#: Largest fit, in epochs x batches, that trains eagerly rather than
#: through a traced graph, for images of at most MAX_EAGER_PIXELS: tracing
#: a small convolutional network and its gradient takes one to three
#: seconds, longer than a few dozen eager steps on small images take.
MAX_EAGER_STEPS = 32
MAX_EAGER_PIXELS = 1024
#: Largest fit, in epochs x batches x steps, that trains eagerly rather than
#: through a traced graph. Tracing recurrent layers and their gradient costs
#: about 3 s; eagerly, one batch step costs about 25 ms per time step for a
#: small LSTM autoencoder, so below this the eager fit is the faster.
MAX_EAGER_WORK = 64


def aggregate_map(maps, how, k=1):
    """One value per image from anomaly maps of shape ``(batch, H, W)``.

    ``"mean"`` averages every pixel, ``"max"`` takes the largest, and
    ``"topk_mean"`` averages the ``k`` largest.
    """
    if how == "mean":
        return ops.mean(maps, axis=(1, 2))
    if how == "max":
        return ops.max(maps, axis=(1, 2))
    flat = ops.reshape(maps, (ops.shape(maps)[0], -1))
    values, _ = ops.top_k(flat, k, sorted=False)
    return ops.mean(values, axis=-1)


def _map_scaled(network, center, scale, x, **constants):
    return network.pixel_map((x - center) / scale, **constants)


def _score_from_map(network, center, scale, x, *, how, k, **constants):
    return -aggregate_map(network.pixel_map((x - center) / scale, **constants), how, k)


def _steps_scaled(network, center, scale, x, **constants):
    return network.step_errors((x - center) / scale, **constants)


def _reconstruct_scaled(network, center, scale, x, **constants):
    return network.reconstruct((x - center) / scale, **constants) * scale + center


def _network_reconstructs(detector):
    """Whether the detector's network reconstructs its input."""
    return type(detector)._reconstructs


def _batches(detector, X):
    return math.ceil(X.shape[0] / min(detector.batch_size, X.shape[0]))


# --------------------------------------------------------------------------
# images

IMAGE_SHAPE = Parameter(
    "image_shape", None, [None, "array-like"], "tuple of int or None",
    """
    Shape ``(height, width)`` or ``(height, width, channels)`` of one
    image, to read 2-D input of flattened images (one a row, C order).
    When ``None``, rows are read as square grayscale images if their width
    is a perfect square, and refused otherwise. Images given as a 3-D or
    4-D array must have this shape.
    """,
)
MAP_AGGREGATION = Parameter(
    "map_aggregation", "mean", [StrOptions(set(AGGREGATIONS))],
    '{"mean", "max", "topk_mean"}',
    """
    How ``score_samples`` reduces an image's anomaly map to one score: the
    mean over the pixels, the largest pixel, or the mean of the
    ``topk_fraction`` largest pixels.
    """,
)
TOPK_FRACTION = Parameter(
    "topk_fraction", 0.05, [Interval(Real, 0.0, 1.0, closed="right")],
    "float in (0, 1]",
    'Share of the pixels averaged by ``map_aggregation="topk_mean"``.',
)


class ImageInput:
    """Mixin of the detectors that take images.

    Input: images ``(n, height, width)`` or ``(n, height, width,
    channels)``, or flattened rows with ``image_shape``; the network gets
    ``(n, height, width, channels)`` arrays, each channel scaled with one
    centre and scale over all its pixels (a pixel's position has no
    meaning of its own, and per-pixel scaling would blow up pixels that
    never vary in the training images). The network has ``pixel_map(x)``,
    the anomaly map of scaled images ``(batch, height, width)``, higher
    where more anomalous; :meth:`anomaly_map` gives it at the input's
    resolution, and ``score_samples`` is minus its aggregate
    (``map_aggregation``). A detector whose network has ``reconstruct(x)``
    sets ``_reconstructs = True`` and gets :meth:`reconstruct`. A detector
    with a score of its own, not an aggregate of the map, sets
    ``_scores_from_map = False``: ``score_samples`` is then the network's
    ``score(x)`` and ``map_aggregation`` is not a parameter. Images are
    scored in float32, with the trained network itself.
    """

    _shared_parameters = (IMAGE_SHAPE, MAP_AGGREGATION, TOPK_FRACTION)
    _shared_attributes = (
        Attribute(
            "image_shape_", "tuple of int",
            "Shape of the training images: ``(height, width)``, or "
            "``(height, width, channels)`` with ``channels > 1``.",
        ),
    )
    _parameter_defaults = {"scaling": "minmax"}
    _scale_per_channel = True
    _scoring_dtype = "float32"
    _scoring_reason = (
        "a convolutional network in float64 is several times slower and "
        "holds twice the memory, for a precision no image's ranking needs"
    )
    #: Whether the network reconstructs its input (``reconstruct(x)``).
    _reconstructs = False
    #: Whether ``score_samples`` is minus an aggregate of the anomaly map
    #: (``map_aggregation``); False scores with the network's own
    #: ``score(x)``, and the detector takes no ``map_aggregation``.
    _scores_from_map = True

    @classmethod
    def _takes_parameter(cls, name):
        if name in ("map_aggregation", "topk_fraction") and not cls._scores_from_map:
            return False
        return super()._takes_parameter(name)

    def _validate_input(self, X, reset):
        images = validate_images(
            self,
            X,
            image_shape=self.image_shape if reset else None,
            reset=reset,
            ensure_min_samples=2 if reset else 1,
        )
        return images[..., np.newaxis] if images.ndim == 3 else images

    def _values_per_pixel(self):
        """Widest activation per input pixel while scoring; the channels
        here."""
        return self._sample_shape_[-1]

    def _values_per_row(self):
        height, width, _ = self._sample_shape_
        return height * width * self._values_per_pixel()

    def _trains_eagerly(self, X):
        return (
            self.epochs * _batches(self, X) <= MAX_EAGER_STEPS
            and X.shape[1] * X.shape[2] <= MAX_EAGER_PIXELS
        )

    def _make_scorer(self):
        """The score (returned), the anomaly map and the reconstruction."""
        own_score = super()._make_scorer()
        height, width, _ = self._sample_shape_
        self._mappers["anomaly_map"] = self._mapper_of(_map_scaled, (height, width))
        if self._reconstructs:
            self._mappers["reconstruct"] = self._mapper_of(
                _reconstruct_scaled, self._sample_shape_
            )
        if not self._scores_from_map:
            return own_score
        k = max(1, math.ceil(self.topk_fraction * height * width))
        return self._mapper_of(
            functools.partial(_score_from_map, how=self.map_aggregation, k=k)
        )

    def anomaly_map(self, X):
        """Anomaly score of each pixel: higher is more anomalous.

        Parameters
        ----------
        X : array-like of shape (n_samples, height, width), \
                (n_samples, height, width, channels) or (n_samples, n_features)
            Images of the shape seen in ``fit``, or flattened images one a
            row.

        Returns
        -------
        maps : ndarray of shape (n_samples, height, width)
            One map per image, at the images' resolution. ``score_samples``
            is minus its aggregate over the pixels (``map_aggregation``);
            see the detector's Notes for what a pixel's value is.
        """
        check_is_fitted(self)
        X = self._validate_input(X, reset=False)
        return check_finite_output(
            self._mappers["anomaly_map"](self._network_input(X)), X, type(self).__name__,
            "anomaly maps",
        )

    @available_if(_network_reconstructs)
    def reconstruct(self, X):
        """The network's reconstruction of each image, in input units.

        Parameters
        ----------
        X : array-like of shape (n_samples, height, width), \
                (n_samples, height, width, channels) or (n_samples, n_features)
            Images of the shape seen in ``fit``, or flattened images one a
            row.

        Returns
        -------
        X_rec : ndarray
            The reconstructed images, unscaled: ``(n_samples, height,
            width)`` for grayscale images, ``(n_samples, height, width,
            channels)`` for colour ones, and rows for 2-D input.
        """
        check_is_fitted(self)
        images = self._validate_input(X, reset=False)
        return self._images_like(self._mappers["reconstruct"](self._network_input(images)), X)

    @staticmethod
    def _images_like(images, X):
        """``images`` (``(n, height, width, channels)``) laid out as the
        input ``X`` was: rows for 2-D input, no channel axis for grayscale
        images."""
        if getattr(X, "ndim", np.ndim(X)) == 2:
            return images.reshape(images.shape[0], -1)
        return images[..., 0] if images.shape[-1] == 1 else images


# --------------------------------------------------------------------------
# sequences

SEQUENCE_SHAPE = Parameter(
    "sequence_shape", None, [None, "array-like", Interval(Integral, 1, None, closed="left")],
    "int, tuple of int or None",
    """
    Shape ``n_steps`` or ``(n_steps, n_channels)`` of one sequence, to read
    2-D input of flattened multivariate sequences (one a row, step-major:
    the channels of step 0, then those of step 1, ...). When ``None``, rows
    are univariate sequences, one value a step. Sequences given as a 3-D
    array must have this shape.
    """,
)


class SequenceInput:
    """Mixin of the detectors that take sets of equally long sequences.

    Input: ``(n, n_steps, n_channels)``, one univariate sequence a row
    ``(n, n_steps)``, or flattened rows with ``sequence_shape``; the network
    gets ``(n, n_steps, n_channels)`` arrays, each channel scaled with one
    centre and scale over all the steps (a step of a sequence has no fixed
    meaning once a long series is cut into windows). The network has
    ``step_errors(x)``, the error of each step ``(batch, n_steps)``, which
    :meth:`anomaly_map` returns; a detector whose network has
    ``reconstruct(x)`` sets ``_reconstructs = True`` and gets
    :meth:`reconstruct`. Sequences need ``_min_steps()`` steps at least.
    Sequences are scored in float64, through a copy of the trained network,
    unless the detector says otherwise.
    """

    _shared_parameters = (SEQUENCE_SHAPE,)
    _shared_attributes = (
        Attribute(
            "sequence_shape_", "tuple of int",
            "Shape ``(n_steps, n_channels)`` of the training sequences.",
        ),
    )
    _scale_per_channel = True
    _scoring_reason = (
        "recurrent networks over short sequences are small, and copying one "
        "costs little"
    )
    #: Whether the network reconstructs its input (``reconstruct(x)``).
    _reconstructs = False

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.three_d_array = True
        return tags

    def _validate_input(self, X, reset):
        return validate_sequences(
            self,
            X,
            sequence_shape=self.sequence_shape if reset else None,
            reset=reset,
            ensure_min_samples=2 if reset else 1,
        )

    def _min_steps(self):
        """Fewest steps a sequence may have."""
        return 1

    def _min_steps_reason(self):
        """Why, appended to the error message."""
        return ""

    def _check_sample_shape(self, sample_shape):
        super()._check_sample_shape(sample_shape)
        n_steps, n_channels = sample_shape
        needed = self._min_steps()
        if n_steps < needed:
            raise ValueError(
                f"{type(self).__name__} needs sequences of at least {needed} "
                f"steps{self._min_steps_reason()}; got {n_steps} "
                f"(n_features={n_steps * n_channels})."
            )

    def _values_per_step(self):
        """Widest layer output per step, for the scoring memory bound."""
        return self._sample_shape_[-1]

    def _values_per_row(self):
        n_steps, n_channels = self._sample_shape_
        return n_steps * max(n_channels, self._values_per_step())

    def _trains_eagerly(self, X):
        """Tiny fits train eagerly: tracing recurrent layers and their
        gradient into a graph takes seconds, more than a few short batches
        take eagerly."""
        return self.epochs * _batches(self, X) * X.shape[1] <= MAX_EAGER_WORK

    def _make_scorer(self):
        """The score (returned), the per-step errors and the reconstruction."""
        scorer = super()._make_scorer()
        n_steps, _ = self._sample_shape_
        self._mappers["anomaly_map"] = self._mapper_of(_steps_scaled, (n_steps,))
        if self._reconstructs:
            self._mappers["reconstruct"] = self._mapper_of(
                _reconstruct_scaled, self._sample_shape_
            )
        return scorer

    def anomaly_map(self, X):
        """Error of each step of each sequence: higher is more anomalous.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_steps, n_channels) or \
                (n_samples, n_steps * n_channels)
            The sequences, in a layout ``fit`` accepts.

        Returns
        -------
        errors : ndarray of shape (n_samples, n_steps)
            The per-step error, on the detector's scaled values (see the
            detector's Notes for its exact meaning).
        """
        check_is_fitted(self)
        X = self._validate_input(X, reset=False)
        return check_finite_output(
            self._mappers["anomaly_map"](self._network_input(X)), X, type(self).__name__,
            "anomaly maps",
        )

    @available_if(_network_reconstructs)
    def reconstruct(self, X):
        """The network's reconstruction of each sequence, in input units.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_steps, n_channels) or \
                (n_samples, n_steps * n_channels)
            The sequences, in a layout ``fit`` accepts.

        Returns
        -------
        X_rec : ndarray of the shape of ``X``
            The reconstructed sequences, unscaled, in the layout of ``X``
            (rows for 2-D input).
        """
        check_is_fitted(self)
        flat = getattr(X, "ndim", np.ndim(X)) == 2
        sequences = self._validate_input(X, reset=False)
        out = self._mappers["reconstruct"](sequences)
        return out.reshape(out.shape[0], -1) if flat else out
