"""PaDiM: the per-position Gaussians, the Mahalanobis map, its parameters,
persistence, scikit-learn's checks, and learning planted defects. Tests use
a random backbone (weights=None): no weights file is needed."""

import pickle

import numpy as np
import pytest
from numpy.testing import assert_allclose, assert_array_equal
from sklearn import config_context
from sklearn.metrics import roc_auc_score

from skanomaly.engine import blur_maps, keras, upsample_maps
from skanomaly.feature_space._padim import PaDiM, _selection_matrix
from skanomaly.metrics import pixel_roc_auc_score

# 32x32 images at their own size: fire3, fire5 and fire7 give 7x7, 3x3 and
# 1x1 maps (768 channels in all).
TINY = dict(weights=None, n_features=20, random_state=0)


@pytest.fixture(scope="module")
def X():
    """24 grey images 32x32 in [0, 1]."""
    return np.random.RandomState(0).uniform(size=(24, 32, 32))


@pytest.fixture(scope="module")
def fitted(X):
    return PaDiM(**TINY).fit(X)


def embeddings(detector, X):
    """The kept features of each position, (n, h, w, d), straight from the
    fitted network."""
    images = detector._validate_input(X, reset=False)
    scaled = (images - detector.scaling_center_) / detector.scaling_scale_
    selection = _selection_matrix(
        detector.feature_indices_, sum(detector.model_.layer_channels)
    )
    return keras.ops.convert_to_numpy(
        detector.model_.embed(scaled.astype("float32"), selection)
    ).astype(np.float64)


def test_shapes_and_defaults(fitted, X):
    assert fitted.layers is None and fitted.map_aggregation == "max"
    assert fitted.mean_.shape == (7, 7, 20)
    assert fitted.precision_.shape == (49, 20, 20)
    indices = fitted.feature_indices_
    assert indices.shape == (20,) and (np.diff(indices) > 0).all()
    assert 0 <= indices[0] and indices[-1] < 128 + 256 + 384
    assert fitted.anomaly_map(X[:3]).shape == (3, 32, 32)
    assert fitted.score_samples(X[:3]).shape == (3,)
    # RGB images work too, and n_features=None keeps every channel.
    rgb = PaDiM(weights=None, n_features=None, layers=("fire2",), random_state=0)
    rgb.fit(np.stack([X, X, X], axis=-1))
    assert_array_equal(rgb.feature_indices_, np.arange(128))
    assert rgb.mean_.shape == (7, 7, 128)


# The images' features are extracted and summed in blocks that fit in
# working_memory: here, with 128 features at 49 positions, blocks of 8
# images (the engine warns that one image's activations need more).
@pytest.mark.filterwarnings("ignore:Could not adhere to working_memory")
def test_gaussians_are_those_of_the_training_features(X):
    params = dict(TINY, layers=("fire2",), n_features=None)
    with config_context(working_memory=1):
        blocks = PaDiM(**params).fit(X)
    whole = PaDiM(**params).fit(X)
    features = embeddings(whole, X).reshape(len(X), 49, 128)
    mean = features.mean(axis=0)
    centred = (features - mean).transpose(1, 0, 2)
    covariance = centred.transpose(0, 2, 1) @ centred / (len(X) - 1) + 0.01 * np.eye(128)
    # Under a working memory of 1 MiB the features are extracted one image
    # at a time, in float32, whose kernels sum in another order for another
    # batch size: the means agree to float32 rounding of the largest values
    # summed, not of each mean, however small.
    scale = np.abs(mean).max()
    for detector in (blocks, whole):
        assert_allclose(detector.mean_.reshape(49, 128), mean, rtol=1e-6, atol=1e-6 * scale)
    # The precision is stored in float32: its product with the covariance
    # is the identity to float32's precision. The covariance here is that
    # of whole's features; blocks' differ from them by float32 rounding,
    # which the covariance's condition number (about 8e4) amplifies in the
    # product, so blocks' precision is compared with whole's instead.
    assert_allclose(
        whole.precision_ @ covariance, np.broadcast_to(np.eye(128), covariance.shape),
        atol=1e-3,
    )
    # The inverse amplifies the features' float32 rounding by up to that
    # condition number, relative to its largest entries (measured 2.4e-7 of
    # them, on entries 1e4 times smaller).
    precision_scale = np.abs(whole.precision_).max()
    assert_allclose(blocks.precision_, whole.precision_, rtol=1e-4, atol=1e-6 * precision_scale)


def test_the_map_is_the_blurred_mahalanobis_distance(fitted, X):
    features = embeddings(fitted, X[:4]).reshape(4, 49, 20) - fitted.mean_.reshape(49, 20)
    squared = np.einsum("bpd,pde,bpe->bp", features, fitted.precision_, features)
    distances = np.sqrt(squared).reshape(4, 7, 7)
    expected = keras.ops.convert_to_numpy(
        blur_maps(upsample_maps(distances.astype("float32"), (32, 32)), 4.0)
    )
    maps = fitted.anomaly_map(X[:4])
    assert_allclose(maps, expected, rtol=1e-3)
    # The image's score is minus the map's maximum, unless asked otherwise.
    assert_allclose(fitted.score_samples(X[:4]), -maps.max(axis=(1, 2)), rtol=1e-6)
    mean_score = PaDiM(**TINY, map_aggregation="mean").fit(X).score_samples(X[:4])
    assert_allclose(mean_score, -maps.mean(axis=(1, 2)), rtol=1e-5)


