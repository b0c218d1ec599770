"""What the sequence detectors share: input, scaling, per-step scoring.

Sequence detectors accept a set of equally long sequences in any of these
layouts:

* ``(n_samples, n_steps, n_channels)``: the sequences themselves;
* ``(n_samples, n_steps)``: one univariate sequence a row;
* ``(n_samples, n_steps * n_channels)`` with ``sequence_shape=(n_steps,
  n_channels)``: one flattened multivariate sequence a row, step-major (the
  channels of step 0, then those of step 1, ...), the layout that
  ``SlidingWindows`` and ``X.reshape(n_samples, -1)`` give.

:func:`validate_sequences` turns any of them into an array of shape
``(n_samples, n_steps, n_channels)`` and keeps scikit-learn's fitted-input
bookkeeping; :class:`BaseSequenceDetector` is the engine's base class with
that input, scaling per channel, and a per-step ``anomaly_map``.
"""

import math
from numbers import Integral

import numpy as np
from sklearn.utils.validation import check_array, check_is_fitted, validate_data

from ._backend import keras
from ._base import BaseDeepDetector
from ._network import DetectorNetwork

__all__ = [
    "BaseSequenceAutoEncoder",
    "BaseSequenceDetector",
    "SequenceAutoEncoderNetwork",
    "SequenceNetwork",
    "check_sequence_shape",
    "check_units",
    "recurrent_stack",
    "validate_sequences",
]

layers = keras.layers
ops = keras.ops

RECURRENT_CELLS = {"lstm": layers.LSTM, "gru": layers.GRU}

#: Largest fit, in epochs x batches x steps, that trains eagerly rather than
#: through a traced graph. Tracing recurrent layers and their gradient costs
#: about 3 s; eagerly, one batch step costs about 25 ms per time step for a
#: small LSTM autoencoder, so below this the eager fit is the faster.
MAX_EAGER_WORK = 64


# --------------------------------------------------------------------------
# input


def check_sequence_shape(sequence_shape, name="sequence_shape"):
    """Check a sequence shape and return it as ``(n_steps, n_channels)``.

    Parameters
    ----------
    sequence_shape : int, tuple of int or None
        ``n_steps``, ``(n_steps,)`` or ``(n_steps, n_channels)``, every entry
        a positive integer; the first two mean one channel.
    name : str, default="sequence_shape"
        Name of the parameter, used in error messages.

    Returns
    -------
    sequence_shape : tuple of int or None
        ``None`` if ``sequence_shape`` is ``None``, else ``(n_steps,
        n_channels)`` as Python ints.

    Examples
    --------
    >>> from skanomaly._keras._sequences import check_sequence_shape
    >>> check_sequence_shape(140)
    (140, 1)
    >>> check_sequence_shape([50, 3])
    (50, 3)
    """
    if sequence_shape is None:
        return None
    if isinstance(sequence_shape, Integral) and not isinstance(sequence_shape, bool):
        values = (sequence_shape,)
    else:
        try:
            values = tuple(sequence_shape)
        except TypeError:
            values = None
    if (
        values is None
        or len(values) not in (1, 2)
        or not all(
            isinstance(v, Integral) and not isinstance(v, bool) and v >= 1
            for v in values
        )
    ):
        raise ValueError(
            f"{name} must be n_steps or (n_steps, n_channels) with positive "
            f"integers, got {sequence_shape!r}."
        )
    values = tuple(int(v) for v in values)
    return values if len(values) == 2 else (values[0], 1)


def _describe(shape):
    n_steps, n_channels = shape
    return (
        f"{n_steps} step{'s' if n_steps != 1 else ''} x "
        f"{n_channels} channel{'s' if n_channels != 1 else ''}"
    )


