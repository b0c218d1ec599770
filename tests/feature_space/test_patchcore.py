import pickle
import subprocess
import sys
from pathlib import Path

import h5py
import numpy as np
import pytest
from numpy.testing import assert_allclose, assert_array_equal
from sklearn.metrics import roc_auc_score

from skanomaly.datasets import make_defect_textures
from skanomaly.engine._backbones import squeezenet1_1
from skanomaly.feature_space import PatchCore
from skanomaly.feature_space._patchcore import greedy_coreset, nearest_rows
from skanomaly.metrics import pixel_roc_auc_score

SHARED_WEIGHTS = (
    Path(__file__).resolve().parents[3] / "shared" / "data" / "weights"
    / "squeezenet1_1_imagenet_notop.h5"
)
RANDOM = dict(weights=None, random_state=0)


@pytest.fixture(scope="module")
def X():
    return np.random.RandomState(0).uniform(0.3, 0.7, size=(12, 32, 32))


def stripes(n, n_defective, size=48, seed=0):
    """Horizontal stripes of random phase, with a little noise; a defect is
    a square of vertical stripes: the same grey levels, another structure.

    Returns the images, their defect masks and labels (1 = defect)."""
    rng = np.random.RandomState(seed)
    rows, cols = np.mgrid[:size, :size]
    images = np.empty((n, size, size))
    masks = np.zeros((n, size, size), dtype=bool)
    for i in range(n):
        images[i] = 0.5 + 0.3 * np.sin(2 * np.pi * (rows / 8 + rng.uniform()))
        if i >= n - n_defective:
            side = rng.randint(10, 16)
            top, left = rng.randint(4, size - side - 4, size=2)
            masks[i, top:top + side, left:left + side] = True
            vertical = 0.5 + 0.3 * np.sin(2 * np.pi * (cols / 8 + rng.uniform()))
            images[i][masks[i]] = vertical[masks[i]]
    images += rng.normal(0, 0.03, images.shape)
    return images, masks, (np.arange(n) >= n - n_defective).astype(int)


def test_greedy_coreset_picks_each_time_the_point_farthest_from_those_chosen():
    points = np.random.RandomState(0).normal(size=(200, 5)).astype(np.float32)
    chosen = greedy_coreset(points, 20, start=7)
    assert chosen[0] == 7 and len(set(chosen)) == 20
    for step in range(1, 20):
        distances = np.linalg.norm(points[:, None] - points[chosen[:step]][None], axis=-1)
        assert chosen[step] == np.argmax(distances.min(axis=1))


def test_nearest_rows_lists_each_row_first_then_its_neighbours_by_distance():
    bank = np.random.RandomState(0).normal(size=(50, 4)).astype(np.float32)
    neighbours = nearest_rows(bank, 5)
    distances = np.linalg.norm(bank[:, None] - bank[None], axis=-1)
    assert_array_equal(neighbours[:, 0], np.arange(50))
    assert_array_equal(neighbours, np.argsort(distances, axis=1)[:, :5])


def test_the_memory_bank_is_the_coreset_share_of_the_training_patches(X):
    detector = PatchCore(coreset_ratio=0.25, **RANDOM).fit(X)
    # 32x32 images: fire4 is 3x3 in SqueezeNet, so 9 patches an image.
    assert detector.memory_bank_.shape == (round(0.25 * 12 * 9), 256 + 384)
    assert detector.memory_bank_.dtype == np.float32
    assert detector.bank_neighbours_.shape == (27, 9)
    assert not hasattr(detector, "map_aggregation")
    assert detector.anomaly_map(X[:3]).shape == (3, 32, 32)


def test_training_patches_are_at_distance_zero_with_the_whole_bank(X):
    detector = PatchCore(coreset_ratio=1.0, blur_sigma=0.0, **RANDOM).fit(X[:8])
    # Zero up to float32 rounding of the squared-norm expansion, small
    # beside the distances of patches of unseen images.
    unseen = detector.anomaly_map(X[8:]).mean()
    assert detector.anomaly_map(X[:8]).max() < 0.01 * unseen
    assert -detector.score_samples(X[:8]).min() < 0.01 * unseen


def test_the_image_score_is_the_largest_patch_distance_reweighted(X):
    detector = PatchCore(coreset_ratio=0.5, **RANDOM).fit(X[:8])
    network, bank = detector.model_, detector.memory_bank_
    x = (X[8:, ..., None] - detector.scaling_center_) / detector.scaling_scale_
    x = x.astype(np.float32)
    features = np.asarray(network(x)).reshape(len(x), -1, bank.shape[1])
    expected = []
    for patches in features:
        distances = np.linalg.norm(patches[:, None] - bank[None], axis=-1)
        nearest = distances.min(axis=1)
        worst = np.argmax(nearest)
        around = detector.bank_neighbours_[np.argmin(distances[worst])]
        spread = distances[worst, around]
        weight = 1 - np.exp(nearest[worst]) / np.exp(spread).sum()
        expected.append(-weight * nearest[worst])
    assert_allclose(detector.score_samples(X[8:]), expected, rtol=1e-3)


def test_same_random_state_same_scores(X):
    first = PatchCore(coreset_ratio=0.3, **RANDOM).fit(X).score_samples(X)
    second = PatchCore(coreset_ratio=0.3, **RANDOM).fit(X).score_samples(X)
    assert_array_equal(first, second)