def test_blur_sigma_smooths_the_map(fitted, X):
    sharp = PaDiM(**TINY, blur_sigma=0).fit(X).anomaly_map(X[:2])
    smooth = fitted.anomaly_map(X[:2])
    assert smooth.std() < sharp.std()
    assert_allclose(smooth.mean(), sharp.mean(), rtol=0.05)


def test_random_state_draws_the_kept_channels(fitted, X):
    again = PaDiM(**TINY).fit(X)
    assert_array_equal(again.feature_indices_, fitted.feature_indices_)
    assert_array_equal(again.score_samples(X), fitted.score_samples(X))
    other = PaDiM(**{**TINY, "random_state": 1}).fit(X)
    assert not np.array_equal(other.feature_indices_, fitted.feature_indices_)


def test_pickle_round_trip_scores_the_same(fitted, X):
    restored = pickle.loads(pickle.dumps(fitted))
    assert_array_equal(restored.score_samples(X), fitted.score_samples(X))
    assert_array_equal(restored.anomaly_map(X[:2]), fitted.anomaly_map(X[:2]))
    assert_array_equal(restored.precision_, fitted.precision_)


@pytest.mark.parametrize(
    "params, match",
    [
        (
            {"layers": ("fire2",), "n_features": 200},
            "n_features=200 is more than the 128 channels",
        ),
        ({"n_features": 0}, "n_features"),
        ({"epsilon": 0.0}, "epsilon"),
        ({"epsilon": -1.0}, "epsilon"),
        ({"blur_sigma": -1.0}, "blur_sigma"),
        ({"layers": ("fire3", "conv9")}, "no layer named"),
        ({"backbone": "MobileNetV2"}, "no default layers"),
        ({"input_size": 16}, "too small"),
    ],
)
def test_bad_parameters(X, params, match):
    with pytest.raises(ValueError, match=match):
        PaDiM(**{**TINY, **params}).fit(X)


def test_images_the_backbone_cannot_take_are_refused(X):
    with pytest.raises(ValueError, match="1 or 3 channels"):
        PaDiM(**TINY).fit(np.stack([X] * 4, axis=-1))
    with pytest.raises(ValueError, match="too small"):
        PaDiM(**TINY).fit(X[:, :16, :16])


def stripes(n, rng, n_defective=0, size=32, period=6.0, side=10):
    """Vertical stripes of random phase, with a little noise; the last
    ``n_defective`` have a square of horizontal stripes (the same values,
    turned), with its mask. Returns ``images, masks``."""
    rows, cols = np.mgrid[:size, :size]
    phase = rng.uniform(0, 2 * np.pi, size=(n, 1, 1))
    images = 0.5 + 0.4 * np.sin(2 * np.pi * cols / period + phase)
    masks = np.zeros((n, size, size), dtype=bool)
    for i in range(n - n_defective, n):
        top, left = rng.randint(4, size - side - 4, size=2)
        masks[i, top : top + side, left : left + side] = True
        turned = 0.5 + 0.4 * np.sin(2 * np.pi * rows / period + phase[i])
        images[i][masks[i]] = turned[masks[i]]
    return images + rng.normal(scale=0.05, size=images.shape), masks


def test_learns_planted_defects():
    rng = np.random.RandomState(0)
    X_train, _ = stripes(40, rng)
    X_test, masks = stripes(40, rng, n_defective=20)
    y_test = masks.any(axis=(1, 2)).astype(int)
    defective = y_test == 1
    detector = PaDiM(weights=None, random_state=0).fit(X_train)
    image_auc = roc_auc_score(y_test, -detector.score_samples(X_test))
    pixel_auc = pixel_roc_auc_score(masks[defective], detector.anomaly_map(X_test[defective]))
    # A turned patch has the values of the stripes around it: a trivial map,
    # each pixel's distance to the mean training image, finds nothing
    # (measured 0.53 pixel and 0.48 image ROC AUC, its maximum the image
    # score). Measured for PaDiM on a random backbone, with random_state
    # 0, 1 and 2: pixel ROC AUC 0.91, 0.86 and 0.95 (the map is 7x7 here),
    # image ROC AUC 1.0 each time.
    trivial = np.abs(X_test - X_train.mean(axis=0))
    assert roc_auc_score(y_test, trivial.max(axis=(1, 2))) < 0.6
    assert pixel_roc_auc_score(masks[defective], trivial[defective]) < 0.6
    assert image_auc > 0.95
    assert pixel_auc > 0.8
