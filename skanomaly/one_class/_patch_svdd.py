"""Patch SVDD: patch-level SVDD for anomaly detection and segmentation."""

import functools
import math
from numbers import Integral, Real

import numpy as np
from sklearn.utils import gen_batches
from sklearn.utils._param_validation import Interval, StrOptions

from ..engine import BaseGradientDetector, DetectorNetwork, ImageInput, keras
from ..engine._scoring import ChunkedMapper

layers = keras.layers
ops = keras.ops

#: The eight neighbours of a patch in a 3x3 grid of patches, as (row,
#: column) directions, in the order of the position classifier's classes.
NEIGHBOURS = np.array(
    [(-1, -1), (-1, 0), (-1, 1), (0, -1), (0, 1), (1, -1), (1, 0), (1, 1)],
    dtype="int32",
)
#: Slope of the leaky ReLUs, as in the paper's networks.
LEAKY_SLOPE = 0.1
#: Memory-bank entries compared with a chunk's patches at once in the
#: nearest-neighbour search: bounds its working memory for large banks.
BANK_BLOCK = 4096
#: Largest patch side ``patch_size="auto"`` takes: the paper's (at 256x256).
MAX_AUTO_PATCH = 64
#: Values (float64) of training-patch embeddings held at once while the
#: memory bank is drawn: 64 MiB.
BANK_PASS_VALUES = 2**23


# --------------------------------------------------------------------------
# geometry


