"""Pretrained image backbones, frozen: SqueezeNet 1.1 (built here, its
ImageNet weights read from their Keras-1 file) and any ``keras.applications``
network, by name.

A backbone here is a ``keras.Model`` from images scaled to [0, 1] (one
channel or three, at any size) to the feature maps of the layers asked for.
It does its own preprocessing: it resizes the images to the backbone's
input size when one is given, repeats grey to three channels, maps [0, 1]
to the [0, 255] that ImageNet networks were trained on, and applies the
network's own preprocessing (Caffe's BGR mean subtraction for SqueezeNet).
"""

import importlib
import os
from pathlib import Path

from ..utils._download import data_home, download
from ._backend import keras

__all__ = [
    "SQUEEZENET",
    "backbone_names",
    "build_backbone",
    "feature_map_sizes",
    "layer_channels",
    "load_squeezenet_weights",
    "squeezenet1_1",
    "squeezenet_weights_file",
    "unfreeze_top_layers",
    "weighted_layers",
]

ops = keras.ops

SQUEEZENET = "squeezenet1_1"
#: Where the original Keras port of SqueezeNet 1.1 publishes its ImageNet
#: weights without the classifier; the file's SHA-256 (its MD5, which that
#: port checks, is 80b66c92d79d4310e07fb60a297bf0d1).
SQUEEZENET_URL = (
    "https://github.com/rcmalli/keras-squeezenet/releases/download/v1.0/"
    "squeezenet_weights_tf_dim_ordering_tf_kernels_notop.h5"
)
SQUEEZENET_SHA256 = "17154246284f555591549ac2c83e127abfbf4307dc4b0060fdaa2931d0fa38da"
SQUEEZENET_FILE = "squeezenet1_1_imagenet_notop.h5"
#: Fire modules: squeeze filters, then expand filters of each branch.
_FIRE_MODULES = {
    2: (16, 64), 3: (16, 64), 4: (32, 128), 5: (32, 128),
    6: (48, 192), 7: (48, 192), 8: (64, 256), 9: (64, 256),
}
#: Max pooling (3x3, stride 2, valid) after these layers.
_POOLED_AFTER = {"conv1": "pool1", "fire3": "pool3", "fire5": "pool5"}
#: SqueezeNet's layers, by name, input to output.
SQUEEZENET_LAYERS = (
    "conv1", "pool1", "fire2", "fire3", "pool3", "fire4", "fire5", "pool5",
    "fire6", "fire7", "fire8", "fire9",
)
#: Caffe's ImageNet channel means, in BGR order.
_CAFFE_BGR_MEANS = (103.939, 116.779, 123.68)


def backbone_names():
    """The backbones by name: SqueezeNet 1.1 and every ``keras.applications``
    network."""
    applications = [
        name for name in dir(keras.applications)
        if name[:1].isupper() and callable(getattr(keras.applications, name))
    ]
    return [SQUEEZENET, *sorted(applications)]


# --------------------------------------------------------------- SqueezeNet


def _fire(x, number):
    squeeze, expand = _FIRE_MODULES[number]
    prefix = f"fire{number}"
    x = keras.layers.Conv2D(squeeze, 1, activation="relu", name=f"{prefix}_squeeze1x1")(x)
    left = keras.layers.Conv2D(expand, 1, activation="relu", name=f"{prefix}_expand1x1")(x)
    right = keras.layers.Conv2D(
        expand, 3, padding="same", activation="relu", name=f"{prefix}_expand3x3"
    )(x)
    return keras.layers.Concatenate(name=prefix)([left, right])


def squeezenet1_1(input_shape, last_layer="fire9"):
    """SqueezeNet 1.1 without its classifier (Iandola et al., 2016), on
    preprocessed images of ``input_shape`` (height, width, 3), up to
    ``last_layer``.

    Its layers are ``conv1`` (stride 2), ``pool1``, the fire modules
    ``fire2`` ... ``fire9`` (each its concatenated expand outputs), and
    ``pool3``, ``pool5``; fire2 and fire3 are at stride 4, fire4 and fire5
    at 8, fire6 to fire9 at 16.
    """
    inputs = keras.Input(input_shape)
    x = keras.layers.Conv2D(64, 3, strides=2, activation="relu", name="conv1")(inputs)
    if last_layer != "conv1":
        x = keras.layers.MaxPooling2D(3, strides=2, name="pool1")(x)
    for number in _FIRE_MODULES:
        if SQUEEZENET_LAYERS.index(f"fire{number}") > SQUEEZENET_LAYERS.index(last_layer):
            break
        x = _fire(x, number)
        pool = _POOLED_AFTER.get(f"fire{number}")
        if pool and SQUEEZENET_LAYERS.index(pool) <= SQUEEZENET_LAYERS.index(last_layer):
            x = keras.layers.MaxPooling2D(3, strides=2, name=pool)(x)
    return keras.Model(inputs, x, name=SQUEEZENET)


