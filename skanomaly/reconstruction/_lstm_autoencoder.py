"""LSTM autoencoder: an encoder-decoder of recurrent layers."""

from numbers import Real

from sklearn.utils._param_validation import Interval

from ..engine import BaseGradientDetector, SequenceInput, keras
from ..engine._recurrent import (
    SequenceAutoEncoderNetwork,
    check_units,
    recurrent_stack,
)

layers = keras.layers


class LSTMAutoEncoderNetwork(SequenceAutoEncoderNetwork):
    """Encoder-decoder LSTM that reconstructs a sequence from a code.

    The encoder's stacked LSTM layers (widths ``hidden_units``) read the
    sequence; the final output of the last one is the code. The decoder
    repeats the code at every step, runs it through LSTM layers of the
    mirrored widths, and a linear layer maps each step back to the
    channels.
    """

    def __init__(self, n_steps, n_channels, hidden_units, *, bidirectional, dropout):
        super().__init__()
        self.encoder = recurrent_stack(
            hidden_units,
            bidirectional=bidirectional,
            dropout=dropout,
            return_sequences=False,
            name="encoder",
        )
        self.repeat = layers.RepeatVector(n_steps)
        self.decoder = recurrent_stack(
            hidden_units[::-1],
            bidirectional=bidirectional,
            dropout=dropout,
            return_sequences=True,
            name="decoder",
        )
        self.reconstruction = layers.Dense(n_channels)

    def build(self, input_shape):
        self.build_chain(
            [self.encoder, self.repeat, self.decoder, self.reconstruction], input_shape
        )
        super().build(input_shape)

    def call(self, x, training=False):
        code = self.encoder(x, training=training)
        steps = self.decoder(self.repeat(code), training=training)
        return self.reconstruction(steps)


class LSTMAutoEncoder(SequenceInput, BaseGradientDetector):
    """LSTM autoencoder anomaly detector for sequences.

    An encoder of stacked LSTM layers reads each sequence into a code (the
    final output of its last layer); a decoder of LSTM layers of the
    mirrored widths unrolls the code back into a sequence. Trained on
    normal sequences, it reconstructs them well and anomalous ones badly:
    the score is minus the mean squared reconstruction error over the
    steps and channels (of the scaled sequences), and :meth:`anomaly_map`
    says which steps it got wrong.

    Parameters
    ----------
    hidden_units : sequence of int, default=(32,)
        Widths of the encoder's LSTM layers, the last one being the code;
        the decoder mirrors them. ``(64, 16)`` gives
        ``LSTM(64) -> LSTM(16) -> repeat -> LSTM(16) -> LSTM(64) -> Dense``.
    bidirectional : bool, default=False
        Wrap every LSTM layer in ``Bidirectional``: each layer then reads
        the sequence both ways and its output (the code included) is twice
        as wide. About twice as slow.
    dropout : float in [0, 1), default=0.0
        Dropout on the inputs of each LSTM layer, during training only.

    Attributes
    ----------
    model_ : keras.Model
        The trained network (an ``LSTMAutoEncoderNetwork``).

    See Also
    --------
    CNNLSTMAutoEncoder : Convolutions before the LSTM; faster on long
        sequences.
    RNNForecaster : Scores sequences by how badly it forecasts them.
    skanomaly.features.SlidingWindows : Cut one long series into sequences.

    Notes
    -----
    Input may be ``(n_samples, n_steps, n_channels)``, ``(n_samples,
    n_steps)`` (univariate) or flattened rows with ``sequence_shape``; every
    sequence must have the length seen in ``fit``.

    ``anomaly_map(X)`` returns the squared reconstruction error of each
    step, averaged over the channels, on the scaled values; its mean over
    the steps is ``-score_samples(X)``. ``reconstruct(X)`` returns the
    reconstructions in the units and layout of ``X``.

    LSTMs run one step after the other, so training time grows with the
    length of the sequences: 300 sequences of 140 steps take about 40 s of
    CPU time to train at the defaults. :class:`CNNLSTMAutoEncoder` shortens
    the sequences with convolutions before its LSTM layers, and trains
    about three times as fast.

    Examples
    --------
    >>> import numpy as np
    >>> from skanomaly import LSTMAutoEncoder
    >>> t = np.linspace(0, 2 * np.pi, 24)
    >>> rng = np.random.RandomState(0)
    >>> X = np.sin(t + rng.uniform(0, 0.3, size=(40, 1)))  # 40 sequences
    >>> detector = LSTMAutoEncoder(hidden_units=(8,), epochs=10, batch_size=64,
    ...                            random_state=0).fit(X)
    >>> spiky = X[:2].copy()
    >>> spiky[1, 12] += 3.0
    >>> scores = detector.score_samples(spiky)
    >>> bool(scores[0] > scores[1])
    True
    >>> detector.anomaly_map(spiky).shape
    (2, 24)
    """

    _parameter_defaults = {"epochs": 40, "batch_size": 32, "learning_rate": 1e-2}
    _reconstructs = True
    _parameter_constraints: dict = {
        "hidden_units": ["array-like"],
        "bidirectional": ["boolean"],
        "dropout": [Interval(Real, 0.0, 1.0, closed="left")],
    }

    def __init__(
        self,
        hidden_units=(32,),
        *,
        bidirectional=False,
        dropout=0.0,
        **params,
    ):
        self.hidden_units = hidden_units
        self.bidirectional = bidirectional
        self.dropout = dropout
        super().__init__(**params)

    def _units(self):
        return check_units(self.hidden_units, "hidden_units")

    def _values_per_step(self):
        return max(self._units()) * (2 if self.bidirectional else 1)

    def _build_network(self, sample_shape):
        n_steps, n_channels = sample_shape
        return LSTMAutoEncoderNetwork(
            n_steps,
            n_channels,
            self._units(),
            bidirectional=self.bidirectional,
            dropout=self.dropout,
        )
