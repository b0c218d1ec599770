"""Convolutional networks for images: encoder, decoder, SSIM, anomaly maps.

The image detectors' networks share the stride-2 convolutional encoder and
decoder built here, sized from the input shape (:func:`auto_filters`), the
base classes :class:`ImageNetwork` (padding to the network's multiple,
maps at the input's resolution) and :class:`ReconstructionImageNetwork`
(error maps between an image and its reconstruction, by squared error or
:func:`ssim_map`, the structural similarity of two batches of images), and
the parameters of such a network (:class:`ConvNetwork`: ``filters``,
``kernel_size``, ``activation``), declared once.
"""

import math
from numbers import Integral

import numpy as np
from scipy import ndimage
from sklearn.utils._param_validation import Interval, StrOptions

from ..utils._parameters import Parameter
from ..utils._validation import check_layer_sizes
from ._backend import keras
from ._network import DetectorNetwork

__all__ = [
    "ConvNetwork",
    "ImageNetwork",
    "ReconstructionImageNetwork",
    "apply_stack",
    "auto_filters",
    "conv_decoder",
    "conv_encoder",
    "gaussian_window",
    "resolve_filters",
    "ssim_map",
]

layers = keras.layers
ops = keras.ops

#: Most stride-2 levels ``filters="auto"`` gives, and their widths.
AUTO_WIDTHS = (16, 32, 64, 128)
#: ``filters="auto"`` stops halving before the code's feature map gets
#: smaller than this many pixels a side. A small code matters: with a 4x4
#: code on 28x28 digits, a memory read at each of its 16 locations
#: reconstructs other digits about as well (MemAE's ROC AUC on MNIST digit
#: 0: 0.81), with a 2x2 code it does not (0.98).
MIN_AUTO_CODE_SIDE = 2


def auto_filters(image_size):
    """Widths of the stride-2 convolution levels for images of this size.

    As many levels as keep the code's feature map at least
    :data:`MIN_AUTO_CODE_SIDE` pixels a side (sizes are rounded up at each
    halving), at most four, of widths 16, 32, 64 and 128: four levels for
    28x28 images (a 2x2 code) and larger ones, two for 8x8 (2x2 too).
    Images of 2 or 3 pixels a side get one level, and 1-pixel images
    none.

    Parameters
    ----------
    image_size : tuple of int
        ``(height, width)`` of the images.

    Returns
    -------
    filters : tuple of int

    Examples
    --------
    >>> from skanomaly.engine._conv import auto_filters
    >>> auto_filters((28, 28))
    (16, 32, 64, 128)
    >>> auto_filters((8, 8)), auto_filters((3, 200)), auto_filters((1, 1))
    ((16, 32), (16,), ())
    """
    side = min(image_size)
    levels = 0
    while (
        levels < len(AUTO_WIDTHS)
        and math.ceil(side / 2 ** (levels + 1)) >= MIN_AUTO_CODE_SIDE
    ):
        levels += 1
    if levels == 0 and side >= 2:
        levels = 1
    return AUTO_WIDTHS[:levels]


def resolve_filters(filters, image_size, estimator_name):
    """``filters`` as a tuple, sized from the images for ``"auto"``.

    Each entry is one stride-2 level, so ``L`` levels halve the images
    ``L`` times; images must have at least ``2 ** L`` pixels a side.

    Raises
    ------
    ValueError
        If ``filters`` is neither ``"auto"`` nor a non-empty sequence of
        positive integers, or the images are too small for its levels.
    """
    values = check_layer_sizes(filters, "filters", allow_auto=True)
    if values == "auto":
        return auto_filters(image_size)
    needed = 2 ** len(values)
    if min(image_size) < needed:
        height, width = image_size
        raise ValueError(
            f"{estimator_name} with filters={values} halves the images "
            f"{len(values)} times and needs images of at least {needed}x"
            f"{needed} pixels; got {height}x{width}. Use fewer levels "
            "(a shorter filters), filters='auto', or larger images."
        )
    return values


def conv_encoder(filters, *, kernel_size, activation, linear_last=False):
    """Stride-2 ``Conv2D`` layers of the given widths, as a list.

    Each layer halves the height and the width (rounding up). With
    ``linear_last`` the last one has no activation: its output is a code
    that a memory or a distance reads, rather than a feature map.
    """
    stack = []
    for i, width in enumerate(filters):
        last = i == len(filters) - 1
        stack.append(
            layers.Conv2D(
                width,
                kernel_size,
                strides=2,
                padding="same",
                activation=None if (last and linear_last) else activation,
            )
        )
    return stack


def conv_decoder(filters, n_channels, *, kernel_size, activation):
    """The mirror of :func:`conv_encoder` with these ``filters``, as a list.

    One stride-2 ``Conv2DTranspose`` layer per level, each doubling the
    height and the width: the first ones of the encoder's widths reversed
    (without the code's), the last one linear, to ``n_channels``. Without
    levels, a linear ``Conv2D`` to ``n_channels``.
    """
    if not filters:
        return [layers.Conv2D(n_channels, kernel_size, padding="same")]
    widths = [*filters[-2::-1], n_channels]
    return [
        layers.Conv2DTranspose(
            width,
            kernel_size,
            strides=2,
            padding="same",
            activation=None if i == len(widths) - 1 else activation,
        )
        for i, width in enumerate(widths)
    ]


