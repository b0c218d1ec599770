"""Feature transformers for anomaly detection.

scikit-learn transformers that turn raw input (images, sequences) into
features a detector can use, and classical detectors built from them.
"""

from ._hog import HOGTransformer
from ._hog_ocsvm import make_hog_ocsvm
from ._patches import PatchExtractor, extract_patches, patch_scores_to_maps
from ._pretrained import PretrainedFeatures
from ._resize import ImageLoader, ImageResizer, load_images
from ._segmentation import ColourSegmenter
from ._windows import SlidingWindows

__all__ = [
    "ColourSegmenter",
    "HOGTransformer",
    "ImageLoader",
    "ImageResizer",
    "PatchExtractor",
    "PretrainedFeatures",
    "SlidingWindows",
    "extract_patches",
    "load_images",
    "make_hog_ocsvm",
    "patch_scores_to_maps",
]
