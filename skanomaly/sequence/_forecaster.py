"""Forecasting detector: a recurrent network predicts the next steps."""

from numbers import Integral, Real

import numpy as np
from sklearn.utils import gen_batches
from sklearn.utils._param_validation import Interval, StrOptions

from .._keras import keras
from .._keras._sequences import (
    RECURRENT_CELLS,
    BaseSequenceDetector,
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


class RNNForecaster(BaseSequenceDetector):
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
    sequence_shape : int, tuple of int or None, default=None
        Shape ``(n_steps, n_channels)`` of one sequence when ``X`` is given
        as 2-D rows of ``n_steps * n_channels`` values (step-major).
        ``None`` reads each row as a univariate sequence. Not needed for
        3-D input.
    epochs : int, default=60
        Largest number of passes over the training data.
    batch_size : int, default=32
        Sequences per gradient step.
    learning_rate : float, default=5e-3
        Step size of the optimizer.
    optimizer : {"adam", "adamw", "rmsprop", "sgd"} or keras Optimizer, \
            default="adam"
        The optimizer; an instance is copied at each fit and its own
        learning rate applies.
    validation_fraction : float in [0, 1), default=0.1
        Share of the training sequences held out for early stopping; the
        weights of the best epoch are kept. ``0`` trains for ``epochs``
        epochs.
    patience : int, default=10
        Epochs without improvement of the validation loss before stopping.
    trim_fraction : float in [0, 0.5), default=0.0
        Share of each training batch's worst-fitted sequences left out of
        its loss (a trimmed mean), so that anomalies hidden in unlabelled
        training data are not learned. The default trains on the plain
        mean, for training sets of normal sequences only.
    scaling : {"standard", "robust", "minmax"} or None, default="standard"
        Scaling of each channel, fitted over all steps of the training
        sequences and applied inside the detector.
    callbacks : list of keras.callbacks.Callback, default=None
        Extra Keras callbacks for training.
    verbose : int, default=0
        0 silent, 1 Keras' progress bar, 2 one line per epoch.
    random_state : int, RandomState instance or None, default=None
        Seeds initialisation, shuffling and dropout; an int gives the same
        scores run after run.
    warm_start : bool, default=False
        Continue training the fitted network on the next ``fit``.
    device : {"auto", "cpu", "gpu"} or "gpu:N", default="auto"
        Where to train and score: ``"auto"`` lets TensorFlow choose (the
        first GPU if there is one, else the CPU); ``"gpu:N"`` is the N-th
        visible GPU. See the documentation's "Scaling out" page.
    distribute : tf.distribute.Strategy, default=None
        Train one network on several devices, such as
        ``tf.distribute.MirroredStrategy()``; ``device`` must then be
        ``"auto"``. Pickling drops it (with a warning).
    contamination : "auto" or float in (0, 0.5], default="auto"
        Share of outliers expected in the training data: ``offset_`` is that
        quantile of the training scores. ``"auto"`` puts it at Tukey's lower
        fence of the training scores, ``Q1 - 1.5 * IQR``.

    Attributes
    ----------
    model_ : keras.Model
        The trained network (an ``RNNForecasterNetwork``); its
        ``error_scale`` weight holds the normalisation.
    history_ : dict of list
        Training (and validation) loss per epoch, across warm starts.
    n_epochs_ : int
        Epochs trained in all.
    offset_ : float
        ``decision_function = score_samples - offset_``.
    sequence_shape_ : tuple of int
        ``(n_steps, n_channels)`` of the training sequences.
    scaling_center_, scaling_scale_ : ndarray of shape (n_channels,)
        The fitted scaling of each channel.
    n_features_in_ : int
        Number of values of one sequence, ``n_steps * n_channels`` (the row
        width for 2-D input).
    feature_names_in_ : ndarray of shape (`n_features_in_`,)
        Names of the columns seen during ``fit``, for DataFrame input.

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
    >>> from skanomaly.sequence import RNNForecaster
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

    _parameter_constraints: dict = {
        **BaseSequenceDetector._parameter_constraints,
        "hidden_units": ["array-like"],
        "cell": [StrOptions(set(RECURRENT_CELLS))],
        "horizon": [Interval(Integral, 1, None, closed="left")],
        "normalize_errors": ["boolean"],
        "dropout": [Interval(Real, 0.0, 1.0, closed="left")],
        "sequence_shape": [None, "array-like", Interval(Integral, 1, None, closed="left")],
    }

    def __init__(
        self,
        hidden_units=(32,),
        *,
        cell="lstm",
        horizon=10,
        normalize_errors=True,
        dropout=0.0,
        sequence_shape=None,
        epochs=60,
        batch_size=32,
        learning_rate=5e-3,
        optimizer="adam",
        validation_fraction=0.1,
        patience=10,
        trim_fraction=0.0,
        scaling="standard",
        callbacks=None,
        verbose=0,
        random_state=None,
        warm_start=False,
        device="auto",
        distribute=None,
        contamination="auto",
    ):
        self.hidden_units = hidden_units
        self.cell = cell
        self.horizon = horizon
        self.normalize_errors = normalize_errors
        self.dropout = dropout
        self.sequence_shape = sequence_shape
        self.epochs = epochs
        self.batch_size = batch_size
        self.learning_rate = learning_rate
        self.optimizer = optimizer
        self.validation_fraction = validation_fraction
        self.patience = patience
        self.trim_fraction = trim_fraction
        self.scaling = scaling
        self.callbacks = callbacks
        self.verbose = verbose
        self.random_state = random_state
        self.warm_start = warm_start
        self.device = device
        self.distribute = distribute
        self.contamination = contamination

    def _min_steps(self):
        return self.horizon + 1

    def _min_steps_reason(self):
        return f" (one more than horizon={self.horizon})"

    def _values_per_step(self):
        widest = max(check_units(self.hidden_units, "hidden_units"))
        return max(widest, 2 * self.horizon * self._sample_shape[-1])

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

    def _training_callbacks(self, network, X):
        return [_ErrorScaleUpdate(X, self.normalize_errors)]
