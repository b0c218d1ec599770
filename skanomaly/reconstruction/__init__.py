"""Detectors that score a sample by how badly they reconstruct it."""

from ._autoencoder import AutoEncoder
from ._conv_autoencoder import ConvAutoEncoder
from ._memae import MemAE
from ._mnad import MNAD
from ._vae import VAE

__all__ = ["AutoEncoder", "ConvAutoEncoder", "MemAE", "MNAD", "VAE"]
