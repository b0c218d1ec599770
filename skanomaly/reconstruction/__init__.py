"""Detectors that score a sample by how badly they reconstruct it.

Rows of features (:class:`AutoEncoder`, :class:`VAE`), images with a map of
the error of every pixel (:class:`ConvAutoEncoder`, :class:`MemAE`,
:class:`MNAD`) and sequences with the error of every step
(:class:`LSTMAutoEncoder`, :class:`CNNLSTMAutoEncoder`).
"""

from ._autoencoder import AutoEncoder
from ._cnn_lstm_autoencoder import CNNLSTMAutoEncoder
from ._conv_autoencoder import ConvAutoEncoder
from ._lstm_autoencoder import LSTMAutoEncoder
from ._memae import MemAE
from ._mnad import MNAD
from ._vae import VAE

__all__ = [
    "AutoEncoder",
    "CNNLSTMAutoEncoder",
    "ConvAutoEncoder",
    "LSTMAutoEncoder",
    "MemAE",
    "MNAD",
    "VAE",
]
