"""Convolutional autoencoder for images: plain, denoising, or AE-SSIM."""

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


class ConvAutoEncoder(BaseImageDetector):
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
    filters : "auto" or sequence of int, default="auto"
        Widths of the encoder's stride-2 convolution levels; the decoder
        mirrors them. Each level halves the images (rounding up), so ``L``
        levels need images of at least ``2 ** L`` pixels a side. ``"auto"``
        sizes the network from the images: widths 16, 32, 64 and 128, as
        many levels (at most four) as keep the code at least 2 pixels a
        side: ``(16, 32, 64, 128)`` for 28x28 images and larger ones,
        ``(16, 32)`` for 8x8.
    kernel_size : int, default=3
        Side of the convolution kernels.
    latent_dim : int or None, default=32
        Units of a dense code between the encoder and the decoder: the
        bottleneck that keeps the network from copying its input. ``None``
        makes the network fully convolutional, its code the last level's
        feature map (of ``filters[-1]`` channels at ``1 / 2 ** L`` of the
        resolution), which reconstructs more detail and keeps the position
        of each feature.
    activation : str, default="relu"
        Activation of the hidden layers (any Keras name).
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
    image_shape : tuple of int, default=None
        Shape ``(height, width)`` or ``(height, width, channels)`` of one
        image, to read 2-D input of flattened images (one a row, C order).
        When ``None``, rows are read as square grayscale images if their
        width is a perfect square, and refused otherwise. Images given as a
        3-D or 4-D array must have this shape.
    map_aggregation : {"mean", "max", "topk_mean"}, default="mean"
        How ``score_samples`` reduces an image's anomaly map to one score:
        the mean over the pixels, the largest pixel, or the mean of the
        ``topk_fraction`` largest pixels (for small defects, which a mean
        over a large image dilutes).
    topk_fraction : float in (0, 1], default=0.05
        Share of the pixels averaged by ``map_aggregation="topk_mean"`` (at
        least one pixel).
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
        of the training loss (a trimmed mean), so that the anomalies in
        unlabelled training data pull the model less towards them.
    scaling : {"minmax", "standard", "robust"} or None, default="minmax"
        Scaling of each channel, with one centre and scale over all the
        pixels of the training images, applied inside the detector: the
        default maps the training images' range to [0, 1], whether they
        came in [0, 1] or [0, 255].
    callbacks : list of keras.callbacks.Callback, default=None
        Extra Keras callbacks for training.
    verbose : int, default=0
        0 silent, 1 Keras' progress bar, 2 one line per epoch.
    random_state : int, RandomState instance or None, default=None
        Seeds initialisation, shuffling and noise; an int gives the same
        scores run after run.
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
        The trained network (a ``ConvAutoEncoderNetwork``).
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

    _parameter_constraints: dict = {
        **BaseImageDetector._parameter_constraints,
        "latent_dim": [Interval(Integral, 1, None, closed="left"), None],
        "noise_std": [Interval(Real, 0.0, None, closed="left")],
        "loss": [StrOptions({"mse", "ssim"})],
        "ssim_window": [Interval(Integral, 1, None, closed="left")],
    }

    def __init__(
        self,
        filters="auto",
        *,
        kernel_size=3,
        latent_dim=32,
        activation="relu",
        noise_std=0.0,
        loss="mse",
        ssim_window=7,
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
        self.latent_dim = latent_dim
        self.activation = activation
        self.noise_std = noise_std
        self.loss = loss
        self.ssim_window = ssim_window
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

    def _build_network(self, sample_shape):
        return ConvAutoEncoderNetwork(
            sample_shape,
            self._filters,
            kernel_size=self.kernel_size,
            activation=self.activation,
            latent_dim=self.latent_dim,
            noise_std=self.noise_std,
            error=self.loss,
            ssim_window=self.ssim_window,
        )
