"""GANomaly (Akcay, Atapour-Abarghouei and Breckon, ACCV 2018)."""

import math
from numbers import Integral, Real

import numpy as np
from sklearn.utils._param_validation import Interval

from ..engine import (
    BaseGradientDetector,
    ImageInput,
    keras,
    once_for_all_replicas,
    sum_over_replicas,
)
from ..engine._conv import (
    ConvNetwork,
    ReconstructionImageNetwork,
    apply_stack,
    conv_decoder,
    conv_encoder,
)
from ..engine._devices import per_replica
from ._networks import ConvDiscriminator, GANOptimizers

layers = keras.layers
ops = keras.ops

#: The losses a training step logs, each averaged over the epoch; all but
#: the count of resets are logged on the validation images too.
LOSSES = (
    "loss",
    "generator_loss",
    "adversarial_loss",
    "contextual_loss",
    "latent_loss",
    "discriminator_loss",
)


class LatentEncoder(keras.Model):
    """Stride-2 convolution levels, then a dense code of ``latent_dim``
    units: the generator's two encoders."""

    def __init__(self, filters, latent_dim, *, kernel_size, activation, **kwargs):
        super().__init__(**kwargs)
        self.stack = conv_encoder(filters, kernel_size=kernel_size, activation=activation)
        self.flatten = layers.Flatten()
        self.code = layers.Dense(latent_dim)

    def call(self, x, training=False):
        features = apply_stack(self.stack, x, training=training)
        return self.code(self.flatten(features))


class LatentDecoder(keras.Model):
    """A dense layer from the code to the last level's feature map, then
    the transposed convolutions of :func:`conv_decoder` back to an image."""

    def __init__(self, filters, n_channels, code_size, *, kernel_size, activation, **kwargs):
        super().__init__(**kwargs)
        self.code_shape = (*code_size, filters[-1] if filters else n_channels)
        self.expand = layers.Dense(math.prod(self.code_shape), activation=activation)
        self.stack = conv_decoder(
            filters, n_channels, kernel_size=kernel_size, activation=activation
        )

    def call(self, z, training=False):
        features = ops.reshape(self.expand(z), (-1, *self.code_shape))
        return apply_stack(self.stack, features, training=training)


class Generator(keras.Model):
    """GANomaly's generator: encoder ``G_E``, decoder ``G_D`` and a second
    encoder ``E``, on images padded to the network's multiple.

    ``call(x)`` returns ``(x_hat, z, z_hat)``: the reconstruction
    ``G_D(G_E(x))``, its code ``z = G_E(x)`` and the code of the
    reconstruction ``z_hat = E(x_hat)``. The reconstruction is zero on the
    padding, as the padded input is, so that ``E`` reads what ``G_E`` read.
    """

    def __init__(
        self, filters, n_channels, code_size, inside, *, kernel_size, activation,
        latent_dim, **kwargs,
    ):
        super().__init__(**kwargs)
        conv = dict(kernel_size=kernel_size, activation=activation)
        self.encoder = LatentEncoder(filters, latent_dim, **conv, name="encoder")
        self.decoder = LatentDecoder(filters, n_channels, code_size, **conv, name="decoder")
        self.second_encoder = LatentEncoder(filters, latent_dim, **conv, name="second_encoder")
        # 1 on the image, 0 on its padding (None without padding).
        self.inside = inside

    def call(self, x, training=False):
        z = self.encoder(x, training=training)
        x_hat = self.decoder(z, training=training)
        if self.inside is not None:
            x_hat = x_hat * ops.convert_to_tensor(self.inside, dtype=x_hat.dtype)
        return x_hat, z, self.second_encoder(x_hat, training=training)


