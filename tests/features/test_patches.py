import pickle

import numpy as np
import pytest
from numpy.testing import assert_allclose, assert_array_equal
from sklearn.base import clone
from sklearn.pipeline import make_pipeline

from skanomaly.features import (
    ImageResizer,
    PatchExtractor,
    extract_patches,
    patch_scores_to_maps,
)

rng = np.random.RandomState(0)
GRAY = rng.uniform(size=(3, 10, 12))
COLOUR = rng.uniform(size=(2, 9, 8, 3))


def _brute_grid(image, ph, pw, sh, sw):
    out, pos = [], []
    for r in range(0, image.shape[0] - ph + 1, sh):
        for c in range(0, image.shape[1] - pw + 1, sw):
            out.append(image[r : r + ph, c : c + pw])
            pos.append((r, c))
    return out, pos


@pytest.mark.parametrize("patch, stride", [((4, 4), None), ((3, 5), (2, 3)), ((1, 1), 1), ((10, 12), 1)])
def test_grid_patches_match_brute_force(patch, stride):
    patches, positions = extract_patches(
        GRAY, patch, stride=stride, cover_edges=False, return_positions=True
    )
    step = stride if stride is not None else patch
    step = (step, step) if isinstance(step, int) else step
    expected, expected_pos = [], []
    for i, image in enumerate(GRAY):
        p, pos = _brute_grid(image, *patch, *step)
        expected += p
        expected_pos += [(i, r, c) for r, c in pos]
    assert_array_equal(patches, np.stack(expected))
    assert_array_equal(positions, expected_pos)
    assert patches.flags.c_contiguous


def test_grid_order_is_image_then_row_then_column():
    images = np.arange(2 * 4 * 4).reshape(2, 4, 4)
    patches, positions = extract_patches(images, 2, return_positions=True)
    assert_array_equal(
        positions,
        [[0, 0, 0], [0, 0, 2], [0, 2, 0], [0, 2, 2], [1, 0, 0], [1, 0, 2], [1, 2, 0], [1, 2, 2]],
    )
    assert_array_equal(patches[1], [[2, 3], [6, 7]])
    assert patches.dtype == images.dtype


def test_cover_edges_adds_patches_flush_with_the_edges():
    # 10x12 image, 4x5 patches, stride 4: rows 0, 4 (+6), columns 0, 5 (+7)
    _, positions = extract_patches(GRAY[:1], (4, 5), stride=(4, 5), return_positions=True)
    assert sorted(set(positions[:, 1])) == [0, 4, 6]
    assert sorted(set(positions[:, 2])) == [0, 5, 7]
    _, positions = extract_patches(
        GRAY[:1], (4, 5), stride=(4, 5), cover_edges=False, return_positions=True
    )
    assert sorted(set(positions[:, 1])) == [0, 4]
    # no extra patch when the stride already ends at the edge
    _, positions = extract_patches(GRAY[:1], (5, 6), return_positions=True)
    assert positions.shape[0] == 4


def test_colour_patches():
    patches, positions = extract_patches(COLOUR, (3, 4), return_positions=True)
    assert patches.shape == (2 * 3 * 2, 3, 4, 3)
    i, r, c = positions[5]
    assert_array_equal(patches[5], COLOUR[i, r : r + 3, c : c + 4])
    # a single channel is read as grayscale
    assert extract_patches(COLOUR[..., :1], 3).shape == (2 * 3 * 3, 3, 3)


def test_images_of_varying_sizes():
    images = [rng.uniform(size=(6, 6)), rng.uniform(size=(4, 8))]
    patches, positions = extract_patches(images, 2, stride=2, return_positions=True)
    assert patches.shape == (9 + 8, 2, 2)
    assert_array_equal(np.bincount(positions[:, 0]), [9, 8])


def test_random_patches():
    patches, positions = extract_patches(
        GRAY, (4, 3), n_patches=7, random_state=0, return_positions=True
    )
    assert patches.shape == (21, 4, 3)
    assert_array_equal(np.bincount(positions[:, 0]), [7, 7, 7])
    for patch, (i, r, c) in zip(patches, positions):
        assert_array_equal(patch, GRAY[i, r : r + 4, c : c + 3])
    assert positions[:, 1].max() <= 10 - 4 and positions[:, 2].max() <= 12 - 3
    again = extract_patches(GRAY, (4, 3), n_patches=7, random_state=0)
    assert_array_equal(patches, again)
    other = extract_patches(GRAY, (4, 3), n_patches=7, random_state=1)
    assert not np.array_equal(patches, other)


def test_transformer_matches_function_and_is_stateless():
    extractor = PatchExtractor((4, 4), stride=2)
    assert_array_equal(extractor.transform(GRAY), extract_patches(GRAY, 4, stride=2))
    assert extractor.fit(GRAY) is extractor
    assert_array_equal(extractor.fit_transform(GRAY), extract_patches(GRAY, 4, stride=2))
    random = PatchExtractor(3, n_patches=4, random_state=0)
    assert_array_equal(random.fit_transform(GRAY), random.transform(GRAY))
    restored = pickle.loads(pickle.dumps(random))
    assert_array_equal(restored.transform(GRAY), random.transform(GRAY))
    assert clone(random).get_params() == random.get_params()


