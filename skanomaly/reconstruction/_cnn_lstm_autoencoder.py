"""CNN-LSTM autoencoder: convolutions shorten the sequence, LSTMs encode it."""

import math
from numbers import Integral, Real

from sklearn.utils._param_validation import Interval

from ..engine import BaseGradientDetector, SequenceInput, keras
from ..engine._recurrent import (
    SequenceAutoEncoderNetwork,
    check_units,
    recurrent_stack,
)

layers = keras.layers


def _convolutions(filters, *, kernel_size, activation, pool_size, upsample, name):
    """``Conv1D`` layers of the given widths, each followed by max pooling
    (``upsample=False``) or preceded by upsampling (``upsample=True``)."""
    stack = []
    for width in filters:
        conv = layers.Conv1D(width, kernel_size, padding="same", activation=activation)
        if upsample:
            stack += [layers.UpSampling1D(pool_size), conv]
        else:
            stack += [conv, layers.MaxPooling1D(pool_size, padding="same")]
    return keras.Sequential(stack, name=name)


class CNNLSTMAutoEncoderNetwork(SequenceAutoEncoderNetwork):
    """Conv1D feature extractor, LSTM encoder-decoder, Conv1D upsampler.

    Each convolution block (``Conv1D`` then max pooling by ``pool_size``)
    turns the sequence into a shorter one of learned features; LSTM layers
    read it into a code (the final output of the last one). The decoder
    repeats the code over the shortened length, runs it through LSTM layers
    of the mirrored widths, and upsampling and convolution blocks of the
    mirrored widths bring it back to the input's length, where a linear
    ``Conv1D`` of width 1 maps each step to the channels.
    """

    def __init__(
        self, n_steps, n_channels, filters, lstm_units, *, kernel_size, pool_size,
        activation, bidirectional, dropout,
    ):
        super().__init__()
        self.n_steps = n_steps
        reduced = n_steps
        for _ in filters:
            reduced = math.ceil(reduced / pool_size)
        self.features = _convolutions(
            filters, kernel_size=kernel_size, activation=activation,
            pool_size=pool_size, upsample=False, name="features",
        )
        self.encoder = recurrent_stack(
            lstm_units, bidirectional=bidirectional, dropout=dropout,
            return_sequences=False, name="encoder",
        )
        self.repeat = layers.RepeatVector(reduced)
        self.decoder = recurrent_stack(
            lstm_units[::-1], bidirectional=bidirectional, dropout=dropout,
            return_sequences=True, name="decoder",
        )
        self.upsampling = _convolutions(
            filters[::-1], kernel_size=kernel_size, activation=activation,
            pool_size=pool_size, upsample=True, name="upsampling",
        )
        self.reconstruction = layers.Conv1D(n_channels, 1)

    def build(self, input_shape):
        _, _, width = self.build_chain(
            [self.features, self.encoder, self.repeat, self.decoder, self.upsampling],
            input_shape,
        )
        self.reconstruction.build((None, self.n_steps, width))
        super().build(input_shape)

    def call(self, x, training=False):
        code = self.encoder(self.features(x), training=training)
        steps = self.upsampling(self.decoder(self.repeat(code), training=training))
        # Pooling rounds lengths up: cut the upsampled sequence to the input's.
        return self.reconstruction(steps[:, : self.n_steps])


