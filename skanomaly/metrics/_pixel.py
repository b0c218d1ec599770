"""Pixel-level metrics for anomaly maps (anomaly localisation).

An image detector's anomaly map gives each pixel a score. These metrics
compare the maps with ground-truth masks, where ``True`` (or ``1``) marks a
defective pixel, the positive class. As in the MVTec AD benchmark, maps are
read by default as *anomaly* scores: higher means more anomalous. Pass
``score_convention="normality"`` for maps that point the other way.

Masks and maps may be given as arrays of shape ``(n_images, height, width)``
(or ``(height, width)`` for one image), or as lists of 2-D arrays whose
sizes vary from image to image; each map must have the shape of its mask.
"""

from numbers import Real

import numpy as np
from scipy import ndimage
from sklearn.metrics import roc_auc_score
from sklearn.utils._param_validation import Interval, StrOptions, validate_params

__all__ = ["aupro_score", "pixel_roc_auc_score", "pro_curve"]

# 8-connectivity in the image plane, as in the MVTec AD evaluation code.
_EIGHT_CONNECTED = np.ones((3, 3), dtype=bool)


def _as_image_list(values, name):
    """Return ``values`` as a list of 2-D arrays (one an image), or raise."""
    if isinstance(values, (list, tuple)):
        images = [np.asarray(v) for v in values]
        if images and all(image.ndim <= 1 for image in images):
            # nested lists of numbers: one array, not a list of images
            images = None
    else:
        images = None
    if images is None:
        array = np.asarray(values)
        if array.ndim == 4 and array.shape[-1] == 1:
            array = array[..., 0]
        if array.ndim == 2:
            images = [array]
        elif array.ndim == 3:
            images = list(array)
        else:
            raise ValueError(
                f"{name} must be an array of shape (n_images, height, width) or "
                f"(height, width), or a list of 2-D arrays; got an array of "
                f"shape {array.shape}."
            )
    if not images:
        raise ValueError(f"{name} is empty; at least one image is required.")
    for i, image in enumerate(images):
        if image.ndim == 3 and image.shape[-1] == 1:
            images[i] = image = image[..., 0]
        if image.ndim != 2:
            raise ValueError(
                f"{name}[{i}] must be a 2-D array (height, width), got an array "
                f"of shape {image.shape}."
            )
        if image.size == 0:
            raise ValueError(f"{name}[{i}] is an empty image of shape {image.shape}.")
    return images


def _check_mask(mask, i):
    if mask.dtype == bool:
        return mask
    if mask.dtype.kind not in "iuf":
        raise ValueError(
            f"masks must be boolean or hold 0 and 1; masks[{i}] has dtype "
            f"{mask.dtype}."
        )
    values = np.unique(mask)
    if not np.isin(values, (0, 1)).all():
        shown = values[:6].tolist() + (["..."] if values.size > 6 else [])
        hint = (
            " It looks like an 8-bit mask image: binarise it first, e.g. "
            "`mask > 127`."
            if values.max() == 255
            else ""
        )
        raise ValueError(
            "masks must be binary (True/1 for a defective pixel, False/0 for a "
            f"normal one); masks[{i}] holds the values {shown}.{hint}"
        )
    return mask.astype(bool)


def _check_map(anomaly_map, i):
    if anomaly_map.dtype == bool or anomaly_map.dtype.kind not in "iuf":
        raise TypeError(
            "anomaly_maps must hold real numbers; anomaly_maps"
            f"[{i}] has dtype {anomaly_map.dtype}."
        )
    anomaly_map = anomaly_map.astype(np.float64, copy=False)
    if not np.isfinite(anomaly_map).all():
        n_bad = int(np.sum(~np.isfinite(anomaly_map)))
        raise ValueError(
            f"anomaly_maps[{i}] contains NaN or infinity ({n_bad} of "
            f"{anomaly_map.size} pixels); a detector must return finite scores."
        )
    return anomaly_map


def _check_masks_and_maps(masks, anomaly_maps):
    """Validate the inputs; return the lists of bool masks and float maps."""
    masks = _as_image_list(masks, "masks")
    anomaly_maps = _as_image_list(anomaly_maps, "anomaly_maps")
    if len(masks) != len(anomaly_maps):
        raise ValueError(
            f"masks and anomaly_maps hold different numbers of images: "
            f"{len(masks)} != {len(anomaly_maps)}."
        )
    checked_masks, checked_maps = [], []
    for i, (mask, anomaly_map) in enumerate(zip(masks, anomaly_maps)):
        if mask.shape != anomaly_map.shape:
            raise ValueError(
                f"anomaly_maps[{i}] has shape {anomaly_map.shape}, but its mask "
                f"has shape {mask.shape}; an anomaly map must have the "
                "resolution of its image (resize the map, not the mask, with "
                "e.g. skimage.transform.resize)."
            )
        checked_masks.append(_check_mask(mask, i))
        checked_maps.append(_check_map(anomaly_map, i))
    return checked_masks, checked_maps


