"""What the score displays share: checks of their inputs and the scores
of a detector."""

from sklearn.pipeline import Pipeline
from sklearn.utils.validation import _num_samples, check_is_fitted

_CONVENTIONS = ("normality", "anomaly")
_AXIS_LABELS = {
    "normality": "normality score (higher = more normal)",
    "anomaly": "anomaly score (higher = more anomalous)",
}


def _final_step(detector):
    """The detector itself, or the last step of a Pipeline (which holds the
    fitted attributes such as ``offset_`` and ``history_``)."""
    return detector[-1] if isinstance(detector, Pipeline) else detector


def _check_convention(score_convention):
    if score_convention not in _CONVENTIONS:
        raise ValueError(
            "score_convention must be 'normality' or 'anomaly', got "
            f"{score_convention!r}."
        )


def _detector_scores(detector, X, owner):
    """Normality scores of a fitted detector (``score_samples``)."""
    if not hasattr(detector, "score_samples"):
        raise TypeError(
            f"{owner} needs a detector with score_samples (higher = more "
            f"normal); {type(detector).__name__} has none. Compute the scores "
            "yourself and use from_predictions."
        )
    check_is_fitted(detector)
    return detector.score_samples(X)


def _check_same_length(X, y):
    n_samples = _num_samples(X)
    if len(y) != n_samples:
        raise ValueError(
            f"y has {len(y)} labels but X has {n_samples} samples; give one "
            "label a sample."
        )
