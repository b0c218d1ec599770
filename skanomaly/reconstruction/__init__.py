"""Detectors that score a sample by how badly they reconstruct it."""

from ._autoencoder import AutoEncoder

__all__ = ["AutoEncoder"]