def _squeezenet_layer_sizes(size):
    """Side of each SqueezeNet layer's output for an input side of ``size``."""
    sizes = {}
    size = (size - 3) // 2 + 1
    sizes["conv1"] = size
    size = (size - 3) // 2 + 1
    sizes["pool1"] = size
    for number in _FIRE_MODULES:
        sizes[f"fire{number}"] = size
        pool = _POOLED_AFTER.get(f"fire{number}")
        if pool:
            size = (size - 3) // 2 + 1
            sizes[pool] = size
    return sizes


def load_squeezenet_weights(model, path):
    """Set a :func:`squeezenet1_1` model's weights from the Keras-1 HDF5
    file of its ImageNet weights (one group a layer, named as in Caffe,
    ``fire2/squeeze1x1``; each with a 4-D kernel and a 1-D bias)."""
    import h5py

    try:
        file = h5py.File(path, "r")
    except OSError as exc:
        raise ValueError(
            f"Cannot read {path} as SqueezeNet 1.1 weights ({exc}): it must be "
            "the Keras HDF5 file of the network without its classifier, "
            f"{SQUEEZENET_URL.rsplit('/', 1)[-1]}."
        ) from exc
    with file:
        for layer in model.layers:
            if not isinstance(layer, keras.layers.Conv2D):
                continue
            group_name = layer.name.replace("_", "/", 1) if layer.name != "conv1" else "conv1"
            if group_name not in file:
                raise ValueError(
                    f"{path} holds no weights for the layer {group_name!r}: it "
                    "is not a SqueezeNet 1.1 weights file."
                )
            datasets = []
            # visititems stops at the first callback that returns a value.
            file[group_name].visititems(
                lambda _, item: datasets.append(item[()])
                if isinstance(item, h5py.Dataset) else None
            )
            arrays = {array.ndim: array for array in datasets}
            expected = [tuple(w.shape) for w in layer.get_weights()]
            found = [tuple(arrays[n].shape) for n in (4, 1) if n in arrays]
            if found != expected:
                raise ValueError(
                    f"{path}: the weights of {group_name!r} have shapes {found}, "
                    f"the network's {expected}: not a SqueezeNet 1.1 weights file."
                )
            layer.set_weights([arrays[4], arrays[1]])


def squeezenet_weights_file(cache=None):
    """The SqueezeNet 1.1 ImageNet weights file, downloaded (and checked)
    into ``<data home>/weights/`` the first time; ``cache`` is the data home
    (default: ``SKANOMALY_DATA`` or ``~/skanomaly_data``)."""
    path = data_home(cache) / "weights" / SQUEEZENET_FILE
    if path.is_file():
        return path
    return download(
        SQUEEZENET_URL, path, SQUEEZENET_SHA256,
        "pass its path with weights=..."
    )


# ------------------------------------------------------------ preprocessing


class _ToBackboneInput(keras.layers.Layer):
    """Images scaled to [0, 1] -> the backbone's input: resized, three
    channels, [0, 255], then the network's own preprocessing."""

    def __init__(self, size, preprocess, **kwargs):
        super().__init__(**kwargs)
        self.size = size
        self.preprocess = preprocess

    def call(self, x):
        if self.size is not None:
            x = ops.image.resize(x, self.size, interpolation="bilinear", antialias=True)
        if x.shape[-1] == 1:
            x = ops.repeat(x, 3, axis=-1)
        return self.preprocess(x * 255.0)


def _caffe(x):
    # RGB -> BGR, minus the ImageNet means; no scaling.
    return ops.flip(x, axis=-1) - ops.convert_to_tensor(_CAFFE_BGR_MEANS, dtype=x.dtype)


# ----------------------------------------------------------------- backbone


def _check_weights(weights):
    if weights is None or weights == "imagenet":
        return weights
    path = Path(os.fspath(weights)).expanduser()
    if not path.is_file():
        raise FileNotFoundError(
            f"weights={weights!r}: no such file. Pass 'imagenet' (downloaded "
            "where there is a network), the path of a weights file, or None "
            "(random weights)."
        )
    return str(path)


def _application(name, input_shape, weights):
    constructor = getattr(keras.applications, name)
    try:
        network = constructor(include_top=False, weights=weights, input_shape=input_shape)
    except ValueError as exc:
        raise ValueError(f"backbone={name!r} cannot take these images: {exc}") from exc
    preprocess = importlib.import_module(constructor.__module__).preprocess_input
    return network, preprocess


