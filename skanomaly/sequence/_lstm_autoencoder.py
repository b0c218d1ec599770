"""LSTM autoencoder: an encoder-decoder of recurrent layers."""

from numbers import Integral, Real

from sklearn.utils._param_validation import Interval

from .._keras import keras
from .._keras._sequences import (
    BaseSequenceAutoEncoder,
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


class LSTMAutoEncoder(BaseSequenceAutoEncoder):
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
    sequence_shape : int, tuple of int or None, default=None
        Shape ``(n_steps, n_channels)`` of one sequence when ``X`` is given
        as 2-D rows of ``n_steps * n_channels`` values (step-major: the
        channels of the first step, then those of the second...). ``None``
        reads each row as a univariate sequence. Not needed for 3-D input.
    epochs : int, default=40
        Largest number of passes over the training data.
    batch_size : int, default=32
        Sequences per gradient step.
    learning_rate : float, default=1e-2
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
        The trained network (an ``LSTMAutoEncoderNetwork``).
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
    >>> from skanomaly.sequence import LSTMAutoEncoder
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

    _parameter_constraints: dict = {
        **BaseSequenceAutoEncoder._parameter_constraints,
        "hidden_units": ["array-like"],
        "bidirectional": ["boolean"],
        "dropout": [Interval(Real, 0.0, 1.0, closed="left")],
        "sequence_shape": [None, "array-like", Interval(Integral, 1, None, closed="left")],
    }

    def __init__(
        self,
        hidden_units=(32,),
        *,
        bidirectional=False,
        dropout=0.0,
        sequence_shape=None,
        epochs=40,
        batch_size=32,
        learning_rate=1e-2,
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
        self.bidirectional = bidirectional
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
