"""Detectors that score a sample by how badly they reconstruct it."""

from ._autoencoder import AutoEncoder
from ._vae import VAE

__all__ = ["AutoEncoder", "VAE"]
