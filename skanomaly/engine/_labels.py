"""Labels given to ``fit``: checked once, for every detector that learns
from them.

The convention is skanomaly's everywhere (metrics, splitters, detectors):
``1`` for an anomaly, ``0`` for a normal sample and ``-1`` for a sample
whose label is unknown. A detector declares which of these it takes; a
detector that declares none ignores ``y`` altogether.
"""

import numpy as np

#: Every label a detector may take: anomaly, normal, unlabelled.
LABELS = (1, 0, -1)
_MEANING = {1: "1 (anomaly)", 0: "0 (normal)", -1: "-1 (unlabelled)"}


def describe_labels(accepted):
    """``"1 (anomaly), 0 (normal)"`` for the labels in ``accepted``."""
    return ", ".join(_MEANING[label] for label in LABELS if label in accepted)


def check_labels(y, n_samples, *, accepted, needs_anomalies, owner):
    """``y`` as an int array of labels, or a clear ``ValueError``.

    Parameters
    ----------
    y : array-like of shape (n_samples,) or None
        The labels given to ``fit``.
    n_samples : int
        Number of training samples.
    accepted : set of int
        The labels this detector takes, from ``{1, 0, -1}``.
    needs_anomalies : bool
        Whether the detector needs at least one labelled anomaly.
    owner : str
        The detector's name, for the messages.

    Returns
    -------
    labels : ndarray of shape (n_samples,), dtype int32

    Examples
    --------
    >>> from skanomaly.engine._labels import check_labels
    >>> check_labels([0, 1, -1], 3, accepted={-1, 0, 1}, needs_anomalies=True,
    ...              owner="DeepSAD")
    array([ 0,  1, -1], dtype=int32)
    """
    expected = describe_labels(accepted)
    if y is None:
        raise ValueError(
            f"{owner} learns from labels and requires y to be passed, but the "
            f"target y is None: call fit(X, y) with y holding {expected} for "
            "each sample."
        )
    labels = np.asarray(y)
    if labels.ndim == 2 and labels.shape[1] == 1:
        labels = labels[:, 0]
    if labels.ndim != 1:
        raise ValueError(
            f"{owner}: y must be one label a sample, a 1-D array; got an "
            f"array of shape {labels.shape}."
        )
    if labels.shape[0] != n_samples:
        raise ValueError(
            f"{owner}: y has {labels.shape[0]} labels but X has {n_samples} "
            "samples; give one label a sample."
        )
    try:
        as_float = labels.astype(np.float64)
    except (TypeError, ValueError):
        raise ValueError(
            f"{owner}: y must hold the labels {expected}; got values of type "
            f"{labels.dtype} such as {labels[:3].tolist()!r}."
        ) from None
    unknown = sorted(set(as_float[~np.isin(as_float, list(accepted))].tolist()),
                     key=str)
    if unknown:
        shown = ", ".join(repr(v) for v in unknown[:5])
        raise ValueError(
            f"{owner} takes the labels {expected}; y also holds {shown}. "
            "skanomaly marks an anomaly with 1, a normal sample with 0 and an "
            "unlabelled one with -1 (PyOD's and scikit-learn's -1/+1 "
            "predictions are not labels)."
        )
    labels = as_float.astype(np.int32)
    if needs_anomalies and not np.any(labels == 1):
        raise ValueError(
            f"{owner} needs at least one labelled anomaly (a 1 in y) to learn "
            "from, and y has none."
        )
    return labels
