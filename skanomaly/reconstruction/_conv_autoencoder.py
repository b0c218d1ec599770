"""Convolutional autoencoder for images: plain, denoising, or AE-SSIM."""

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


class ConvAutoEncoderNetwork(ReconstructionImageNetwork):
    """Stride-2 convolutions down to a code, transposed convolutions back up.

    With ``latent_dim`` the encoder's feature map is flattened into a dense
    code of that many units and expanded back; without it the network is
    fully convolutional and the code is the last level's feature map.
    """

    def __init__(
        self, image_shape, filters, *, kernel_size, activation, latent_dim,
        noise_std, error, ssim_window,
    ):
        super().__init__(image_shape, len(filters), error=error, ssim_window=ssim_window)
        self.latent_dim = latent_dim
        # Gaussian noise on the (scaled) input during training makes it a
        # denoising autoencoder; it is the identity at inference.
        self.noise = layers.GaussianNoise(noise_std) if noise_std > 0 else None
        self.encoder = conv_encoder(
            filters, kernel_size=kernel_size, activation=activation,
            linear_last=latent_dim is None,
        )
        if latent_dim is not None:
            code_channels = filters[-1] if filters else self.n_channels
            self.code_shape = (*self.code_size, code_channels)
            self.to_code = layers.Dense(latent_dim)
            self.from_code = layers.Dense(
                self.code_size[0] * self.code_size[1] * code_channels,
                activation=activation,
            )
        self.decoder = conv_decoder(
            filters, self.n_channels, kernel_size=kernel_size, activation=activation
        )

    def call(self, x, training=False):
        if self.noise is not None:
            x = self.noise(x, training=training)
        features = apply_stack(self.encoder, self.pad(x), training=training)
        if self.latent_dim is not None:
            code = self.to_code(ops.reshape(features, (ops.shape(x)[0], -1)))
            features = ops.reshape(self.from_code(code), (-1, *self.code_shape))
        return self.crop(apply_stack(self.decoder, features, training=training))

    def detector_loss(self, x, reconstruction, training):
        return self.reconstruction_loss(x, reconstruction)


class ConvAutoEncoder(ConvNetwork, ImageInput, BaseGradientDetector):
    """Convolutional autoencoder anomaly detector for images.

    A convolutional encoder halves the images at each of its levels down to
    a small code, a decoder of transposed convolutions brings the code back
    to an image, and the network learns to reconstruct the training images.
    Pixels it reconstructs badly are anomalous: :meth:`anomaly_map` gives
    the reconstruction error of each pixel, and ``score_samples`` is minus
    its aggregate (``map_aggregation``). Two ways to compare an image with
    its reconstruction, for both the training loss and the map:

    * ``loss="mse"``: the squared error of each pixel;
    * ``loss="ssim"``: one minus the structural similarity (SSIM) around
      each pixel, which compares local brightness, contrast and structure
      rather than exact values: the AE-SSIM of Bergmann et al. (2019),
      better at textures, where a reconstruction is never exact.

    Parameters
    ----------
    latent_dim : int or None, default=32
        Units of a dense code between the encoder and the decoder: the
        bottleneck that keeps the network from copying its input. ``None``
        makes the network fully convolutional, its code the last level's
        feature map (of ``filters[-1]`` channels at ``1 / 2 ** L`` of the
        resolution), which reconstructs more detail and keeps the position
        of each feature.
    noise_std : float >= 0, default=0.0
        Standard deviation of Gaussian noise added to the (scaled) images
        during training: a positive value makes a denoising autoencoder.
    loss : {"mse", "ssim"}, default="mse"
        How an image and its reconstruction are compared, for the training
        loss and the anomaly map: squared error or one minus SSIM (see
        above).
    ssim_window : int, default=7
        Side of the Gaussian window of SSIM, in pixels (its standard
        deviation is a fifth of the side); ``loss="ssim"`` only.

    Attributes
    ----------
    model_ : keras.Model
        The trained network (a ``ConvAutoEncoderNetwork``).

    See Also
    --------
    MemAE : Autoencoder whose code is read from a memory of normal patterns.
    MNAD : Autoencoder with a memory of prototypes read and updated in
        training.
    AutoEncoder : Dense autoencoder for tabular data.

    Notes
    -----
    Input may be ``(n_samples, height, width)`` (grayscale),
    ``(n_samples, height, width, channels)`` or flattened rows (see
    ``image_shape``); every image must have the shape seen in ``fit``.
    Sides that are not multiples of ``2 ** L`` are padded with zeros for
    the network and its outputs cropped back, so maps are always at the
    input's resolution.

    With ``loss="mse"`` a pixel of the anomaly map is its squared
    reconstruction error averaged over the channels, on the scaled images;
    with ``loss="ssim"`` it is ``1 - SSIM`` averaged over the channels,
    between 0 and 2 (SSIM uses the dynamic range of the scaled training
    images, 1 with the default scaling). With ``map_aggregation="mean"``,
    ``-score_samples`` is the image's mean squared error or mean
    ``1 - SSIM``.

    References
    ----------
    P. Bergmann, S. Löwe, M. Fauser, D. Sattlegger and C. Steger,
    "Improving unsupervised defect segmentation by applying structural
    similarity to autoencoders", VISAPP 2019.

    Examples
    --------
    >>> import numpy as np
    >>> from skanomaly import ConvAutoEncoder
    >>> rng = np.random.RandomState(0)
    >>> X = np.tile(np.linspace(0, 1, 8), (60, 8, 1))   # 60 horizontal ramps
    >>> X += rng.normal(scale=0.02, size=X.shape)
    >>> detector = ConvAutoEncoder(epochs=10, random_state=0).fit(X)
    >>> defect = X[:2].copy()
    >>> defect[1, 2:5, 2:5] = 1.0                        # a bright square
    >>> maps = detector.anomaly_map(defect)
    >>> maps.shape
    (2, 8, 8)
    >>> bool(maps[1, 3, 3] > maps[0, 3, 3])
    True
    >>> detector.predict(defect)
    array([ 1, -1])
    """

    _reconstructs = True
    _parameter_constraints: dict = {
        "latent_dim": [Interval(Integral, 1, None, closed="left"), None],
        "noise_std": [Interval(Real, 0.0, None, closed="left")],
        "loss": [StrOptions({"mse", "ssim"})],
        "ssim_window": [Interval(Integral, 1, None, closed="left")],
    }

    def __init__(
        self,
        *,
        latent_dim=32,
        noise_std=0.0,
        loss="mse",
        ssim_window=7,
        **params,
    ):
        self.latent_dim = latent_dim
        self.noise_std = noise_std
        self.loss = loss
        self.ssim_window = ssim_window
        super().__init__(**params)

    def _build_network(self, sample_shape):
        return ConvAutoEncoderNetwork(
            sample_shape,
            self._filters_,
            kernel_size=self.kernel_size,
            activation=self.activation,
            latent_dim=self.latent_dim,
            noise_std=self.noise_std,
            error=self.loss,
            ssim_window=self.ssim_window,
        )