class GANomalyNetwork(ReconstructionImageNetwork):
    """GANomaly's generator and discriminator, trained in turns.

    ``call(x)`` runs the generator on scaled images and returns
    ``(reconstruction, z, z_hat)``; :meth:`score` is minus the mean squared
    difference of the two codes, and the anomaly map (inherited) the
    reconstruction's squared error per pixel. Each training step makes one
    step of the generator on ``adversarial_weight * L_adv +
    contextual_weight * L_con + latent_weight * L_enc``, then one of the
    discriminator on its binary cross-entropy, real images against the
    reconstructions the generator gave before its step (as the authors'
    code does). Should the discriminator's loss on a batch fall below
    ``reset_threshold``, its weights are drawn afresh.
    """

    trained_parts = ("generator", "discriminator")

    def __init__(
        self, image_shape, filters, *, kernel_size, activation, latent_dim,
        adversarial_weight, contextual_weight, latent_weight, spectral_norm,
        reset_threshold,
    ):
        super().__init__(image_shape, len(filters))
        self.adversarial_weight = adversarial_weight
        self.contextual_weight = contextual_weight
        self.latent_weight = latent_weight
        self.reset_threshold = reset_threshold
        inside = None
        if self.padded_size != (self.image_height, self.image_width):
            ones = np.ones((1, self.image_height, self.image_width, 1), dtype="float32")
            inside = np.pad(ones, ((0, 0), *self._padding, (0, 0)))
        self.generator = Generator(
            filters, self.n_channels, self.code_size, inside,
            kernel_size=kernel_size, activation=activation, latent_dim=latent_dim,
            name="generator",
        )
        self.discriminator = ConvDiscriminator(
            filters, kernel_size=kernel_size, activation=activation,
            spectral_norm=spectral_norm, name="discriminator",
        )
        # Draws the discriminator's new weights when it is reset.
        self.reset_seeds = keras.random.SeedGenerator()
        self.trackers = [keras.metrics.Mean(name=name) for name in LOSSES]
        self.resets = keras.metrics.Sum(name="discriminator_resets")

    @property
    def metrics(self):
        return [*self.trackers] + ([self.resets] if self.reset_threshold is not None else [])

    def build(self, input_shape):
        # call() runs the generator only: the discriminator is built here.
        images = ops.zeros((1, *input_shape[1:]))
        self.generator(self.pad(images))
        self.discriminator(self.pad(images))

    def call(self, x, training=False):
        x_hat, z, z_hat = self.generator(self.pad(x), training=training)
        return self.crop(x_hat), z, z_hat

    def score(self, x):
        _, z, z_hat = self(x)
        return -ops.mean(ops.square(z - z_hat), axis=-1)

    # ------------------------------------------------------------ losses
    def generator_losses(self, x, training):
        """The generator's losses on a batch of scaled images, and its
        padded reconstruction (for the discriminator's step)."""
        padded = self.pad(x)
        x_hat, z, z_hat = self.generator(padded, training=training)
        # Feature matching: the discriminator is not trained in this step.
        _, real_features = self.discriminator(padded, training=False)
        _, fake_features = self.discriminator(x_hat, training=False)
        adversarial = ops.mean(ops.square(real_features - fake_features))
        contextual = ops.mean(ops.abs(self.crop(x_hat) - x))
        latent = ops.mean(ops.square(z - z_hat))
        loss = self.contextual_weight * contextual + self.latent_weight * latent
        return {
            "loss": loss,
            "generator_loss": loss + self.adversarial_weight * adversarial,
            "adversarial_loss": adversarial,
            "contextual_loss": contextual,
            "latent_loss": latent,
        }, x_hat

    def discriminator_loss(self, padded, x_hat, training):
        """Binary cross-entropy of real (padded) images against
        reconstructions, the mean of the two halves."""
        # One pass over both halves: one power iteration of spectral
        # normalisation a step.
        logits, _ = self.discriminator(
            ops.concatenate([padded, x_hat], axis=0), training=training
        )
        real, fake = logits[: ops.shape(padded)[0]], logits[ops.shape(padded)[0] :]
        return 0.5 * (ops.mean(ops.softplus(-real)) + ops.mean(ops.softplus(fake)))

    # ---------------------------------------------------------- training
    def _log(self, losses):
        for tracker in self.trackers:
            if tracker.name in losses:
                tracker.update_state(losses[tracker.name])
        return {tracker.name: tracker.result() for tracker in self.trackers}

    def train_step(self, data):
        x, _, _ = keras.utils.unpack_x_y_sample_weight(data)
        losses = {}

        def generator_objective():
            step_losses, x_hat = self.generator_losses(x, training=True)
            losses.update(step_losses, x_hat=x_hat)
            return step_losses["generator_loss"]

        self.minimize("generator", generator_objective)
        x_hat = ops.stop_gradient(losses.pop("x_hat"))
        padded = self.pad(x)
        losses["discriminator_loss"] = self.minimize(
            "discriminator", lambda: self.discriminator_loss(padded, x_hat, training=True)
        )
        logs = self._log(losses)
        if self.reset_threshold is not None:
            self.resets.update_state(self._reset_if_collapsed(losses["discriminator_loss"]))
            logs["discriminator_resets"] = self.resets.result()
        return logs

    def test_step(self, data):
        x, _, _ = keras.utils.unpack_x_y_sample_weight(data)
        losses, x_hat = self.generator_losses(x, training=False)
        losses["discriminator_loss"] = self.discriminator_loss(
            self.pad(x), x_hat, training=False
        )
        return self._log(losses)

    # ------------------------------------------------------------- reset
    def _redraw_if(self, collapsed):
        """Draw the discriminator's weights afresh where ``collapsed`` (a
        boolean scalar) is true, as Keras initialises its layers:
        Glorot-uniform kernels, zero biases.

        The new weights are drawn at every step, from the network's own
        seeds, and kept only on a reset: a selection rather than a branch,
        which ``tf.distribute`` runs in its cross-replica context.
        """
        draw = keras.initializers.GlorotUniform(seed=self.reset_seeds)
        for variable in self.discriminator.trainable_variables:
            if len(variable.shape) == 1:
                fresh = ops.zeros(variable.shape, variable.dtype)
            else:
                fresh = draw(variable.shape, variable.dtype)
            variable.assign(ops.where(collapsed, fresh, variable))

    def _reset_if_collapsed(self, loss):
        """Draw the discriminator's weights afresh if its loss on this batch
        (over all replicas) is below ``reset_threshold``; returns this
        replica's share of the count of resets (0 or 1 in all)."""
        collapsed = sum_over_replicas(per_replica(loss)) < self.reset_threshold
        once_for_all_replicas(self._redraw_if, collapsed)
        return per_replica(ops.cast(collapsed, "float32"))


