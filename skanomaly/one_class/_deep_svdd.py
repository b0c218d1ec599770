"""Deep SVDD: deep one-class classification (one-class and soft-boundary)."""

from numbers import Integral, Real

import numpy as np
from sklearn.utils import gen_batches
from sklearn.utils._param_validation import Interval, StrOptions

from ..engine import BaseGradientDetector, DetectorNetwork, keras
from ..engine._hypersphere import bias_free_dense, hypersphere_units, push_from_zero

ops = keras.ops

#: Rows per forward pass when the centre and the radius are computed.
FORWARD_BATCH_ROWS = 4096

def _in_batches(fn, network, X):
    """``fn`` applied to ``X`` a batch at a time, as one float64 array."""
    parts = [
        ops.convert_to_numpy(
            fn(ops.convert_to_tensor(X[rows], dtype=network.compute_dtype))
        ).astype(np.float64)
        for rows in gen_batches(X.shape[0], FORWARD_BATCH_ROWS)
    ]
    return np.concatenate(parts)


class DeepSVDDNetwork(DetectorNetwork):
    """Bias-free network that maps normal data close to a fixed centre.

    ``hidden_units`` are the widths of its layers: every layer but the last
    is followed by ``activation``, the last one (the representation) is
    linear. No layer has a bias, so that the network cannot map every input
    onto the centre by zeroing its weights and letting a bias equal the
    centre.

    The centre ``center`` and the radius ``radius`` of the hypersphere are
    non-trainable weights: the detector sets them, and they travel with
    ``get_weights``.
    """

    def __init__(self, hidden_units, *, activation, objective, nu, weight_decay):
        super().__init__()
        representation = hidden_units[-1]
        self.embedding = bias_free_dense(
            hidden_units, activation=activation, weight_decay=weight_decay, name="embedding"
        )
        self.objective = objective
        self.nu = nu
        self.center = self.add_weight(
            shape=(representation,),
            initializer="zeros",
            trainable=False,
            name="center",
        )
        self.radius = self.add_weight(
            shape=(), initializer="zeros", trainable=False, name="radius"
        )

    def call(self, x, training=False):
        return self.embedding(x, training=training)

    def squared_distances(self, x):
        """Squared distance of each sample's representation to the centre."""
        return ops.sum(ops.square(self(x, training=False) - self.center), axis=-1)

    def detector_loss(self, x, outputs, training):
        distances = ops.sum(ops.square(outputs - self.center), axis=-1)
        if self.objective == "one-class":
            return distances
        # Per sample, so that the batch mean is the soft-boundary objective
        # R^2 + mean(max(0, d - R^2)) / nu.
        radius2 = ops.square(self.radius)
        return radius2 + ops.relu(distances - radius2) / self.nu

    def score(self, x):
        distances = self.squared_distances(x)
        if self.objective == "one-class":
            return -distances
        return ops.square(self.radius) - distances


class _RadiusUpdate(keras.callbacks.Callback):
    """Set the soft-boundary radius to the ``(1 - nu)``-quantile of the
    distances of the training samples to the centre.

    It runs at the end of each epoch after the first ``warm_up_epochs``
    (counted across warm starts), and once more at the end of training, so
    that the radius fits the weights that are kept: early stopping restores
    those of the best epoch in its own ``on_train_end``, which the engine
    runs before this callback's.
    """

    def __init__(self, X, *, nu, warm_up_epochs, epochs_done):
        super().__init__()
        self.X = X
        self.nu = nu
        self.warm_up_epochs = warm_up_epochs
        self.epochs_done = epochs_done

    def _update(self):
        network = self.model
        distances = np.sqrt(_in_batches(network.squared_distances, network, self.X))
        network.radius.assign(np.quantile(distances, 1.0 - self.nu))

    def on_epoch_end(self, epoch, logs=None):
        if self.epochs_done + epoch >= self.warm_up_epochs:
            self._update()

    def on_train_end(self, logs=None):
        self._update()


