"""Detectors that read how a network learns: the gradients a sample
backpropagates (GradCon) and the course of its loss over training (loss
profiles)."""

from ._gradcon import ConvGradCon, GradCon
from ._loss_profile import ConvLossProfileDetector, LossProfileDetector

__all__ = ["ConvGradCon", "ConvLossProfileDetector", "GradCon", "LossProfileDetector"]
