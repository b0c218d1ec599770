"""The label sets a detector that takes 1, 0 and -1 and needs a labelled
anomaly must refuse, and the errors it must give, for its tests."""

import numpy as np


def bad_label_cases(owner, n_samples, all_anomalies):
    """``(kind, message)`` pairs for ``pytest.mark.parametrize``: each kind
    of bad ``y`` (see :func:`bad_labels`) and the regular expression of
    ``owner``'s error; ``all_anomalies`` is the detector's own message for
    a ``y`` of anomalies only."""
    return [
        ("none", f"{owner} learns from labels and requires y to be passed"),
        ("no anomaly", f"{owner} needs at least one labelled anomaly"),
        ("all anomalies", all_anomalies),
        ("third label", f"{owner} takes the labels 1 \\(anomaly\\), 0 \\(normal\\), -1 "
         "\\(unlabelled\\); y also holds 2"),
        ("text", f"{owner}: y must hold the labels"),
        ("short", f"y has 3 labels but X has {n_samples} samples"),
    ]


def bad_labels(y, kind):
    """``y`` (with a labelled anomaly) made bad in the way ``kind`` says."""
    return {
        "none": lambda: None,
        "no anomaly": lambda: np.where(y == 1, 0, y),
        "all anomalies": lambda: np.ones(len(y), dtype=int),
        "third label": lambda: np.where(np.arange(len(y)) == 0, 2, y),
        "text": lambda: np.where(y == 1, "anomaly", "normal"),
        "short": lambda: [0, 1, -1],
    }[kind]()
