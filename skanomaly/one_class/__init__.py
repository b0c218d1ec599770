"""One-class detectors: a network maps normal data into a small region of a
learned space, and a sample is scored by how far from it it falls."""

from ._deep_svdd import DeepSVDD
from ._patch_svdd import PatchSVDD

__all__ = ["DeepSVDD", "PatchSVDD"]
