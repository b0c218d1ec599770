"""Adversarial (GAN-based) one-class detectors: a generator and a
discriminator trained against each other on normal images, each with its
own optimizer (the engine's ``trained_parts``)."""

from ._ganomaly import GANomaly
from ._ognet import OGNet
from ._synthesize_compare import SynthesizeCompare

__all__ = ["GANomaly", "OGNet", "SynthesizeCompare"]
