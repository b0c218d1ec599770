"""What the adversarial detectors share: a convolutional discriminator, and
the optimizers of their networks."""

from ..engine import keras
from ..engine._conv import apply_stack, conv_encoder

layers = keras.layers
ops = keras.ops


class ConvDiscriminator(keras.Model):
    """A convolutional discriminator: the stride-2 levels of
    :func:`~skanomaly.engine._conv.conv_encoder` (``filters``, ``kernel_size``,
    ``activation``), then one linear unit on the flattened last feature map.

    ``call(x)`` returns ``(logit, features)``: the logit of ``x`` being real
    (a training image) and the last feature map, flattened, which feature
    matching compares (GANomaly's adversarial loss). With
    ``spectral_norm``, every layer's kernel is divided by its largest
    singular value (Miyato et al., 2018), estimated by one power iteration
    a training step, which keeps the discriminator 1-Lipschitz and its
    gradients from exploding.

    Examples
    --------
    >>> import numpy as np
    >>> from skanomaly.adversarial._networks import ConvDiscriminator
    >>> discriminator = ConvDiscriminator((8, 16), kernel_size=3, activation="relu")
    >>> logit, features = discriminator(np.zeros((2, 28, 28, 1), "float32"))
    >>> tuple(logit.shape), tuple(features.shape)
    ((2,), (2, 784))
    """

    def __init__(self, filters, *, kernel_size, activation, spectral_norm=False, **kwargs):
        super().__init__(**kwargs)
        stack = conv_encoder(filters, kernel_size=kernel_size, activation=activation)
        head = layers.Dense(1)
        if spectral_norm:
            stack = [layers.SpectralNormalization(layer) for layer in stack]
            head = layers.SpectralNormalization(head)
        self.stack = stack
        self.flatten = layers.Flatten()
        self.head = head

    def call(self, x, training=False):
        features = self.flatten(apply_stack(self.stack, x, training=training))
        return self.head(features, training=training)[:, 0], features


#: Adam's first moment decay for every network of a GAN: DCGAN's setting,
#: which GANomaly and pix2pix (SynthesizeCompare's generator) keep.
ADAM_BETA_1 = 0.5


class GANOptimizers:
    """Mixin of a GAN detector: with ``optimizer="adam"`` (the default),
    each trained part gets Adam with ``beta_1 = ADAM_BETA_1``; any other
    optimizer as the engine makes it."""

    def _make_optimizers(self, network):
        if isinstance(self.optimizer, str) and self.optimizer == "adam":
            return {
                part: keras.optimizers.Adam(self.learning_rate, beta_1=ADAM_BETA_1)
                for part in network.trained_parts
            }
        return super()._make_optimizers(network)
