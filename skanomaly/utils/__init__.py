"""Utilities for skanomaly's users and developers."""

from ._discovery import all_estimators
from ._parameters import Attribute, Parameter

__all__ = ["Attribute", "Parameter", "all_estimators"]
