"""Memory-augmented autoencoder (MemAE, Gong et al., ICCV 2019)."""

import math
from numbers import Integral, Real

from sklearn.utils._param_validation import Interval, StrOptions

from .._keras import keras
from .._keras._images import (
    BaseImageDetector,
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
    of a feature map) is compared with every item by cosine similarity;
    a softmax over the items makes addressing weights, shrunk by
    :func:`hard_shrink` when ``shrink_threshold > 0``; the output is the
    weighted sum of the items. The items are trainable weights, learned by
    back-propagation with the rest of the network.

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
        unit_queries = queries / (
            ops.sqrt(ops.sum(queries * queries, axis=-1, keepdims=True)) + EPSILON
        )
        unit_items = items / (
            ops.sqrt(ops.sum(items * items, axis=-1, keepdims=True)) + EPSILON
        )
        similarity = ops.matmul(unit_queries, ops.transpose(unit_items))
        weights = ops.softmax(similarity, axis=-1)
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


class MemAE(BaseImageDetector):
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
    the items of their cosine similarity with the code; weights below
    ``shrink_threshold`` are set to zero (hard shrinkage) and the rest
    renormalised, so that each location is made of a few items; an entropy
    penalty on the weights (``entropy_weight``) makes the addressing sparser
    still. The items are learned with the network.

    Parameters
    ----------
    filters : "auto" or sequence of int, default="auto"
        Widths of the encoder's stride-2 convolution levels; the decoder
        mirrors them, and the last width is the size of the memory items.
        ``L`` levels need images of at least ``2 ** L`` pixels a side.
        ``"auto"`` sizes the network from the images: widths 16, 32, 64
        and 128, as many levels (at most four) as keep the code at least 2
        pixels a side: ``(16, 32, 64, 128)`` for 28x28 images and larger
        ones, ``(16, 32)`` for 8x8. A small code matters here: the memory
        is read at each of its locations, and with many locations a
        memory of parts reconstructs anomalies too.
    kernel_size : int, default=3
        Side of the convolution kernels.
    n_memory : int, default=100
        Number of memory items; the paper uses 100 for MNIST and CIFAR-10.
    shrink_threshold : "auto" or float in [0, 1), default="auto"
        Addressing weights below it are set to zero. ``"auto"`` is
        ``1 / n_memory``, the low end of the range the paper recommends
        (``1 / n_memory`` to ``3 / n_memory``): a weight survives when it
        is larger than under uniform attention. ``0`` turns shrinkage off.
        Cosine similarities lie in [-1, 1], so the softmax weights stay
        within a factor ``e ** 2`` of each other: with 100 items no weight
        can exceed about 0.07, and a threshold well above ``1 / n_memory``
        (``3 / n_memory`` with 100 items, say) can zero every weight, which
        leaves the decoder nothing to read.
    entropy_weight : float >= 0, default=0.0002
        Weight of the mean entropy of the addressing weights in the training
        loss (the paper's value).
    activation : str, default="relu"
        Activation of the hidden layers (any Keras name).
    image_shape : tuple of int, default=None
        Shape ``(height, width)`` or ``(height, width, channels)`` of one
        image, to read 2-D input of flattened images (one a row, C order).
        When ``None``, rows are read as square grayscale images if their
        width is a perfect square, and refused otherwise.
    map_aggregation : {"mean", "max", "topk_mean"}, default="mean"
        How ``score_samples`` reduces an image's anomaly map to one score:
        the mean over the pixels, the largest pixel, or the mean of the
        ``topk_fraction`` largest pixels.
    topk_fraction : float in (0, 1], default=0.05
        Share of the pixels averaged by ``map_aggregation="topk_mean"``.
    epochs : int, default=50
        Largest number of passes over the training data.
    batch_size : int, default=64
        Images per gradient step.
    learning_rate : float, default=1e-3
        Step size of the optimizer.
    optimizer : {"adam", "adamw", "rmsprop", "sgd"} or keras Optimizer, \
            default="adam"
        The optimizer; an instance is copied at each fit and its own
        learning rate applies.
    validation_fraction : float in [0, 1), default=0.1
        Share of the training images held out for early stopping; the
        weights of the best epoch are kept. ``0`` trains for ``epochs``
        epochs.
    patience : int, default=10
        Epochs without improvement of the validation loss before stopping.
    trim_fraction : float in [0, 0.5), default=0.0
        Share of each training batch's largest per-image losses left out
        of the training loss (a trimmed mean).
    scaling : {"minmax", "standard", "robust"} or None, default="minmax"
        Scaling of each channel, with one centre and scale over all the
        pixels of the training images, applied inside the detector.
    callbacks : list of keras.callbacks.Callback, default=None
        Extra Keras callbacks for training.
    verbose : int, default=0
        0 silent, 1 Keras' progress bar, 2 one line per epoch.
    random_state : int, RandomState instance or None, default=None
        Seeds initialisation and shuffling; an int gives the same scores
        run after run.
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
        The trained network (a ``MemAENetwork``); its memory items are
        ``model_.memory.items``.
    history_ : dict of list
        Training (and validation) loss per epoch, across warm starts.
    n_epochs_ : int
        Epochs trained in all.
    offset_ : float
        ``decision_function = score_samples - offset_``.
    image_shape_ : tuple of int
        Shape of the training images: ``(height, width)``, or ``(height,
        width, channels)`` with ``channels > 1``.
    scaling_center_, scaling_scale_ : ndarray of shape (n_channels,)
        The fitted scaling of each channel.
    n_features_in_ : int
        Number of values of one image, ``height * width * channels``.
    feature_names_in_ : ndarray of shape (`n_features_in_`,)
        Names of the columns seen during ``fit``, for DataFrame input.

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

    _parameter_constraints: dict = {
        **BaseImageDetector._parameter_constraints,
        "n_memory": [Interval(Integral, 1, None, closed="left")],
        "shrink_threshold": [
            StrOptions({"auto"}),
            Interval(Real, 0.0, 1.0, closed="left"),
        ],
        "entropy_weight": [Interval(Real, 0.0, None, closed="left")],
    }

    def __init__(
        self,
        filters="auto",
        *,
        kernel_size=3,
        n_memory=100,
        shrink_threshold="auto",
        entropy_weight=0.0002,
        activation="relu",
        image_shape=None,
        map_aggregation="mean",
        topk_fraction=0.05,
        epochs=50,
        batch_size=64,
        learning_rate=1e-3,
        optimizer="adam",
        validation_fraction=0.1,
        patience=10,
        trim_fraction=0.0,
        scaling="minmax",
        callbacks=None,
        verbose=0,
        random_state=None,
        warm_start=False,
        device="auto",
        distribute=None,
        contamination="auto",
    ):
        self.filters = filters
        self.kernel_size = kernel_size
        self.n_memory = n_memory
        self.shrink_threshold = shrink_threshold
        self.entropy_weight = entropy_weight
        self.activation = activation
        self.image_shape = image_shape
        self.map_aggregation = map_aggregation
        self.topk_fraction = topk_fraction
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

    def _values_per_pixel(self):
        # The addressing weights: n_memory values at each code location.
        width = super()._values_per_pixel()
        return max(width, math.ceil(self.n_memory / 4 ** len(self._filters)))

    def _build_network(self, sample_shape):
        threshold = (
            1.0 / self.n_memory
            if self.shrink_threshold == "auto"
            else float(self.shrink_threshold)
        )
        return MemAENetwork(
            sample_shape,
            self._filters,
            kernel_size=self.kernel_size,
            activation=self.activation,
            n_memory=self.n_memory,
            shrink_threshold=threshold,
            entropy_weight=self.entropy_weight,
        )
