"""Detectors that score a sample by where it falls in a learned feature space."""

from ._deep_svdd import DeepSVDD

__all__ = ["DeepSVDD"]