def validate_sequences(
    estimator,
    X,
    *,
    sequence_shape=None,
    reset=True,
    dtype=(np.float64, np.float32),
    ensure_min_samples=1,
):
    """Validate ``X`` and return it as an array of sequences.

    With ``reset=True`` (in ``fit``) this records on ``estimator``:

    * ``sequence_shape_``: ``(n_steps, n_channels)``;
    * ``n_features_in_``: the number of values of one sequence, ``n_steps *
      n_channels`` (for 2-D input the row width, as scikit-learn sets it);
    * ``feature_names_in_`` when ``X`` is a DataFrame of rows.

    With ``reset=False`` (in ``score_samples``, ``predict``...) ``X`` is
    checked against them, and 2-D rows are read with the fitted
    ``sequence_shape_``.

    Parameters
    ----------
    estimator : estimator instance
        The estimator being fitted or used.
    X : array-like
        Sequences of shape ``(n_samples, n_steps, n_channels)``, or rows of
        shape ``(n_samples, n_steps * n_channels)`` (a DataFrame included).
    sequence_shape : int, tuple of int or None, default=None
        Shape of one sequence, checked with :func:`check_sequence_shape`.
        Rows are univariate sequences (one value a step) when it is
        ``None``; when ``X`` is 3-D, its shape must agree with it. Only used
        when ``reset=True``.
    reset : bool, default=True
        Whether to record the fitted input (``True``) or check against it.
    dtype : data-type or tuple of data-types, default=(np.float64, np.float32)
        Accepted data types, as for :func:`~sklearn.utils.check_array`.
    ensure_min_samples : int, default=1
        Fewest sequences accepted.

    Returns
    -------
    sequences : ndarray of shape (n_samples, n_steps, n_channels)

    Examples
    --------
    >>> import numpy as np
    >>> from sklearn.base import BaseEstimator
    >>> from skanomaly._keras._sequences import validate_sequences
    >>> est = BaseEstimator()
    >>> validate_sequences(est, np.zeros((5, 12)), sequence_shape=(6, 2)).shape
    (5, 6, 2)
    >>> est.sequence_shape_, est.n_features_in_
    ((6, 2), 12)
    >>> validate_sequences(est, np.zeros((3, 6, 2)), reset=False).shape
    (3, 6, 2)
    """
    name = type(estimator).__name__
    if not hasattr(X, "ndim") and not hasattr(X, "__array__"):
        try:
            X = np.asarray(X)
        except ValueError as exc:
            raise ValueError(
                f"{name} needs sequences of equal length: X could not be read "
                f"as one array ({exc}). Pad or cut the sequences to one "
                "length, or cut a long series into windows with "
                "skanomaly.features.SlidingWindows."
            ) from None
    ndim = getattr(X, "ndim", None)
    if ndim is None:
        X = np.asarray(X)
        ndim = X.ndim
    if ndim > 3:
        raise ValueError(
            f"{name} expects sequences of shape (n_samples, n_steps, "
            "n_channels), or one sequence a row (n_samples, n_steps) or "
            "(n_samples, n_steps * n_channels) with sequence_shape; got a "
            f"{ndim}-D array of shape {X.shape}."
        )

    if reset:
        sequence_shape = check_sequence_shape(sequence_shape)
    else:
        sequence_shape = estimator.sequence_shape_

    if ndim <= 2:
        # scikit-learn's own checks and messages: 1-D input ("Reshape your
        # data"), NaN, sparse, empty, feature names, the number of features.
        X = validate_data(
            estimator,
            X,
            reset=reset,
            dtype=list(dtype) if isinstance(dtype, tuple) else dtype,
            ensure_min_samples=ensure_min_samples,
        )
        if sequence_shape is None:
            sequence_shape = (X.shape[1], 1)
        elif X.shape[1] != math.prod(sequence_shape):
            # Only reached in fit: later, validate_data checks the width.
            raise ValueError(
                f"X has rows of {X.shape[1]} values, but sequence_shape="
                f"{sequence_shape} ({_describe(sequence_shape)}) needs "
                f"{math.prod(sequence_shape)}. Pass the sequence_shape of the "
                "flattened sequences, or the sequences as a 3-D array."
            )
        sequences = X.reshape((X.shape[0], *sequence_shape))
    else:
        sequences = check_array(
            X,
            allow_nd=True,
            dtype=list(dtype) if isinstance(dtype, tuple) else dtype,
            ensure_min_samples=ensure_min_samples,
            input_name="X",
            estimator=estimator,
        )
        received = tuple(int(s) for s in sequences.shape[1:])
        if 0 in received:
            raise ValueError(
                f"{name} got empty sequences: X has shape {sequences.shape}."
            )
        if reset:
            if sequence_shape is not None and received != sequence_shape:
                raise ValueError(
                    f"X holds sequences of shape {received} "
                    f"({_describe(received)}), but sequence_shape="
                    f"{sequence_shape}."
                )
            if hasattr(estimator, "feature_names_in_"):
                del estimator.feature_names_in_
            estimator.n_features_in_ = math.prod(received)
        elif received != sequence_shape:
            raise ValueError(
                f"X holds sequences of shape {received} ({_describe(received)}), "
                f"but {name} was fitted on sequences of shape {sequence_shape} "
                f"({_describe(sequence_shape)}). Every sequence must have the "
                "length and channels seen in fit."
            )
        sequence_shape = received

    if reset:
        estimator.sequence_shape_ = tuple(sequence_shape)
    return sequences


