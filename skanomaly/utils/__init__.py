"""Utilities for skanomaly's users and developers."""

from ._discovery import all_estimators
from ._parameters import Attribute, Parameter
from ._persistence import load, save

__all__ = ["Attribute", "Parameter", "all_estimators", "load", "save"]