class GANomaly(GANOptimizers, ConvNetwork, ImageInput, BaseGradientDetector):
    """GANomaly anomaly detector for images (adversarially trained
    encoder-decoder-encoder).

    The generator is an autoencoder with a second encoder behind it: an
    encoder ``G_E`` maps an image ``x`` to a code ``z`` of ``latent_dim``
    units, a decoder ``G_D`` reconstructs the image ``x_hat = G_D(z)``, and
    a second encoder ``E`` maps the reconstruction to its own code
    ``z_hat = E(x_hat)``. Trained on normal images only, the generator
    reconstructs normal content; an anomaly is reconstructed as something
    normal, whose code then differs from the anomaly's. The score is that
    difference: ``score_samples`` is minus the mean squared difference of
    the codes, ``mean((z - z_hat) ** 2)``, and :meth:`anomaly_map` the
    squared reconstruction error of each pixel.

    A discriminator ``D`` (a convolutional classifier) learns to tell the
    training images from their reconstructions, by binary cross-entropy.
    The generator learns from three losses, weighted:

    * adversarial (``adversarial_weight``): feature matching, the mean
      squared difference of ``D``'s last feature map between ``x`` and
      ``x_hat``, which makes reconstructions look real to ``D``;
    * contextual (``contextual_weight``): the mean absolute difference of
      ``x`` and ``x_hat``;
    * latent (``latent_weight``): the mean squared difference of ``z`` and
      ``z_hat``.

    Each training step makes one step of the generator, then one of the
    discriminator (each with its own optimizer).

    Parameters
    ----------
    latent_dim : int, default=100
        Units of the code ``z`` (and ``z_hat``); the paper's value.
    adversarial_weight : float >= 0, default=1.0
        Weight of the adversarial loss; the paper's value.
    contextual_weight : float >= 0, default=50.0
        Weight of the contextual (absolute reconstruction error) loss; the
        paper's value.
    latent_weight : float >= 0, default=1.0
        Weight of the latent loss; the paper's value.
    spectral_norm : bool, default=True
        Spectral normalisation of the discriminator's layers (Miyato et
        al., 2018), which bounds how fast its outputs and features change
        with its input and keeps its gradients, and the feature-matching
        loss, from exploding. The paper uses batch normalisation instead.
    reset_threshold : float > 0 or None, default=1e-05
        Should the discriminator's loss on a training batch fall below
        this value (it has won: it tells every reconstruction from the real
        images, and its gradients vanish), its weights are drawn afresh, as
        the authors' code does at the same value. The number of resets in
        each epoch is logged as ``history_["discriminator_resets"]``.
        ``None`` never resets it.
    learning_rate : float, default=0.0002
        Step size of both optimizers; the paper's value.
    optimizer : {"adam", "adamw", "rmsprop", "sgd"} or keras Optimizer, \
            default="adam"
        The optimizer of each network. ``"adam"`` here is Adam with a first
        moment decay ``beta_1=0.5`` (Keras' default is 0.9): the paper's
        setting for both networks, taken from DCGAN. An instance is copied through its config at each fit, once
        per network (its own learning rate then applies and
        ``learning_rate`` is ignored), so fitting never changes the object
        given here.

    Attributes
    ----------
    model_ : keras.Model
        The trained networks (a ``GANomalyNetwork``): ``model_.generator``
        (with ``encoder``, ``decoder`` and ``second_encoder``) and
        ``model_.discriminator``.

    See Also
    --------
    ConvAutoEncoder : The reconstruction alone, scored by its error.

    Notes
    -----
    Every training loss is logged in ``history_``, averaged over each epoch:
    ``generator_loss`` (the weighted sum of the three), its terms
    ``adversarial_loss``, ``contextual_loss`` and ``latent_loss``,
    ``discriminator_loss``, and ``loss``, the generator's loss without its
    adversarial term (``contextual_weight * L_con + latent_weight *
    L_enc``). Early stopping watches ``val_loss``, that loss on the
    held-out training images: it measures how well the generator
    reconstructs normal images and keeps their codes, and, unlike the
    adversarial term, does not change when the discriminator alone gets
    better. The held-out images' other losses are logged too (``val_...``).

    The discriminator is a ``ConvDiscriminator`` of the encoders'
    ``filters``, ``kernel_size`` and ``activation``; the adversarial loss compares its last feature map, flattened. Its
    loss is the mean of the cross-entropies of the real images and of the
    reconstructions. A reset draws its weights as Keras initialises them
    (Glorot-uniform kernels, zero biases), from the network's own seeds, so
    that a fit with the same ``random_state`` resets the same way; its
    optimizer's state is kept, as in the authors' code.

    The latent score needs a generator trained to convergence; earlier, it
    can even rank anomalies as more normal than normal images. Measured on
    16x16 vertical stripes of random phase, 120 to train on, and 30 normal
    and 30 with a square of turned stripes to test on (the setting of
    ``test_learns_planted_defects`` in ``tests/adversarial/test_ganomaly.py``,
    data and detector seeded alike): after 60 epochs at
    ``learning_rate=1e-3``, the latent score's image ROC AUC was 1.00, 0.92
    and 0.95 with seeds 0, 1 and 2, and the map's pixel ROC AUC on the
    defective images 0.86, 0.85 and 0.84, where the squared distance to
    the mean training image gets 0.48 to 0.51 on both (the turned stripes
    have the values around them). At the default learning rate, 60 epochs
    gave an image ROC AUC of 0.33 with seed 1, and 150 epochs 1.00 with
    each seed. On one-class MNIST at its defaults (``python
    benchmarks/mnist_one_class.py --max-train 2000``: 2,000 training
    images a digit, the whole test set), its mean ROC AUC over the ten
    digits is 0.899, below :class:`~skanomaly.ConvAutoEncoder`'s 0.952 in
    the same table (the paper's MNIST protocol, one digit the anomaly and
    the nine others normal, is another).

    What differs from the paper: its networks are DCGAN's, with batch
    normalisation, leaky ReLUs in the encoders and the discriminator, a
    ``tanh`` output and a code from a last convolution; here they are the
    plain stride-2 convolutions of the other image detectors, one
    ``activation`` throughout, a linear output (images are scaled to [0, 1]
    by default) and a dense code, with spectral normalisation on the
    discriminator by default. The paper writes the score as an L1 distance
    of the codes; the authors' code, followed here, uses the mean squared
    difference, and scales the scores of a test set to [0, 1], which does
    not change their order and is left out here (a score must not depend
    on the other images scored). The authors' code trains for 15 epochs
    and keeps the epoch of best ROC AUC on the test set, which needs
    labelled anomalies; here training stops on the validation loss above.

    The paper's protocol on MNIST and CIFAR-10 takes one class as the
    anomaly and the other nine as normal, and reports the ROC AUC of each
    class; it also reports results on X-ray baggage images (UBA, FFOB).

    References
    ----------
    S. Akcay, A. Atapour-Abarghouei and T. P. Breckon, "GANomaly:
    Semi-supervised anomaly detection via adversarial training", ACCV 2018.

    Examples
    --------
    >>> import numpy as np
    >>> from skanomaly import GANomaly
    >>> rng = np.random.RandomState(0)
    >>> X = np.zeros((60, 8, 8))
    >>> X[np.arange(60), rng.randint(8, size=60), :] = 1.0  # a bright row each
    >>> detector = GANomaly(filters=(8, 16), latent_dim=8, epochs=5,
    ...                     random_state=0).fit(X)
    >>> detector.anomaly_map(X[:2]).shape
    (2, 8, 8)
    >>> sorted(detector.history_)[:4]
    ['adversarial_loss', 'contextual_loss', 'discriminator_loss', 'discriminator_resets']
    """

    _reconstructs = True
    _scores_from_map = False
    _trims_losses = False
    _parameter_defaults = {"learning_rate": 2e-4}
    _parameter_constraints: dict = {
        "latent_dim": [Interval(Integral, 1, None, closed="left")],
        "adversarial_weight": [Interval(Real, 0.0, None, closed="left")],
        "contextual_weight": [Interval(Real, 0.0, None, closed="left")],
        "latent_weight": [Interval(Real, 0.0, None, closed="left")],
        "spectral_norm": ["boolean"],
        "reset_threshold": [Interval(Real, 0.0, None, closed="neither"), None],
    }

    def __init__(
        self,
        *,
        latent_dim=100,
        adversarial_weight=1.0,
        contextual_weight=50.0,
        latent_weight=1.0,
        spectral_norm=True,
        reset_threshold=1e-5,
        **params,
    ):
        self.latent_dim = latent_dim
        self.adversarial_weight = adversarial_weight
        self.contextual_weight = contextual_weight
        self.latent_weight = latent_weight
        self.spectral_norm = spectral_norm
        self.reset_threshold = reset_threshold
        super().__init__(**params)

    def _build_network(self, sample_shape):
        return GANomalyNetwork(
            sample_shape,
            self._filters_,
            kernel_size=self.kernel_size,
            activation=self.activation,
            latent_dim=self.latent_dim,
            adversarial_weight=float(self.adversarial_weight),
            contextual_weight=float(self.contextual_weight),
            latent_weight=float(self.latent_weight),
            spectral_norm=self.spectral_norm,
            reset_threshold=(
                None if self.reset_threshold is None else float(self.reset_threshold)
            ),
        )
