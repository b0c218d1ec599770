"""DevNet: deviation networks, anomaly scores learned from a few labelled
anomalies."""

from numbers import Integral, Real

from sklearn.utils._param_validation import Interval

from ..engine import BaseGradientDetector, DetectorNetwork, keras
from ..utils._validation import check_layer_sizes

layers = keras.layers
ops = keras.ops


class DevNetNetwork(DetectorNetwork):
    """A scoring network ``phi(x)``, one anomaly score a sample, and the
    deviation loss that places it against a Gaussian prior.

    ``hidden_units`` are the widths of its hidden layers (``activation``,
    L2 ``weight_decay`` on their kernels); a linear layer of one unit gives
    the score. ``reference`` holds ``n_reference`` draws from N(0, 1), the
    reference scores of the prior: a non-trainable weight, drawn with the
    network's initial weights (so from the fit's seed) and kept with its
    state.
    """

    def __init__(self, hidden_units, *, activation, weight_decay, margin, n_reference):
        super().__init__()
        decay = keras.regularizers.L2(weight_decay) if weight_decay > 0 else None
        self.scorer = keras.Sequential(
            [
                layers.Dense(width, activation=activation, kernel_regularizer=decay)
                for width in hidden_units
            ]
            + [layers.Dense(1)],
            name="scorer",
        )
        self.margin = margin
        self.reference = self.add_weight(
            shape=(n_reference,),
            initializer=keras.initializers.RandomNormal(0.0, 1.0),
            trainable=False,
            name="reference",
        )

    def call(self, x, training=False):
        return ops.squeeze(self.scorer(x, training=training), axis=-1)

    def deviations(self, scores):
        """The z-scores ``(phi(x) - mu_R) / sigma_R`` of anomaly scores
        against the reference scores."""
        return (scores - ops.mean(self.reference)) / ops.std(self.reference)

    def detector_loss(self, x, outputs, training, labels=None):
        # Labelled anomalies (1) are pushed at least `margin` standard
        # deviations above the reference mean; every other sample (normal or
        # unlabelled) is pulled towards it.
        deviation = self.deviations(outputs)
        anomaly = ops.equal(labels, 1)
        return ops.where(anomaly, ops.relu(self.margin - deviation), ops.abs(deviation))

    def score(self, x):
        return -self(x)


