import numpy as np
import pytest
from numpy.testing import assert_array_equal

from skanomaly.datasets import make_defect_textures


@pytest.mark.parametrize("texture", ["brick", "grass", "gravel"])
def test_shapes_labels_and_masks(texture):
    data = make_defect_textures(5, 7, image_size=(32, 40), texture=texture, random_state=0)
    assert data.images.shape == data.masks.shape == (12, 32, 40)
    assert data.images.dtype == np.float32 and data.masks.dtype == bool
    assert 0 <= data.images.min() and data.images.max() <= 1
    assert_array_equal(data.y, [0] * 5 + [1] * 7)
    assert list(data.defect_type[:5]) == ["none"] * 5
    assert set(data.defect_type[5:]) <= {"scratch", "blob", "stain"}
    assert not data.masks[:5].any()
    assert data.masks[5:].any(axis=(1, 2)).all()
    # defects are small: at most a fifth of the image
    assert data.masks[5:].mean(axis=(1, 2)).max() < 0.2
    assert texture in data.DESCR


def test_deterministic():
    a = make_defect_textures(3, 3, random_state=42)
    b = make_defect_textures(3, 3, random_state=42)
    assert_array_equal(a.images, b.images)
    assert_array_equal(a.masks, b.masks)
    c = make_defect_textures(3, 3, random_state=43)
    assert not np.array_equal(a.images, c.images)
    rng = np.random.RandomState(0)
    assert not np.array_equal(
        make_defect_textures(2, 2, random_state=rng).images,
        make_defect_textures(2, 2, random_state=rng).images,
    )


@pytest.mark.parametrize("defect", ["scratch", "blob", "stain"])
def test_each_defect_changes_the_masked_pixels(defect):
    data = make_defect_textures(0, 10, defects=[defect], image_size=48, random_state=0)
    assert set(data.defect_type) == {defect}
    for image, mask in zip(data.images, data.masks):
        inside, outside = image[mask].mean(), image[~mask].mean()
        # brick is darker than mid-grey, so defects are bright on it
        assert inside > outside + 0.2


def test_defects_are_visible_to_a_simple_detector():
    # distance of each pixel from the mean normal image, as an anomaly map
    from skanomaly.metrics import pixel_roc_auc_score

    train = make_defect_textures(60, 0, image_size=32, texture="gravel", random_state=0)
    test = make_defect_textures(5, 15, image_size=32, texture="gravel", random_state=1)
    mean, std = train.images.mean(), train.images.std()
    maps = np.abs(test.images - mean) / std
    assert pixel_roc_auc_score(test.masks, maps) > 0.75


def test_return_X_y_and_sizes():
    images, y = make_defect_textures(2, 1, image_size=16, return_X_y=True, random_state=0)
    assert images.shape == (3, 16, 16) and list(y) == [0, 0, 1]
    assert make_defect_textures(1, 0, image_size=512, random_state=0).images.shape == (1, 512, 512)
    assert make_defect_textures(0, 1, defects="blob", random_state=0).defect_type[0] == "blob"


@pytest.mark.parametrize(
    "kwargs, match",
    [
        (dict(n_normal=-1), "n_normal must be a non-negative integer"),
        (dict(n_defective=1.5), "n_defective must be"),
        (dict(n_normal=0, n_defective=0), "at least 1"),
        (dict(image_size=8), "sides from 16 to 512"),
        (dict(image_size=(64, 600)), "sides from 16 to 512"),
        (dict(image_size=(64,)), "image_size must be"),
        (dict(texture="marble"), "texture must be one of"),
        (dict(defects=["crack"]), "defects must be a non-empty selection"),
        (dict(defects=[]), "defects must be a non-empty selection"),
    ],
)
def test_bad_parameters(kwargs, match):
    with pytest.raises(ValueError, match=match):
        make_defect_textures(**kwargs)