def _squeezenet(input_shape, weights, layers):
    # Only as deep as the deepest layer asked for: the layers beyond it
    # cost time, and would refuse images too small for them.
    network = squeezenet1_1(input_shape, max(layers, key=SQUEEZENET_LAYERS.index))
    if weights is not None:
        path = squeezenet_weights_file() if weights == "imagenet" else weights
        load_squeezenet_weights(network, path)
    return network, _caffe


def feature_map_sizes(name, layers, size):
    """(height, width) of each named layer's output for inputs of ``size``
    (height, width), or a ValueError naming the smallest input that gives
    every layer one position at least."""
    if name == SQUEEZENET:
        unknown = [layer for layer in layers if layer not in SQUEEZENET_LAYERS]
        if unknown:
            raise ValueError(
                f"backbone={SQUEEZENET!r} has no layer named {unknown}; its "
                f"layers are {list(SQUEEZENET_LAYERS)}."
            )
        heights = _squeezenet_layer_sizes(size[0])
        widths = _squeezenet_layer_sizes(size[1])
        sizes = [(heights[layer], widths[layer]) for layer in layers]
        if min(min(s) for s in sizes) < 1:
            smallest = next(
                s for s in range(3, 1024)
                if min(_squeezenet_layer_sizes(s)[layer] for layer in layers) >= 1
            )
            raise ValueError(
                f"Images of {size[0]}x{size[1]} pixels are too small for "
                f"{SQUEEZENET}'s layers {list(layers)}: they need "
                f"{smallest}x{smallest} at least. Pass input_size to resize "
                "them on the way in."
            )
        return sizes
    return None


def build_backbone(name, weights, layers, image_shape, input_size=None):
    """A frozen feature extractor: images of ``image_shape`` (height, width,
    channels) scaled to [0, 1] -> the list of the named layers' maps.

    Parameters
    ----------
    name : str
        ``"squeezenet1_1"`` or the name of a ``keras.applications`` network
        (``"ResNet50"``, ``"MobileNetV2"``, ...).
    weights : {"imagenet"}, path or None
        ImageNet weights (SqueezeNet's are downloaded, with a checksum, into
        ``<data home>/weights/``; a ``keras.applications`` network's by
        Keras), the path of a weights file, or None for random weights.
    layers : sequence of str
        Names of the layers whose outputs are returned, in that order.
    image_shape : tuple of int
        ``(height, width, channels)`` of the images, with 1 or 3 channels.
    input_size : tuple of int, optional
        ``(height, width)`` the images are resized to before the network.
    """
    height, width, channels = image_shape
    if channels not in (1, 3):
        raise ValueError(
            f"A pretrained backbone takes grey or RGB images (1 or 3 channels); "
            f"got {channels}."
        )
    size = tuple(input_size) if input_size is not None else (height, width)
    weights = _check_weights(weights)
    if name == SQUEEZENET:
        feature_map_sizes(name, layers, size)
        network, preprocess = _squeezenet((*size, 3), weights, layers)
    else:
        network, preprocess = _application(name, (*size, 3), weights)
    known = {layer.name for layer in network.layers}
    unknown = [layer for layer in layers if layer not in known]
    if unknown:
        raise ValueError(
            f"backbone={name!r} has no layer named {unknown}; name layers of "
            f"the network (e.g. {sorted(known)[-3:]}; see its summary())."
        )
    extractor = keras.Model(
        network.inputs, [network.get_layer(layer).output for layer in layers]
    )
    inputs = keras.Input((height, width, channels))
    prepared = _ToBackboneInput(
        None if input_size is None else size, preprocess, name="to_backbone_input"
    )(inputs)
    outputs = extractor(prepared)
    return keras.Model(inputs, list(outputs), name=f"{name}_features")


def weighted_layers(model):
    """The layers with weights of a model, its nested models' included,
    input to output."""
    found = []
    for layer in model.layers:
        if isinstance(layer, keras.Model):
            found += weighted_layers(layer)
        elif layer.weights:
            found.append(layer)
    return found


def unfreeze_top_layers(backbone, count):
    """Make the last ``count`` layers with weights of ``backbone`` trainable,
    and every other layer not; return their names."""
    candidates = weighted_layers(backbone)
    if count > len(candidates):
        raise ValueError(
            f"unfreeze_layers={count}, but the backbone has {len(candidates)} "
            "layers with weights up to the deepest layer used."
        )
    backbone.trainable = True
    top = candidates[len(candidates) - count:]
    for layer in candidates[: len(candidates) - count]:
        layer.trainable = False
    return tuple(layer.name for layer in top)


def layer_channels(backbone):
    """Channels of each output of a :func:`build_backbone` model."""
    return [int(output.shape[-1]) for output in backbone.outputs]