def _oriented_scores(anomaly_maps, score_convention):
    scores = np.concatenate([m.ravel() for m in anomaly_maps])
    return -scores if score_convention == "normality" else scores


def _require_both_classes(n_positive, n_total, what):
    if n_positive == 0:
        raise ValueError(
            f"{what} needs at least one defective pixel, but every mask is "
            "empty (all pixels normal)."
        )
    if n_positive == n_total:
        raise ValueError(
            f"{what} needs at least one normal pixel, but every mask is full "
            "(all pixels defective)."
        )


_MAP_PARAMS = {
    "masks": ["array-like"],
    "anomaly_maps": ["array-like"],
    "score_convention": [StrOptions({"anomaly", "normality"})],
}


@validate_params(_MAP_PARAMS, prefer_skip_nested_validation=True)
def pixel_roc_auc_score(masks, anomaly_maps, *, score_convention="anomaly"):
    """Pixel-level ROC AUC of anomaly maps against ground-truth masks.

    Every pixel of every image is one sample: defective pixels (``True`` in
    the mask) are the positive class, and the pixels of all images are
    pooled before the ROC curve is computed, as in the MVTec AD benchmark.
    The value is the probability that a random defective pixel scores as
    more anomalous than a random normal pixel (ties count one half).

    Parameters
    ----------
    masks : array-like of shape (n_images, height, width) or list of 2-D arrays
        Ground truth: ``True`` or ``1`` for a defective pixel, ``False`` or
        ``0`` for a normal one. Images of varying sizes may be given as a
        list; a single ``(height, width)`` mask is one image.
    anomaly_maps : array-like of shape (n_images, height, width) or list of \
            2-D arrays
        Per-pixel scores, one map of the shape of its mask, finite.
    score_convention : {"anomaly", "normality"}, default="anomaly"
        Which way the maps point. ``"anomaly"``: higher is more anomalous
        (an image detector's ``anomaly_map``, MVTec AD's convention).
        ``"normality"``: higher is more normal.

    Returns
    -------
    auc : float
        Pixel-level ROC AUC, in ``[0, 1]``.

    Raises
    ------
    ValueError
        If a map and its mask differ in shape, if the numbers of images
        differ, if a mask is not binary, if a map holds NaN or infinity, or
        if the masks hold only normal or only defective pixels.
    TypeError
        If a map is not numeric.

    See Also
    --------
    aupro_score : Per-region overlap, which weighs small defects as much as
        large ones.
    anomaly_roc_auc_score : Image-level ROC AUC from one score an image.

    Examples
    --------
    >>> import numpy as np
    >>> from skanomaly.metrics import pixel_roc_auc_score
    >>> masks = np.zeros((2, 4, 4), dtype=bool)
    >>> masks[1, 1:3, 1:3] = True  # a 2x2 defect in the second image
    >>> maps = np.zeros((2, 4, 4))
    >>> maps[1, 1:3, 1:3] = 1.0  # a map that finds it exactly
    >>> pixel_roc_auc_score(masks, maps)
    1.0
    >>> maps[0, 0, 0] = 2.0  # one normal pixel above every defective one
    >>> round(pixel_roc_auc_score(masks, maps), 4)
    0.9643
    """
    masks, anomaly_maps = _check_masks_and_maps(masks, anomaly_maps)
    y_true = np.concatenate([m.ravel() for m in masks])
    _require_both_classes(int(y_true.sum()), y_true.size, "Pixel ROC AUC")
    scores = _oriented_scores(anomaly_maps, score_convention)
    return float(roc_auc_score(y_true, scores))


def _label_regions(masks):
    """Label the connected defects of every mask, numbered across images.

    Returns the region label of every pixel (0 for a normal pixel) in the
    order of the concatenated, raveled masks, and the number of regions.
    """
    labels, n_regions = [], 0
    for mask in masks:
        labelled, n = ndimage.label(mask, structure=_EIGHT_CONNECTED)
        labelled = labelled.ravel()
        labelled[labelled > 0] += n_regions
        labels.append(labelled)
        n_regions += n
    return np.concatenate(labels), n_regions


