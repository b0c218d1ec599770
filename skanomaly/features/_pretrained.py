"""Features of a pretrained Keras network as a scikit-learn transformer."""

import functools
import os
from numbers import Real

import numpy as np
from sklearn.base import BaseEstimator, TransformerMixin, _fit_context
from sklearn.utils._available_if import available_if
from sklearn.utils._param_validation import StrOptions
from sklearn.utils.validation import check_is_fitted

from ..engine._backbones import _application, build_backbone, layer_channels
from ..engine._backend import keras
from ..engine._base import DEVICE, _dtype_policy
from ..engine._devices import check_device, device_scope, on_device, scoring_device
from ..engine._pretrained import BACKBONE, INPUT_SIZE, LAYERS, PretrainedBackbone
from ..engine._scaling import fit_scaling
from ..engine._scoring import ChunkedMapper
from ..engine._seeding import keep_global_rngs, own_default_seeds
from ..utils._validation import validate_images

__all__ = ["PretrainedFeatures"]

ops = keras.ops

#: Seed of the random weights of ``weights=None``: every fit draws the same.
RANDOM_WEIGHTS_SEED = 0
#: Working memory of the backbone per pixel it sees, in values: its widest
#: early activations (SqueezeNet's conv1, ResNet's first block).
VALUES_PER_BACKBONE_PIXEL = 64


def _has_feature_names(transformer):
    return transformer.pooling is not None


def _extract(model, pooling, low, scale, x):
    """Pooled features, or the maps at the first map's resolution."""
    maps = model((x - low) / scale, training=False)
    if not isinstance(maps, (list, tuple)):
        maps = [maps]
    if pooling == "avg":
        return ops.concatenate([ops.mean(m, axis=(1, 2)) for m in maps], axis=-1)
    if pooling == "max":
        return ops.concatenate([ops.max(m, axis=(1, 2)) for m in maps], axis=-1)
    size = tuple(maps[0].shape[1:3])
    resized = [
        m if tuple(m.shape[1:3]) == size
        else ops.image.resize(m, size, interpolation="bilinear")
        for m in maps
    ]
    return ops.concatenate(resized, axis=-1)


