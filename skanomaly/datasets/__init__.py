"""Loaders for real anomaly-detection data, and synthetic image data.

Loaders read the data from a path the user gives; nothing here downloads
unless a loader says so (:func:`load_mnist_one_class` does, into its
``data_home``, when the file is missing). :func:`make_defect_textures`
makes images with planted defects from textures that ship with
scikit-image.
"""

from ._ecg5000 import load_ecg5000
from ._magnetic_tile import load_magnetic_tile
from ._mnist import load_mnist_one_class
from ._textures import make_defect_textures

__all__ = [
    "load_ecg5000",
    "load_magnetic_tile",
    "load_mnist_one_class",
    "make_defect_textures",
]