class DeepSVDD(BaseGradientDetector):
    """Deep Support Vector Data Description (Deep SVDD).

    A network without bias terms learns to map the training data into a
    small hypersphere around a fixed centre ``c`` in its output space;
    samples mapped far from the centre are anomalous (Ruff et al., 2018).
    The centre is the mean representation of the training data under the
    initial network, with coordinates too close to zero pushed to ``±eps``.

    * ``objective="one-class"`` minimises the mean squared distance
      ``||phi(x) - c||^2`` of the training samples to the centre. The score
      is ``-||phi(x) - c||^2``.
    * ``objective="soft-boundary"`` also learns the radius ``R`` of the
      sphere: it minimises ``R^2 + mean(max(0, ||phi(x) - c||^2 - R^2)) /
      nu``, ``R`` being set after each epoch (past ``warm_up_epochs``) to
      the ``(1 - nu)``-quantile of the training samples' distances. The
      score is ``R^2 - ||phi(x) - c||^2``, positive inside the sphere.

    Both objectives add an L2 weight decay on the network's weights.

    Parameters
    ----------
    hidden_units : "auto" or sequence of int, default="auto"
        Widths of the network's layers, the last one being the dimension of
        the representation, where the centre lies. ``(64, 8)`` gives
        ``n_features -> 64 -> 8``. Every layer but the last is followed by
        ``activation``; the last is linear. No layer has a bias. ``"auto"``
        uses one hidden layer about as wide as the input (16 to 128 units)
        and a 32-d representation, as in the paper's MNIST network: unlike
        an autoencoder's code it needs no bottleneck, and a wider one
        collapses less readily (on the ADBench benchmark it raised the mean
        ROC AUC over a ``sqrt(n_features)``-wide one).
    activation : str, default="leaky_relu"
        Activation of the hidden layers (any Keras name). Leaky ReLU, as in
        the paper; a bounded activation (``"sigmoid"``, ``"tanh"``) makes it
        easier for the network to map every input to the same point.
    objective : {"one-class", "soft-boundary"}, default="one-class"
        ``"one-class"`` pulls all training samples towards the centre, for
        training data that are (almost) all normal; ``"soft-boundary"``
        learns a sphere that leaves a share ``nu`` of them outside, for
        training data with some anomalies.
    nu : float in (0, 1], default=0.1
        Soft-boundary only: the trade-off between the volume of the sphere
        and the samples outside it, an upper bound on the share of training
        samples outside the sphere (and, with ``contamination="auto"``, the
        share of them predicted as outliers).
    weight_decay : float >= 0, default=1e-6
        Strength of the L2 weight decay: each layer's ``kernel_regularizer``
        is ``keras.regularizers.L2(weight_decay)``, which adds
        ``weight_decay * sum(W ** 2)`` over all weight matrices to the loss
        (the paper's ``lambda / 2 * sum ||W||^2`` with
        ``lambda = 2 * weight_decay``). ``0`` disables it.
    eps : float >= 0, default=0.1
        Guard on the centre: a coordinate of the initial mean
        representation with ``|c_i| < eps`` is set to ``eps`` with the sign
        of ``c_i`` (``+eps`` for zero), since a bias-free network can map
        every input to the zero vector trivially. ``0`` disables the guard.
    warm_up_epochs : int >= 0, default=10
        Soft-boundary only: epochs trained with the radius left at zero
        before it is first set. It is set at the end of training in any
        case, so the radius always fits the weights that are kept.
    learning_rate : float, default=1e-4
        Step size of the optimizer; 1e-4, the paper's, moves the network
        slowly away from its initial, informative mapping.
    warm_start : bool, default=False
        Continue training the fitted network, and its optimizer's state, on
        the next call to ``fit`` (after a pickle round trip too); the
        centre is kept.

    Attributes
    ----------
    center_ : ndarray of shape (n_representation,)
        The centre ``c`` of the hypersphere, in the network's output space.
    radius_ : float
        The radius ``R`` of the hypersphere for the soft-boundary objective;
        ``0.0`` for the one-class objective.
    model_ : keras.Model
        The trained network (a ``DeepSVDDNetwork``).

    See Also
    --------
    AutoEncoder : Reconstruction-based detector.
    sklearn.svm.OneClassSVM : The kernel method Deep SVDD makes deep.
    sklearn.ensemble.IsolationForest : A classical baseline.

    References
    ----------
    .. [1] L. Ruff, R. Vandermeulen, N. Görnitz, L. Deecke, S. A. Siddiqui,
       A. Binder, E. Müller and M. Kloft, "Deep One-Class Classification",
       Proceedings of the 35th International Conference on Machine Learning
       (ICML), 2018.

    Examples
    --------
    >>> import numpy as np
    >>> from skanomaly import DeepSVDD
    >>> rng = np.random.RandomState(0)
    >>> X = rng.normal(size=(200, 5))
    >>> detector = DeepSVDD(epochs=5, random_state=0).fit(X)
    >>> detector.predict([[0.0] * 5, [8.0] * 5])
    array([ 1, -1])
    >>> soft = DeepSVDD(objective="soft-boundary", epochs=5, random_state=0)
    >>> bool(soft.fit(X).radius_ > 0)
    True
    """

    _parameter_defaults = {"learning_rate": 1e-4}
    _parameter_constraints: dict = {
        "hidden_units": ["array-like", str],
        "activation": [str],
        "objective": [StrOptions({"one-class", "soft-boundary"})],
        "nu": [Interval(Real, 0.0, 1.0, closed="right")],
        "weight_decay": [Interval(Real, 0.0, None, closed="left")],
        "eps": [Interval(Real, 0.0, None, closed="left")],
        "warm_up_epochs": [Interval(Integral, 0, None, closed="left")],
    }

    def __init__(
        self,
        hidden_units="auto",
        *,
        activation="leaky_relu",
        objective="one-class",
        nu=0.1,
        weight_decay=1e-6,
        eps=0.1,
        warm_up_epochs=10,
        **params,
    ):
        self.hidden_units = hidden_units
        self.activation = activation
        self.objective = objective
        self.nu = nu
        self.weight_decay = weight_decay
        self.eps = eps
        self.warm_up_epochs = warm_up_epochs
        super().__init__(**params)

    def _build_network(self, sample_shape):
        (n_features,) = sample_shape
        return DeepSVDDNetwork(
            hypersphere_units(self.hidden_units, n_features),
            activation=self.activation,
            objective=self.objective,
            nu=float(self.nu),
            weight_decay=float(self.weight_decay),
        )

    def _init_network(self, network, X, y):
        # The centre: the mean representation under the initial network,
        # with near-zero coordinates pushed away from zero.
        center = _in_batches(network, network, X).mean(axis=0)
        network.center.assign(push_from_zero(center, self.eps))

    def _training_callbacks(self, network, X, epochs_done):
        if self.objective != "soft-boundary":
            return []
        # Warm-up epochs count across warm starts, so a warm start does not
        # freeze a radius that has already been set.
        return [
            _RadiusUpdate(
                X,
                nu=float(self.nu),
                warm_up_epochs=self.warm_up_epochs,
                epochs_done=epochs_done,
            )
        ]

    def _fit(self, X, y):
        train_scores = super()._fit(X, y)
        self.center_ = np.asarray(self.model_.center.numpy(), dtype=np.float64)
        self.radius_ = (
            float(self.model_.radius.numpy())
            if self.objective == "soft-boundary"
            else 0.0
        )
        return train_scores

    def _auto_offset(self, train_scores):
        """``offset_`` for ``contamination="auto"``: the sphere itself for
        the soft-boundary objective, Tukey's lower fence otherwise."""
        if self.objective == "soft-boundary":
            return 0.0
        return super()._auto_offset(train_scores)
