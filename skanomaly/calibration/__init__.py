"""Thresholds and scores calibrated on normal data: a threshold at a
target false-positive rate, and scores mapped to [0, 1], for any
detector."""

from ._conformal import ConformalThreshold

__all__ = ["ConformalThreshold"]
