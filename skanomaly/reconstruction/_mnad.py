"""Memory-guided normality for anomaly detection (MNAD, Park et al., CVPR 2020),
reconstruction variant."""

from numbers import Integral, Real

import numpy as np
from sklearn.utils._param_validation import Interval

from ..engine import (
    BaseGradientDetector,
    ImageInput,
    keras,
    max_over_replicas,
    sum_over_replicas,
)
from ..engine._conv import (
    ConvNetwork,
    ReconstructionImageNetwork,
    apply_stack,
    conv_decoder,
    conv_encoder,
)

layers = keras.layers
ops = keras.ops

#: Keeps divisions finite where a norm or a count is zero.
EPSILON = 1e-12


def _unit_rows(x):
    """Each vector along the last axis divided by its Euclidean norm."""
    return x / (ops.sqrt(ops.sum(x * x, axis=-1, keepdims=True)) + EPSILON)


class UnitRows(keras.initializers.Initializer):
    """Random memory items of unit length: uniform in [0, 1), normalised
    (as the authors' code starts its memory)."""

    def __init__(self):
        self.uniform = keras.initializers.RandomUniform(0.0, 1.0)

    def __call__(self, shape, dtype=None):
        return _unit_rows(self.uniform(shape, dtype=dtype))


class MNADNetwork(ReconstructionImageNetwork):
    """Encoder, a memory of prototypes read by attention, decoder.

    At each location of the code's feature map the encoder gives a unit
    query; the read is the softmax-weighted (over the items, by their dot
    product with the query) sum of the memory items, and the decoder gets
    the query and the read concatenated. The items are non-trainable
    weights, updated in :meth:`train_step` with the queries nearest to them.
    ``call`` returns ``(reconstruction, queries, similarities)``, the last
    being the dot products of each query with each item.
    """

    def __init__(
        self, image_shape, filters, *, kernel_size, activation, n_memory,
        compactness_weight, separateness_weight, margin, reconstruction_weight,
    ):
        super().__init__(image_shape, len(filters))
        self.compactness_weight = compactness_weight
        self.separateness_weight = separateness_weight
        self.margin = margin
        self.reconstruction_weight = reconstruction_weight
        self.encoder = conv_encoder(
            filters, kernel_size=kernel_size, activation=activation, linear_last=True
        )
        dim = filters[-1] if filters else self.n_channels
        # Updated by hand in train_step, the same on every replica; the
        # first replica's value is the one kept.
        self.items = self.add_weight(
            shape=(n_memory, dim), initializer=UnitRows(), trainable=False,
            name="items", aggregation="only_first_replica",
        )
        # Mean reconstruction error and feature distance of the training
        # images, set after training, which put the two terms of the map
        # on one scale.
        self.error_scale = self.add_weight(
            shape=(), initializer="ones", trainable=False, name="error_scale"
        )
        self.distance_scale = self.add_weight(
            shape=(), initializer="ones", trainable=False, name="distance_scale"
        )
        self.decoder = conv_decoder(
            filters, self.n_channels, kernel_size=kernel_size, activation=activation
        )

    # ------------------------------------------------------------ forward
    def encode(self, x, training=False):
        """Unit queries ``(batch, h, w, dim)`` of scaled images."""
        return _unit_rows(apply_stack(self.encoder, self.pad(x), training=training))

    def call(self, x, training=False):
        queries = self.encode(x, training=training)
        items = ops.convert_to_tensor(self.items)
        similarities = ops.matmul(queries, ops.transpose(items))
        read = ops.matmul(ops.softmax(similarities, axis=-1), items)
        features = ops.concatenate([queries, read], axis=-1)
        reconstruction = self.crop(apply_stack(self.decoder, features, training=training))
        return reconstruction, queries, similarities

    def detector_loss(self, x, outputs, training):
        reconstruction, _, similarities = outputs
        nearest, second = ops.unstack(ops.top_k(similarities, 2)[0], 2, axis=-1)
        # For unit vectors ||q - p||^2 = 2 - 2 q.p.
        compactness = ops.maximum(2.0 - 2.0 * nearest, 0.0)
        separateness = ops.relu(2.0 * (second - nearest) + self.margin)
        return (
            self.reconstruction_loss(x, reconstruction)
            + self.compactness_weight * ops.mean(compactness, axis=(1, 2))
            + self.separateness_weight * ops.mean(separateness, axis=(1, 2))
        )

    # ------------------------------------------------------------ training
    def train_step(self, data):
        x, _, _ = keras.utils.unpack_x_y_sample_weight(data)
        # The queries the loss of this step sees, before the gradient step.
        queries = self.encode(x)
        logs = super().train_step(data)
        self.update_memory(queries)
        return logs

    def update_memory(self, queries):
        """The paper's update: each item moves towards the queries that
        chose it as their nearest, each weighted by how strongly the item
        matches it (a softmax over the queries, divided by its largest
        value among the item's queries: ``exp(s - s_max)``, with ``s_max``
        the item's largest similarity among its queries), and is normalised
        again.

        Under ``tf.distribute`` each replica sees a part of the batch: the
        largest similarities and the sums of weighted queries are combined
        over the replicas, so that every replica makes the update the whole
        batch makes on one device, and the copies of the memory stay equal.
        """
        items = ops.convert_to_tensor(self.items)
        flat = ops.reshape(queries, (-1, ops.shape(items)[1]))
        similarities = ops.matmul(flat, ops.transpose(items))  # (queries, items)
        nearest = ops.cast(
            ops.one_hot(ops.argmax(similarities, axis=-1), ops.shape(items)[0]), "bool"
        )
        chosen = ops.where(nearest, similarities, -np.inf)
        largest = max_over_replicas(ops.max(chosen, axis=0))
        # An item no query chose has no largest similarity, and moves not.
        largest = ops.where(ops.isfinite(largest), largest, 0.0)
        weights = ops.where(nearest, ops.exp(similarities - largest), 0.0)
        moves = sum_over_replicas(ops.matmul(ops.transpose(weights), flat))
        self.items.assign(_unit_rows(items + moves))

    # ------------------------------------------------------------- scoring
    def map_components(self, x):
        """Per-pixel squared reconstruction error (averaged over the
        channels) and feature distance (each query's squared distance to its
        nearest item, upsampled bilinearly), both ``(batch, height, width)``."""
        reconstruction, _, similarities = self(x, training=False)
        error = ops.mean(ops.square(reconstruction - x), axis=-1)
        nearest = ops.max(similarities, axis=-1)
        distance = self.upsample(ops.maximum(2.0 - 2.0 * nearest, 0.0))
        return error, distance

    def component_means(self, x):
        """Mean error and mean distance of each image, ``(batch, 2)``."""
        error, distance = self.map_components(x)
        return ops.stack(
            [ops.mean(error, axis=(1, 2)), ops.mean(distance, axis=(1, 2))], axis=-1
        )

    def pixel_map(self, x):
        error, distance = self.map_components(x)
        weight = self.reconstruction_weight
        return weight * error / self.error_scale + (1.0 - weight) * (
            distance / self.distance_scale
        )


