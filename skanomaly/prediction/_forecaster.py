"""Forecasting detector: a recurrent network predicts the next steps."""

from numbers import Integral, Real

import numpy as np
from sklearn.utils import gen_batches
from sklearn.utils._param_validation import Interval, StrOptions

from ..engine import BaseGradientDetector, SequenceInput, keras
from ..engine._recurrent import (
    RECURRENT_CELLS,
    SequenceNetwork,
    check_units,
    recurrent_stack,
)

layers = keras.layers
ops = keras.ops

#: Sequences per forward pass when the training error spread is measured.
FORWARD_BATCH_ROWS = 1024
#: Smallest mean squared training error used to normalise the errors, so
#: that a channel forecast perfectly in training does not divide by zero.
MIN_ERROR_SCALE = 1e-8


class RNNForecasterNetwork(SequenceNetwork):
    """Causal recurrent network that forecasts the next ``horizon`` steps.

    Recurrent layers read the sequence step by step; after each step ``t``
    a linear layer forecasts steps ``t + 1`` to ``t + horizon`` from what
    was read so far. Forecasts are made at every step that has
    ``horizon`` steps after it, so a sequence of ``n_steps`` steps gets
    ``n_steps - horizon`` forecasts of ``horizon`` steps each.

    ``error_scale``, a non-trainable weight of shape ``(horizon,
    n_channels)``, divides the squared errors when scoring: the detector
    sets it to the mean squared training error of each forecast step and
    channel (or leaves it at one).
    """

    def __init__(self, n_steps, n_channels, hidden_units, *, cell, horizon, dropout):
        super().__init__()
        self.n_steps = n_steps
        self.n_channels = n_channels
        self.horizon = horizon
        self.rnn = recurrent_stack(
            hidden_units, cell=cell, dropout=dropout, return_sequences=True, name="rnn"
        )
        self.forecast = layers.Dense(horizon * n_channels)
        self.error_scale = self.add_weight(
            shape=(horizon, n_channels),
            initializer="ones",
            trainable=False,
            name="error_scale",
        )
        # How many forecasts cover each step: the first is never forecast,
        # steps 1 .. horizon - 1 by fewer than `horizon` forecasts.
        n_forecasts = n_steps - horizon
        counts = np.zeros(n_steps)
        for k in range(horizon):
            counts[1 + k : 1 + k + n_forecasts] += 1
        self._step_counts = np.maximum(counts, 1.0)

    def build(self, input_shape):
        batch, _, n_channels = input_shape
        n_forecasts = self.n_steps - self.horizon
        self.build_chain([self.rnn, self.forecast], (batch, n_forecasts, n_channels))
        super().build(input_shape)

    def call(self, x, training=False):
        n_forecasts = self.n_steps - self.horizon
        states = self.rnn(x[:, :n_forecasts], training=training)
        forecasts = self.forecast(states)
        return ops.reshape(
            forecasts, (-1, n_forecasts, self.horizon, self.n_channels)
        )

    def targets(self, x):
        """What each forecast should be: ``(batch, n_forecasts, horizon,
        n_channels)``."""
        n_forecasts = self.n_steps - self.horizon
        return ops.stack(
            [x[:, 1 + k : 1 + k + n_forecasts] for k in range(self.horizon)], axis=2
        )

    def detector_loss(self, x, forecasts, training):
        return ops.mean(ops.square(forecasts - self.targets(x)), axis=(1, 2, 3))

    def squared_errors(self, x):
        return ops.square(self(x, training=False) - self.targets(x))

    def normalized_errors(self, x):
        return self.squared_errors(x) / self.error_scale

    def score(self, x):
        return -ops.mean(self.normalized_errors(x), axis=(1, 2, 3))

    def step_errors(self, x):
        """Mean normalised error of the forecasts of each step."""
        errors = ops.mean(self.normalized_errors(x), axis=-1)  # (b, forecasts, horizon)
        total = 0.0
        for k in range(self.horizon):
            # The forecast made after step t for t + 1 + k lands on that step.
            total = total + ops.pad(
                errors[:, :, k], [[0, 0], [1 + k, self.horizon - 1 - k]]
            )
        return total / ops.convert_to_tensor(self._step_counts, dtype=errors.dtype)


class _ErrorScaleUpdate(keras.callbacks.Callback):
    """At the end of training, set ``error_scale`` to the mean squared
    training error of each forecast step and channel (or to one).

    Early stopping restores the best weights in its own ``on_train_end``,
    which the engine runs before this callback's.
    """

    def __init__(self, X, normalize):
        super().__init__()
        self.X = X
        self.normalize = normalize

    def on_train_end(self, logs=None):
        network = self.model
        if not self.normalize:
            network.error_scale.assign(np.ones(network.error_scale.shape))
            return
        total = np.zeros(network.error_scale.shape)
        count = 0
        for rows in gen_batches(self.X.shape[0], FORWARD_BATCH_ROWS):
            x = ops.convert_to_tensor(self.X[rows], dtype=network.compute_dtype)
            errors = ops.convert_to_numpy(network.squared_errors(x)).astype(np.float64)
            total += errors.sum(axis=(0, 1))
            count += errors.shape[0] * errors.shape[1]
        network.error_scale.assign(np.maximum(total / count, MIN_ERROR_SCALE))


