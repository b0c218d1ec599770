"""Feature transformers for anomaly detection.

scikit-learn transformers that turn raw input (images, sequences) into
features a detector can use, and classical detectors built from them.
"""

from ._hog import HOGTransformer
from ._hog_ocsvm import make_hog_ocsvm

__all__ = [
    "HOGTransformer",
    "make_hog_ocsvm",
]
