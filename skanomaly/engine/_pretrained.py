"""Detectors on a frozen, pretrained backbone: the parameters they share and
the backbone as the engine's frozen network; anomaly maps from feature maps.
"""

import math
import os
from numbers import Integral, Real

from sklearn.utils._param_validation import Interval, StrOptions

from ..utils._parameters import Parameter
from ._backbones import SQUEEZENET, backbone_names, build_backbone, feature_map_sizes
from ._backend import keras

__all__ = ["PretrainedBackbone", "SmoothedMaps", "blur_maps", "upsample_maps"]

ops = keras.ops

BACKBONE = Parameter(
    "backbone", SQUEEZENET, [StrOptions(set(backbone_names()))],
    "str",
    """
    The pretrained network: ``"squeezenet1_1"`` (built in, 2.9 MB of
    ImageNet weights) or the name of any ``keras.applications`` network
    (``"ResNet50"``, ``"EfficientNetB0"``, ``"MobileNetV2"``, ...).
    """,
)
WEIGHTS = Parameter(
    "weights", "imagenet", [str, os.PathLike, None],
    '"imagenet", path or None',
    """
    The backbone's weights: ``"imagenet"`` (SqueezeNet's are downloaded
    once, with a checksum, into ``$SKANOMALY_DATA/weights/``, by default
    ``~/skanomaly_data/weights/``; a ``keras.applications`` network's by
    Keras into ``~/.keras/models/``), the path of a weights file (for
    SqueezeNet, its Keras HDF5 file ``squeezenet1_1_imagenet_notop.h5``;
    for a ``keras.applications`` network, one its ``load_weights`` reads),
    or None for random weights. The weights are stored in the fitted
    detector: it pickles, and scores elsewhere, without the file.
    """,
)
LAYERS = Parameter(
    "layers", None, [None, "array-like"], "tuple of str or None",
    """
    Names of the backbone's layers whose feature maps the detector uses
    (SqueezeNet's are ``conv1``, ``pool1``, ``fire2`` ... ``fire9``,
    ``pool3``, ``pool5``; a ``keras.applications`` network's are those of
    its ``summary()``). None takes the detector's choice for the backbone
    (see Notes); other backbones need them named.
    """,
)
INPUT_SIZE = Parameter(
    "input_size", None, [None, Interval(Integral, 1, None, closed="left"), "array-like"],
    "int, (height, width) or None",
    """
    Size the images are resized to (bilinear, with anti-aliasing) on their
    way into the backbone; None feeds them at their own size. Anomaly maps
    are returned at the images' own size either way.
    """,
)
SCALING = Parameter(
    "scaling", "minmax", [StrOptions({"minmax"}), None], '"minmax" or None',
    """
    How pixel values reach the [0, 255] range the backbone was trained on:
    ``"minmax"`` maps the training images' range (per channel) to it, so
    that images of bytes (0-255) and of floats (0-1) both work; None takes
    the images as already in [0, 1].
    """,
)
BLUR_SIGMA = Parameter(
    "blur_sigma", 4.0, [Interval(Real, 0.0, None, closed="left")], "float >= 0",
    """
    Standard deviation, in pixels of the images as given to ``fit`` (not
    of ``input_size``), of the Gaussian that smooths the anomaly maps (4
    in the papers of PatchCore, PaDiM and reverse distillation); 0 leaves
    them unsmoothed. Where the image score aggregates the map
    (``map_aggregation``), it aggregates the smoothed one.
    """,
)


def upsample_maps(maps, size):
    """Maps ``(batch, h, w)`` resized to ``size`` (height, width), bilinear."""
    if tuple(maps.shape[1:3]) == tuple(size):
        return maps
    return ops.image.resize(maps[..., None], size, interpolation="bilinear")[..., 0]


def gaussian_kernel(sigma):
    """A normalised 1-D Gaussian kernel of ``sigma`` pixels, 4 sigma each side."""
    radius = max(1, int(math.ceil(4.0 * sigma)))
    weights = [math.exp(-0.5 * (i / sigma) ** 2) for i in range(-radius, radius + 1)]
    total = sum(weights)
    return [w / total for w in weights]