def apply_stack(stack, x, training=False):
    """Apply a list of layers one after the other."""
    for layer in stack:
        x = layer(x, training=training)
    return x


def gaussian_window(size):
    """A normalised 2-D Gaussian window of side ``size``, with a standard
    deviation of ``size / 5`` (1.4 pixels for a side of 7)."""
    sigma = size / 5.0
    offsets = np.arange(size, dtype=np.float64) - (size - 1) / 2.0
    profile = np.exp(-0.5 * (offsets / sigma) ** 2)
    window = np.outer(profile, profile)
    return window / window.sum()


def _window_mass(height, width, window):
    """Share of the window's weight that falls inside the image, at each
    pixel (1 away from the borders), for a zero-padded ``"same"``
    correlation."""
    inside = ndimage.correlate(
        np.ones((height, width)), window, mode="constant", cval=0.0
    )
    return inside[:, :, np.newaxis]


def ssim_map(x, y, *, data_range, window_size=7):
    """Structural similarity of each pixel of two batches of images.

    The SSIM of Wang et al. (2004), computed from Gaussian-weighted local
    means, variances and the covariance of ``x`` and ``y`` around each
    pixel, each channel apart, with the constants ``C1 = (0.01 L)^2`` and
    ``C2 = (0.03 L)^2`` for a dynamic range ``L``. It is 1 where the
    images agree and lower where their local brightness, contrast or
    structure differ. The local statistics are normalised convolutions:
    the window's weights that fall outside the image are left out, so
    borders are not darkened by zero padding and any window works on any
    image size. Deterministic, and each image's map depends on that image
    alone.

    Parameters
    ----------
    x, y : tensors of shape (batch, height, width, channels)
        The images to compare, of one float dtype and a static shape.
    data_range : float or scalar tensor
        The dynamic range ``L`` of the pixel values (1 for images in
        [0, 1]).
    window_size : int, default=7
        Side of the Gaussian window (see :func:`gaussian_window`).

    Returns
    -------
    ssim : tensor of shape (batch, height, width, channels)

    Examples
    --------
    >>> import numpy as np
    >>> from skanomaly.engine._conv import ssim_map
    >>> rng = np.random.RandomState(0)
    >>> x = rng.uniform(size=(1, 16, 16, 1))
    >>> float(np.asarray(ssim_map(x, x, data_range=1.0)).min())
    1.0
    >>> noisy = x + rng.normal(scale=0.2, size=x.shape)
    >>> bool(np.asarray(ssim_map(x, noisy, data_range=1.0)).mean() < 0.8)
    True
    """
    _, height, width, n_channels = x.shape
    window = gaussian_window(window_size)
    # The five local statistics of every channel in one depthwise pass.
    kernel = ops.convert_to_tensor(
        np.tile(window[:, :, None, None], (1, 1, 5 * n_channels, 1)), dtype=x.dtype
    )
    mass = ops.convert_to_tensor(
        np.tile(_window_mass(height, width, window), (1, 1, 5 * n_channels)),
        dtype=x.dtype,
    )
    stacked = ops.concatenate([x, y, x * x, y * y, x * y], axis=-1)
    local = ops.depthwise_conv(stacked, kernel, strides=1, padding="same") / mass
    mu_x, mu_y, xx, yy, xy = ops.split(local, 5, axis=-1)
    var_x = xx - mu_x * mu_x
    var_y = yy - mu_y * mu_y
    cov = xy - mu_x * mu_y
    data_range = ops.cast(data_range, x.dtype)
    c1 = (0.01 * data_range) ** 2
    c2 = (0.03 * data_range) ** 2
    return ((2 * mu_x * mu_y + c1) * (2 * cov + c2)) / (
        (mu_x * mu_x + mu_y * mu_y + c1) * (var_x + var_y + c2)
    )