def _component_means_scaled(network, center, scale, x):
    return network.component_means((x - center) / scale)


class MNAD(ConvNetwork, ImageInput, BaseGradientDetector):
    """Memory-guided normality (MNAD) anomaly detector for images.

    The reconstruction variant of Park et al. (2020). A convolutional
    encoder gives a query (a unit vector) at each location of its feature
    map; a memory of ``n_memory`` prototypes is read by attention (a
    softmax over the items of their dot product with the query), and the
    decoder reconstructs the image from the query and the read
    concatenated. The memory is not learned by back-propagation but
    updated at each training step: each item moves towards the queries
    that have it as their nearest item. Two losses shape the queries:
    *compactness* pulls each query towards its nearest item, and
    *separateness* (a triplet margin loss) pushes the second-nearest item
    away, so that the items become distinct prototypes of normal patterns.

    An image is anomalous when it is badly reconstructed or its queries lie
    far from every prototype: the anomaly map weighs the two.

    Parameters
    ----------
    n_memory : int >= 2, default=10
        Number of memory items (the paper's 10).
    compactness_weight : float >= 0, default=0.1
        Weight of the compactness loss, the mean squared distance of each
        query to its nearest item (the paper's 0.1).
    separateness_weight : float >= 0, default=0.1
        Weight of the separateness loss, the mean of ``max(0, d1 - d2 +
        margin)`` with ``d1`` and ``d2`` a query's squared distances to its
        nearest and second-nearest items (the paper's 0.1).
    margin : float >= 0, default=1.0
        Margin of the separateness loss.
    reconstruction_weight : float in [0, 1], default=0.6
        Weight of the reconstruction error in the anomaly map; the feature
        distance gets the rest (the authors' code weighs PSNR 0.6).
    batch_size : int, default=64
        Images per gradient step, and per update of the memory.
    warm_start : bool, default=False
        Continue training the fitted network, and its optimizer's state, on
        the next call to ``fit`` (after a pickle round trip too); the
        memory goes on being updated.

    Attributes
    ----------
    model_ : keras.Model
        The trained network (an ``MNADNetwork``); its memory items are
        ``model_.items``.

    See Also
    --------
    MemAE : A larger memory, learned by back-propagation, that replaces the
        code.
    ConvAutoEncoder : The same autoencoder without a memory.

    Notes
    -----
    A pixel of :meth:`anomaly_map` is ``w * e / E + (1 - w) * d / D``: ``e``
    its squared reconstruction error (averaged over the channels, on the
    scaled images), ``d`` the feature distance at that point (the squared
    distance of the query to its nearest item, upsampled bilinearly from the
    code's feature map), ``w`` the ``reconstruction_weight``, and ``E`` and
    ``D`` the means of ``e`` and ``d`` over the training images, so that
    both terms are about 1 on normal images. With
    ``map_aggregation="mean"``, ``-score_samples`` is the weighted sum of
    the image's mean squared error and mean feature distance.

    How this differs from the paper: the paper's score weighs ``1 -
    PSNR`` and the mean feature distance, each min-max normalised over the
    frames of one test video, so that an image's score depends on the other
    test images. Here the error enters as the mean squared error (PSNR is
    its negative logarithm, which cannot be spread over pixels) and both
    terms are normalised by their means on the training images, so each
    image's score is its own. The memory is updated in training only (the
    paper also updates it at test time with frames deemed normal), so
    scoring changes nothing. The encoder and decoder are plain stride-2
    convolutions without skip connections or batch normalisation.

    References
    ----------
    H. Park, J. Noh and B. Ham, "Learning memory-guided normality for
    anomaly detection", CVPR 2020.

    Examples
    --------
    >>> import numpy as np
    >>> from skanomaly import MNAD
    >>> rng = np.random.RandomState(0)
    >>> X = np.tile(np.linspace(0, 1, 8), (60, 8, 1))   # 60 horizontal ramps
    >>> X += rng.normal(scale=0.02, size=X.shape)
    >>> detector = MNAD(epochs=10, random_state=0).fit(X)
    >>> defect = X[:2].copy()
    >>> defect[1, 2:5, 2:5] = 1.0                        # a bright square
    >>> detector.anomaly_map(defect).shape
    (2, 8, 8)
    >>> detector.predict(defect)
    array([ 1, -1])
    """

    _reconstructs = True
    _parameter_constraints: dict = {
        "n_memory": [Interval(Integral, 2, None, closed="left")],
        "compactness_weight": [Interval(Real, 0.0, None, closed="left")],
        "separateness_weight": [Interval(Real, 0.0, None, closed="left")],
        "margin": [Interval(Real, 0.0, None, closed="left")],
        "reconstruction_weight": [Interval(Real, 0.0, 1.0, closed="both")],
    }

    def __init__(
        self,
        *,
        n_memory=10,
        compactness_weight=0.1,
        separateness_weight=0.1,
        margin=1.0,
        reconstruction_weight=0.6,
        **params,
    ):
        self.n_memory = n_memory
        self.compactness_weight = compactness_weight
        self.separateness_weight = separateness_weight
        self.margin = margin
        self.reconstruction_weight = reconstruction_weight
        super().__init__(**params)

    def _build_network(self, sample_shape):
        return MNADNetwork(
            sample_shape,
            self._filters_,
            kernel_size=self.kernel_size,
            activation=self.activation,
            n_memory=self.n_memory,
            compactness_weight=self.compactness_weight,
            separateness_weight=self.separateness_weight,
            margin=self.margin,
            reconstruction_weight=self.reconstruction_weight,
        )

    def _calibrate(self, X, y):
        """Set the scales of the map's two terms to their means on the
        training images (see Notes)."""
        networks = [self.model_]
        if self._scoring_network is not self.model_:
            networks.append(self._scoring_network)
        for network in networks:
            network.error_scale.assign(1.0)
            network.distance_scale.assign(1.0)
        zeros = np.zeros(X.shape[-1])
        # X is scaled already: a mapper that scales by (0, 1).
        mapper = self._mapper_of(
            _component_means_scaled, (2,), center=zeros, scale=np.ones_like(zeros)
        )
        means = mapper(X).mean(axis=0)
        means = np.where(np.isfinite(means) & (means > 0), means, 1.0)
        for network in networks:
            network.error_scale.assign(means[0])
            network.distance_scale.assign(means[1])