def blur_maps(maps, sigma):
    """Maps ``(batch, height, width)`` smoothed by a Gaussian of ``sigma``
    pixels (separable, edges mirrored); unchanged when ``sigma`` is 0."""
    if not sigma:
        return maps
    kernel = gaussian_kernel(sigma)
    radius = len(kernel) // 2
    x = maps[..., None]
    for axis, shape in ((1, (len(kernel), 1, 1, 1)), (2, (1, len(kernel), 1, 1))):
        # Mirror the edges, in steps no wider than the map so far (what
        # symmetric padding allows), so that tiny maps work too.
        padded, missing = x, radius
        while missing:
            step = min(missing, padded.shape[axis])
            widths = [(0, 0)] * 4
            widths[axis] = (step, step)
            padded = ops.pad(padded, widths, mode="symmetric")
            missing -= step
        weights = ops.reshape(ops.convert_to_tensor(kernel, dtype=x.dtype), shape)
        x = ops.conv(padded, weights, padding="valid")
    return x[..., 0]


class SmoothedMaps:
    """Mixin of the image detectors whose anomaly maps are smoothed by a
    Gaussian (:func:`blur_maps`): it declares ``blur_sigma`` once."""

    _shared_parameters = (BLUR_SIGMA,)


class PretrainedBackbone:
    """Mixin of the image detectors on a frozen, pretrained backbone, placed
    before :class:`~skanomaly.engine.ImageInput`.

    It declares the backbone's parameters (``backbone``, ``weights``,
    ``layers``, ``input_size``) once, builds the backbone as the engine's
    frozen network ``"backbone"`` (see :func:`~skanomaly.engine._backbones.build_backbone`:
    images scaled to [0, 1] in, the named layers' maps out), and refuses
    images the backbone cannot take. A detector names its layers for the
    backbones it knows in ``_default_layers`` and reads them with
    :meth:`_feature_layers`.
    """

    _shared_parameters = (BACKBONE, WEIGHTS, LAYERS, INPUT_SIZE, SCALING)
    _frozen_parameters = ("backbone", "weights", "layers", "input_size")
    _scoring_dtype = "float32"
    _scoring_reason = (
        "the pretrained backbone is frozen and never copied, and float64 "
        "would double its memory for a precision no image's ranking needs"
    )
    #: The layers a detector uses on the backbones it knows, by backbone.
    _default_layers = {}

    def _feature_layers(self):
        """The names of the layers used, as a tuple."""
        if self.layers is not None:
            layers = (self.layers,) if isinstance(self.layers, str) else tuple(self.layers)
            if not layers or not all(isinstance(layer, str) for layer in layers):
                raise ValueError(
                    f"layers must be a non-empty sequence of layer names; got "
                    f"{self.layers!r}."
                )
            return layers
        if self.backbone not in self._default_layers:
            raise ValueError(
                f"{type(self).__name__} has no default layers for "
                f"backbone={self.backbone!r} (it has for "
                f"{sorted(self._default_layers)}); name them with layers=..."
            )
        return tuple(self._default_layers[self.backbone])

    def _backbone_size(self, sample_shape):
        """(height, width) the backbone sees for images of ``sample_shape``."""
        if self.input_size is None:
            return tuple(sample_shape[:2])
        if isinstance(self.input_size, Integral):
            return (int(self.input_size),) * 2
        size = tuple(self.input_size)
        if len(size) != 2 or not all(isinstance(s, Integral) and s > 0 for s in size):
            raise ValueError(
                f"input_size must be a positive int or (height, width); got "
                f"{self.input_size!r}."
            )
        return tuple(int(s) for s in size)

    def _check_sample_shape(self, sample_shape):
        super()._check_sample_shape(sample_shape)
        channels = sample_shape[-1]
        if channels not in (1, 3):
            raise ValueError(
                f"{type(self).__name__}'s backbone takes grey or RGB images "
                f"(1 or 3 channels); got {channels}."
            )
        feature_map_sizes(
            self.backbone, self._feature_layers(), self._backbone_size(sample_shape)
        )

    def _frozen_networks(self, sample_shape, pretrained):
        return {"backbone": self._new_backbone(sample_shape, pretrained)}

    def _new_backbone(self, sample_shape, pretrained):
        """The backbone for images of ``sample_shape``, with its pretrained
        weights or (``pretrained=False``) the architecture only."""
        return build_backbone(
            self.backbone,
            self.weights if pretrained else None,
            self._feature_layers(),
            sample_shape,
            None if self.input_size is None else self._backbone_size(sample_shape),
        )

    def _values_per_pixel(self):
        # The widest early activations hold about 64 values per input
        # pixel, times the resize's change of area.
        height, width, _ = self._sample_shape_
        backbone_height, backbone_width = self._backbone_size(self._sample_shape_)
        return math.ceil(64 * max(1.0, backbone_height * backbone_width / (height * width)))

