"""OGNet ("Old is Gold", Zaheer et al., CVPR 2020): a reconstructing
generator trained adversarially, then a discriminator taught to tell good
reconstructions from those of an old state of the same generator."""

from numbers import Integral, Real

from sklearn.utils._param_validation import Interval, StrOptions

from ..engine import BaseGradientDetector, ImageInput, TrainingDivergedError, keras
from ..engine._conv import (
    ConvNetwork,
    ReconstructionImageNetwork,
    apply_stack,
    conv_decoder,
    conv_encoder,
)
from ..engine._devices import check_distribute, replica_dataset
from ..engine._gradient import steps_per_call
from ..engine._state import network_state, restore_network_state
from ..engine._training import _MAX_SEED, StopOnNonFiniteLoss, epoch_dataset
from ._networks import ConvDiscriminator

__all__ = ["OGNet"]

ops = keras.ops


class ConvGenerator(keras.Model):
    """The generator: the engine's stride-2 convolutional encoder down to a
    linear code (the last level's feature map), and its mirrored decoder of
    transposed convolutions back to the image's channels."""

    def __init__(self, filters, n_channels, *, kernel_size, activation, **kwargs):
        super().__init__(**kwargs)
        self.encoder = conv_encoder(
            filters, kernel_size=kernel_size, activation=activation, linear_last=True
        )
        self.decoder = conv_decoder(
            filters, n_channels, kernel_size=kernel_size, activation=activation
        )

    def call(self, x, training=False):
        code = apply_stack(self.encoder, x, training=training)
        return apply_stack(self.decoder, code, training=training)