def check_units(units, name):
    """Return ``units`` as a tuple of ints, or raise a clear ``ValueError``
    unless it is a non-empty sequence of positive integers."""
    values = None if isinstance(units, str) else units
    try:
        ok = len(values) > 0 and all(
            isinstance(v, Integral) and not isinstance(v, bool) and v >= 1
            for v in values
        )
    except TypeError:
        ok = False
    if not ok:
        raise ValueError(
            f"{name} must be a non-empty sequence of positive integers; got "
            f"{units!r}."
        )
    return tuple(int(v) for v in values)


# --------------------------------------------------------------------------
# networks


def recurrent_stack(
    units, *, cell="lstm", bidirectional=False, dropout=0.0, return_sequences=True,
    name=None,
):
    """A ``Sequential`` of recurrent layers of the given widths.

    Every layer but the last returns its whole output sequence; the last one
    does when ``return_sequences`` is true, else only its final output (a
    fixed-size summary of the sequence). ``bidirectional`` wraps each layer
    in ``Bidirectional`` (its output is then twice as wide); ``dropout``
    drops inputs of each layer during training.
    """
    rnn = RECURRENT_CELLS[cell]
    stack = []
    for i, width in enumerate(units):
        layer = rnn(
            width,
            return_sequences=return_sequences or i < len(units) - 1,
            dropout=dropout,
        )
        stack.append(layers.Bidirectional(layer) if bidirectional else layer)
    return keras.Sequential(stack, name=name)


class SequenceNetwork(DetectorNetwork):
    """Base of the sequence detectors' networks."""

    def build_chain(self, chain, input_shape):
        """Build ``chain``, layers applied one after the other to inputs of
        ``input_shape``, from their output shapes; return the last one.

        A network's ``build`` calls this so that Keras does not trace the
        whole forward pass symbolically to build it (a second or so for
        recurrent layers, at every fit).
        """
        shape = tuple(input_shape)
        for layer in chain:
            if not layer.built:
                layer.build(shape)
            shape = tuple(layer.compute_output_shape(shape))
        return shape


