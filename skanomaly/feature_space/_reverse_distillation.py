"""Reverse distillation from a one-class embedding (Deng and Li, CVPR 2022)."""

from numbers import Real

from sklearn.utils._param_validation import Interval

from ..engine import (
    BaseGradientDetector,
    DetectorNetwork,
    ImageInput,
    PretrainedBackbone,
    SmoothedMaps,
    blur_maps,
    keras,
    upsample_maps,
)

layers = keras.layers
ops = keras.ops

#: Keeps the norm of an all-zero feature vector (a ReLU's) from dividing by 0.
EPSILON = 1e-12


def _halved(size):
    """Padding and output side of a 3x3 stride-2 convolution on ``size``:
    "valid" when every side is odd (it lands on ``(s - 1) / 2``, as the
    backbone's own valid poolings do, so that its transpose comes back to
    ``s``), else "same" (``ceil(s / 2)``)."""
    if all(s % 2 == 1 and s >= 3 for s in size):
        return "valid", tuple((s - 1) // 2 for s in size)
    return "same", tuple(-(-s // 2) for s in size)


def _n_halvings(size, target):
    """Stride-2 steps from a map of side ``size`` to one of ``target``."""
    steps = 0
    side, goal = min(size), min(target)
    while side > goal:
        side = -(-side // 2)
        steps += 1
    return steps


def _cosine_distance(teacher, student):
    """``1 - cos`` between the feature vectors at each position, ``(batch, h, w)``."""
    dot = ops.sum(teacher * student, axis=-1)
    norms = ops.sqrt(ops.sum(ops.square(teacher), axis=-1) * ops.sum(ops.square(student), axis=-1))
    return 1.0 - dot / ops.maximum(norms, EPSILON)


class ResizeTo(layers.Layer):
    """Bilinear resize of feature maps to a fixed ``size`` (the teacher's
    shape where a stride-2 step does not land on it); nothing at that size."""

    def __init__(self, size, **kwargs):
        super().__init__(**kwargs)
        self.size = tuple(size)

    def call(self, x):
        if tuple(x.shape[1:3]) == self.size:
            return x
        return ops.image.resize(x, self.size, interpolation="bilinear")


class OneClassBottleneck(layers.Layer):
    """The trainable one-class bottleneck embedding (OCBE).

    Multi-scale feature fusion: each teacher map is brought to the
    coarsest one's resolution by 3x3 stride-2 convolutions (ReLU), the
    maps are concatenated and mixed by a 1x1 convolution; then one
    residual block, itself of stride 2, compresses them into the compact
    embedding the student decodes.
    """

    def __init__(self, sizes, width, embedding_channels, **kwargs):
        super().__init__(**kwargs)
        coarsest = sizes[-1]
        self.branches = []
        for size in sizes:
            branch = []
            for _ in range(_n_halvings(size, coarsest)):
                padding, size = _halved(size)
                branch.append(
                    layers.Conv2D(width, 3, strides=2, padding=padding, activation="relu")
                )
            branch.append(ResizeTo(coarsest))
            self.branches.append(branch)
        self.fuse = layers.Conv2D(width, 1, activation="relu")
        padding, self.embedding_size = _halved(coarsest)
        self.block_in = layers.Conv2D(
            embedding_channels, 3, strides=2, padding=padding, activation="relu"
        )
        self.block_out = layers.Conv2D(embedding_channels, 3, padding="same")
        self.shortcut = layers.Conv2D(embedding_channels, 3, strides=2, padding=padding)

    def call(self, features):
        fused = []
        for branch, x in zip(self.branches, features):
            for layer in branch:
                x = layer(x)
            fused.append(x)
        x = self.fuse(ops.concatenate(fused, axis=-1) if len(fused) > 1 else fused[0])
        return ops.relu(self.block_out(self.block_in(x)) + self.shortcut(x))


class StudentDecoder(layers.Layer):
    """The student: the teacher reversed, from the embedding back to each
    teacher map, coarsest first.

    Each stage doubles the resolution with a 3x3 stride-2 transposed
    convolution ("valid" to land on an odd side ``2s + 1``, the inverse of
    the backbone's valid pooling; else "same"), resizes to the teacher's
    shape where neither lands, refines with a 3x3 convolution, and
    projects linearly (1x1) to the teacher's channels. Returns the maps
    finest first, as the teacher's.
    """

    def __init__(self, sizes, channels, widths, embedding_size, **kwargs):
        super().__init__(**kwargs)
        self.stages = []
        size = embedding_size
        for target, n_channels, width in zip(sizes[::-1], channels[::-1], widths[::-1]):
            padding = (
                "valid" if tuple(2 * s + 1 for s in size) == tuple(target) else "same"
            )
            self.stages.append([
                layers.Conv2DTranspose(width, 3, strides=2, padding=padding, activation="relu"),
                ResizeTo(target),
                layers.Conv2D(width, 3, padding="same", activation="relu"),
                layers.Conv2D(n_channels, 1),
            ])
            size = target

    def call(self, embedding):
        outputs = []
        x = embedding
        for stage in self.stages:
            for layer in stage:
                x = layer(x)
            outputs.append(x)
        return outputs[::-1]


class ReverseDistillationNetwork(DetectorNetwork):
    """Frozen teacher, trainable bottleneck and student decoder.

    ``call`` returns the teacher's maps and the student's, both finest
    first; ``distances`` the per-position ``1 - cos`` of each level.
    """

    def __init__(self, teacher, image_size, *, width_multiplier, blur_sigma):
        super().__init__()
        self.teacher = teacher
        self.image_size = tuple(image_size)
        self.blur_sigma = blur_sigma
        sizes = [tuple(int(s) for s in output.shape[1:3]) for output in teacher.outputs]
        channels = [int(output.shape[-1]) for output in teacher.outputs]
        widths = [max(1, round(width_multiplier * c)) for c in channels]
        self.bottleneck = OneClassBottleneck(sizes, widths[-1], 2 * widths[-1])
        self.decoder = StudentDecoder(
            sizes, channels, widths, self.bottleneck.embedding_size
        )

    def build(self, input_shape):
        # Every trained part built here, on the teacher's output shapes, so
        # that the engine finds them built after one call.
        features = [keras.KerasTensor((None, *output.shape[1:])) for output in self.teacher.outputs]
        self.decoder(self.bottleneck(features))

    def call(self, x, training=False):
        teacher = list(self.teacher(x, training=False))
        student = self.decoder(self.bottleneck(teacher))
        return teacher, student

    def distances(self, x):
        """``1 - cos`` at each position of each level, finest first."""
        teacher, student = self(x, training=False)
        return [_cosine_distance(t, s) for t, s in zip(teacher, student)]

    def detector_loss(self, x, outputs, training):
        teacher, student = outputs
        return sum(
            ops.mean(_cosine_distance(t, s), axis=(1, 2)) for t, s in zip(teacher, student)
        )

    def pixel_map(self, x):
        maps = sum(upsample_maps(d, self.image_size) for d in self.distances(x))
        return blur_maps(maps, self.blur_sigma)

    def score(self, x):
        return -ops.max(self.pixel_map(x), axis=(1, 2))


class ReverseDistillation(SmoothedMaps, PretrainedBackbone, ImageInput, BaseGradientDetector):
    """Reverse distillation (RD4AD) anomaly detector for images.

    A frozen network pretrained on ImageNet, the teacher, describes each
    image by the feature maps of three of its layers, from fine to coarse.
    A student learns, on normal images only, to reproduce them, but in
    reverse: a trainable one-class bottleneck (OCBE) fuses the three maps
    and compresses them into a compact embedding, and the student, a
    decoder shaped as the teacher reversed, rebuilds each of the teacher's
    maps from it, coarsest first. Trained to agree with the teacher (in the
    direction of the feature vectors) on normal images, the student, which
    never sees the image itself, only what the embedding keeps of it, fails
    to rebuild features it never learned: where an image holds a defect the
    teacher's and the student's feature vectors point apart. The anomaly
    map is ``1 - cos`` between them at each position, summed over the
    levels at the image's resolution, and smoothed.

    Parameters
    ----------
    width_multiplier : float > 0, default=0.25
        Width of the trainable parts, as a share of the teacher's channels:
        each decoder stage has ``width_multiplier`` times its level's
        channels, the bottleneck's fusion as many as the coarsest level's
        stage, and its embedding twice that.

    Attributes
    ----------
    model_ : keras.Model
        The trained network (a ``ReverseDistillationNetwork``): the frozen
        teacher ``model_.teacher``, and the trained
        ``model_.bottleneck`` and ``model_.decoder``.

    See Also
    --------
    ConvAutoEncoder : Reconstruction of the pixels rather than of a
        pretrained network's features.

    Notes
    -----
    A pixel of :meth:`anomaly_map` is the sum over the teacher's layers of
    ``1 - cos`` between the teacher's and the student's feature vectors,
    each level's map resized bilinearly to the image's resolution, then
    smoothed by a Gaussian of ``blur_sigma`` pixels; with the default
    ``map_aggregation="max"``, ``-score_samples`` is its largest value, the
    paper's image score. The training loss is the sum over the layers of
    the mean over positions of ``1 - cos``, the paper's.

    The paper's teacher is a WideResNet-50 (layers 1 to 3) on 256x256
    images, its bottleneck and decoder ResNet blocks with batch
    normalisation, trained 200 epochs with Adam (learning rate 0.005); it
    reaches an image ROC AUC of 98.5, a pixel ROC AUC of 97.8 and a PRO of
    93.9 on MVTec AD, and 99.3 on one-class MNIST. Here the default teacher
    is SqueezeNet 1.1 (``fire3``, ``fire5`` and ``fire7``, at strides 4, 8
    and 16), small enough to train on a CPU; any ``keras.applications``
    network works (``backbone="ResNet50"`` takes ``conv2_block3_out``,
    ``conv3_block4_out`` and ``conv4_block6_out``). The bottleneck and the
    decoder are plain convolutions with ReLU, no batch normalisation, and
    narrower than the teacher (``width_multiplier``); the embedding, as in
    the paper, is at half the coarsest level's resolution. Where a stride-2
    step does not land on the teacher's shape (SqueezeNet's valid pooling
    gives 31, 15 and 7 positions a side for 128-pixel images), the maps are
    resized bilinearly to it. On the Magnetic Tile Defects data set at
    128x128 (70% of the defect-free tiles to train, the defaults: 10
    epochs, ``width_multiplier=0.25``, about 4.5 minutes on two CPU cores)
    it reaches an image ROC AUC of 0.806, a pixel ROC AUC of 0.735 and an
    AUPRO of 0.633 (HOG + One-Class SVM: image ROC AUC 0.758).

    References
    ----------
    H. Deng and X. Li, "Anomaly detection via reverse distillation from
    one-class embedding", CVPR 2022.

    Examples
    --------
    >>> import numpy as np
    >>> from skanomaly.datasets import make_defect_textures
    >>> from skanomaly.feature_space._reverse_distillation import ReverseDistillation
    >>> train = make_defect_textures(20, 0, image_size=32, random_state=0)
    >>> detector = ReverseDistillation(
    ...     weights=None, width_multiplier=0.125, epochs=1, random_state=0
    ... ).fit(train.images)
    >>> detector.anomaly_map(train.images[:2]).shape
    (2, 32, 32)
    """

    _default_layers = {
        "squeezenet1_1": ("fire3", "fire5", "fire7"),
        "ResNet50": ("conv2_block3_out", "conv3_block4_out", "conv4_block6_out"),
    }
    _parameter_defaults = {"map_aggregation": "max", "epochs": 10}
    _parameter_constraints: dict = {
        "width_multiplier": [Interval(Real, 0.0, None, closed="neither")],
    }

    def __init__(self, *, width_multiplier=0.25, **params):
        self.width_multiplier = width_multiplier
        super().__init__(**params)

    def _build_network(self, sample_shape):
        teacher = self._frozen_["backbone"]
        sizes = [tuple(output.shape[1:3]) for output in teacher.outputs]
        if any(
            later[0] > earlier[0] or later[1] > earlier[1]
            for earlier, later in zip(sizes, sizes[1:])
        ):
            raise ValueError(
                f"ReverseDistillation needs layers ordered from the shallowest "
                f"to the deepest (maps of non-increasing size); "
                f"layers={list(self._feature_layers())} give maps of "
                f"{[f'{h}x{w}' for h, w in sizes]}."
            )
        return ReverseDistillationNetwork(
            teacher,
            sample_shape[:2],
            width_multiplier=float(self.width_multiplier),
            blur_sigma=float(self.blur_sigma),
        )
