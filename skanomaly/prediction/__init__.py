"""Detectors that score a sample by how badly they predict it: forecasters
of the next steps of a sequence."""

from ._forecaster import RNNForecaster

__all__ = ["RNNForecaster"]