class OGNetNetwork(ReconstructionImageNetwork):
    """OGNet's networks: the generator ``G``, a frozen copy of an earlier
    state of it (``old_generator``, ``G_old``), and the discriminator ``D``,
    whose logit is that of an image being a normal one (a training image or
    a good reconstruction of one).

    ``train_step`` trains in one of two phases (``phase``, set by the
    detector):

    1. **Adversarial**: ``D`` learns to tell training images from ``G``'s
       reconstructions of their noisy copies (``x + noise_std * N(0, 1)``);
       ``G`` learns to reconstruct the clean image and to fool ``D``, with
       the loss ``adversarial + reconstruction_weight * reconstruction``
       (the non-saturating adversarial loss and the mean squared error).
    2. **Old is gold**: ``D`` alone learns to call training images and
       ``G``'s reconstructions of them normal, and ``G_old``'s
       reconstructions and pseudo-anomalies (``G``'s reconstructions of the
       mean of ``G_old``'s reconstructions of two training images) not.

    ``call`` is ``G``'s reconstruction; ``score`` is ``D``'s logit of it.
    """

    trained_parts = ("generator", "discriminator")

    def __init__(
        self, image_shape, filters, *, kernel_size, activation, spectral_norm,
        noise_std, reconstruction_weight,
    ):
        super().__init__(image_shape, len(filters))
        conv = dict(kernel_size=kernel_size, activation=activation)
        self.generator = ConvGenerator(filters, self.n_channels, **conv, name="generator")
        self.old_generator = ConvGenerator(
            filters, self.n_channels, **conv, name="old_generator"
        )
        self.discriminator = ConvDiscriminator(
            filters, **conv, spectral_norm=spectral_norm, name="discriminator"
        )
        self.noise_std = noise_std
        self.reconstruction_weight = reconstruction_weight
        self.seed_generator = keras.random.SeedGenerator()
        #: The phase train_step trains: 1 or 2 (see the class).
        self.phase = 1

    def build(self, input_shape):
        # call() runs the generator only: build the three networks here.
        images = ops.zeros(
            (1, self.image_height, self.image_width, self.n_channels), dtype=self.compute_dtype
        )
        self.generator(self.pad(images))
        self.old_generator(self.pad(images))
        # Its weights are copied from the generator's, never trained; they
        # are variables of the network, so they pickle with the detector.
        self.old_generator.trainable = False
        self.discriminator(images)
        self.built = True

    # ------------------------------------------------------------- parts
    def generate(self, generator, x, training=False):
        """A generator's reconstruction of scaled images ``x``."""
        return self.crop(generator(self.pad(x), training=training))

    def discriminate(self, x, training=False):
        """``D``'s logit of each image being normal."""
        logit, _ = self.discriminator(x, training=training)
        return logit

    def call(self, x, training=False):
        return self.generate(self.generator, x, training=training)

    def score(self, x):
        return self.discriminate(self.generate(self.generator, x))

    # ---------------------------------------------------------- training
    def take_old_generator(self):
        """Copy the generator's current weights into ``old_generator``."""
        for old, new in zip(self.old_generator.weights, self.generator.weights):
            old.assign(new)

    def discriminator_loss(self, x, noisy):
        """Phase one: training images are real, reconstructions fake."""
        fake = ops.stop_gradient(self.generate(self.generator, noisy, training=True))
        # One call, so that spectral normalisation steps once a batch.
        real_logit, fake_logit = ops.split(
            self.discriminate(ops.concatenate([x, fake], axis=0), training=True), 2
        )
        return ops.mean(ops.softplus(-real_logit)) + ops.mean(ops.softplus(fake_logit))

    def generator_losses(self, x, noisy):
        """Phase one: ``(adversarial, reconstruction)`` of the generator."""
        reconstruction = self.generate(self.generator, noisy, training=True)
        # D in inference mode: the generator's step must not move D's
        # spectral normalisation.
        adversarial = ops.mean(ops.softplus(-self.discriminate(reconstruction)))
        return adversarial, ops.mean(self.reconstruction_loss(x, reconstruction))

    def phase_two_loss(self, x):
        """Phase two: training images and ``G``'s reconstructions are
        normal, ``G_old``'s reconstructions and pseudo-anomalies not; each
        side is the mean of its two cross-entropies."""
        old = self.generate(self.old_generator, x)
        # Each image is paired with its neighbour in the (shuffled) batch.
        mixed = (old + ops.roll(old, 1, axis=0)) / 2.0
        examples = ops.stop_gradient(
            ops.concatenate(
                [
                    self.generate(self.generator, x),
                    old,
                    self.generate(self.generator, mixed),
                ],
                axis=0,
            )
        )
        real, good, bad, pseudo = ops.split(
            self.discriminate(ops.concatenate([x, examples], axis=0), training=True), 4
        )
        normal = ops.mean(ops.softplus(-real)) + ops.mean(ops.softplus(-good))
        anomalous = ops.mean(ops.softplus(bad)) + ops.mean(ops.softplus(pseudo))
        return (normal + anomalous) / 2.0

    def train_step(self, data):
        x, _, _ = keras.utils.unpack_x_y_sample_weight(data)
        if self.phase == 2:
            loss = self.minimize("discriminator", lambda: self.phase_two_loss(x))
            return {"phase_two_loss": loss}
        noisy = x
        if self.noise_std > 0:
            noisy = x + self.noise_std * keras.random.normal(
                ops.shape(x), dtype=x.dtype, seed=self.seed_generator
            )
        d_loss = self.minimize("discriminator", lambda: self.discriminator_loss(x, noisy))
        parts = {}

        def generator_loss():
            parts["adversarial_loss"], parts["reconstruction_loss"] = (
                self.generator_losses(x, noisy)
            )
            return (
                parts["adversarial_loss"]
                + self.reconstruction_weight * parts["reconstruction_loss"]
            )

        g_loss = self.minimize("generator", generator_loss)
        return {"discriminator_loss": d_loss, "generator_loss": g_loss, **parts}


class _TakeOldGenerator(keras.callbacks.Callback):
    """Copy the generator into the old generator at the end of one epoch."""

    def __init__(self, network, epoch):
        super().__init__()
        self.network = network
        self.epoch = epoch

    def on_epoch_end(self, epoch, logs=None):
        if epoch + 1 == self.epoch:
            self.network.take_old_generator()


