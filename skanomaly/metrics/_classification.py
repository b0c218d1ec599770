"""Metrics on predicted labels, and the checks every anomaly metric shares.

Ground truth always uses ``1`` for an anomaly and ``0`` for a normal sample
(booleans are accepted, ``True`` meaning anomaly). Predicted labels may use
either scikit-learn's convention (``+1`` inlier, ``-1`` outlier, what every
skanomaly detector's ``predict`` returns) or PyOD's (``0`` normal, ``1``
anomaly).
"""

import warnings

import numpy as np
from sklearn.metrics import f1_score
from sklearn.utils._param_validation import StrOptions, validate_params

__all__ = ["anomaly_f1_score"]


def _as_1d(values, name):
    """Return ``values`` as a 1-D ndarray, or raise naming ``name``."""
    values = np.asarray(values)
    if values.ndim == 2 and values.shape[1] == 1:
        values = values.ravel()
    if values.ndim != 1:
        raise ValueError(
            f"{name} must be a 1-D array of shape (n_samples,), got an array of "
            f"shape {values.shape}."
        )
    if values.shape[0] == 0:
        raise ValueError(f"{name} is empty; at least one sample is required.")
    return values


def _format_labels(values, max_labels=10):
    """Sorted distinct labels of ``values`` (the first few) for a message."""
    labels = sorted(set(values.tolist()), key=repr)
    if len(labels) > max_labels:
        labels = labels[:max_labels] + ["..."]
    return labels


def _check_anomaly_labels(y, name="y_true"):
    """Validate ground truth labels: ``1`` for an anomaly, ``0`` for normal.

    Parameters
    ----------
    y : array-like of shape (n_samples,)
        Labels, integer, float or boolean.
    name : str, default="y_true"
        Name of the argument, used in error messages.

    Returns
    -------
    y : ndarray of shape (n_samples,), dtype=int
        The labels as integers in ``{0, 1}``.

    Raises
    ------
    ValueError
        If ``y`` is not 1-D, is empty, or holds any label other than ``0`` and
        ``1`` (with a hint when it looks like scikit-learn's ``predict``
        output, ``+1`` inlier and ``-1`` outlier).
    """
    y = _as_1d(y, name)
    if y.dtype == bool:
        return y.astype(int)
    if y.dtype.kind not in "iuf":
        raise ValueError(
            f"{name} must hold numeric labels, 1 for an anomaly and 0 for a "
            f"normal sample; got labels {_format_labels(y)} of dtype {y.dtype}."
        )
    labels = set(np.unique(y).tolist())
    if labels <= {0, 1}:
        return y.astype(int)
    if labels <= {-1, 1}:
        raise ValueError(
            f"{name} holds the labels {{-1, +1}} of scikit-learn's predict "
            "(+1 inlier, -1 outlier), but anomaly metrics and splitters expect "
            "1 for an anomaly and 0 for a normal sample. Convert them with "
            f"`{name} = ({name} == -1).astype(int)`."
        )
    raise ValueError(
        f"{name} must encode anomalies as 1 and normal samples as 0; got labels "
        f"{sorted(labels)}."
    )


def _check_consistent_length(y_true, other, other_name):
    if y_true.shape[0] != other.shape[0]:
        raise ValueError(
            f"y_true and {other_name} have different lengths: "
            f"{y_true.shape[0]} != {other.shape[0]}."
        )


