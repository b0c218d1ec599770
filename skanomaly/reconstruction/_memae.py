"""Memory-augmented autoencoder (MemAE, Gong et al., ICCV 2019)."""

import math
from numbers import Integral, Real

from sklearn.utils._param_validation import Interval, StrOptions

from ..engine import BaseGradientDetector, ImageInput, keras
from ..engine._conv import (
    ConvNetwork,
    ReconstructionImageNetwork,
    apply_stack,
    conv_decoder,
    conv_encoder,
)

layers = keras.layers
ops = keras.ops

#: Keeps divisions finite where a norm or a sum of weights is zero.
EPSILON = 1e-12


def hard_shrink(weights, threshold):
    """MemAE's hard shrinkage of addressing weights, then L1 renormalising.

    ``max(w - threshold, 0) * w / (|w - threshold| + eps)``: a weight above
    the threshold is kept (almost exactly), one below is set to zero, and
    the result is differentiable almost everywhere. The kept weights are
    divided by their sum so that they add up to one again.
    """
    shrunk = ops.relu(weights - threshold) * weights / (
        ops.abs(weights - threshold) + EPSILON
    )
    total = ops.sum(shrunk, axis=-1, keepdims=True)
    return shrunk / ops.maximum(total, EPSILON)


class MemoryModule(layers.Layer):
    """A memory of ``n_items`` learned vectors read by attention.

    Each query (a vector at the last axis of the input, one per location
    of a feature map) is compared with every item by their dot product, as
    the authors' implementation does; a softmax over the items makes
    addressing weights, shrunk by :func:`hard_shrink` when
    ``shrink_threshold > 0``; the output is the weighted sum of the items.
    The items are trainable weights, learned by back-propagation with the
    rest of the network. Unlike a cosine similarity, which lies in [-1, 1]
    and keeps every softmax weight within a factor ``e ** 2`` of the
    others, a dot product grows with the lengths of the query and the
    items, so training can make a location's weights as peaked as it needs:
    after shrinkage, each location reads a few items, as the paper
    intends.

    Returns ``(read, weights)`` with ``read`` of the input's shape and
    ``weights`` of shape ``(*input_shape[:-1], n_items)``.
    """

    def __init__(self, n_items, dim, shrink_threshold, **kwargs):
        super().__init__(**kwargs)
        self.n_items = n_items
        self.shrink_threshold = shrink_threshold
        bound = 1.0 / math.sqrt(dim)
        self.items = self.add_weight(
            shape=(n_items, dim),
            initializer=keras.initializers.RandomUniform(-bound, bound),
            name="items",
        )

    def call(self, queries):
        items = ops.convert_to_tensor(self.items)
        weights = ops.softmax(ops.matmul(queries, ops.transpose(items)), axis=-1)
        if self.shrink_threshold > 0:
            weights = hard_shrink(weights, self.shrink_threshold)
        return ops.matmul(weights, items), weights


def addressing_entropy(weights):
    """Entropy of each location's addressing weights ``-sum w log w``."""
    return -ops.sum(weights * ops.log(weights + EPSILON), axis=-1)


class MemAENetwork(ReconstructionImageNetwork):
    """Convolutional encoder, memory module at each location, decoder.

    The encoder's last level is linear: its output at each location of the
    code's feature map is a query of ``filters[-1]`` values, replaced by
    its read from the memory before decoding. ``call`` returns
    ``(reconstruction, addressing_weights)``.
    """

    def __init__(
        self, image_shape, filters, *, kernel_size, activation, n_memory,
        shrink_threshold, entropy_weight,
    ):
        super().__init__(image_shape, len(filters))
        self.entropy_weight = entropy_weight
        self.encoder = conv_encoder(
            filters, kernel_size=kernel_size, activation=activation, linear_last=True
        )
        dim = filters[-1] if filters else self.n_channels
        self.memory = MemoryModule(n_memory, dim, shrink_threshold, name="memory")
        self.decoder = conv_decoder(
            filters, self.n_channels, kernel_size=kernel_size, activation=activation
        )

    def call(self, x, training=False):
        queries = apply_stack(self.encoder, self.pad(x), training=training)
        read, weights = self.memory(queries)
        reconstruction = self.crop(apply_stack(self.decoder, read, training=training))
        return reconstruction, weights

    def detector_loss(self, x, outputs, training):
        reconstruction, weights = outputs
        entropy = ops.mean(addressing_entropy(weights), axis=(1, 2))
        return self.reconstruction_loss(x, reconstruction) + self.entropy_weight * entropy