class ImageNetwork(DetectorNetwork):
    """Base of the image detectors' networks.

    Inputs are scaled images ``(batch, height, width, channels)``. Images
    whose sides are not multiples of ``2 ** n_levels`` are padded with
    zeros (the scaled images' zero) around their borders up to the next
    multiple before the first stride-2 level, and outputs are cropped
    back, so that every map is at the input's resolution.

    A subclass writes ``call``, ``detector_loss`` and
    ``pixel_map(x)``: the anomaly map ``(batch, height, width)`` of scaled
    images, higher where more anomalous. ``score`` is minus its mean.
    """

    def __init__(self, image_shape, n_levels):
        super().__init__()
        self.image_height, self.image_width, self.n_channels = image_shape
        self.n_levels = n_levels
        multiple = 2**n_levels
        height = math.ceil(self.image_height / multiple) * multiple
        width = math.ceil(self.image_width / multiple) * multiple
        self.padded_size = (height, width)
        self.code_size = (height // multiple, width // multiple)
        pad_h, pad_w = height - self.image_height, width - self.image_width
        self._padding = ((pad_h // 2, pad_h - pad_h // 2), (pad_w // 2, pad_w - pad_w // 2))

    def pad(self, x):
        """Pad scaled images to ``padded_size`` with zeros."""
        if self.padded_size == (self.image_height, self.image_width):
            return x
        return ops.pad(x, ((0, 0), *self._padding, (0, 0)))

    def crop(self, x):
        """Cut ``padded_size`` maps or images back to the input's size."""
        (top, _), (left, _) = self._padding
        return x[:, top : top + self.image_height, left : left + self.image_width]

    def upsample(self, maps):
        """Bring code-resolution maps ``(batch, h, w)`` to the input's
        resolution ``(batch, height, width)``, bilinearly."""
        resized = ops.image.resize(
            maps[..., None], self.padded_size, interpolation="bilinear"
        )
        return self.crop(resized)[..., 0]

    def pixel_map(self, x):  # pragma: no cover - abstract
        raise NotImplementedError

    def score(self, x):
        return -ops.mean(self.pixel_map(x), axis=(1, 2))


class ReconstructionImageNetwork(ImageNetwork):
    """Base of the image networks that reconstruct their input.

    ``call(x, training=False)`` returns the reconstruction of ``x``, or a
    tuple whose first entry is the reconstruction. The map compares the two
    by ``error``:

    * ``"mse"``: the squared error of each pixel, averaged over the
      channels;
    * ``"ssim"``: one minus the structural similarity (:func:`ssim_map`)
      around each pixel, averaged over the channels, with the dynamic
      range of the scaled training images (the non-trainable weight
      ``data_range``, set by the detector before training).

    ``reconstruction_loss`` is the mean of the map over an image's pixels.
    """

    def __init__(self, image_shape, n_levels, *, error="mse", ssim_window=7):
        super().__init__(image_shape, n_levels)
        self.error = error
        self.ssim_window = ssim_window
        self.data_range = self.add_weight(
            shape=(), initializer="ones", trainable=False, name="data_range"
        )

    def reconstruct(self, x):
        outputs = self(x, training=False)
        return outputs[0] if isinstance(outputs, (tuple, list)) else outputs

    def error_map(self, x, reconstruction):
        """Per-pixel reconstruction error ``(batch, height, width)``."""
        if self.error == "ssim":
            similarity = ssim_map(
                x, reconstruction, data_range=self.data_range,
                window_size=self.ssim_window,
            )
            return ops.mean(1.0 - similarity, axis=-1)
        return ops.mean(ops.square(reconstruction - x), axis=-1)

    def reconstruction_loss(self, x, reconstruction):
        return ops.mean(self.error_map(x, reconstruction), axis=(1, 2))

    def pixel_map(self, x):
        return self.error_map(x, self.reconstruct(x))


# --------------------------------------------------------------------------
# parameters

FILTERS = Parameter(
    "filters", "auto", [StrOptions({"auto"}), "array-like"],
    '"auto" or sequence of int',
    """
    Widths of the encoder's stride-2 convolution levels; the decoder
    mirrors them. Each level halves the images (rounding up), so ``L``
    levels need images of at least ``2 ** L`` pixels a side. ``"auto"``
    sizes the network from the images: widths 16, 32, 64 and 128, as many
    levels (at most four) as keep the code at least 2 pixels a side:
    ``(16, 32, 64, 128)`` for 28x28 images and larger ones, ``(16, 32)``
    for 8x8.
    """,
)
KERNEL_SIZE = Parameter(
    "kernel_size", 3, [Interval(Integral, 1, None, closed="left")], "int",
    "Side of the convolution kernels.",
)
ACTIVATION = Parameter(
    "activation", "relu", [str], "str",
    "Activation of the hidden layers (any Keras name).",
)


class ConvNetwork:
    """Mixin of the image detectors built on :func:`conv_encoder` and
    :func:`conv_decoder`: their parameters ``filters``, ``kernel_size`` and
    ``activation``, declared once; ``filters`` resolved for the images in
    ``fit`` (``self._filters_``); the scoring memory bound of such a
    network; and the dynamic range of SSIM, for a
    :class:`ReconstructionImageNetwork`, set from the training images.
    Place it before :class:`~skanomaly.engine.ImageInput`.
    """

    _shared_parameters = (FILTERS, KERNEL_SIZE, ACTIVATION)
    _parameter_defaults = {"epochs": 50}

    def _check_sample_shape(self, sample_shape):
        super()._check_sample_shape(sample_shape)
        self._filters_ = resolve_filters(
            self.filters, sample_shape[:2], type(self).__name__
        )

    def _values_per_pixel(self):
        """Widest activation per input pixel, for the scoring memory bound:
        the first level's width (at a quarter of the pixels) and the
        decoder's last one (at all of them)."""
        return max([self._sample_shape_[-1], *self._filters_])

    def _init_network(self, network, X, y):
        super()._init_network(network, X, y)
        if isinstance(network, ReconstructionImageNetwork):
            # The dynamic range of SSIM: 1 for scaling="minmax".
            data_range = float(np.ptp(X)) if X.size else 1.0
            network.data_range.assign(data_range if data_range > 0 else 1.0)
