import numpy as np
import pytest
from numpy.testing import assert_allclose, assert_array_equal
from scipy import ndimage
from sklearn.metrics import roc_auc_score

from skanomaly.metrics import aupro_score, pixel_roc_auc_score, pro_curve

# ----------------------------------------------------- brute-force reference


def _brute_pro_curve(masks, maps):
    """PRO and FPR at every distinct threshold, one threshold at a time."""
    regions = []
    normal = []
    for mask, amap in zip(masks, maps):
        labelled, n = ndimage.label(mask, structure=np.ones((3, 3)))
        regions += [amap[labelled == k] for k in range(1, n + 1)]
        normal.append(amap[~mask.astype(bool)])
    normal = np.concatenate(normal)
    thresholds = np.unique(np.concatenate([m.ravel() for m in maps]))[::-1]
    fpr, pro = [0.0], [0.0]
    for t in thresholds:
        fpr.append(np.mean(normal >= t))
        pro.append(np.mean([np.mean(r >= t) for r in regions]))
    return np.array(fpr), np.array(pro), np.r_[np.inf, thresholds]


def _brute_area(fpr, pro, max_fpr):
    """Area under the polyline through the points, cut at max_fpr."""
    area = 0.0
    for x0, y0, x1, y1 in zip(fpr[:-1], pro[:-1], fpr[1:], pro[1:]):
        if x0 >= max_fpr:
            break
        if x1 > max_fpr:
            y1 = y0 + (y1 - y0) * (max_fpr - x0) / (x1 - x0)
            x1 = max_fpr
        area += (x1 - x0) * (y0 + y1) / 2
    return area / max_fpr


def _random_case(seed, n_images=3, shape=(7, 9), n_levels=None):
    rng = np.random.RandomState(seed)
    masks = rng.uniform(size=(n_images,) + shape) < 0.25
    masks[0, 0, 0] = True  # at least one defect
    masks[0, -1, -1] = False  # and one normal pixel
    if n_levels is None:
        maps = rng.normal(size=masks.shape) + 1.5 * masks
    else:  # many ties, within and across classes
        maps = rng.randint(n_levels, size=masks.shape) + masks.astype(int)
    return masks, maps.astype(float)


@pytest.mark.parametrize("seed", range(8))
@pytest.mark.parametrize("n_levels", [None, 3])
def test_pro_curve_matches_brute_force(seed, n_levels):
    masks, maps = _random_case(seed, n_levels=n_levels)
    fpr, pro, thresholds = pro_curve(masks, maps)
    fpr_ref, pro_ref, thresholds_ref = _brute_pro_curve(masks, maps)
    assert_allclose(fpr, fpr_ref, atol=1e-12)
    assert_allclose(pro, pro_ref, atol=1e-12)
    assert_array_equal(thresholds, thresholds_ref)


@pytest.mark.parametrize("seed", range(8))
@pytest.mark.parametrize("max_fpr", [0.05, 0.3, 1.0])
@pytest.mark.parametrize("n_levels", [None, 3])
def test_aupro_matches_brute_force(seed, max_fpr, n_levels):
    masks, maps = _random_case(seed, n_levels=n_levels)
    fpr_ref, pro_ref, _ = _brute_pro_curve(masks, maps)
    assert aupro_score(masks, maps, max_fpr=max_fpr) == pytest.approx(
        _brute_area(fpr_ref, pro_ref, max_fpr), abs=1e-12
    )


def test_aupro_of_varying_sizes_matches_brute_force():
    rng = np.random.RandomState(0)
    masks = [rng.uniform(size=s) < 0.3 for s in [(5, 6), (8, 3), (4, 4)]]
    maps = [rng.normal(size=m.shape) + m for m in masks]
    fpr, pro, _ = _brute_pro_curve(masks, maps)
    assert aupro_score(masks, maps) == pytest.approx(_brute_area(fpr, pro, 0.3))
    auc = roc_auc_score(
        np.concatenate([m.ravel() for m in masks]),
        np.concatenate([m.ravel() for m in maps]),
    )
    assert pixel_roc_auc_score(masks, maps) == pytest.approx(auc)


# ------------------------------------------------------- hand-computed cases


def _two_defects():
    masks = np.zeros((2, 10, 10), dtype=bool)
    masks[0, 1:3, 1:3] = True  # 4 pixels
    masks[1, 4:10, 0:8] = True  # 48 pixels
    return masks