def auto_patch_size(image_size):
    """The patch side for ``patch_size="auto"``: the largest the images
    allow, half their shorter side (rounded down to an even number), up to
    the paper's 64 pixels.

    Examples
    --------
    >>> from skanomaly.one_class._patch_svdd import auto_patch_size
    >>> auto_patch_size((256, 256)), auto_patch_size((128, 96)), auto_patch_size((28, 28))
    (64, 48, 14)
    """
    return int(min(MAX_AUTO_PATCH, max(2, min(image_size) // 4 * 2)))


def patch_starts(length, size, stride):
    """Start of each patch of ``size`` along an axis of ``length``: every
    ``stride`` pixels, and one more flush with the end when the last of
    those stops short of it, so that every pixel is covered."""
    starts = list(range(0, length - size + 1, stride))
    if starts[-1] != length - size:
        starts.append(length - size)
    return np.asarray(starts, dtype="int32")


def spreading_matrix(length, starts, size):
    """``(length, n_patches)`` weights that spread values of patches along an
    axis to the pixels they cover, each pixel taking the mean of its
    patches'. The mean over a grid of patches factorises: a pixel's value is
    ``rows @ values @ columns.T``."""
    pixels = np.arange(length)[:, None]
    covers = (pixels >= starts[None, :]) & (pixels < starts[None, :] + size)
    return (covers / covers.sum(axis=1, keepdims=True)).astype("float32")


def inference_grid(length, patch_size, stride):
    """The inference grid along an axis of ``length`` pixels, as NumPy
    arrays: ``starts``, where the small patches that are embedded start
    (those of the small scale's grid, and the quarters of the large
    patches); the indices into ``starts`` of the small patches
    (``"small"``), of the large ones (``"large"``) and of their second
    halves (``"large_second"``); and the spreading matrices of both scales
    (:func:`spreading_matrix`)."""
    half = patch_size // 2
    small = patch_starts(length, half, stride)
    large = patch_starts(length, patch_size, stride)
    starts = np.union1d(np.union1d(small, large), large + half).astype("int32")
    return {
        "starts": starts,
        "small": np.searchsorted(starts, small).astype("int32"),
        "large": np.searchsorted(starts, large).astype("int32"),
        "large_second": np.searchsorted(starts, large + half).astype("int32"),
        "spread_small": spreading_matrix(length, small, half),
        "spread_large": spreading_matrix(length, large, patch_size),
    }


def conv_strides(side):
    """Strides of the 3x3 "valid" convolutions that bring a ``side`` x
    ``side`` patch down to at most 4 pixels a side (stride 2 while it has
    10 pixels or more, then 1), and the side that is left."""
    strides = []
    while side > 4:
        stride = 2 if side >= 10 else 1
        strides.append(stride)
        side = (side - 3) // stride + 1
    return strides, side


# --------------------------------------------------------------------------
# network


def leaky_relu(x):
    """Leaky ReLU of slope :data:`LEAKY_SLOPE`, as ``max(x, slope * x)``:
    TensorFlow's graph optimiser fails on its LeakyRelu op after a
    convolution whose gradient is taken, and says so in an error line."""
    return ops.maximum(x, LEAKY_SLOPE * x)


def _leaky():
    return layers.Activation(leaky_relu)


def patch_encoder(side, width, embedding_dim):
    """Encoder of ``side`` x ``side`` patches to ``embedding_dim`` values in
    (-1, 1): 3x3 "valid" convolutions (see :func:`conv_strides`), one whose
    kernel covers what is left (down to 1x1), then a tanh layer. No padding:
    an embedding depends on its patch's pixels only."""
    stack = []
    strides, last = conv_strides(side)
    for stride in strides:
        stack += [layers.Conv2D(width, 3, strides=stride), _leaky()]
    stack += [
        layers.Conv2D(width, last),
        _leaky(),
        layers.Flatten(),
        layers.Dense(embedding_dim, activation="tanh"),
    ]
    return keras.Sequential(stack)


def position_classifier(width):
    """The classifier of the relative position of two neighbouring patches,
    from the difference of their embeddings: 8 logits."""
    return keras.Sequential(
        [layers.Dense(width), _leaky(), layers.Dense(width), _leaky(), layers.Dense(8)]
    )


class PatchModel(layers.Layer):
    """Patch SVDD's trained networks: the hierarchical encoder and a
    position classifier at each of its two scales.

    ``small_encoder`` embeds patches of ``patch_size // 2`` pixels a side;
    a patch of ``patch_size`` is embedded from the small embeddings of its
    four quarters (top left, top right, bottom left, bottom right),
    concatenated, by ``merge`` (the paper's hierarchical encoder).
    """

    def __init__(self, patch_size, n_channels, width, embedding_dim, **kwargs):
        super().__init__(**kwargs)
        self.patch_size = patch_size
        self.half = patch_size // 2
        self.n_channels = n_channels
        self.embedding_dim = embedding_dim
        self.small_encoder = patch_encoder(self.half, width, embedding_dim)
        self.merge = keras.Sequential(
            [layers.Dense(width), _leaky(), layers.Dense(embedding_dim, activation="tanh")]
        )
        self.large_classifier = position_classifier(width)
        self.small_classifier = position_classifier(width)

    def build(self, input_shape=None):
        self.small_encoder.build((None, self.half, self.half, self.n_channels))
        self.merge.build((None, 4 * self.embedding_dim))
        self.large_classifier.build((None, self.embedding_dim))
        self.small_classifier.build((None, self.embedding_dim))
        self.built = True

    def merge_quarters(self, quarters):
        """Embeddings of large patches from those of their four quarters,
        ``(..., 4 * embedding_dim)`` in the order TL, TR, BL, BR."""
        leading = ops.shape(quarters)[:-1]
        merged = self.merge(ops.reshape(quarters, (-1, 4 * self.embedding_dim)))
        return ops.reshape(merged, (*leading, self.embedding_dim))

    def embed(self, patches, large):
        """Embeddings ``(n, embedding_dim)`` of patches ``(n, k, k,
        channels)``: large ones (``k = patch_size``) or small ones."""
        if not large:
            return self.small_encoder(patches)
        h = self.half
        quarters = ops.concatenate(
            [
                patches[:, :h, :h],
                patches[:, :h, h:],
                patches[:, h:, :h],
                patches[:, h:, h:],
            ],
            axis=0,
        )
        embedded = ops.split(self.small_encoder(quarters), 4, axis=0)
        return self.merge_quarters(ops.concatenate(embedded, axis=-1))

    def classifier(self, large):
        return self.large_classifier if large else self.small_classifier


def crop(x, rows, cols, size):
    """Patches of ``size`` x ``size`` pixels of a batch of images ``(batch,
    height, width, channels)``, ``rows`` and ``cols`` of shape ``(batch,
    n)`` holding their top left corners: ``(batch * n, size, size,
    channels)``, image by image."""
    _, height, width, channels = x.shape
    batch = ops.shape(x)[0]
    offsets = ops.arange(size, dtype="int32")
    r = rows[:, :, None] + offsets
    c = cols[:, :, None] + offsets
    first = ops.arange(batch, dtype="int32")[:, None, None, None] * (height * width)
    flat = first + r[:, :, :, None] * width + c[:, :, None, :]
    pixels = ops.take(ops.reshape(x, (-1, channels)), ops.reshape(flat, (-1,)), axis=0)
    return ops.reshape(pixels, (-1, size, size, channels))


def nearest_distance(embeddings, bank):
    """Euclidean distance of each embedding ``(n, d)`` to its nearest entry
    of ``bank`` ``(m, d)``.

    The nearest entry minimises ``|b|^2 - 2 a.b``, one product of
    ``[a, 1]`` with ``[-2 b, |b|^2]`` (one matrix product, rather than a
    product and two sums of matrices), :data:`BANK_BLOCK` entries at a
    time; its distance is then computed from the difference itself, which
    keeps small distances exact (the expansion loses them to cancellation
    in float32).
    """
    ones = ops.ones_like(embeddings[:, :1])
    augmented = ops.concatenate([embeddings, ones], axis=1)
    best_value = best_index = None
    for start in range(0, bank.shape[0], BANK_BLOCK):
        block = bank[start : start + BANK_BLOCK]
        block = ops.concatenate(
            [-2.0 * block, ops.sum(ops.square(block), axis=1, keepdims=True)], axis=1
        )
        distances = ops.matmul(augmented, ops.transpose(block))
        value = ops.min(distances, axis=-1)
        index = ops.cast(ops.argmin(distances, axis=-1), "int32") + start
        if best_value is None:
            best_value, best_index = value, index
        else:
            closer = value < best_value
            best_value = ops.where(closer, value, best_value)
            best_index = ops.where(closer, index, best_index)
    nearest = ops.take(bank, best_index, axis=0)
    return ops.sqrt(ops.sum(ops.square(embeddings - nearest), axis=-1))


class PatchSVDDNetwork(DetectorNetwork):
    """Patch SVDD's network: the trained :class:`PatchModel`, the sampling
    of training pairs, and the embedding of every patch of an image on a
    grid.

    Training (:meth:`train_step`) draws, for each image of the batch and at
    each scale, ``pairs_per_image`` pairs of a patch and a copy of it moved
    by up to ``jitter`` pixels (the SVDD' loss: their squared embedding
    distance), and as many pairs of a patch and one of its eight neighbours
    (the self-supervised loss: the cross-entropy of the position
    classifier), from the network's own seed generator.

    At inference, patches start every ``stride`` pixels (the last flush
    with the image's border), at both scales; ``call`` returns their
    embeddings ``(large, small)``, of shapes ``(batch, n_rows, n_cols,
    embedding_dim)``, and :meth:`pixel_map` the anomaly map, given the
    memory banks of training-patch embeddings.
    """

    trained_parts = ("patch_model",)

    def __init__(
        self, image_shape, *, patch_size, stride, width, embedding_dim,
        pairs_per_image, svdd_weight,
    ):
        super().__init__()
        self.image_height, self.image_width, self.n_channels = image_shape
        self.patch_size = patch_size
        self.half = patch_size // 2
        self.embedding_dim = embedding_dim
        self.pairs_per_image = pairs_per_image
        self.svdd_weight = svdd_weight
        self.patch_model = PatchModel(
            patch_size, self.n_channels, width, embedding_dim, name="patch_model"
        )
        self.seed_generator = keras.random.SeedGenerator()
        self._grid(stride)

    def _grid(self, stride):
        """The inference grid of both scales, along each axis."""
        self.grids = {
            "rows": inference_grid(self.image_height, self.patch_size, stride),
            "cols": inference_grid(self.image_width, self.patch_size, stride),
        }

    @property
    def grid_shapes(self):
        """``{"large": (n_rows, n_cols), "small": (n_rows, n_cols)}`` of the
        inference grid."""
        rows, cols = self.grids["rows"], self.grids["cols"]
        return {
            scale: (len(rows[scale]), len(cols[scale])) for scale in ("large", "small")
        }

    def build(self, input_shape):
        self.patch_model.build()
        self.built = True

    # ------------------------------------------------------------ training
    def _integers(self, shape, low, high):
        """Integers drawn uniformly from ``[low, high]`` (ints or int
        tensors of ``shape``), from the network's seed generator."""
        u = keras.random.uniform(shape, seed=self.seed_generator)
        low = ops.cast(low, "float32")
        span = ops.cast(high, "float32") - low + 1.0
        drawn = ops.cast(ops.floor(low + u * span), "int32")
        return ops.minimum(drawn, ops.cast(high, "int32"))

    def scale_losses(self, x, large):
        """The SVDD' and self-supervised losses at one scale, on pairs drawn
        from the images ``x``."""
        k = self.patch_size if large else self.half
        shape = (ops.shape(x)[0], self.pairs_per_image)
        max_row, max_col = self.image_height - k, self.image_width - k
        # SVDD': a patch and the same moved by up to `jitter` pixels.
        jitter = max(1, k // 32)
        rows = self._integers(shape, 0, max_row)
        cols = self._integers(shape, 0, max_col)
        near_rows = ops.clip(rows + self._integers(shape, -jitter, jitter), 0, max_row)
        near_cols = ops.clip(cols + self._integers(shape, -jitter, jitter), 0, max_col)
        # Self-supervised: a patch and one of its 8 neighbours, 3/4 of a
        # patch to a whole patch away along each axis it moves on.
        label = self._integers(shape, 0, 7)
        direction = ops.take(ops.convert_to_tensor(NEIGHBOURS), label, axis=0)
        step = (k - k // 4, k)
        shift_r = direction[..., 0] * self._integers(shape, *step)
        shift_c = direction[..., 1] * self._integers(shape, *step)
        first_rows = self._integers(
            shape, ops.maximum(-shift_r, 0), max_row - ops.maximum(shift_r, 0)
        )
        first_cols = self._integers(
            shape, ops.maximum(-shift_c, 0), max_col - ops.maximum(shift_c, 0)
        )
        patches = ops.concatenate(
            [
                crop(x, rows, cols, k),
                crop(x, near_rows, near_cols, k),
                crop(x, first_rows, first_cols, k),
                crop(x, first_rows + shift_r, first_cols + shift_c, k),
            ],
            axis=0,
        )
        anchor, near, first, neighbour = ops.split(
            self.patch_model.embed(patches, large), 4, axis=0
        )
        svdd = ops.mean(ops.sum(ops.square(anchor - near), axis=-1))
        logits = self.patch_model.classifier(large)(first - neighbour)
        ssl = ops.mean(
            ops.sparse_categorical_crossentropy(
                ops.reshape(label, (-1,)), logits, from_logits=True
            )
        )
        return svdd, ssl

    def training_losses(self, x):
        """``(total, svdd, ssl)``: the SVDD' and self-supervised losses summed
        over the two scales, and ``svdd_weight * svdd + ssl``."""
        svdd_large, ssl_large = self.scale_losses(x, large=True)
        svdd_small, ssl_small = self.scale_losses(x, large=False)
        svdd = svdd_large + svdd_small
        ssl = ssl_large + ssl_small
        return self.svdd_weight * svdd + ssl, svdd, ssl

    def train_step(self, data):
        x, _, _ = keras.utils.unpack_x_y_sample_weight(data)
        parts = {}

        def loss():
            total, parts["svdd_loss"], parts["ssl_loss"] = self.training_losses(x)
            return total

        total = self.minimize("patch_model", loss)
        return {"loss": total, **parts}

    # ----------------------------------------------------------- inference
    def call(self, x, training=False):
        rows, cols = self.grids["rows"], self.grids["cols"]
        h, d = self.half, self.embedding_dim
        n_rows, n_cols = len(rows["starts"]), len(cols["starts"])
        # Every small patch of the grid, as one batch.
        row_pixels = (rows["starts"][:, None] + np.arange(h)).reshape(-1)
        col_pixels = (cols["starts"][:, None] + np.arange(h)).reshape(-1)
        pixels = ops.take(ops.take(x, row_pixels, axis=1), col_pixels, axis=2)
        pixels = ops.reshape(pixels, (-1, n_rows, h, n_cols, h, self.n_channels))
        patches = ops.reshape(
            ops.transpose(pixels, (0, 1, 3, 2, 4, 5)), (-1, h, h, self.n_channels)
        )
        embedded = ops.reshape(self.patch_model.embed(patches, False), (-1, n_rows, n_cols, d))

        def at(row_index, col_index):
            return ops.take(ops.take(embedded, row_index, axis=1), col_index, axis=2)

        small = at(rows["small"], cols["small"])
        quarters = [
            at(rows[r], cols[c])
            for r, c in (
                ("large", "large"),
                ("large", "large_second"),
                ("large_second", "large"),
                ("large_second", "large_second"),
            )
        ]
        large = self.patch_model.merge_quarters(ops.concatenate(quarters, axis=-1))
        return large, small

    def patch_distances(self, x, bank, small_bank):
        """Distance of each patch's embedding to its nearest neighbour in the
        memory bank of its scale: ``(large, small)``, each ``(batch, n_rows,
        n_cols)`` over the inference grid."""
        distances = []
        for embedded, memory in zip(self(x), (bank, small_bank)):
            grid = ops.shape(embedded)[1:3]
            flat = ops.reshape(embedded, (-1, self.embedding_dim))
            distances.append(
                ops.reshape(nearest_distance(flat, memory), (-1, grid[0], grid[1]))
            )
        return tuple(distances)

    def pixel_map(self, x, bank, small_bank):
        """The anomaly map ``(batch, height, width)``: at each scale, a pixel
        takes the mean distance of the patches that cover it; the map is
        the product of the two scales' maps."""
        rows, cols = self.grids["rows"], self.grids["cols"]
        large, small = self.patch_distances(x, bank, small_bank)
        maps = []
        for distances, scale in ((large, "spread_large"), (small, "spread_small")):
            spread_rows = ops.convert_to_tensor(rows[scale], dtype=distances.dtype)
            spread_cols = ops.convert_to_tensor(cols[scale], dtype=distances.dtype)
            maps.append(ops.einsum("hr,nrc,wc->nhw", spread_rows, distances, spread_cols))
        return maps[0] * maps[1]

    def score(self, x, bank, small_bank):
        return -ops.max(self.pixel_map(x, bank, small_bank), axis=(1, 2))


def _grid_embeddings(network, x):
    """Every grid patch's embedding of each image, flat: the large scale's,
    then the small one's."""
    large, small = network(x)
    n = ops.shape(x)[0]
    return ops.concatenate([ops.reshape(large, (n, -1)), ops.reshape(small, (n, -1))], axis=1)


# --------------------------------------------------------------------------
# estimator


class PatchSVDD(ImageInput, BaseGradientDetector):
    """Patch SVDD anomaly detector and segmenter for images.

    Patch SVDD (Yi and Yoon, 2020) learns, from defect-free images only and
    from scratch, an encoder of image patches such that patches that look
    alike get nearby embeddings; a test patch is as anomalous as its
    embedding is far from that of every training patch. It does so at two
    scales: patches of ``patch_size`` pixels a side and of half that, the
    encoder of large patches being built on that of small ones
    (hierarchical: a large patch is embedded from the small embeddings of
    its four quarters).

    The encoder is trained with two losses at each scale. SVDD': a patch
    and the same patch moved by a pixel or two should have close
    embeddings (the squared distance of the two; this replaces Deep SVDD's
    single centre, which cannot hold the variety of patches of an image).
    Self-supervised: given a patch and one of the 8 neighbours of a 3x3
    grid around it, a small classifier must tell from the difference of
    their embeddings where the neighbour lies, which keeps the embeddings
    from collapsing and makes them describe the patches' content. The loss
    is ``svdd_weight * SVDD' + self-supervised``, summed over the scales.

    After training, the embeddings of training patches on the inference
    grid (``n_memory`` of them at most at each scale, drawn at random) are
    kept as memory banks. A test image's patches are embedded on a grid of
    ``stride`` pixels; each patch's score is the distance of its embedding
    to the nearest one in the bank; a pixel's value at a scale is the mean
    of the scores of the patches that cover it, and its anomaly map value
    the product of the two scales' values.

    Parameters
    ----------
    patch_size : "auto" or even int >= 2, default="auto"
        Side of the large patches, in pixels; small ones are half of it.
        The images must have at least ``2 * patch_size`` pixels a side,
        room for a patch and its neighbours. ``"auto"`` takes the largest
        they allow, half their shorter side (rounded down to an even
        number), up to the paper's 64 pixels (a quarter of its 256x256
        images): 14 for 28x28 digits, 64 for 128x128 tiles (see
        :attr:`patch_size_`). Larger patches measured better on small
        images: one-class MNIST (digit 0) reached ROC AUC 0.62, 0.86 and
        0.98 with patches of 4, 8 and 14 pixels, and the Magnetic Tile
        tiles at 128x128 an image and pixel ROC AUC of 0.48 and 0.62 with
        32 pixels, 0.52 and 0.66 with 64. Smaller patches give sharper
        maps of small defects.
    stride : "auto" or int >= 1, default="auto"
        Step of the inference grid of patches, in pixels, at both scales
        (at most ``patch_size // 2``); the last patch of a row or a column
        lies flush with the border. ``"auto"`` is ``patch_size // 8`` (at
        least 1): 8 for patches of 64 pixels, 1 for 14. The paper's 4 for
        64 is twice as fine and costs four times as much to score.
    embedding_dim : int, default=64
        Dimension of the patch embeddings (the paper's 64).
    width : int, default=64
        Channels of the encoder's convolutions and units of the hidden
        layers of the merging layer and the position classifiers.
    svdd_weight : float >= 0, default=1.0
        Weight of the SVDD' loss against the self-supervised one (the
        paper's ``lambda``: 1 for most MVTec AD categories, 1e-3 for
        others). 1 keeps neighbouring patches' embeddings close, which
        the nearest-neighbour score needs; the self-supervised loss keeps
        them from collapsing.
    pairs_per_image : int, default=8
        Pairs of patches drawn from each training image at each step, of
        each kind (SVDD' and self-supervised) and at each scale.
    n_memory : int, default=10000
        Largest number of training-patch embeddings kept in the memory bank
        of each scale, drawn at random among those of the inference grid of
        every training image (the paper keeps all of them). The scoring cost
        grows with it.
    map_aggregation : {"mean", "max", "topk_mean"}, default="max"
        How ``score_samples`` reduces an image's anomaly map to one score:
        the mean over the pixels, the largest pixel (the paper's score),
        or the mean of the ``topk_fraction`` largest pixels.
    epochs : int, default=50
        Passes over the training images.

    Attributes
    ----------
    patch_size_ : int
        Side of the large patches.
    stride_ : int
        Step of the inference grid.
    memory_bank_ : ndarray of shape (n_bank, embedding_dim)
        Embeddings of training patches of ``patch_size_`` pixels.
    small_memory_bank_ : ndarray of shape (n_small_bank, embedding_dim)
        Embeddings of training patches of ``patch_size_ // 2`` pixels.
    model_ : keras.Model
        The trained network (a ``PatchSVDDNetwork``); the encoder and the
        position classifiers are ``model_.patch_model``.

    See Also
    --------
    DeepSVDD : One embedding a sample, pulled towards one centre.
    ConvAutoEncoder : Anomaly maps from reconstruction errors.

    Notes
    -----
    A pixel of :meth:`anomaly_map` is the product, over the two scales, of
    the mean distance of the patches that cover it to their nearest
    training patch, in the embedding space (each embedding lies in
    ``(-1, 1) ** embedding_dim``); ``-score_samples`` is its largest value
    with ``map_aggregation="max"``, the paper's image score.

    As in the paper: the SVDD' and self-supervised losses at two scales,
    with a position classifier at each; a hierarchical encoder of large
    patches built on the encoder of their quarters; the nearest-neighbour
    distance of each patch of a grid to the training patches of its scale;
    the mean over the patches covering a pixel; the product of the two
    scales' maps, and its maximum as the image's score. Our choices where
    the paper is silent or does not fit small images: SVDD' pairs are
    moved by up to ``max(1, k // 32)`` pixels along each axis for patches
    of ``k`` pixels (clipped to the image); a neighbour lies 3/4 of a patch
    to a whole patch away along each axis it moves on; the encoder is sized
    from the patch (3x3 unpadded convolutions, of stride 2 while 10
    pixels or more remain, then one convolution covering the rest and a
    tanh layer), rather than the paper's fixed encoders of 32 and 64
    pixels; the patch size and the grid step default to half the images
    (up to the paper's 64 pixels) and an eighth of a patch; training runs
    for ``epochs`` passes over the images with ``pairs_per_image`` pairs
    each, at Keras' learning rate of 1e-3 (the
    paper: 1e-4, for many more steps); the memory banks are a random
    subset of ``n_memory`` training patches at each scale rather than all
    of them, searched exactly. The paper reaches 92.1 image and 95.7 pixel
    ROC AUC on MVTec AD (mean over its 15 categories, 256x256 images,
    patches of 64 pixels); we have not run MVTec AD.

    The training images' patches are in the memory banks (those drawn), so
    their own scores are lower than those of new normal images: a
    threshold set from them (``offset_``, whatever ``contamination``) flags
    more new images as anomalous than ``contamination`` says. Set it from
    held-out normal images where it matters.

    References
    ----------
    .. [1] J. Yi and S. Yoon, "Patch SVDD: Patch-level SVDD for Anomaly
       Detection and Segmentation", Asian Conference on Computer Vision
       (ACCV), 2020.

    Examples
    --------
    >>> import numpy as np
    >>> from skanomaly.datasets import make_defect_textures
    >>> from skanomaly.one_class._patch_svdd import PatchSVDD
    >>> train = make_defect_textures(40, 0, image_size=16, random_state=0)
    >>> detector = PatchSVDD(width=16, epochs=3, random_state=0).fit(train.images)
    >>> detector.patch_size_, detector.stride_
    (8, 1)
    >>> detector.anomaly_map(train.images[:2]).shape
    (2, 16, 16)
    """

    _parameter_defaults = {"map_aggregation": "max", "epochs": 50}
    #: Trains for ``epochs``: its losses on random pairs of patches are too
    #: noisy to stop early on.
    _early_stopping_monitor = None
    #: Its losses are means over pairs of patches, not one loss an image.
    _trims_losses = False
    _parameter_constraints: dict = {
        "patch_size": [StrOptions({"auto"}), Interval(Integral, 2, None, closed="left")],
        "stride": [StrOptions({"auto"}), Interval(Integral, 1, None, closed="left")],
        "embedding_dim": [Interval(Integral, 1, None, closed="left")],
        "width": [Interval(Integral, 1, None, closed="left")],
        "svdd_weight": [Interval(Real, 0.0, None, closed="left")],
        "pairs_per_image": [Interval(Integral, 1, None, closed="left")],
        "n_memory": [Interval(Integral, 1, None, closed="left")],
    }

    def __init__(
        self,
        *,
        patch_size="auto",
        stride="auto",
        embedding_dim=64,
        width=64,
        svdd_weight=1.0,
        pairs_per_image=8,
        n_memory=10000,
        **params,
    ):
        self.patch_size = patch_size
        self.stride = stride
        self.embedding_dim = embedding_dim
        self.width = width
        self.svdd_weight = svdd_weight
        self.pairs_per_image = pairs_per_image
        self.n_memory = n_memory
        super().__init__(**params)

    # ------------------------------------------------------------ geometry
    def _check_sample_shape(self, sample_shape):
        super()._check_sample_shape(sample_shape)
        height, width, n_channels = sample_shape
        name = type(self).__name__
        if self.patch_size == "auto":
            patch_size = auto_patch_size((height, width))
        else:
            patch_size = int(self.patch_size)
            if patch_size % 2:
                raise ValueError(
                    f"{name}: patch_size must be even (its small patches are "
                    f"half of it); got {patch_size}."
                )
        if min(height, width) < 2 * patch_size:
            raise ValueError(
                f"{name} with patch_size={patch_size} needs images of at "
                f"least {2 * patch_size}x{2 * patch_size} pixels (room for a "
                f"patch and its neighbours); got {height}x{width} "
                f"(n_features={height * width * n_channels}). Use a smaller "
                "patch_size or larger images."
            )
        stride = max(1, patch_size // 8) if self.stride == "auto" else int(self.stride)
        if stride > patch_size // 2:
            raise ValueError(
                f"{name}: stride={stride} would leave pixels that no small "
                f"patch covers; it must be at most patch_size // 2 = "
                f"{patch_size // 2}."
            )
        self.patch_size_ = patch_size
        self.stride_ = stride

    def _build_network(self, sample_shape):
        return PatchSVDDNetwork(
            sample_shape,
            patch_size=self.patch_size_,
            stride=self.stride_,
            width=self.width,
            embedding_dim=self.embedding_dim,
            pairs_per_image=self.pairs_per_image,
            svdd_weight=float(self.svdd_weight),
        )

    def _grids(self):
        """The inference grid along the rows and the columns."""
        height, width, _ = self._sample_shape_
        return [inference_grid(n, self.patch_size_, self.stride_) for n in (height, width)]

    def _grid_sizes(self):
        """Patches of an image on the inference grid: ``(large, small)``."""
        rows, cols = self._grids()
        return tuple(len(rows[scale]) * len(cols[scale]) for scale in ("large", "small"))

    def _values_per_pixel(self):
        """Widest tensor of scoring, per pixel: the encoder's widest
        activation over all the small patches it embeds, or the distances
        of the grid's patches to a block of the memory bank."""
        height, width, n_channels = self._sample_shape_
        rows, cols = self._grids()
        n_embedded = len(rows["starts"]) * len(cols["starts"])
        side = self.patch_size_ // 2
        widest = side * side * n_channels
        for stride in conv_strides(side)[0]:
            side = (side - 3) // stride + 1
            widest = max(widest, side * side * self.width)
        distances = sum(self._grid_sizes()) * min(self.n_memory, BANK_BLOCK)
        values = max(n_embedded * widest, distances)
        return max(n_channels, math.ceil(values / (height * width)))

    def _trains_eagerly(self, X):
        # Its training step is many small operations (drawing and cutting
        # out patches): eagerly, each step costs more than tracing them.
        return False

    # -------------------------------------------------------- memory banks
    def _fit_network(self, network, X, y, *, seed, warm):
        super()._fit_network(network, X, y, seed=seed, warm=warm)
        # Built here rather than in _calibrate: the scorer, made before
        # _calibrate runs, takes the banks as constants.
        self.memory_bank_, self.small_memory_bank_ = self._memory_banks(network, X, seed)

    def _memory_banks(self, network, X, seed):
        """At most ``n_memory`` embeddings of the training images' grid
        patches at each scale, drawn with the fit's seed."""
        rng = np.random.RandomState(seed)
        n_large, n_small = self._grid_sizes()
        d = self.embedding_dim
        drawn = [
            np.sort(rng.choice(len(X) * n, min(self.n_memory, len(X) * n), replace=False))
            for n in (n_large, n_small)
        ]
        mapper = ChunkedMapper(
            functools.partial(_grid_embeddings, network),
            self._sample_shape_,
            ((n_large + n_small) * d,),
            values_per_row=self._values_per_row(),
            eager=network.run_eagerly,
            dtype="float32",
        )
        banks = [[], []]
        per_pass = max(1, BANK_PASS_VALUES // ((n_large + n_small) * d))
        for images in gen_batches(len(X), per_pass):
            embedded = mapper(X[images])
            parts = (
                embedded[:, : n_large * d].reshape(-1, d),
                embedded[:, n_large * d :].reshape(-1, d),
            )
            for bank, part, chosen, n in zip(banks, parts, drawn, (n_large, n_small)):
                lo, hi = np.searchsorted(chosen, [images.start * n, images.stop * n])
                bank.append(part[chosen[lo:hi] - images.start * n])
        return tuple(np.concatenate(bank).astype(np.float32) for bank in banks)

    def _scoring_constants(self):
        return {"bank": self.memory_bank_, "small_bank": self.small_memory_bank_}