class PretrainedFeatures(TransformerMixin, BaseEstimator):
    """Features of images from a pretrained network (SqueezeNet 1.1, ResNet50,
    any ``keras.applications`` network).

    Each image goes through the frozen backbone (see
    :func:`~skanomaly.engine.build_backbone`: resized to ``input_size``,
    grey repeated to three channels, the network's own ImageNet
    preprocessing), and the feature maps of ``layers`` are pooled over the
    image into one vector (``pooling="avg"`` or ``"max"``, the layers'
    vectors side by side), or kept as maps (``pooling=None``). Pooled
    features feed any detector of rows in a :class:`~sklearn.pipeline.Pipeline`:
    a nearest-neighbour distance, an Isolation Forest, an autoencoder.

    The transformer learns nothing but the shape of the images and the
    range of their pixels (``pixel_range="minmax"``); the backbone is never
    trained.

    Parameters
    ----------
    backbone : str, default="squeezenet1_1"
        The pretrained network: ``"squeezenet1_1"`` (built in, 2.9 MB of
        ImageNet weights) or the name of any ``keras.applications`` network
        (``"ResNet50"``, ``"EfficientNetB0"``, ``"MobileNetV2"``, ...).

    weights : "imagenet", path or None, default="imagenet"
        The backbone's weights: ``"imagenet"`` (SqueezeNet's are downloaded
        once, with a checksum, into ``$SKANOMALY_DATA/weights/``, by default
        ``~/skanomaly_data/weights/``; a ``keras.applications`` network's by
        Keras into ``~/.keras/models/``), the path of a weights file (for
        SqueezeNet, its Keras HDF5 file ``squeezenet1_1_imagenet_notop.h5``;
        for a ``keras.applications`` network, one its ``load_weights``
        reads), or None for random weights, the same at every fit (drawn
        from a fixed seed: for tests and for a baseline of what the
        architecture alone gives). The weights are stored in the fitted
        transformer: it pickles, and transforms elsewhere, without the file.

    layers : str, sequence of str or None, default=None
        The layers whose feature maps are used, by name (SqueezeNet's are
        ``conv1``, ``pool1``, ``fire2`` ... ``fire9``, ``pool3``,
        ``pool5``; a ``keras.applications`` network's are those of its
        ``summary()``). None takes ``fire9`` for SqueezeNet,
        ``conv5_block3_out`` for ResNet50, and the network's last layer for
        any other.

    pooling : {"avg", "max"} or None, default="avg"
        ``"avg"`` or ``"max"`` pools each layer's map over the image, giving
        one row of ``sum(channels)`` features an image; None returns the
        maps themselves, ``(n_samples, h, w, sum(channels))``, every layer's
        map resized (bilinear) to the resolution of the first layer's and
        the maps concatenated on the channels.

    input_size : int, (height, width) or None, default=None
        Size the images are resized to (bilinear, with anti-aliasing) on
        their way into the backbone; None feeds them at their own size,
        which must be large enough for the layers (31x31 pixels at least
        for SqueezeNet's ``fire9``).

    image_shape : tuple of int, default=None
        Shape ``(height, width)`` or ``(height, width, channels)`` of one
        image, to read 2-D input of flattened images (one a row, C order).
        When ``None``, rows are read as square grayscale images if their
        width is a perfect square, and refused otherwise. Images given as a
        3-D or 4-D array must have this shape. Images have 1 channel (grey,
        repeated to three by the backbone) or 3 (RGB).

    pixel_range : "minmax" or (low, high), default="minmax"
        How pixel values are mapped to the [0, 1] the backbone takes (it
        maps them on to the [0, 255] of ImageNet): ``"minmax"`` maps the
        lowest and highest value of each channel over the training images
        to 0 and 1, so that bytes (0-255) and floats (0-1) both work;
        ``(low, high)`` maps ``low`` to 0 and ``high`` to 1 for every
        channel, ``(0, 255)`` for bytes, ``(0, 1)`` for images already in
        [0, 1]: the same images then give the same features whatever the
        training set. Values outside the range are not clipped.

    device : {"auto", "cpu", "gpu"} or "gpu:N", default="auto"
        Where the backbone runs: ``"auto"`` lets TensorFlow choose (the
        first visible GPU if there is one, else the CPU), ``"gpu"`` is the
        first visible GPU and ``"gpu:N"`` the N-th. ``fit`` raises a
        ValueError naming the devices that exist when the one asked for
        does not; a fitted transformer loaded where its GPU does not exist
        runs on the default device.

    Attributes
    ----------
    model_ : keras.Model
        The frozen feature extractor: images scaled to [0, 1] to the list of
        the layers' maps.

    layers_ : tuple of str
        The layers used.

    pixel_low_, pixel_high_ : ndarray of shape (channels,)
        The pixel values mapped to 0 and to 1, per channel.

    feature_shape_ : tuple of int
        Shape of the output for one image: ``(n_features_out_,)`` pooled,
        ``(h, w, n_features_out_)`` with ``pooling=None``.

    n_features_out_ : int
        Number of features (channels of the maps) an image or position.

    image_shape_ : tuple of int
        Shape of the images seen in :meth:`fit`: ``(height, width)`` for
        grayscale images, ``(height, width, channels)`` for colour ones.

    n_features_in_ : int
        Number of values of one image, ``height * width * channels``.

    feature_names_in_ : ndarray of shape (`n_features_in_`,)
        Names of features seen during :meth:`fit`. Defined only when `X`
        is a DataFrame of flattened images with string column names.

    See Also
    --------
    skanomaly.feature_space.TransferHead : A detector that trains a head on
        such features.
    HOGTransformer : Hand-crafted image features, without a network.

    Notes
    -----
    Images are extracted a chunk at a time, each chunk sized to
    scikit-learn's ``working_memory`` (see :func:`sklearn.config_context`),
    in float32; the features are float32 (float32 images keep their
    dtype, as the tags say).

    Globally pooled features of a pretrained network followed by the
    distance to the nearest training image is the simplest deep baseline of
    industrial anomaly detection (Bergman, Cohen and Hoshen, 2020). On the
    Magnetic Tile split of ``benchmarks/magnetic_tile.py`` (128x128 grey
    tiles), average-pooled SqueezeNet ``fire9`` features with
    :class:`~sklearn.neighbors.NearestNeighbors` (one neighbour) reach an
    image ROC AUC of 0.819.

    References
    ----------
    .. [1] F. N. Iandola, S. Han, M. W. Moskewicz, K. Ashraf, W. J. Dally
       and K. Keutzer, "SqueezeNet: AlexNet-level accuracy with 50x fewer
       parameters and <0.5MB model size", arXiv:1602.07360, 2016.
    .. [2] L. Bergman, N. Cohen and Y. Hoshen, "Deep Nearest Neighbor
       Anomaly Detection", arXiv:2002.10445, 2020.

    Examples
    --------
    >>> from sklearn.datasets import load_digits
    >>> from sklearn.ensemble import IsolationForest
    >>> from sklearn.pipeline import make_pipeline
    >>> from skanomaly.features import PretrainedFeatures
    >>> X = load_digits().images[:30]  # 8x8 grey images
    >>> features = PretrainedFeatures(weights=None, input_size=32)
    >>> features.fit_transform(X).shape
    (30, 512)
    >>> features.get_feature_names_out()[:2]
    array(['fire9_0', 'fire9_1'], dtype=object)
    >>> detector = make_pipeline(
    ...     PretrainedFeatures(weights=None, input_size=32),
    ...     IsolationForest(random_state=0),
    ... ).fit(X)
    >>> detector.predict(X[:3]).shape
    (3,)
    """

    _parameter_constraints: dict = {
        "backbone": BACKBONE.constraints,
        # str covers "imagenet": scikit-learn wants disjoint constraints.
        "weights": [str, os.PathLike, None],
        "layers": [str, *LAYERS.constraints],
        "pooling": [StrOptions({"avg", "max"}), None],
        "input_size": INPUT_SIZE.constraints,
        "image_shape": [None, "array-like"],
        "pixel_range": [StrOptions({"minmax"}), tuple],
        "device": DEVICE.constraints,
    }
    #: The layers used by default, on the backbones that have a choice.
    _default_layers = {"squeezenet1_1": ("fire9",), "ResNet50": ("conv5_block3_out",)}

    def __init__(
        self,
        backbone="squeezenet1_1",
        weights="imagenet",
        layers=None,
        pooling="avg",
        input_size=None,
        image_shape=None,
        pixel_range="minmax",
        device="auto",
    ):
        self.backbone = backbone
        self.weights = weights
        self.layers = layers
        self.pooling = pooling
        self.input_size = input_size
        self.image_shape = image_shape
        self.pixel_range = pixel_range
        self.device = device

    @_fit_context(prefer_skip_nested_validation=True)
    def fit(self, X, y=None):
        """Build the backbone for the images' shape and fit the pixel range.

        Parameters
        ----------
        X : array-like of shape (n_samples, height, width), \
                (n_samples, height, width, channels) or (n_samples, n_features)
            Images, or flattened images one a row (see ``image_shape``).

        y : None
            Ignored; present for API consistency.

        Returns
        -------
        self : object
            The fitted transformer.
        """
        images = validate_images(self, X, image_shape=self.image_shape)
        low, high = self._pixel_range()
        images = images[..., np.newaxis] if images.ndim == 3 else images
        sample_shape = images.shape[1:]
        if sample_shape[-1] not in (1, 3):
            raise ValueError(
                f"PretrainedFeatures takes grey or RGB images (1 or 3 "
                f"channels); got {sample_shape[-1]}."
            )
        tf_device = check_device(self.device, type(self).__name__)
        if low is None:
            low, scale = fit_scaling(images.reshape(-1, sample_shape[-1]), "minmax")
        else:
            low, scale = np.full(sample_shape[-1], low), np.full(sample_shape[-1], high - low)
        self.layers_ = self._layers(sample_shape)
        with device_scope(tf_device):
            self.model_ = self._build(sample_shape, self.weights)
        self.pixel_low_ = np.asarray(low, dtype=np.float64)
        self.pixel_high_ = self.pixel_low_ + scale
        self._mapper = self._make_mapper()
        return self

    def transform(self, X):
        """The features of each image.

        Parameters
        ----------
        X : array-like of shape (n_samples, height, width), \
                (n_samples, height, width, channels) or (n_samples, n_features)
            Images of the shape seen in :meth:`fit`, or flattened images one
            a row.

        Returns
        -------
        X_features : ndarray of shape (n_samples, `n_features_out_`) or \
                (n_samples, h, w, `n_features_out_`)
            Pooled features, or the feature maps with ``pooling=None``;
            float32.
        """
        check_is_fitted(self, "model_")
        images = validate_images(self, X, reset=False, dtype=np.float32)
        images = images[..., np.newaxis] if images.ndim == 3 else images
        return self._mapper(images)

    @available_if(_has_feature_names)
    def get_feature_names_out(self, input_features=None):
        """Names of the pooled features (not with ``pooling=None``).

        Parameters
        ----------
        input_features : array-like of str or None, default=None
            Only checked against the fitted input: its length must be
            `n_features_in_` and, if `feature_names_in_` is defined, it must
            be equal to it.

        Returns
        -------
        feature_names_out : ndarray of str objects
            ``"<layer>_<channel>"``: ``fire9_0``, ``fire9_1``, ... for each
            layer in turn.
        """
        check_is_fitted(self, "model_")
        if input_features is not None:
            input_features = np.asarray(input_features, dtype=object)
            names_in = getattr(self, "feature_names_in_", None)
            if names_in is not None and not np.array_equal(names_in, input_features):
                raise ValueError("input_features is not equal to feature_names_in_")
            if len(input_features) != self.n_features_in_:
                raise ValueError(
                    "input_features should have length equal to number of "
                    f"features ({self.n_features_in_}), got {len(input_features)}"
                )
        return np.asarray(
            [
                f"{layer}_{i}"
                for layer, channels in zip(self.layers_, layer_channels(self.model_))
                for i in range(channels)
            ],
            dtype=object,
        )

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        # float32 in, float32 out; other inputs give float32 too.
        tags.transformer_tags.preserves_dtype = ["float32"]
        return tags

    # ------------------------------------------------------------ helpers
    def _pixel_range(self):
        """``(low, high)`` floats, or ``(None, None)`` for "minmax"."""
        if isinstance(self.pixel_range, str):
            return None, None
        try:
            low, high = self.pixel_range
            ok = all(
                isinstance(v, Real) and not isinstance(v, bool) and np.isfinite(v)
                for v in (low, high)
            ) and low < high
        except (TypeError, ValueError):
            ok = False
        if not ok:
            raise ValueError(
                f"pixel_range must be 'minmax' or a pair (low, high) of finite "
                f"numbers with low < high; got {self.pixel_range!r}."
            )
        return float(low), float(high)

    def _backbone_size(self, sample_shape):
        return PretrainedBackbone._backbone_size(self, sample_shape)

    def _layers(self, sample_shape):
        """The layers used: those named, the default ones, or the last."""
        if self.layers is not None or self.backbone in self._default_layers:
            return PretrainedBackbone._feature_layers(self)
        # Any other network: its last layer, read from the architecture.
        with keep_global_rngs(), _dtype_policy("float32"):
            network, _ = _application(
                self.backbone, (*self._backbone_size(sample_shape), 3), None
            )
        return (network.layers[-1].name,)

    def _build(self, sample_shape, weights):
        """The frozen extractor; random weights come from a fixed seed."""
        size = None if self.input_size is None else self._backbone_size(sample_shape)
        with keep_global_rngs(), _dtype_policy("float32"), own_default_seeds(
            RANDOM_WEIGHTS_SEED
        ):
            model = build_backbone(self.backbone, weights, self.layers_, sample_shape, size)
        model.trainable = False
        return model

    def _make_mapper(self):
        """The chunked extraction, and the output shape it sets."""
        sample_shape = tuple(self.model_.inputs[0].shape[1:])
        outputs = self.model_.outputs
        self.n_features_out_ = int(sum(layer_channels(self.model_)))
        if self.pooling is None:
            self.feature_shape_ = (*map(int, outputs[0].shape[1:3]), self.n_features_out_)
        else:
            self.feature_shape_ = (self.n_features_out_,)
        height, width = sample_shape[:2]
        seen = self._backbone_size(sample_shape)
        return ChunkedMapper(
            functools.partial(
                on_device,
                scoring_device(self.device, None),
                _extract,
                self.model_,
                self.pooling,
                ops.convert_to_tensor(self.pixel_low_, dtype="float32"),
                ops.convert_to_tensor(self.pixel_high_ - self.pixel_low_, dtype="float32"),
            ),
            sample_shape,
            self.feature_shape_,
            values_per_row=VALUES_PER_BACKBONE_PIXEL * max(height * width, seen[0] * seen[1]),
            dtype="float32",
            output_dtype="float32",
        )

    # -------------------------------------------------------- persistence
    def __getstate__(self):
        # A copy: on Python 3.11 the parent returns the live __dict__.
        state = dict(super().__getstate__())
        state.pop("_mapper", None)
        if "model_" in state:
            # The weights, not the model: unpickling rebuilds the
            # architecture and needs no weights file nor download.
            state["_model_weights"] = state.pop("model_").get_weights()
        return state

    def __setstate__(self, state):
        weights = state.pop("_model_weights", None)
        super().__setstate__(state)
        if weights is not None:
            sample_shape = (*self.image_shape_[:2], (self.image_shape_ + (1,))[2])
            with device_scope(scoring_device(self.device, None)):
                self.model_ = self._build(sample_shape, None)
            self.model_.set_weights(weights)
            self._mapper = self._make_mapper()