class OGNet(ConvNetwork, ImageInput, BaseGradientDetector):
    """OGNet ("Old is Gold") adversarial one-class detector for images.

    OGNet (Zaheer et al., 2020) scores an image with a discriminator rather
    than with a reconstruction error, and trains that discriminator to see
    the subtle distortions a generator leaves in the reconstructions of
    images unlike its training images. It trains in two phases:

    1. **Adversarial** (``epochs`` epochs): a convolutional encoder-decoder,
       the generator ``G``, learns to reconstruct training images from
       noisy copies of them (``noise_std``) while fooling a discriminator
       ``D``, which learns to tell training images from reconstructions.
       ``G``'s loss is ``adversarial + reconstruction_weight *
       reconstruction``. At the end of epoch ``old_epoch`` a copy of ``G``
       is kept: the *old* generator ``G_old``, which reconstructs worse.
    2. **Old is gold** (``phase_two_steps`` steps, ``D`` only): ``D`` learns
       to call training images and the final ``G``'s reconstructions of
       them normal, and ``G_old``'s low-quality reconstructions and
       pseudo-anomalies not. A pseudo-anomaly is ``G``'s reconstruction of
       the mean of ``G_old``'s reconstructions of two training images: a
       blend that no training image resembles.

    ``score_samples`` is ``D``'s logit of ``G``'s reconstruction of the
    image being normal, the paper's score: higher is more normal.

    Parameters
    ----------
    reconstruction_weight : float >= 0, default=100.0
        Weight of the generator's mean squared reconstruction error against
        its adversarial loss in phase one (the paper's ``lambda``).
    noise_std : float >= 0, default=0.1
        Standard deviation of the Gaussian noise added to the (scaled)
        training images that the generator reconstructs in phase one; the
        scaled images span [0, 1] with the default ``scaling="minmax"``.
    old_epoch : "auto" or int >= 1, default="auto"
        The epoch of phase one at whose end the generator is copied into
        the old generator; at most ``epochs``. ``"auto"`` is a fifth of
        ``epochs``, rounded, at least 1: 10 for 50 epochs. A warm start
        keeps the old generator of the first fit.
    phase_two_steps : int >= 1, default=75
        Training steps of the discriminator in phase two, one batch of
        training images (``batch_size``) each.
    spectral_norm : bool, default=True
        Divide each layer of the discriminator by its largest singular
        value (spectral normalisation, Miyato et al., 2018), which keeps
        its gradients bounded and the adversarial phase stable.
    epochs : int, default=50
        Epochs of phase one, all of them: OGNet does not stop early.
    learning_rate : float, default=0.001
        Step size of both optimizers, the generator's and the
        discriminator's (named by ``optimizer``), in both phases.

    Attributes
    ----------
    old_epoch_ : int
        The epoch at whose end the old generator was taken.
    model_ : keras.Model
        The trained network (an ``OGNetNetwork``): the generator
        ``model_.generator``, the old generator ``model_.old_generator``
        and the discriminator ``model_.discriminator``.

    See Also
    --------
    ConvAutoEncoder : Scores by the reconstruction error alone.

    Notes
    -----
    Input may be ``(n_samples, height, width)`` (grayscale),
    ``(n_samples, height, width, channels)`` or flattened rows (see
    ``image_shape``); every image must have the shape seen in ``fit``.

    The paper has no anomaly map: its score is one number an image.
    :meth:`anomaly_map` gives the squared error of each pixel of the final
    generator's reconstruction (averaged over the channels, on the scaled
    images), which shows where the reconstruction, and so what the
    discriminator sees, departs from the image; it is not what
    ``score_samples`` aggregates.

    ``history_`` holds, per epoch of phase one, the discriminator's and the
    generator's losses and the generator's two terms
    (``adversarial_loss``, ``reconstruction_loss``), each of the last batch
    of the epoch; and ``phase_two_loss``, one value per fit: the
    discriminator's phase-two loss on the last batch of phase two. The
    losses of phase one are those of a game, not of an optimisation: they
    do not tell when to stop, so OGNet trains for ``epochs`` epochs and
    takes no ``validation_fraction`` or ``patience``. A warm start trains
    phase one for ``epochs`` more epochs, from the fitted generator and
    discriminator, then phase two again. The user's ``callbacks`` see phase
    one only.

    As in the paper: the two phases, the old generator taken from an early
    epoch of phase one, the noisy inputs of phase one, the generator's loss
    (adversarial plus weighted reconstruction), the discriminator alone in
    phase two for a few steps, the four kinds of examples and their labels,
    and the discriminator's output on the reconstruction as the score. What
    differs: the networks are the engine's plain stride-2 convolutions and
    transposed convolutions, sized from the images (``filters``), without
    the paper's batch normalisation; the discriminator is spectrally
    normalised (``spectral_norm``) for stability. Our choices: the two
    sides of phase two weigh their two kinds of examples equally; both
    networks share one learning rate, and phase two goes on with the
    discriminator's optimizer as phase one left it; a pseudo-anomaly pairs
    each image with its neighbour in a shuffled batch. The defaults of
    ``reconstruction_weight``, ``noise_std``, ``old_epoch`` and
    ``learning_rate`` are our choices for images scaled to [0, 1], not
    values taken from the paper. The paper reports a frame-level ROC AUC of
    98.1% on UCSD Ped2 (video anomaly detection), and results on one-class
    protocols of MNIST and Caltech-256; we have not reproduced them.

    Measured (the commands are in the comments of
    ``tests/adversarial/test_ognet.py``), image ROC AUC: on 16x16
    horizontal gratings, test images with an 8x8 square of vertical
    grating planted in them, 0.836 for OGNet against 0.553 for the distance
    to the mean training image; on one-class MNIST (digit 0, 1,000
    training images, 30 epochs), 0.976 against 0.964. OGNet suits
    anomalies that its generator reconstructs badly. Where defects are
    bright or dark spots on a texture, the discriminator, which has learned
    that blurred reconstructions are anomalous, takes their sharp edges for
    normality: on 32x32 brick textures with planted scratches, blobs and
    stains (:func:`~skanomaly.datasets.make_defect_textures`), OGNet scored
    0.603, against 0.837 for the distance to the mean image and 0.936 for
    the mean of OGNet's own anomaly map (a reconstruction detector such as
    :class:`~skanomaly.ConvAutoEncoder` suits such defects better).

    On one-class MNIST at its defaults (``python
    benchmarks/mnist_one_class.py --max-train 2000``: 2,000 training images
    a digit, the whole test set), OGNet's mean ROC AUC over the ten digits
    is 0.632, far below :class:`~skanomaly.ConvAutoEncoder`'s 0.952, and
    uneven: 0.899 for digit 0, 0.291 for digit 1 (its anomalies scored as
    more normal than its normal images). The defaults are not tuned, and
    no setting tried so far closes the gap (``python
    benchmarks/mnist_one_class_select.py``: digits 0 to 4, 1,000 training
    images, half of the test set): mean ROC AUC 0.645 at the defaults, and
    0.519 with a generator and discriminator of two levels
    (``filters=(16, 32)``), whose larger code reconstructs every digit
    well, so 0.087 for digit 1; an old generator from the first epoch
    0.575, no input noise 0.679 (the best) and 300 steps of phase two
    0.656. The discriminator sees only the
    reconstruction, and what it learns from the old generator's faint
    reconstructions and the blended pseudo-anomalies is the quality of the
    strokes rather than the shape of the digit.

    References
    ----------
    M. Z. Zaheer, J.-H. Lee, M. Astrid and S.-I. Lee, "Old is Gold:
    Redefining the Adversarially Learned One-Class Classifier Training
    Paradigm", CVPR 2020.

    Examples
    --------
    >>> import numpy as np
    >>> from skanomaly import OGNet
    >>> rng = np.random.RandomState(0)
    >>> X = np.tile(np.linspace(0, 1, 8), (60, 8, 1))   # 60 horizontal ramps
    >>> X += rng.normal(scale=0.02, size=X.shape)
    >>> detector = OGNet(epochs=5, phase_two_steps=20, random_state=0).fit(X)
    >>> detector.old_epoch_, sorted(detector.history_)
    (1, ['adversarial_loss', 'discriminator_loss', 'generator_loss', 'phase_two_loss', 'reconstruction_loss'])
    >>> detector.score_samples(X[:3]).shape, detector.anomaly_map(X[:3]).shape
    ((3,), (3, 8, 8))
    """

    _reconstructs = True
    #: The score is the discriminator's, not an aggregate of the map.
    _scores_from_map = False
    #: A game's losses do not say when to stop: train for ``epochs``.
    _early_stopping_monitor = None
    #: Its losses are batch means of a game, not per-sample losses.
    _trims_losses = False
    _parameter_constraints: dict = {
        "reconstruction_weight": [Interval(Real, 0.0, None, closed="left")],
        "noise_std": [Interval(Real, 0.0, None, closed="left")],
        "old_epoch": [StrOptions({"auto"}), Interval(Integral, 1, None, closed="left")],
        "phase_two_steps": [Interval(Integral, 1, None, closed="left")],
        "spectral_norm": ["boolean"],
    }

    def __init__(
        self,
        *,
        reconstruction_weight=100.0,
        noise_std=0.1,
        old_epoch="auto",
        phase_two_steps=75,
        spectral_norm=True,
        **params,
    ):
        self.reconstruction_weight = reconstruction_weight
        self.noise_std = noise_std
        self.old_epoch = old_epoch
        self.phase_two_steps = phase_two_steps
        self.spectral_norm = spectral_norm
        super().__init__(**params)

    def _build_network(self, sample_shape):
        return OGNetNetwork(
            sample_shape,
            self._filters_,
            kernel_size=self.kernel_size,
            activation=self.activation,
            spectral_norm=bool(self.spectral_norm),
            noise_std=float(self.noise_std),
            reconstruction_weight=float(self.reconstruction_weight),
        )

    def _resolve_old_epoch(self):
        if self.old_epoch == "auto":
            return max(1, round(self.epochs / 5))
        if self.old_epoch > self.epochs:
            raise ValueError(
                f"{type(self).__name__}: old_epoch={self.old_epoch} is after "
                f"the last epoch of phase one (epochs={self.epochs}); the old "
                "generator must be taken during phase one. Lower old_epoch, "
                "raise epochs, or use old_epoch='auto'."
            )
        return int(self.old_epoch)

    def _training_callbacks(self, network, X, epochs_done):
        callbacks = super()._training_callbacks(network, X, epochs_done)
        if epochs_done == 0:  # a new network; a warm start keeps its old one
            callbacks.append(_TakeOldGenerator(network, self.old_epoch_))
        return callbacks

    def _fit_network(self, network, X, y, *, seed, warm):
        if not warm:
            self.old_epoch_ = self._resolve_old_epoch()
            before = None
        else:
            # What a failed phase two must restore: the network, which the
            # detector keeps (phase one restores it itself when it fails;
            # fit restores the detector's attributes).
            before = network_state(network, self._frozen_)
        network.phase = 1
        super()._fit_network(network, X, y, seed=seed, warm=warm)
        try:
            self._train_phase_two(network, X, seed, warm)
        except BaseException:
            if before is not None:
                restore_network_state(network, before, self._frozen_, type(self).__name__)
            raise

    def _train_phase_two(self, network, X, seed, warm):
        """Phase two: the discriminator alone, ``phase_two_steps`` steps on
        batches of the scaled training images, through Keras' loop (so that
        it runs as phase one does, on one device or under ``distribute``)."""
        owner = type(self).__name__
        n_replicas = check_distribute(self.distribute, self.device, owner)
        batch_size = min(self.batch_size, len(X))
        # Another order of the images than phase one's first epoch.
        shuffle_seed = (seed + 1) % _MAX_SEED
        if self.distribute is None:
            data, _ = epoch_dataset(X, batch_size, shuffle_seed)
        else:
            data, _ = replica_dataset(X, batch_size, n_replicas, shuffle_seed)
        guard = StopOnNonFiniteLoss()
        steps = self.phase_two_steps
        network.phase = 2
        try:
            self._compile(
                network,
                1 if self.distribute is not None else steps_per_call(steps),
                network.run_eagerly,
            )
            history = network.fit(
                data,
                steps_per_epoch=steps,
                epochs=1,
                shuffle=False,  # the data set shuffles itself
                verbose=self.verbose,
                callbacks=[guard],
            )
        finally:
            network.phase = 1
        if guard.diverged_at is not None:
            raise TrainingDivergedError(
                f"{owner}: the discriminator's phase-two loss became NaN or "
                f"infinite. Lower learning_rate (now {self.learning_rate}), "
                "keep spectral_norm=True, or check the input for extreme "
                "values."
                + (" The weights from before this fit were kept." if warm else "")
            )
        # A new dict, as the engine's: a failed fit restores the old one.
        self.history_ = {
            **self.history_,
            **{
                name: self.history_.get(name, []) + [float(v) for v in values]
                for name, values in history.history.items()
            },
        }
