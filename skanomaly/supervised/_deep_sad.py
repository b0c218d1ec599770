"""Deep SAD: Deep SVDD taught by a few labelled samples."""

from numbers import Real

import numpy as np
from sklearn.utils._param_validation import Interval

from ..engine import BaseGradientDetector, DetectorNetwork
from ..engine._hypersphere import (
    HypersphereObjective,
    bias_free_dense,
    hypersphere_units,
    push_from_zero,
)


class DeepSADNetwork(HypersphereObjective, DetectorNetwork):
    """A bias-free dense network whose outputs are pulled towards a fixed
    centre (unlabelled and labelled normal samples) or pushed away from it
    (labelled anomalies). The centre is a non-trainable weight the detector
    sets before training."""

    def __init__(self, hidden_units, *, activation, weight_decay, eta):
        super().__init__()
        self.eta = eta
        self.embedding = bias_free_dense(
            hidden_units, activation=activation, weight_decay=weight_decay, name="embedding"
        )
        self.center = self.add_weight(
            shape=(hidden_units[-1],), initializer="zeros", trainable=False, name="center"
        )

    def call(self, x, training=False):
        return self.embedding(x, training=training)


def _outputs(network, x):
    return network(x)


class DeepSAD(BaseGradientDetector):
    """Deep Semi-supervised Anomaly Detection (Deep SAD).

    Deep SVDD (see :class:`~skanomaly.DeepSVDD`) that also learns from a
    few labelled samples (Ruff et al., 2020). A bias-free network maps the
    training data close to a centre ``c`` fixed before training (the mean
    output of the initial network over the samples not labelled as
    anomalies, its near-zero coordinates pushed to ``±eps``). Each training
    sample's loss depends on its label in ``y``:

    * ``-1`` (unlabelled): ``||phi(x) - c||^2``, pulled in, as in Deep SVDD;
    * ``0`` (a labelled normal sample): ``eta * ||phi(x) - c||^2``;
    * ``1`` (a labelled anomaly): ``eta / ||phi(x) - c||^2``, pushed out.

    The score is ``-||phi(x) - c||^2``. Without labels (``y=None``, or
    every label ``-1``) the fit is Deep SVDD's one-class objective.

    Parameters
    ----------
    hidden_units : "auto" or sequence of int, default="auto"
        Widths of the network's layers, the last one being the space of the
        centre. Every layer but the last is followed by ``activation``; the
        last is linear. No layer has a bias (a network with biases can map
        every input onto the centre). ``"auto"`` uses one hidden layer
        about as wide as the input (16 to 128 units) and a 32-d
        representation.
    activation : str, default="leaky_relu"
        Activation of the hidden layers (any Keras name).
    eta : float > 0, default=3.0
        Weight of the labelled samples' losses against the unlabelled
        ones' (the paper's ``eta``, 1 in its experiments; above 1 stresses
        the labels). See Notes for how the default was chosen.
    weight_decay : float >= 0, default=1e-6
        L2 penalty of the kernels (``keras.regularizers.L2(weight_decay)``).
    eps : float >= 0, default=0.1
        Guard on the centre: a coordinate of the initial mean output with
        ``|c_i| < eps`` is set to ``eps`` with its sign (``+eps`` for zero).
    learning_rate : float, default=1e-3
        Step size of the optimizer (the paper's 1e-4 follows an
        autoencoder's pretraining, which this class does not do; see
        Notes).

    Attributes
    ----------
    center_ : ndarray of shape (n_representation,)
        The centre ``c`` in the network's output space.

    See Also
    --------
    DeepSVDD : The same network without labels, with a soft-boundary
        objective too.
    DevNet : A scoring network trained with a few labelled anomalies.
    TransferHead : Deep SAD's head on the features of a pretrained network.

    Notes
    -----
    Labels: ``1`` anomaly, ``0`` normal, ``-1`` unlabelled; all three are
    used, none is required. Training data may hold unlabelled anomalies:
    they are pulled in with the normal samples, as in the paper's
    experiments, where the unlabelled data are contaminated.

    A normal sample wrongly labelled ``1`` is pushed away from the centre,
    and with it the normal samples that look like it: a few such labels
    cost little (measured in the tests: see
    ``tests/supervised/test_deep_sad.py``), many make the centre's
    neighbourhood meaningless. ``trim_fraction`` guards against unlabelled
    anomalies, never against wrong labels (a labelled anomaly's loss is
    never trimmed).

    What differs from the paper: the network is not pretrained as the
    encoder of an autoencoder before the Deep SAD fit (the paper's
    initialisation); it starts from Keras' random initialisation, as
    :class:`~skanomaly.DeepSVDD` does here.

    Defaults: ``learning_rate=1e-3`` and ``eta=3`` were chosen on the
    selection part of the semi-supervised ADBench benchmark
    (``python benchmarks/semi_supervised_select.py``: 8 of the 33 data
    sets, seed 0, 5% of the training anomalies labelled), where their mean
    test ROC AUC was 0.764, against 0.751 with the paper's ``1e-4`` and
    ``eta=1`` and 0.746 with ``1e-3`` and ``eta=1`` (a small margin; the
    best average rank too). They are reported on all 33 data sets by
    ``benchmarks/semi_supervised.py``.

    References
    ----------
    .. [1] L. Ruff, R. A. Vandermeulen, N. Görnitz, A. Binder, E. Müller,
       K.-R. Müller and M. Kloft, "Deep Semi-Supervised Anomaly
       Detection", ICLR, 2020.

    Examples
    --------
    >>> import numpy as np
    >>> from skanomaly import DeepSAD
    >>> rng = np.random.RandomState(0)
    >>> X = rng.normal(size=(200, 5))
    >>> X[:5] += 4.0                                   # five known anomalies
    >>> y = np.r_[np.ones(5), -np.ones(195)].astype(int)
    >>> detector = DeepSAD(epochs=10, random_state=0).fit(X, y)
    >>> detector.predict([[0.0] * 5, [4.0] * 5])
    array([ 1, -1])
    """

    _parameter_defaults = {"learning_rate": 1e-3}
    _parameter_constraints: dict = {
        "hidden_units": ["array-like", str],
        "activation": [str],
        "eta": [Interval(Real, 0.0, None, closed="neither")],
        "weight_decay": [Interval(Real, 0.0, None, closed="left")],
        "eps": [Interval(Real, 0.0, None, closed="left")],
    }
    _fit_labels = {1, 0, -1}
    _labels_optional = True

    def __init__(
        self,
        hidden_units="auto",
        *,
        activation="leaky_relu",
        eta=3.0,
        weight_decay=1e-6,
        eps=0.1,
        **params,
    ):
        self.hidden_units = hidden_units
        self.activation = activation
        self.eta = eta
        self.weight_decay = weight_decay
        self.eps = eps
        super().__init__(**params)

    def _build_network(self, sample_shape):
        (n_features,) = sample_shape
        return DeepSADNetwork(
            hypersphere_units(self.hidden_units, n_features),
            activation=self.activation,
            weight_decay=float(self.weight_decay),
            eta=float(self.eta),
        )

    def _init_network(self, network, X, y):
        # The centre: the initial network's mean output over the samples
        # not labelled as anomalies.
        fitted = X if y is None else X[y != 1]
        if not len(fitted):
            raise ValueError(
                "DeepSAD fixes its centre on the samples not labelled as "
                "anomalies, and every training sample is labelled 1: give it "
                "unlabelled (-1) or normal (0) samples too."
            )
        outputs = self._map_in_chunks(network, _outputs, fitted, network.center.shape)
        network.center.assign(push_from_zero(outputs.mean(axis=0), self.eps))

    def _fit(self, X, y):
        train_scores = super()._fit(X, y)
        self.center_ = np.asarray(self.model_.center.numpy(), dtype=np.float64)
        return train_scores