@validate_params(_MAP_PARAMS, prefer_skip_nested_validation=True)
def pro_curve(masks, anomaly_maps, *, score_convention="anomaly"):
    """Per-region overlap (PRO) against the false positive rate.

    For a threshold ``t``, a pixel is predicted defective when its anomaly
    score is at least ``t``. The *per-region overlap* is the mean, over
    every connected defect of every mask, of the fraction of the defect's
    pixels predicted defective; so a small defect counts as much as a large
    one. The *false positive rate* is the fraction of the normal pixels of
    all images predicted defective. The curve runs through every distinct
    score, from the highest (no pixel predicted defective) to the lowest
    (every pixel predicted defective).

    Defects are the 8-connected components of each mask (pixels touching by
    a side or a corner belong to one defect), found with
    :func:`scipy.ndimage.label`, as in the evaluation code of MVTec AD.

    The curve is computed from one sort of all pixels and cumulative sums,
    so it costs ``O(N log N)`` for ``N`` pixels whatever the number of
    thresholds.

    Parameters
    ----------
    masks : array-like of shape (n_images, height, width) or list of 2-D arrays
        Ground truth: ``True`` or ``1`` for a defective pixel. Images without
        a defect (empty masks) only add normal pixels.
    anomaly_maps : array-like of shape (n_images, height, width) or list of \
            2-D arrays
        Per-pixel scores, one map of the shape of its mask, finite.
    score_convention : {"anomaly", "normality"}, default="anomaly"
        Which way the maps point: ``"anomaly"``, higher is more anomalous;
        ``"normality"``, higher is more normal (a pixel is then predicted
        defective when its score is at most the threshold).

    Returns
    -------
    fpr : ndarray of shape (n_thresholds + 1,)
        False positive rates, non-decreasing from 0 to 1.
    pro : ndarray of shape (n_thresholds + 1,)
        Per-region overlaps, non-decreasing from 0 to 1.
    thresholds : ndarray of shape (n_thresholds + 1,)
        The thresholds, in the maps' own units: decreasing for anomaly
        scores, increasing for normality scores. The first point, where no
        pixel is predicted defective, has the threshold ``inf`` (``-inf``
        for normality scores).

    Raises
    ------
    ValueError
        For the bad inputs that :func:`pixel_roc_auc_score` refuses.

    See Also
    --------
    aupro_score : The normalised area under this curve up to a false
        positive rate.

    Examples
    --------
    >>> import numpy as np
    >>> from skanomaly.metrics import pro_curve
    >>> mask = np.array([[1, 1, 0, 0],
    ...                  [0, 0, 0, 1]])  # two defects: 2 pixels and 1 pixel
    >>> anomaly_map = np.array([[0.9, 0.2, 0.1, 0.1],
    ...                         [0.1, 0.1, 0.1, 0.8]])
    >>> fpr, pro, thresholds = pro_curve(mask, anomaly_map)

    At 0.9, half of the first defect is found and none of the second: the
    PRO is ``(1/2 + 0) / 2``. At 0.8 the second is found, at 0.2 all of
    the first, and no normal pixel scores above 0.1:

    >>> fpr
    array([0., 0., 0., 0., 1.])
    >>> pro
    array([0.  , 0.25, 0.75, 1.  , 1.  ])
    >>> thresholds
    array([inf, 0.9, 0.8, 0.2, 0.1])
    """
    masks, anomaly_maps = _check_masks_and_maps(masks, anomaly_maps)
    return _pro_curve(masks, anomaly_maps, score_convention)


def _pro_curve(masks, anomaly_maps, score_convention):
    """:func:`pro_curve` of validated lists of masks and maps."""
    region, n_regions = _label_regions(masks)
    n_normal = int(np.sum(region == 0))
    _require_both_classes(region.size - n_normal, region.size, "The PRO curve")
    scores = _oriented_scores(anomaly_maps, score_convention)

    # Each normal pixel adds 1 / n_normal to the FPR once it is predicted
    # defective; each pixel of a region of size s adds 1 / (s * n_regions) to
    # the PRO. Sorting by decreasing score and summing gives both curves.
    sizes = np.bincount(region)
    order = np.argsort(scores, kind="stable")[::-1]
    scores = scores[order]
    region = region[order]
    is_normal = region == 0
    pro_steps = np.where(is_normal, 0.0, 1.0 / sizes[region])
    fpr = np.cumsum(is_normal, dtype=np.int64) / n_normal
    pro = np.cumsum(pro_steps) / n_regions
    # Pixels of equal score cross the threshold together: keep the last
    # point of each run of ties.
    last_of_run = np.r_[scores[1:] != scores[:-1], True]
    fpr, pro, thresholds = fpr[last_of_run], pro[last_of_run], scores[last_of_run]
    # Rounding could leave the sums a hair off [0, 1].
    np.clip(fpr, 0.0, 1.0, out=fpr)
    np.clip(pro, 0.0, 1.0, out=pro)
    fpr[-1] = pro[-1] = 1.0
    fpr = np.r_[0.0, fpr]
    pro = np.r_[0.0, pro]
    thresholds = np.r_[np.inf, thresholds]
    if score_convention == "normality":
        thresholds = -thresholds
    return fpr, pro, thresholds