def test_perfect_map_scores_one():
    masks = _two_defects()
    maps = masks * 3.0 + 1.0
    assert aupro_score(masks, maps) == 1.0
    assert pixel_roc_auc_score(masks, maps) == 1.0
    fpr, pro, _ = pro_curve(masks, maps)
    assert_allclose(fpr, [0, 0, 1])
    assert_allclose(pro, [0, 1, 1])


def test_inverted_map_scores_zero():
    masks = _two_defects()
    assert aupro_score(masks, -masks.astype(float)) == 0.0
    assert pixel_roc_auc_score(masks, -masks.astype(float)) == 0.0


@pytest.mark.parametrize("max_fpr", [0.1, 0.3, 1.0])
def test_constant_map(max_fpr):
    # one threshold: the curve is the diagonal, the area max_fpr**2 / 2
    masks = _two_defects()
    maps = np.full(masks.shape, 0.7)
    fpr, pro, thresholds = pro_curve(masks, maps)
    assert_allclose(fpr, [0, 1])
    assert_allclose(pro, [0, 1])
    assert_array_equal(thresholds, [np.inf, 0.7])
    assert aupro_score(masks, maps, max_fpr=max_fpr) == pytest.approx(max_fpr / 2)
    assert pixel_roc_auc_score(masks, maps) == 0.5


def test_one_region_half_detected():
    # The small defect is fully found, half of the large one is found, and
    # nothing else scores above zero: PRO jumps to 0.75 at FPR 0, the rest
    # of the large defect ties with the normal pixels.
    masks = _two_defects()
    maps = np.zeros(masks.shape)
    maps[0, 1:3, 1:3] = 1.0
    maps[1, 4:7, 0:8] = 1.0  # 24 of its 48 pixels
    fpr, pro, _ = pro_curve(masks, maps)
    assert_allclose(fpr, [0, 0, 1])
    assert_allclose(pro, [0, 0.75, 1])
    # from FPR 0 to 0.3 the PRO climbs linearly from 0.75 to 0.825
    assert aupro_score(masks, maps) == pytest.approx((0.75 + 0.825) / 2)


def test_regions_are_eight_connected():
    # two pixels touching by a corner are one defect
    mask = np.zeros((4, 4), dtype=bool)
    mask[0, 0] = mask[1, 1] = True
    mask[3, 3] = True  # a second defect
    amap = np.zeros((4, 4))
    amap[0, 0] = 1.0
    _, pro, _ = pro_curve(mask, amap)
    # 8-connected: defects {(0,0),(1,1)} and {(3,3)} -> PRO (0.5 + 0) / 2.
    # (4-connectivity would give three defects and 1/3.)
    assert pro[1] == pytest.approx(0.25)


def test_small_defect_weighs_as_much_as_a_large_one():
    masks = _two_defects()
    find_small = masks * 0.0
    find_small[0, 1:3, 1:3] = 1.0
    find_large = masks * 0.0
    find_large[1, 4:10, 0:8] = 1.0
    _, pro_small, _ = pro_curve(masks, find_small)
    _, pro_large, _ = pro_curve(masks, find_large)
    assert pro_small[1] == pytest.approx(0.5)
    assert pro_large[1] == pytest.approx(0.5)
    # while pixel ROC AUC prefers the large one
    assert pixel_roc_auc_score(masks, find_large) > pixel_roc_auc_score(
        masks, find_small
    )


def test_normality_convention_is_the_negated_map():
    masks, maps = _random_case(3)
    fpr, pro, thresholds = pro_curve(masks, maps)
    fpr_n, pro_n, thresholds_n = pro_curve(masks, -maps, score_convention="normality")
    assert_allclose(fpr, fpr_n)
    assert_allclose(pro, pro_n)
    assert_allclose(thresholds, -thresholds_n)
    assert aupro_score(masks, maps) == aupro_score(
        masks, -maps, score_convention="normality"
    )
    assert pixel_roc_auc_score(masks, maps) == pixel_roc_auc_score(
        masks, -maps, score_convention="normality"
    )


def test_input_forms_agree():
    masks, maps = _random_case(4)
    expected = aupro_score(masks, maps)
    assert aupro_score(list(masks), list(maps)) == expected
    assert aupro_score(masks.astype(int), maps.astype(np.float32)) == pytest.approx(
        expected
    )
    assert aupro_score(masks[..., None], maps[..., None]) == expected
    assert aupro_score(masks.tolist(), maps.tolist()) == expected
    # a single image
    assert aupro_score(masks[0], maps[0]) == aupro_score(masks[:1], maps[:1])
    assert aupro_score(masks[0].tolist(), maps[0].tolist()) == aupro_score(
        masks[:1], maps[:1]
    )