class RNNForecaster(SequenceInput, BaseGradientDetector):
    """Forecasting anomaly detector for sequences.

    A recurrent network (LSTM or GRU) reads each sequence step by step and,
    after every step, forecasts the next ``horizon`` steps from the ones it
    has read. Trained on normal sequences, it forecasts them well; where a
    sequence does something unexpected, its forecasts miss. The score is
    minus the mean squared forecast error over all the forecasts of a
    sequence, each squared error first divided by the mean squared error
    seen in training for its forecast step and channel
    (``normalize_errors=True``), so that a channel that is hard to forecast
    even when normal does not drown the others.

    Parameters
    ----------
    hidden_units : sequence of int, default=(32,)
        Widths of the stacked recurrent layers.
    cell : {"lstm", "gru"}, default="lstm"
        The recurrent layer.
    horizon : int, default=10
        Number of steps forecast after each step. Sequences need at least
        ``horizon + 1`` steps. Forecasting several steps ahead makes the
        detector look at the shape of what follows, not only at the next
        value, which a smooth signal makes easy to guess even when it is
        abnormal (on ECG5000, ROC AUC 0.88 with ``horizon=1``, 0.99 with
        10).
    normalize_errors : bool, default=True
        Divide each squared error by the mean squared training error of its
        forecast step (1 to ``horizon`` ahead) and channel. ``False``
        scores with the raw squared errors of the scaled values.
    dropout : float in [0, 1), default=0.0
        Dropout on the inputs of each recurrent layer, during training only.

    Attributes
    ----------
    model_ : keras.Model
        The trained network (an ``RNNForecasterNetwork``); its
        ``error_scale`` weight holds the normalisation.

    See Also
    --------
    LSTMAutoEncoder : Scores sequences by how badly it reconstructs them.
    CNNLSTMAutoEncoder : Convolutions and LSTMs, reconstructing.
    skanomaly.features.SlidingWindows : Cut one long series into sequences.

    Notes
    -----
    The network is causal: a forecast after step ``t`` sees steps ``0`` to
    ``t`` of its sequence only. The first forecasts have little context,
    and normal sequences get larger errors there too; the normalisation is
    the same at every position.

    ``anomaly_map(X)`` gives each step the mean normalised squared error of
    the forecasts made for it (up to ``horizon`` of them, made 1 to
    ``horizon`` steps ahead), averaged over the channels. The first step is
    never forecast and gets 0.

    Examples
    --------
    >>> import numpy as np
    >>> from skanomaly import RNNForecaster
    >>> t = np.linspace(0, 4 * np.pi, 30)
    >>> rng = np.random.RandomState(0)
    >>> X = np.sin(t + rng.uniform(0, 6.3, size=(40, 1)))  # 40 sequences
    >>> detector = RNNForecaster(hidden_units=(8,), epochs=10, batch_size=64,
    ...                          random_state=0).fit(X)
    >>> spiky = X[:2].copy()
    >>> spiky[1, 15] += 2.0
    >>> scores = detector.score_samples(spiky)
    >>> bool(scores[0] > scores[1])
    True
    >>> int(detector.anomaly_map(spiky)[1].argmax())  # where the forecasts missed
    15
    """

    _parameter_defaults = {"epochs": 60, "batch_size": 32, "learning_rate": 5e-3}
    _parameter_constraints: dict = {
        "hidden_units": ["array-like"],
        "cell": [StrOptions(set(RECURRENT_CELLS))],
        "horizon": [Interval(Integral, 1, None, closed="left")],
        "normalize_errors": ["boolean"],
        "dropout": [Interval(Real, 0.0, 1.0, closed="left")],
    }

    def __init__(
        self,
        hidden_units=(32,),
        *,
        cell="lstm",
        horizon=10,
        normalize_errors=True,
        dropout=0.0,
        **params,
    ):
        self.hidden_units = hidden_units
        self.cell = cell
        self.horizon = horizon
        self.normalize_errors = normalize_errors
        self.dropout = dropout
        super().__init__(**params)

    def _min_steps(self):
        return self.horizon + 1

    def _min_steps_reason(self):
        return f" (one more than horizon={self.horizon})"

    def _values_per_step(self):
        widest = max(check_units(self.hidden_units, "hidden_units"))
        return max(widest, 2 * self.horizon * self._sample_shape_[-1])

    def _build_network(self, sample_shape):
        n_steps, n_channels = sample_shape
        return RNNForecasterNetwork(
            n_steps,
            n_channels,
            check_units(self.hidden_units, "hidden_units"),
            cell=self.cell,
            horizon=self.horizon,
            dropout=self.dropout,
        )

    def _training_callbacks(self, network, X, epochs_done):
        return [_ErrorScaleUpdate(X, self.normalize_errors)]