class CNNLSTMAutoEncoder(SequenceInput, BaseGradientDetector):
    """CNN-LSTM autoencoder anomaly detector for sequences.

    One-dimensional convolutions with max pooling extract local features
    (the shape of a wave, a spike) and shorten the sequence by
    ``pool_size`` per layer; LSTM layers then read the shortened sequence
    into a code. The decoder mirrors it: LSTM layers, then upsampling and
    convolutions back to the input's length. This hybrid is the usual
    recommendation for ECG and other signals with a local shape and a
    longer rhythm; it also trains several times faster than
    :class:`LSTMAutoEncoder` on long sequences, since its LSTMs run over
    fewer steps. The score is minus the mean squared reconstruction error
    over the steps and channels (of the scaled sequences).

    Parameters
    ----------
    filters : sequence of int, default=(16, 32)
        Widths of the convolution layers of the encoder, each followed by
        max pooling; the decoder mirrors them.
    lstm_units : sequence of int, default=(32,)
        Widths of the encoder's LSTM layers, the last one being the code;
        the decoder mirrors them.
    kernel_size : int, default=7
        Length of the convolution kernels, in steps.
    pool_size : int, default=2
        Factor by which each pooling layer shortens the sequence (and each
        upsampling layer lengthens it).
    activation : str, default="relu"
        Activation of the convolution layers (any Keras name).
    bidirectional : bool, default=False
        Wrap every LSTM layer in ``Bidirectional`` (outputs twice as wide).
    dropout : float in [0, 1), default=0.0
        Dropout on the inputs of each LSTM layer, during training only.

    Attributes
    ----------
    model_ : keras.Model
        The trained network (a ``CNNLSTMAutoEncoderNetwork``).

    See Also
    --------
    LSTMAutoEncoder : LSTM layers over every step.
    RNNForecaster : Scores sequences by how badly it forecasts them.
    skanomaly.features.SlidingWindows : Cut one long series into sequences.

    Notes
    -----
    Input may be ``(n_samples, n_steps, n_channels)``, ``(n_samples,
    n_steps)`` (univariate) or flattened rows with ``sequence_shape``; every
    sequence must have the length seen in ``fit``. Any length works: the
    pooling rounds up and the decoder's output is cut to the input's length.

    ``anomaly_map(X)`` returns the squared reconstruction error of each
    step, averaged over the channels, on the scaled values; its mean over
    the steps is ``-score_samples(X)``. ``reconstruct(X)`` returns the
    reconstructions in the units and layout of ``X``.

    Examples
    --------
    >>> import numpy as np
    >>> from skanomaly import CNNLSTMAutoEncoder
    >>> t = np.linspace(0, 2 * np.pi, 32)
    >>> rng = np.random.RandomState(0)
    >>> X = np.sin(t + rng.uniform(0, 0.3, size=(40, 1)))  # 40 sequences
    >>> detector = CNNLSTMAutoEncoder(filters=(8,), lstm_units=(8,), epochs=10,
    ...                               batch_size=64, random_state=0).fit(X)
    >>> spiky = X[:2].copy()
    >>> spiky[1, 16] += 3.0
    >>> scores = detector.score_samples(spiky)
    >>> bool(scores[0] > scores[1])
    True
    >>> detector.reconstruct(spiky).shape
    (2, 32)
    """

    _parameter_defaults = {"epochs": 50, "batch_size": 32, "learning_rate": 1e-2}
    _reconstructs = True
    _scoring_dtype = "float32"
    _scoring_reason = (
        "its convolutions in float64 would be several times slower, for a "
        "precision no sequence's ranking needs"
    )
    _parameter_constraints: dict = {
        "filters": ["array-like"],
        "lstm_units": ["array-like"],
        "kernel_size": [Interval(Integral, 1, None, closed="left")],
        "pool_size": [Interval(Integral, 1, None, closed="left")],
        "activation": [str],
        "bidirectional": ["boolean"],
        "dropout": [Interval(Real, 0.0, 1.0, closed="left")],
    }

    def __init__(
        self,
        filters=(16, 32),
        lstm_units=(32,),
        *,
        kernel_size=7,
        pool_size=2,
        activation="relu",
        bidirectional=False,
        dropout=0.0,
        **params,
    ):
        self.filters = filters
        self.lstm_units = lstm_units
        self.kernel_size = kernel_size
        self.pool_size = pool_size
        self.activation = activation
        self.bidirectional = bidirectional
        self.dropout = dropout
        super().__init__(**params)

    def _values_per_step(self):
        widest_lstm = max(check_units(self.lstm_units, "lstm_units"))
        widest_conv = max(check_units(self.filters, "filters"))
        return max(widest_conv, widest_lstm * (2 if self.bidirectional else 1))

    def _build_network(self, sample_shape):
        n_steps, n_channels = sample_shape
        return CNNLSTMAutoEncoderNetwork(
            n_steps,
            n_channels,
            check_units(self.filters, "filters"),
            check_units(self.lstm_units, "lstm_units"),
            kernel_size=self.kernel_size,
            pool_size=self.pool_size,
            activation=self.activation,
            bidirectional=self.bidirectional,
            dropout=self.dropout,
        )