class MemAE(ConvNetwork, ImageInput, BaseGradientDetector):
    """Memory-augmented autoencoder (MemAE) anomaly detector for images.

    An autoencoder can reconstruct anomalies too well, since a network that
    generalises reconstructs what it never saw. MemAE (Gong et al., 2019)
    puts a memory of ``n_memory`` learned items between a convolutional
    encoder and decoder: at each location of the encoder's feature map, the
    code is not passed on but *replaced* by a combination of memory items,
    so the decoder only ever sees combinations of prototypes of the
    training images, and reconstructs an anomaly as the normal image
    closest to it. The pixel error is the anomaly map.

    The memory is read by attention: addressing weights are a softmax over
    the items of their dot product with the code (as in the authors'
    implementation); weights below ``shrink_threshold`` are set to zero
    (hard shrinkage) and the rest renormalised, so that each location is
    made of a few items; an entropy penalty on the weights
    (``entropy_weight``) makes the addressing sparser still. The items are
    learned with the network.

    Parameters
    ----------
    n_memory : int, default=100
        Number of memory items; the paper uses 100 for MNIST and CIFAR-10.
    shrink_threshold : "auto" or float in [0, 1), default="auto"
        Addressing weights below it are set to zero. ``"auto"`` is
        ``1 / n_memory``, the low end of the range the paper recommends
        (``1 / n_memory`` to ``3 / n_memory``): a weight survives when it
        is larger than under uniform attention. ``0`` turns shrinkage off.
        Should every weight of a location fall below it, the location reads
        nothing (a zero vector).
    entropy_weight : float >= 0, default=0.0002
        Weight of the mean entropy of the addressing weights in the training
        loss (the paper's value).

    Attributes
    ----------
    model_ : keras.Model
        The trained network (a ``MemAENetwork``); its memory items are
        ``model_.memory.items``.

    See Also
    --------
    ConvAutoEncoder : The same autoencoder without a memory.
    MNAD : A memory of a few prototypes, updated in training, whose read is
        concatenated with the code.

    Notes
    -----
    A pixel of :meth:`anomaly_map` is its squared reconstruction error
    averaged over the channels, on the scaled images; with
    ``map_aggregation="mean"``, ``-score_samples`` is the image's mean
    squared reconstruction error, the paper's score.

    As in the paper for images, the memory is read at every location of
    the code's feature map, with items as wide as its channels, and the
    training loss is the mean squared error plus ``entropy_weight`` times
    the mean entropy of the shrunk addressing weights. Unlike the paper's
    networks, the encoder and decoder have no batch normalisation: plain
    stride-2 convolutions and transposed convolutions.

    References
    ----------
    D. Gong, L. Liu, V. Le, B. Saha, M. R. Mansour, S. Venkatesh and
    A. van den Hengel, "Memorizing normality to detect anomaly:
    Memory-augmented deep autoencoder for unsupervised anomaly detection",
    ICCV 2019.

    Examples
    --------
    >>> import numpy as np
    >>> from skanomaly import MemAE
    >>> rng = np.random.RandomState(0)
    >>> X = np.tile(np.linspace(0, 1, 8), (60, 8, 1))   # 60 horizontal ramps
    >>> X += rng.normal(scale=0.02, size=X.shape)
    >>> detector = MemAE(n_memory=10, epochs=10, random_state=0).fit(X)
    >>> defect = X[:2].copy()
    >>> defect[1, 2:5, 2:5] = 1.0                        # a bright square
    >>> detector.anomaly_map(defect).shape
    (2, 8, 8)
    >>> detector.predict(defect)
    array([ 1, -1])
    """

    _reconstructs = True
    _parameter_constraints: dict = {
        "n_memory": [Interval(Integral, 1, None, closed="left")],
        "shrink_threshold": [
            StrOptions({"auto"}),
            Interval(Real, 0.0, 1.0, closed="left"),
        ],
        "entropy_weight": [Interval(Real, 0.0, None, closed="left")],
    }

    def __init__(
        self,
        *,
        n_memory=100,
        shrink_threshold="auto",
        entropy_weight=0.0002,
        **params,
    ):
        self.n_memory = n_memory
        self.shrink_threshold = shrink_threshold
        self.entropy_weight = entropy_weight
        super().__init__(**params)

    def _values_per_pixel(self):
        # The addressing weights: n_memory values at each code location.
        width = super()._values_per_pixel()
        return max(width, math.ceil(self.n_memory / 4 ** len(self._filters_)))

    def _build_network(self, sample_shape):
        threshold = (
            1.0 / self.n_memory
            if self.shrink_threshold == "auto"
            else float(self.shrink_threshold)
        )
        return MemAENetwork(
            sample_shape,
            self._filters_,
            kernel_size=self.kernel_size,
            activation=self.activation,
            n_memory=self.n_memory,
            shrink_threshold=threshold,
            entropy_weight=self.entropy_weight,
        )