def _area_up_to(fpr, pro, max_fpr):
    """Trapezoidal area under ``pro(fpr)`` for ``fpr`` in ``[0, max_fpr]``."""
    n_inside = int(np.searchsorted(fpr, max_fpr, side="right"))
    x, y = fpr[:n_inside], pro[:n_inside]
    if n_inside < fpr.size:
        # Close the curve at max_fpr, linearly between its neighbours.
        x0, y0 = fpr[n_inside - 1], pro[n_inside - 1]
        x1, y1 = fpr[n_inside], pro[n_inside]
        y_end = y0 + (y1 - y0) * (max_fpr - x0) / (x1 - x0)
        x, y = np.r_[x, max_fpr], np.r_[y, y_end]
    return float(np.sum(np.diff(x) * (y[1:] + y[:-1]) / 2.0))


@validate_params(
    {
        **_MAP_PARAMS,
        "max_fpr": [Interval(Real, 0.0, 1.0, closed="right")],
    },
    prefer_skip_nested_validation=True,
)
def aupro_score(masks, anomaly_maps, *, max_fpr=0.3, score_convention="anomaly"):
    """Normalised area under the per-region overlap curve (AUPRO).

    The metric of the MVTec AD benchmark (Bergmann et al., "The MVTec
    Anomaly Detection Dataset", IJCV 2021) for anomaly localisation: the
    area under :func:`pro_curve` from a false positive rate of 0 up to
    ``max_fpr``, divided by ``max_fpr``. A map that ranks every defective
    pixel above every normal one scores ``1.0``; a constant map scores
    ``max_fpr / 2``. Unlike :func:`pixel_roc_auc_score`, every connected
    defect weighs the same whatever its size, and the high false positive
    rates that no inspection system would run at are left out.

    The area is integrated with the trapezoidal rule; the curve is closed at
    ``max_fpr`` by linear interpolation between its two neighbouring points,
    as in the benchmark's evaluation code.

    Parameters
    ----------
    masks : array-like of shape (n_images, height, width) or list of 2-D arrays
        Ground truth: ``True`` or ``1`` for a defective pixel. Defects are
        the 8-connected components of each mask.
    anomaly_maps : array-like of shape (n_images, height, width) or list of \
            2-D arrays
        Per-pixel scores, one map of the shape of its mask, finite.
    max_fpr : float in (0, 1], default=0.3
        The false positive rate up to which the curve is integrated; 0.3 is
        the benchmark's value.
    score_convention : {"anomaly", "normality"}, default="anomaly"
        Which way the maps point: ``"anomaly"``, higher is more anomalous;
        ``"normality"``, higher is more normal.

    Returns
    -------
    aupro : float
        The normalised area, in ``[0, 1]``.

    Raises
    ------
    ValueError
        For the bad inputs that :func:`pixel_roc_auc_score` refuses.

    See Also
    --------
    pro_curve : The curve this metric integrates.
    pixel_roc_auc_score : Pixel-level ROC AUC.

    Examples
    --------
    >>> import numpy as np
    >>> from skanomaly.metrics import aupro_score
    >>> masks = np.zeros((2, 8, 8), dtype=bool)
    >>> masks[0, 1:3, 1:3] = True   # a small defect
    >>> masks[1, 2:8, 0:6] = True   # a large one
    >>> aupro_score(masks, masks.astype(float))  # a perfect map
    1.0
    >>> aupro_score(masks, np.zeros((2, 8, 8)))  # a constant map
    0.15
    """
    masks, anomaly_maps = _check_masks_and_maps(masks, anomaly_maps)
    fpr, pro, _ = _pro_curve(masks, anomaly_maps, score_convention)
    return _area_up_to(fpr, pro, max_fpr) / max_fpr
