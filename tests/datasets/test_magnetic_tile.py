from pathlib import Path

import numpy as np
import pytest
from numpy.testing import assert_allclose, assert_array_equal
from PIL import Image

from skanomaly.datasets import load_magnetic_tile

SHARED = Path(__file__).resolve().parents[3] / "shared" / "data" / "magnetic_tile"


def _save(path, array):
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(array).save(path)


@pytest.fixture
def fake(tmp_path):
    """MT_Free with 2 tiles, MT_Crack with 2 (one with an empty mask), sizes vary."""
    rng = np.random.RandomState(0)
    spec = {
        "MT_Free": [("a", (20, 16)), ("b", (12, 30))],
        "MT_Crack": [("c", (18, 18)), ("d", (25, 10))],
    }
    truth = {}
    for folder, items in spec.items():
        for name, shape in items:
            image = rng.randint(0, 256, size=shape, dtype=np.uint8)
            mask = np.zeros(shape, dtype=np.uint8)
            if folder == "MT_Crack" and name == "c":
                mask[3:9, 4:6] = 255
                mask[0, 0] = 127  # not above the threshold
                mask[1, 1] = 128
            _save(tmp_path / folder / "Imgs" / f"{name}.jpg", image)
            _save(tmp_path / folder / "Imgs" / f"{name}.png", mask)
            truth[f"{folder}/{name}"] = (image, mask > 127)
    (tmp_path / "README.md").write_text("not a class")
    return tmp_path, truth


def test_loads_fake_tree(fake):
    root, truth = fake
    data = load_magnetic_tile(root)
    # classes sorted (Crack, Free), files sorted within a class
    assert list(data.classes) == ["Crack", "Crack", "Free", "Free"]
    assert data.class_names == ["Crack", "Free"]
    assert_array_equal(data.y, [1, 1, 0, 0])
    assert [Path(p).name for p in data.paths] == ["c.jpg", "d.jpg", "a.jpg", "b.jpg"]
    keys = ["MT_Crack/c", "MT_Crack/d", "MT_Free/a", "MT_Free/b"]
    for image, mask, key in zip(data.images, data.masks, keys):
        expected_image, expected_mask = truth[key]
        assert image.dtype == np.float32 and mask.dtype == bool
        assert image.shape == mask.shape == expected_image.shape
        assert 0 <= image.min() and image.max() <= 1
        # JPEG is lossy: close to the written pixels, not equal
        assert np.abs(image - expected_image / 255).mean() < 0.1
        assert_array_equal(mask, expected_mask)
    assert data.masks[0].sum() == 12 + 1
    assert not data.masks[1].any()  # a defective image with an empty mask
    images, y = load_magnetic_tile(root, return_X_y=True)
    assert len(images) == 4 and list(y) == [1, 1, 0, 0]


def test_classes_selection(fake):
    root, _ = fake
    data = load_magnetic_tile(root, classes=["Free"])
    assert list(data.classes) == ["Free", "Free"] and list(data.y) == [0, 0]
    assert load_magnetic_tile(root, classes="MT_Crack").class_names == ["Crack"]
    both = load_magnetic_tile(root, classes=["Free", "MT_Crack", "Crack"])
    assert both.class_names == ["Crack", "Free"]


def test_image_size(fake):
    root, truth = fake
    data = load_magnetic_tile(root, image_size=(8, 10))
    assert data.images.shape == (4, 8, 10) and data.images.dtype == np.float32
    assert data.masks.shape == (4, 8, 10) and data.masks.dtype == bool
    assert data.masks[0].any() and not data.masks[2:].any()
    assert load_magnetic_tile(root, image_size=6).images.shape == (4, 6, 6)


def test_free_tile_without_mask_gets_an_empty_one(fake):
    root, _ = fake
    (root / "MT_Free" / "Imgs" / "a.png").unlink()
    data = load_magnetic_tile(root, classes=["Free"])
    assert not data.masks[0].any() and data.masks[0].shape == (20, 16)


def test_colour_jpeg_is_read_as_gray(fake):
    root, _ = fake
    _save(root / "MT_Free" / "Imgs" / "e.jpg", np.full((5, 5, 3), 200, np.uint8))
    data = load_magnetic_tile(root, classes=["Free"])
    assert data.images[2].shape == (5, 5)
    assert_allclose(data.images[2], 200 / 255, atol=0.02)


def test_bad_input(fake, tmp_path):
    root, _ = fake
    with pytest.raises(FileNotFoundError, match="No such folder"):
        load_magnetic_tile(root / "absent")
    with pytest.raises(ValueError, match="is a file"):
        load_magnetic_tile(root / "README.md")
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(ValueError, match=r"holds no MT_<class> folders"):
        load_magnetic_tile(empty)
    (empty / "MT_Free" / "Imgs").mkdir(parents=True)
    with pytest.raises(ValueError, match=r"No \.jpg image"):
        load_magnetic_tile(empty)
    with pytest.raises(ValueError, match=r"No class 'Scratch' in the data; the classes found are \['Crack', 'Free'\]"):
        load_magnetic_tile(root, classes=["Scratch"])
    with pytest.raises(ValueError, match="classes is empty"):
        load_magnetic_tile(root, classes=[])
    for size in [0, (8,), (8, 8.5), "big", True]:
        with pytest.raises(ValueError, match="image_size must be"):
            load_magnetic_tile(root, image_size=size)


def test_bad_files(fake):
    root, _ = fake
    crack = root / "MT_Crack" / "Imgs"
    _save(crack / "d.png", np.zeros((3, 3), np.uint8))
    with pytest.raises(ValueError, match=r"MT_Crack/d.jpg: the mask .*d.png is 3x3, but its image is 25x10"):
        load_magnetic_tile(root)
    (crack / "d.png").unlink()
    with pytest.raises(ValueError, match="MT_Crack/d.jpg: a defective image without its mask d.png"):
        load_magnetic_tile(root)
    (crack / "d.jpg").write_bytes(b"not a jpeg")
    with pytest.raises(ValueError, match=r"MT_Crack/d.jpg: cannot read"):
        load_magnetic_tile(root)


@pytest.mark.skipif(not SHARED.is_dir(), reason="the shared Magnetic Tile data is absent")
def test_real_magnetic_tile():
    data = load_magnetic_tile(SHARED, classes=["Fray", "Uneven"])
    assert len(data.images) == 32 + 103
    assert data.y.sum() == 135
    assert all(im.shape == m.shape for im, m in zip(data.images, data.masks))
    assert len({im.shape for im in data.images}) > 1  # sizes vary
    # four MT_Uneven masks are empty (the data's README)
    assert sum(not m.any() for m in data.masks) == 4
    names = sorted(p.name for p in SHARED.iterdir() if p.name.startswith("MT_"))
    assert names == ["MT_Blowhole", "MT_Break", "MT_Crack", "MT_Fray", "MT_Free", "MT_Uneven"]
    n_images = sum(len(list((SHARED / n / "Imgs").glob("*.jpg"))) for n in names)
    assert n_images == 1344