def test_learns_planted_defects():
    X_train, _, _ = stripes(40, 0, seed=0)
    X_test, masks, y_test = stripes(40, 20, seed=1)
    detector = PatchCore(input_size=96, **RANDOM).fit(X_train)
    scores = detector.score_samples(X_test)
    defective = y_test == 1
    maps = detector.anomaly_map(X_test[defective])
    # Measured with a random (untrained) SqueezeNet: 0.93 image and 0.94
    # pixel ROC AUC. The squared difference from the mean training image,
    # the trivial map, gets 0.37 and 0.52: the defects hold no unusual grey.
    assert roc_auc_score(y_test, -scores) > 0.85
    assert pixel_roc_auc_score(masks[defective], maps) > 0.85
    trivial = (X_test - X_train.mean(axis=0)) ** 2
    assert pixel_roc_auc_score(masks[defective], trivial[defective]) < 0.6


def _write_keras1_weights(path, seed):
    """Random SqueezeNet weights in the Keras-1 HDF5 layout of the real file."""
    network = squeezenet1_1((64, 64, 3))
    rng = np.random.RandomState(seed)
    with h5py.File(path, "w") as file:
        for layer in network.layers:
            if not layer.weights:
                continue
            group = file.create_group(layer.name.replace("_", "/", 1))
            kernel, bias = layer.get_weights()
            group.create_dataset(f"{layer.name}_W", data=rng.normal(0, 0.1, kernel.shape))
            group.create_dataset(f"{layer.name}_b", data=rng.normal(0, 0.1, bias.shape))
    return path


def test_pickles_and_scores_the_same_in_a_new_process_without_the_weights(X, tmp_path):
    weights = _write_keras1_weights(tmp_path / "weights.h5", seed=3)
    detector = PatchCore(weights=str(weights), random_state=0).fit(X)
    assert not np.allclose(
        detector.memory_bank_, PatchCore(**RANDOM).fit(X).memory_bank_
    ), "the weights file was not used"
    (tmp_path / "detector.pkl").write_bytes(pickle.dumps(detector))
    np.save(tmp_path / "X.npy", X)
    weights.unlink()
    script = (
        "import pickle, numpy as np, sys; d = pickle.load(open(sys.argv[1], 'rb'));"
        "np.save(sys.argv[2], d.score_samples(np.load(sys.argv[3])))"
    )
    subprocess.run(
        [sys.executable, "-c", script, str(tmp_path / "detector.pkl"),
         str(tmp_path / "scores.npy"), str(tmp_path / "X.npy")],
        check=True, capture_output=True,
    )
    assert_array_equal(np.load(tmp_path / "scores.npy"), detector.score_samples(X))


@pytest.mark.parametrize(
    "params, match",
    [
        ({"coreset_ratio": 0.0}, "coreset_ratio"),
        ({"neighbourhood": 0}, "neighbourhood"),
        ({"backbone": "SqueezeNet"}, "backbone"),
        ({"layers": ("fire10",)}, r"no layer named \['fire10'\]"),
        ({"layers": ()}, "non-empty sequence of layer names"),
        ({"backbone": "VGG16"}, r"no default layers for backbone='VGG16'.*layers=\.\.\."),
        ({"input_size": (32, 32, 3)}, r"input_size must be a positive int or \(height, width\)"),
        ({"weights": "/no/such/file.h5"}, "no such file"),
    ],
)
def test_bad_parameters(X, params, match):
    with pytest.raises(ValueError if "file" not in match else FileNotFoundError, match=match):
        PatchCore(**{**RANDOM, **params}).fit(X)


def test_images_the_backbone_cannot_take_get_a_clear_error():
    with pytest.raises(ValueError, match="1 or 3 channels\\); got 4"):
        PatchCore(**RANDOM).fit(np.zeros((4, 32, 32, 4)))
    with pytest.raises(ValueError, match="too small.*need 31x31.*input_size"):
        PatchCore(**RANDOM).fit(np.zeros((4, 16, 16)))
    # Resized on the way in, the same images work, and maps keep their size.
    detector = PatchCore(input_size=32, **RANDOM).fit(np.random.RandomState(0).uniform(size=(4, 16, 16)))
    assert detector.anomaly_map(np.zeros((2, 16, 16))).shape == (2, 16, 16)


def test_a_weights_file_that_is_not_squeezenet_is_refused(X, tmp_path):
    path = tmp_path / "other.h5"
    with h5py.File(path, "w") as file:
        file.create_group("conv1").create_dataset("k", data=np.zeros((3, 3, 3, 8)))
    with pytest.raises(ValueError, match="not a SqueezeNet 1.1 weights file"):
        PatchCore(weights=str(path)).fit(X)


@pytest.mark.skipif(not SHARED_WEIGHTS.exists(), reason="no SqueezeNet weights in ../shared")
def test_imagenet_features_find_texture_defects():
    train = make_defect_textures(60, 0, image_size=48, texture="brick", random_state=0)
    test = make_defect_textures(20, 20, image_size=48, texture="brick", random_state=1)
    detector = PatchCore(weights=str(SHARED_WEIGHTS), input_size=96, random_state=0)
    scores = detector.fit(train.images).score_samples(test.images)
    defective = test.y == 1
    maps = detector.anomaly_map(test.images[defective])
    # Measured: 0.995 image and 0.89 pixel ROC AUC (a random backbone: 0.985
    # and 0.81).
    assert roc_auc_score(test.y, -scores) > 0.97
    assert pixel_roc_auc_score(test.masks[defective], maps) > 0.85
