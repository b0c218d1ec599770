"""Importing matplotlib lazily, with a message that says how to install it."""

__all__ = ["import_pyplot"]


def import_pyplot():
    """Return :mod:`matplotlib.pyplot`, or raise an ImportError that says how
    to install it."""
    try:
        import matplotlib.pyplot as plt
    except ImportError as exc:
        raise ImportError(
            "skanomaly.plotting needs matplotlib, which is not installed. "
            'Install it with `pip install "skanomaly[plot]"` (or `pip install '
            'matplotlib`).'
        ) from exc
    return plt