class SequenceAutoEncoderNetwork(SequenceNetwork):
    """Base of the networks that reconstruct a sequence.

    A subclass writes ``call(x, training=False)``, returning the
    reconstruction of ``x``, of the same shape ``(batch, n_steps,
    n_channels)``. A sequence's loss is its mean squared reconstruction
    error; the per-step error is its mean over the channels, and the score
    is minus the mean per-step error.
    """

    def detector_loss(self, x, reconstruction, training):
        return ops.mean(ops.square(reconstruction - x), axis=(1, 2))

    def step_errors(self, x):
        """Squared reconstruction error of each step, ``(batch, n_steps)``."""
        return ops.mean(ops.square(self(x, training=False) - x), axis=-1)

    def reconstruct(self, x):
        return self(x, training=False)

    def score(self, x):
        return -ops.mean(self.step_errors(x), axis=-1)


# --------------------------------------------------------------------------
# scoring


def _steps_scaled(network, center, scale, x):
    return network.step_errors((x - center) / scale)


def _reconstruct_scaled(network, center, scale, x):
    return network.reconstruct((x - center) / scale) * scale + center


# --------------------------------------------------------------------------
# estimators


class BaseSequenceDetector(BaseDeepDetector):
    """Base class of the sequence detectors.

    On top of :class:`~skanomaly._keras.BaseDeepDetector` it reads the input
    as sequences (:func:`validate_sequences`, with the subclass's
    ``sequence_shape`` parameter), scales each channel with one centre and
    scale over all the steps (a step of a sequence has no fixed meaning once
    a long series is cut into windows), and adds :meth:`anomaly_map`, the
    per-step errors. The network must have ``step_errors(x)`` returning
    ``(batch, n_steps)``.

    Subclasses set ``_min_steps`` when they need sequences of some length,
    and may override ``_values_per_step`` (the widest layer) so that scoring
    chunks fit in working memory.
    """

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.three_d_array = True
        return tags

    def _validate_input(self, X, reset):
        sequences = validate_sequences(
            self,
            X,
            sequence_shape=self.sequence_shape if reset else None,
            reset=reset,
            ensure_min_samples=2 if reset else 1,
        )
        if reset:
            self._check_sequence_length(sequences.shape[1], X)
        return sequences

    def _min_steps(self):
        """Fewest steps a sequence may have."""
        return 1

    def _check_sequence_length(self, n_steps, X):
        needed = self._min_steps()
        if n_steps < needed:
            rows = (
                f" (rows of n_features={n_steps * self.sequence_shape_[1]})"
                if getattr(X, "ndim", 2) == 2
                else ""
            )
            raise ValueError(
                f"{type(self).__name__} needs sequences of at least {needed} "
                f"steps{self._min_steps_reason()}; got {n_steps}{rows}."
            )

    def _min_steps_reason(self):
        return ""

    _scale_per_channel = True

    def _values_per_step(self):
        """Widest layer output per step, for the scoring memory bound."""
        return self._sample_shape[-1]

    def _values_per_row(self):
        n_steps, n_channels = self._sample_shape
        return n_steps * max(n_channels, self._values_per_step())

    # ----------------------------------------------------------- training
    def _trains_eagerly(self, X):
        """Tiny fits train eagerly: tracing recurrent layers and their
        gradient into a graph takes seconds, more than a few short batches
        take eagerly."""
        batches = math.ceil(X.shape[0] / min(self.batch_size, X.shape[0]))
        return self.epochs * batches * X.shape[1] <= MAX_EAGER_WORK

    # ------------------------------------------------------------ scoring
    def _make_scorer(self):
        """The score (returned), the per-step errors and, for autoencoders,
        the reconstruction, over one float64 copy of the trained network."""
        scorer = super()._make_scorer()
        n_steps, _ = self._sample_shape
        self._mappers["anomaly_map"] = self._mapper_of(_steps_scaled, (n_steps,))
        if hasattr(self._scoring_network, "reconstruct"):
            self._mappers["reconstruct"] = self._mapper_of(
                _reconstruct_scaled, self._sample_shape
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
        return self._mappers["anomaly_map"](X)


class BaseSequenceAutoEncoder(BaseSequenceDetector):
    """Base class of the sequence autoencoders: adds :meth:`reconstruct`."""

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