def test_images_without_defects_add_normal_pixels():
    masks = _two_defects()
    maps = masks.astype(float)
    maps_with_noise = np.concatenate([maps, np.full((1, 10, 10), 2.0)])
    masks_with_clean = np.concatenate([masks, np.zeros((1, 10, 10), dtype=bool)])
    # the clean image's pixels outrank every defect: FPR 100/252 before any
    assert aupro_score(masks_with_clean, maps_with_noise) == 0.0
    assert aupro_score(masks_with_clean, np.concatenate([maps, np.zeros((1, 10, 10))])) == 1.0


def test_large_input_is_fast_enough():
    # 200 images of 128x128 (3.3 M pixels) in well under a few seconds
    rng = np.random.RandomState(0)
    masks = np.zeros((200, 128, 128), dtype=bool)
    masks[::2, 30:60, 40:50] = True
    maps = rng.uniform(size=masks.shape).astype(np.float32) + masks
    assert aupro_score(masks, maps) > 0.9


# ------------------------------------------------------------- bad input

BAD = [
    (np.zeros((2, 4, 4)), np.zeros((2, 4, 5)), ValueError, r"anomaly_maps\[0\] has shape \(4, 5\), but its mask"),
    (np.zeros((2, 4, 4)), np.zeros((3, 4, 4)), ValueError, "different numbers of images: 2 != 3"),
    ("two_defects", "nan", ValueError, "NaN or infinity"),
    ("two_defects", "inf", ValueError, "NaN or infinity"),
    ("two_defects", "bool", TypeError, "real numbers"),
    ("two_defects", "str", TypeError, "real numbers"),
    ("mask255", "zeros", ValueError, "binary.*mask > 127"),
    ("mask_half", "zeros", ValueError, r"binary.*\[0.0, 0.5, 1.0\]"),
    ("mask_str", "zeros", ValueError, "boolean or hold 0 and 1"),
    (np.zeros((2, 4, 4), dtype=bool), np.zeros((2, 4, 4)), ValueError, "at least one defective pixel"),
    (np.ones((2, 4, 4), dtype=bool), np.zeros((2, 4, 4)), ValueError, "at least one normal pixel"),
    (np.zeros((1, 2, 4, 4)), np.zeros((1, 2, 4, 4)), ValueError, r"masks must be an array of shape \(n_images"),
    (np.zeros(4), np.zeros(4), ValueError, "masks must be an array"),
    ([], [], ValueError, "masks is empty"),
    ([np.zeros((4, 4)), np.zeros((4, 4, 3))], [np.zeros((4, 4))] * 2, ValueError, r"masks\[1\] must be a 2-D array"),
    (np.zeros((2, 0, 4)), np.zeros((2, 0, 4)), ValueError, "empty image"),
]


def _make(value):
    masks = _two_defects()
    if isinstance(value, str):
        return {
            "two_defects": masks,
            "nan": np.where(masks, np.nan, 0.0),
            "inf": np.where(masks, np.inf, 0.0),
            "bool": masks,
            "str": masks.astype(str),
            "mask255": masks * 255,
            "mask_half": np.where(masks, 1.0, 0.0) + 0.5 * np.eye(10)[None] * ~masks,
            "mask_str": masks.astype(str),
            "zeros": np.zeros(masks.shape),
        }[value]
    return value


@pytest.mark.parametrize("function", [pixel_roc_auc_score, pro_curve, aupro_score])
@pytest.mark.parametrize("masks, maps, error, match", BAD)
def test_bad_input(function, masks, maps, error, match):
    with pytest.raises(error, match=match):
        function(_make(masks), _make(maps))


@pytest.mark.parametrize("max_fpr", [0, -0.1, 1.5, "0.3"])
def test_bad_max_fpr(max_fpr):
    masks = _two_defects()
    with pytest.raises(ValueError, match="max_fpr"):
        aupro_score(masks, masks * 1.0, max_fpr=max_fpr)


@pytest.mark.parametrize("function", [pixel_roc_auc_score, pro_curve, aupro_score])
def test_bad_score_convention(function):
    masks = _two_defects()
    with pytest.raises(ValueError, match="score_convention"):
        function(masks, masks * 1.0, score_convention="anomalous")