def test_in_a_pipeline_of_transformers():
    images = [rng.uniform(size=(30, 20)), rng.uniform(size=(16, 40, 3))]
    pipe = make_pipeline(ImageResizer((16, 16), color="gray"), PatchExtractor(8))
    assert pipe.fit_transform(images).shape == (8, 8, 8)


BAD = [
    (dict(images=np.ones((4, 4)), patch_size=2), "A 2-D array is read neither"),
    (dict(images=np.ones(4), patch_size=2), "got a 1-D array"),
    (dict(images=[], patch_size=2), "images is empty"),
    (dict(images=np.ones((0, 4, 4)), patch_size=2), "images is empty"),
    (dict(images=np.ones((2, 4, 4)), patch_size=5), r"images\[0\] of size 4x4 is smaller than a patch"),
    (dict(images=[np.ones((8, 8)), np.ones((3, 8))], patch_size=4), r"images\[1\] of size 3x8"),
    (dict(images=[np.ones((8, 8)), np.ones((8, 8, 3))], patch_size=4), r"mix numbers of channels \(\[1, 3\]\)"),
    (dict(images=[np.ones((8, 8)), np.ones(8)], patch_size=4), r"images\[1\] must be a non-empty image"),
    (dict(images=np.full((1, 4, 4), np.nan), patch_size=2), "NaN"),
    (dict(images=np.ones((1, 4, 4)), patch_size=0), "patch_size must be"),
    (dict(images=np.ones((1, 4, 4)), patch_size=(2, 2, 2)), "patch_size must be"),
    (dict(images=np.ones((1, 4, 4)), patch_size=2, stride=(1, 0)), "stride must be"),
    (dict(images=np.ones((1, 4, 4)), patch_size=2, n_patches=0), "n_patches must be"),
]


@pytest.mark.parametrize("kwargs, match", BAD)
def test_bad_input(kwargs, match):
    with pytest.raises(ValueError, match=match):
        extract_patches(**kwargs)


@pytest.mark.parametrize(
    "params, match",
    [
        (dict(patch_size=0), "patch_size"),
        (dict(patch_size=(2, 0)), "patch_size must be"),
        (dict(stride=-1), "stride"),
        (dict(n_patches=1.5), "n_patches"),
        (dict(cover_edges="yes"), "cover_edges"),
    ],
)
def test_bad_transformer_parameters(params, match):
    with pytest.raises(ValueError, match=match):
        PatchExtractor(**params).fit_transform(GRAY)


# -------------------------------------------------------- patch scores -> maps


def _brute_maps(scores, positions, patch, shape, n_images, reduce):
    values = [[[[] for _ in range(shape[1])] for _ in range(shape[0])] for _ in range(n_images)]
    for s, (i, r, c) in zip(scores, positions):
        for y in range(r, r + patch[0]):
            for x in range(c, c + patch[1]):
                values[i][y][x].append(s)
    f = np.mean if reduce == "mean" else np.max
    return np.array(
        [[[f(v) if v else np.nan for v in row] for row in image] for image in values]
    )


@pytest.mark.parametrize("reduce", ["mean", "max"])
@pytest.mark.parametrize("n_patches", [None, 6])
def test_patch_scores_to_maps_matches_brute_force(reduce, n_patches):
    _, positions = extract_patches(
        GRAY, (4, 5), stride=(3, 2), n_patches=n_patches, random_state=0,
        return_positions=True,
    )
    scores = rng.normal(size=len(positions))
    maps = patch_scores_to_maps(scores, positions, (4, 5), (10, 12), reduce=reduce)
    expected = _brute_maps(scores, positions, (4, 5), (10, 12), 3, reduce)
    assert maps.shape == (3, 10, 12)
    assert_allclose(maps, expected, equal_nan=True, atol=1e-12)
    if n_patches is None:  # the grid covers every pixel
        assert not np.isnan(maps).any()


def test_patch_scores_to_maps_n_images():
    _, positions = extract_patches(GRAY[:1], 5, return_positions=True)
    maps = patch_scores_to_maps(np.ones(len(positions)), positions, 5, (10, 12), n_images=2)
    assert maps.shape == (2, 10, 12)
    assert np.isnan(maps[1]).all()


def test_patch_scores_to_maps_bad_input():
    _, positions = extract_patches(GRAY, 5, return_positions=True)
    scores = np.zeros(len(positions))
    with pytest.raises(ValueError, match="different lengths"):
        patch_scores_to_maps(scores[:-1], positions, 5, (10, 12))
    with pytest.raises(ValueError, match="outside 3 images of shape"):
        patch_scores_to_maps(scores, positions, 5, (8, 12))
    with pytest.raises(ValueError, match="outside 2 images"):
        patch_scores_to_maps(scores, positions, 5, (10, 12), n_images=2)
    with pytest.raises(ValueError, match=r"positions must be integers of shape \(n_patches_total, 3\)"):
        patch_scores_to_maps(scores, positions[:, 1:], 5, (10, 12))
    with pytest.raises(ValueError, match="NaN"):
        patch_scores_to_maps(scores + np.nan, positions, 5, (10, 12))
    with pytest.raises(ValueError, match="patch_scores must be 1-D"):
        patch_scores_to_maps(scores[:, None], positions, 5, (10, 12))
    with pytest.raises(ValueError, match="reduce must be"):
        patch_scores_to_maps(scores, positions, 5, (10, 12), reduce="median")
