"""Detectors whose method is yours: your own Keras model as a detector."""

from ._keras_detector import KerasDetector

__all__ = ["KerasDetector"]
