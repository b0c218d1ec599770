"""Per-feature input scaling, fitted on the training data.

Deep detectors train badly on raw features of very different scales, and
users do not always put a scaler in front; the engine scales for them.
"""

import numpy as np
from sklearn.preprocessing._data import _handle_zeros_in_scale

SCALINGS = ("standard", "robust", "minmax")


def fit_scaling(X, method):
    """Per-feature ``(center, scale)`` so that ``(X - center) / scale`` is
    standardised (``"standard"``), median/IQR-scaled (``"robust"``), mapped
    to [0, 1] (``"minmax"``), or left alone (``None``).

    Features with no spread get a scale of 1 rather than a division by zero;
    a robust scale of zero (most values equal) falls back to the standard
    deviation.
    """
    n_features = X.shape[1:]
    if method is None:
        return np.zeros(n_features), np.ones(n_features)
    X = np.asarray(X, dtype=np.float64)
    if method == "standard":
        center, scale = X.mean(axis=0), X.std(axis=0)
    elif method == "robust":
        q1, center, q3 = np.percentile(X, [25.0, 50.0, 75.0], axis=0)
        scale = np.where(q3 > q1, q3 - q1, X.std(axis=0))
    elif method == "minmax":
        center, scale = X.min(axis=0), np.ptp(X, axis=0)
    else:  # pragma: no cover - guarded by parameter validation
        raise ValueError(f"unknown scaling {method!r}")
    return center, _handle_zeros_in_scale(scale, copy=False)


def apply_scaling(X, center, scale, dtype=np.float32):
    """``(X - center) / scale`` as ``dtype``, refusing values it cannot hold."""
    scaled = (np.asarray(X, dtype=np.float64) - center) / scale
    limit = np.finfo(dtype).max
    if scaled.size and np.abs(scaled).max() >= limit:
        raise ValueError(
            f"Input values are too large for {np.dtype(dtype).name} after "
            "scaling; rescale the data or set scaling='standard'."
        )
    return scaled.astype(dtype, copy=False)