def _check_pred_labels(y_pred, pred_convention):
    """Turn predicted labels into an anomaly indicator (1 = anomaly)."""
    y_pred = _as_1d(y_pred, "y_pred")
    if y_pred.dtype == bool:
        if pred_convention == "sklearn":
            raise ValueError(
                "y_pred is boolean, which cannot follow scikit-learn's "
                "convention (+1 inlier, -1 outlier); pass pred_convention="
                "'pyod' or 'auto' to read True as an anomaly."
            )
        return y_pred.astype(int)
    if y_pred.dtype.kind not in "iuf":
        raise ValueError(
            f"y_pred must hold numeric labels; got labels {_format_labels(y_pred)} "
            f"of dtype {y_pred.dtype}."
        )
    labels = set(np.unique(y_pred).tolist())
    if pred_convention == "auto":
        if -1 in labels:
            pred_convention = "sklearn"
        else:
            pred_convention = "pyod"
            if labels == {1}:
                warnings.warn(
                    "y_pred holds only the label 1, which is ambiguous: it was "
                    "read as PyOD's convention (every sample an anomaly). If it "
                    "comes from a scikit-learn style predict (+1 inlier), pass "
                    "pred_convention='sklearn'.",
                    UserWarning,
                )
    if pred_convention == "sklearn":
        if not labels <= {-1, 1}:
            raise ValueError(
                "y_pred must follow scikit-learn's convention (+1 inlier, -1 "
                f"outlier) or PyOD's (0 normal, 1 anomaly); got labels "
                f"{sorted(labels)}."
            )
        return (y_pred == -1).astype(int)
    if not labels <= {0, 1}:
        raise ValueError(
            "y_pred must follow scikit-learn's convention (+1 inlier, -1 outlier) "
            f"or PyOD's (0 normal, 1 anomaly); got labels {sorted(labels)}."
        )
    return y_pred.astype(int)


@validate_params(
    {
        "y_true": ["array-like"],
        "y_pred": ["array-like"],
        "pred_convention": [StrOptions({"auto", "sklearn", "pyod"})],
    },
    prefer_skip_nested_validation=True,
)
def anomaly_f1_score(y_true, y_pred, *, pred_convention="auto"):
    """F1 score of the anomaly class from predicted labels.

    Anomalies are the positive class. The predictions may follow either
    label convention in use for outlier detection:

    * scikit-learn's, returned by ``predict`` of every skanomaly and
      scikit-learn detector: ``+1`` for an inlier, ``-1`` for an outlier;
    * PyOD's: ``0`` for a normal sample, ``1`` for an anomaly (booleans are
      read the same way, ``True`` meaning anomaly).

    Parameters
    ----------
    y_true : array-like of shape (n_samples,)
        Ground truth: ``1`` for an anomaly, ``0`` for a normal sample.
    y_pred : array-like of shape (n_samples,)
        Predicted labels, in either convention above.
    pred_convention : {"auto", "sklearn", "pyod"}, default="auto"
        Convention of ``y_pred``. ``"auto"`` reads an array that contains
        ``-1`` as scikit-learn's convention and any other as PyOD's. An
        array holding only ``1`` is ambiguous (all inliers in scikit-learn's
        convention, all anomalies in PyOD's): ``"auto"`` reads it as PyOD's
        and warns, so pass the convention explicitly when the predictions
        come from a known source, as :data:`anomaly_f1_scorer` does.

    Returns
    -------
    f1 : float
        F1 score of the anomaly class, in ``[0, 1]``. It is ``0.0`` when no
        sample is predicted or known to be an anomaly.

    Raises
    ------
    ValueError
        If ``y_true`` is not encoded as ``0``/``1``, if ``y_pred`` holds
        labels of neither convention, or if the lengths differ.

    See Also
    --------
    best_f1_threshold : The threshold on scores that maximises this F1.

    Examples
    --------
    >>> from skanomaly.metrics import anomaly_f1_score
    >>> y_true = [0, 0, 0, 1, 1]
    >>> anomaly_f1_score(y_true, [1, 1, -1, -1, 1])  # scikit-learn's predict
    0.5
    >>> anomaly_f1_score(y_true, [0, 0, 1, 1, 0])  # PyOD's labels
    0.5
    """
    y_true = _check_anomaly_labels(y_true)
    y_pred = _check_pred_labels(y_pred, pred_convention)
    _check_consistent_length(y_true, y_pred, "y_pred")
    return float(f1_score(y_true, y_pred, pos_label=1, zero_division=0.0))