class DevNet(BaseGradientDetector):
    """Deviation network (DevNet): anomaly scores learned end to end from a
    few labelled anomalies and many unlabelled samples.

    A network ``phi`` maps each sample to one anomaly score. Its loss
    compares the score with a Gaussian prior over the scores of normal
    samples: with ``mu_R`` and ``sigma_R`` the mean and standard deviation
    of ``n_reference`` reference scores drawn from N(0, 1), a sample's
    deviation is ``dev(x) = (phi(x) - mu_R) / sigma_R``, and its loss

    ``(1 - y) |dev(x)| + y max(0, margin - dev(x))``

    pulls the scores of unlabelled samples (``y = 0``) towards the prior's
    mean and pushes those of labelled anomalies (``y = 1``) at least
    ``margin`` standard deviations above it (Pang, Shen and van den Hengel,
    2019). Training batches are half labelled anomalies, half the other
    samples, so that the few anomalies weigh in every gradient step. The
    score is ``-phi(x)``: higher for more normal samples.

    ``fit(X, y)`` needs ``y``, one label a sample: ``1`` for a labelled
    anomaly, ``0`` for a normal sample and ``-1`` for an unlabelled one, with
    at least one anomaly and one sample of the others. DevNet does not tell
    normal from unlabelled samples: both are the paper's unlabelled data
    (``y = 0`` in the loss above), which may hold anomalies nobody labelled.

    Parameters
    ----------
    hidden_units : sequence of int, default=(20,)
        Widths of the scoring network's hidden layers; a linear layer of one
        unit follows. ``(20,)`` is the paper's default network; ``(1000,
        250, 20)`` its deeper one.
    activation : str, default="relu"
        Activation of the hidden layers (any Keras name); ReLU, as in the
        paper.
    weight_decay : float >= 0, default=0.01
        L2 regularisation of the hidden layers' kernels
        (``keras.regularizers.L2(weight_decay)`` adds ``weight_decay *
        sum(W ** 2)`` to the loss), the paper's 0.01. ``0`` disables it.
    margin : float > 0, default=5.0
        The confidence margin ``a``: how many standard deviations of the
        prior a labelled anomaly's score is pushed above its mean. 5, the
        paper's, places them far in its upper tail.
    n_reference : int >= 2, default=5000
        Number of reference scores ``l`` drawn from N(0, 1) for ``mu_R``
        and ``sigma_R`` (the paper's 5000); drawn once per fit, from
        ``random_state``.
    optimizer : {"adam", "adamw", "rmsprop", "sgd"} or keras Optimizer, \
default="rmsprop"
        The optimizer; RMSprop, as in the paper. An instance is copied
        through its config at each fit (its own learning rate then applies
        and ``learning_rate`` is ignored), so fitting never changes the
        object given here.
    learning_rate : float, default=0.001
        Step size of the optimizer (the paper's RMSprop's, 0.001).
    epochs : int, default=50
        Number of epochs, each of ``ceil(n_samples / batch_size)`` balanced
        batches (the paper's 50 epochs, of 20 batches of 512). DevNet trains
        them all: it does not stop early.
    batch_size : int, default=64
        Samples per gradient step (at most the training set size), half of
        them labelled anomalies drawn again and again, half the other
        samples. An epoch is ``ceil(n_samples / batch_size)`` steps, as for
        every detector; with half of each batch anomalies, it shows each of
        the other samples about half the time.

    Attributes
    ----------
    reference_mean_ : float
        ``mu_R``, the mean of the reference scores.
    reference_std_ : float
        ``sigma_R``, their standard deviation. ``(-score_samples(X) -
        reference_mean_) / reference_std_`` is each sample's deviation, the
        z-score the loss was trained on.

    See Also
    --------
    DeepSVDD : An unsupervised detector of rows.
    sklearn.ensemble.IsolationForest : A classical, unsupervised baseline.

    Notes
    -----
    What differs from the paper and its authors' code: an epoch is the
    engine's, ``ceil(n_samples / batch_size)`` batches of 64 samples (by
    default), rather than the paper's 20 batches of 512, which suit its
    data sets of tens of thousands of samples more than the few thousands
    this library's tests and examples train on. Within a batch the two
    halves alternate exactly (the authors' code alternates too); each half
    cycles through its samples in a fresh random order at every pass,
    rather than drawing each sample independently with replacement, so
    that the few anomalies recur evenly. The authors' code clips the
    RMSprop gradients' norm at 1: pass
    ``optimizer=keras.optimizers.RMSprop(learning_rate=1e-3,
    clipnorm=1.0)`` for that. Inputs are standardised
    (``scaling="standard"``); the paper's data sets came normalised. The
    reference scores are drawn once per fit (as in the authors' code), not
    at every step.

    DevNet trains for ``epochs`` epochs, keeps the last epoch's weights
    (the authors' code keeps those of the epoch of lowest training loss)
    and does not stop early: it takes no ``validation_fraction`` or
    ``patience``, and every labelled anomaly is trained on. A held-out
    share of the data holds too few labelled anomalies, or none, to tell
    how well they are told apart, and pulling the other samples' scores
    together is what lowers its loss: on the data of this detector's tests
    (8 labelled anomalies among 518 samples), stopping early on it
    (patience 10) kept the weights of the first to the seventh epoch, for
    a test ROC AUC of 0.73 to 0.98 over three seeds, against 0.99 or more
    after 50 epochs.

    The authors' code trains, by default, with 30 labelled anomalies and
    unlabelled data contaminated by 2% of anomalies; the paper reports
    ROC AUC and average precision on nine real data sets, which are not
    reproduced here.

    References
    ----------
    .. [1] G. Pang, C. Shen and A. van den Hengel, "Deep Anomaly Detection
       with Deviation Networks", Proceedings of the 25th ACM SIGKDD
       International Conference on Knowledge Discovery & Data Mining (KDD),
       2019, pp. 353-362.

    Examples
    --------
    >>> import numpy as np
    >>> from skanomaly import DevNet
    >>> rng = np.random.RandomState(0)
    >>> X = rng.normal(size=(200, 4))
    >>> X[:10, 0] += 4.0               # ten anomalies, high on feature 0
    >>> y = np.full(200, -1)           # unlabelled...
    >>> y[:5] = 1                      # ...but for five labelled anomalies
    >>> detector = DevNet(epochs=20, random_state=0).fit(X, y)
    >>> scores = detector.score_samples([[0.0, 0, 0, 0], [4.0, 0, 0, 0]])
    >>> bool(scores[0] > scores[1])
    True
    """

    _parameter_defaults = {"optimizer": "rmsprop", "learning_rate": 1e-3, "epochs": 50}
    _parameter_constraints: dict = {
        "hidden_units": ["array-like"],
        "activation": [str],
        "weight_decay": [Interval(Real, 0.0, None, closed="left")],
        "margin": [Interval(Real, 0.0, None, closed="neither")],
        "n_reference": [Interval(Integral, 2, None, closed="left")],
    }
    _fit_labels = {1, 0, -1}
    _needs_anomaly_labels = True
    _balanced_batches = True
    # A held-out share holds too few labelled anomalies to stop on (Notes).
    _early_stopping_monitor = None

    def __init__(
        self,
        hidden_units=(20,),
        *,
        activation="relu",
        weight_decay=0.01,
        margin=5.0,
        n_reference=5000,
        **params,
    ):
        self.hidden_units = hidden_units
        self.activation = activation
        self.weight_decay = weight_decay
        self.margin = margin
        self.n_reference = n_reference
        super().__init__(**params)

    def _build_network(self, sample_shape):
        return DevNetNetwork(
            check_layer_sizes(self.hidden_units, "hidden_units"),
            activation=self.activation,
            weight_decay=float(self.weight_decay),
            margin=float(self.margin),
            n_reference=int(self.n_reference),
        )

    def _fit(self, X, y):
        result = super()._fit(X, y)
        reference = ops.convert_to_numpy(self.model_.reference).astype("float64")
        self.reference_mean_ = float(reference.mean())
        self.reference_std_ = float(reference.std())
        return result
