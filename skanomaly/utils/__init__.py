"""Utilities for skanomaly's users and developers."""

from ._discovery import all_estimators

__all__ = ["all_estimators"]
