"""Detectors for sequences: heartbeats, sensor streams, windows of a series.

They take a set of equally long sequences, ``(n_samples, n_steps)`` for
univariate ones or ``(n_samples, n_steps, n_channels)``, or flattened rows
with ``sequence_shape=(n_steps, n_channels)``; a long recording is first cut
into windows by :class:`skanomaly.features.SlidingWindows`. Besides the
outlier contract, each has ``anomaly_map(X)``, the error of every step.
"""

from ._cnn_lstm_autoencoder import CNNLSTMAutoEncoder
from ._forecaster import RNNForecaster
from ._lstm_autoencoder import LSTMAutoEncoder

__all__ = ["CNNLSTMAutoEncoder", "LSTMAutoEncoder", "RNNForecaster"]
