"""What every image detector shares: input layouts, bad input, scaling,
network sizing, anomaly maps and their aggregation, SSIM, persistence, and
a pipeline from image files to maps."""

import pickle

import numpy as np
import pandas as pd
import pytest
import scipy.sparse as sp
from numpy.testing import assert_allclose, assert_array_equal
from scipy import ndimage
from sklearn.base import clone
from sklearn.exceptions import NotFittedError

from skanomaly import ConvAutoEncoder, MemAE, MNAD
from skanomaly.engine import keras
from skanomaly.engine._conv import auto_filters, gaussian_window, resolve_filters, ssim_map
from skanomaly.engine._inputs import aggregate_map

#: Images are scored in float32 (ImageInput's documented precision): a value
#: can differ in the seventh significant digit with its batch, and a pixel
#: near zero by that much of the largest ones.
def assert_float32_close(actual, desired):
    assert_allclose(actual, desired, rtol=1e-6, atol=1e-6 * np.abs(desired).max())


# Tiny networks, one batch an epoch, no validation split: these tests check
# the plumbing, not the learning.
TINY = dict(epochs=2, validation_fraction=0.0, random_state=0)
DETECTORS = {
    "ConvAutoEncoder": lambda **kw: ConvAutoEncoder(
        **{"filters": (4,), "latent_dim": 4, **TINY, **kw}
    ),
    "MemAE": lambda **kw: MemAE(**{"filters": (4,), "n_memory": 5, **TINY, **kw}),
    "MNAD": lambda **kw: MNAD(**{"filters": (4,), "n_memory": 3, **TINY, **kw}),
}
names = pytest.mark.parametrize("name", list(DETECTORS))


@pytest.fixture(scope="module")
def X():
    """20 grayscale 6x6 images in [0, 255]."""
    return np.random.RandomState(0).uniform(0, 255, size=(20, 6, 6))


@pytest.fixture(scope="module")
def fitted(X):
    """Each detector fitted once on X."""
    return {name: make().fit(X) for name, make in DETECTORS.items()}


# ----------------------------------------------------------------- layouts


@names
def test_layouts_give_the_same_scores(name, X, fitted):
    detector = fitted[name]
    scores = detector.score_samples(X)
    assert detector.image_shape_ == (6, 6)
    assert detector.n_features_in_ == 36
    assert_array_equal(detector.score_samples(X[..., None]), scores)
    assert_array_equal(detector.score_samples(X.reshape(20, -1)), scores)
    assert_array_equal(detector.anomaly_map(X.reshape(20, -1)), detector.anomaly_map(X))
    # The same images as rows (a perfect square: read as 6x6) or with one
    # channel axis train the same network.
    from_rows = DETECTORS[name]().fit(X.reshape(20, -1))
    assert_float32_close(from_rows.score_samples(X), scores)
    from_4d = DETECTORS[name]().fit(X[..., None])
    assert_float32_close(from_4d.score_samples(X), scores)


@names
def test_colour_images_and_rows_with_image_shape(name):
    X = np.random.RandomState(1).uniform(size=(12, 5, 7, 3))
    X[..., 2] *= 100.0  # channels on different scales
    detector = DETECTORS[name]().fit(X)
    assert detector.image_shape_ == (5, 7, 3)
    assert detector.n_features_in_ == 105
    assert detector.scaling_center_.shape == (3,)
    assert detector.anomaly_map(X).shape == (12, 5, 7)
    assert detector.reconstruct(X).shape == X.shape
    rows = X.reshape(12, -1)
    from_rows = DETECTORS[name](image_shape=(5, 7, 3)).fit(rows)
    assert_float32_close(from_rows.score_samples(X), detector.score_samples(X))
    assert from_rows.reconstruct(rows).shape == rows.shape
    assert from_rows.predict(rows).shape == (12,)


@names
def test_non_square_rows_with_image_shape(name):
    X = np.random.RandomState(2).uniform(size=(10, 24))
    detector = DETECTORS[name](image_shape=(4, 6)).fit(X)
    assert detector.image_shape_ == (4, 6)
    assert detector.anomaly_map(X).shape == (10, 4, 6)
    assert detector.reconstruct(X).shape == (10, 24)
    assert detector.reconstruct(X.reshape(10, 4, 6)).shape == (10, 4, 6)


@names
def test_dataframe_rows_keep_feature_names(name):
    X = pd.DataFrame(
        np.random.RandomState(3).uniform(size=(10, 16)),
        columns=[f"p{i}" for i in range(16)],
    )
    detector = DETECTORS[name]().fit(X)
    assert list(detector.feature_names_in_) == list(X.columns)
    with pytest.warns(UserWarning, match="feature names"):
        detector.score_samples(X.to_numpy())


# --------------------------------------------------------- sizing and maps


@pytest.mark.parametrize(
    "size, expected",
    [
        ((28, 28), (16, 32, 64, 128)),
        ((256, 200), (16, 32, 64, 128)),
        ((16, 16), (16, 32, 64)),
        ((8, 8), (16, 32)),
        ((7, 40), (16, 32)),
        ((3, 3), (16,)),
        ((2, 2), (16,)),
        ((1, 5), ()),
    ],
)
def test_auto_filters_keep_a_small_code(size, expected):
    assert auto_filters(size) == expected
    assert resolve_filters("auto", size, "X") == expected


def test_auto_filters_size_the_network():
    X = np.random.RandomState(0).uniform(size=(10, 8, 8))
    detector = ConvAutoEncoder(**TINY).fit(X)
    widths = [layer.filters for layer in detector.model_.encoder]
    assert widths == [16, 32]
    assert detector.model_.code_size == (2, 2)


@pytest.mark.parametrize(
    "name, size",
    [("ConvAutoEncoder", (7, 9)), ("ConvAutoEncoder", (5, 5)), ("ConvAutoEncoder", (9, 4)),
     ("MemAE", (7, 9)), ("MNAD", (7, 9))],
)
def test_odd_sizes_give_maps_at_input_resolution(name, size):
    X = np.random.RandomState(4).uniform(size=(10, *size))
    detector = DETECTORS[name](filters=(3, 3)).fit(X)
    network = detector.model_
    assert network.padded_size == tuple(-(-s // 4) * 4 for s in size)
    assert detector.anomaly_map(X).shape == (10, *size)
    assert detector.reconstruct(X).shape == X.shape


@names
def test_too_small_images_for_the_network(name, X):
    match = r"halves the images 3 times and needs images of at least 8x8 pixels; got 6x6"
    with pytest.raises(ValueError, match=match):
        DETECTORS[name](filters=(2, 2, 2)).fit(X)


@names
@pytest.mark.parametrize("filters", [(), (0,), (4, -1), "deep", (2.5,), [True], 3])
def test_bad_filters(name, X, filters):
    with pytest.raises(ValueError, match="filters"):
        DETECTORS[name](filters=filters).fit(X)


@pytest.mark.parametrize(
    "name, how",
    [("ConvAutoEncoder", "mean"), ("ConvAutoEncoder", "max"),
     ("ConvAutoEncoder", "topk_mean"), ("MemAE", "max"), ("MNAD", "topk_mean")],
)
def test_score_is_minus_the_aggregated_map(name, X, how):
    detector = DETECTORS[name](map_aggregation=how, topk_fraction=0.1).fit(X)
    maps = detector.anomaly_map(X).reshape(len(X), -1)
    expected = {
        "mean": maps.mean(axis=1),
        "max": maps.max(axis=1),
        # 10% of 36 pixels, rounded up: the 4 largest
        "topk_mean": np.sort(maps, axis=1)[:, -4:].mean(axis=1),
    }[how]
    assert_float32_close(detector.score_samples(X), -expected)
    assert (maps >= 0).all()


def test_aggregate_map():
    maps = np.arange(2 * 3 * 4, dtype=np.float64).reshape(2, 3, 4)
    assert_allclose(aggregate_map(maps, "mean"), [5.5, 17.5])
    assert_allclose(aggregate_map(maps, "max"), [11.0, 23.0])
    assert_allclose(aggregate_map(maps, "topk_mean", 3), [10.0, 22.0])
    assert_allclose(aggregate_map(maps, "topk_mean", 12), [5.5, 17.5])


@names
@pytest.mark.parametrize(
    "params, match",
    [
        ({"map_aggregation": "median"}, "map_aggregation"),
        ({"topk_fraction": 0.0}, "topk_fraction"),
        ({"topk_fraction": 1.5}, "topk_fraction"),
        ({"kernel_size": 0}, "kernel_size"),
        ({"activation": 3}, "activation"),
        ({"image_shape": (0, 6)}, "image_shape must be"),
        ({"image_shape": "square"}, "image_shape"),
        ({"scaling": "log"}, "scaling"),
        ({"contamination": 0.6}, "contamination"),
        ({"epochs": 0}, "epochs"),
    ],
)
def test_bad_common_parameters(name, X, params, match):
    with pytest.raises(ValueError, match=match):
        DETECTORS[name](**params).fit(X)


# ----------------------------------------------------------------- scaling


@pytest.mark.parametrize("scaling", ["minmax", "standard", "robust", None])
def test_scaling_is_per_channel(scaling):
    X = np.random.RandomState(5).uniform(size=(10, 4, 4, 2))
    X[..., 1] = 10.0 + 100.0 * X[..., 1]
    detector = DETECTORS["ConvAutoEncoder"](scaling=scaling).fit(X)
    pixels = X.reshape(-1, 2)
    expected = {
        "minmax": (pixels.min(axis=0), np.ptp(pixels, axis=0)),
        "standard": (pixels.mean(axis=0), pixels.std(axis=0)),
        "robust": (
            np.median(pixels, axis=0),
            np.subtract(*np.percentile(pixels, [75, 25], axis=0)),
        ),
        None: (np.zeros(2), np.ones(2)),
    }[scaling]
    assert_allclose(detector.scaling_center_, expected[0])
    assert_allclose(detector.scaling_scale_, expected[1])


@pytest.mark.parametrize("name", ["ConvAutoEncoder", "MNAD"])
def test_minmax_scaling_makes_pixel_units_irrelevant(name, X, fitted):
    # 8-bit pixel values and the same images in [0, 1] train alike.
    unit = DETECTORS[name]().fit(X / 255.0)
    unit_scores, scores = unit.score_samples(X / 255.0), fitted[name].score_samples(X)
    assert_allclose(unit_scores, scores, rtol=1e-5)
    expected = fitted[name].reconstruct(X)
    assert_allclose(
        unit.reconstruct(X / 255.0) * 255.0, expected,
        rtol=1e-4, atol=1e-5 * np.abs(expected).max(),
    )


def test_ssim_data_range_is_that_of_the_scaled_training_images(X):
    detector = DETECTORS["ConvAutoEncoder"](loss="ssim").fit(X)
    assert float(detector.model_.data_range.numpy()) == pytest.approx(1.0)
    standard = DETECTORS["ConvAutoEncoder"](loss="ssim", scaling="standard").fit(X)
    scaled = (X - X.mean()) / X.std()
    assert float(standard.model_.data_range.numpy()) == pytest.approx(np.ptp(scaled), rel=1e-6)


# -------------------------------------------------------------------- SSIM


def _reference_ssim(x, y, window_size, data_range):
    """SSIM of two 2-D images with scipy, with the same window and the same
    treatment of the borders (weights outside the image left out)."""
    window = gaussian_window(window_size)

    def mean(image):
        return ndimage.correlate(image, window, mode="constant") / ndimage.correlate(
            np.ones_like(image), window, mode="constant"
        )

    mu_x, mu_y = mean(x), mean(y)
    var_x = mean(x * x) - mu_x**2
    var_y = mean(y * y) - mu_y**2
    cov = mean(x * y) - mu_x * mu_y
    c1, c2 = (0.01 * data_range) ** 2, (0.03 * data_range) ** 2
    return ((2 * mu_x * mu_y + c1) * (2 * cov + c2)) / (
        (mu_x**2 + mu_y**2 + c1) * (var_x + var_y + c2)
    )


@pytest.mark.parametrize("window_size, shape", [(7, (12, 10)), (3, (5, 9)), (11, (6, 6))])
def test_ssim_map_matches_a_scipy_reference(window_size, shape):
    rng = np.random.RandomState(0)
    x = rng.uniform(size=(3, *shape, 2))
    y = np.clip(x + rng.normal(scale=0.2, size=x.shape), 0, 1)
    ssim = keras.ops.convert_to_numpy(ssim_map(x, y, data_range=2.0, window_size=window_size))
    assert ssim.shape == x.shape
    for i in range(3):
        for c in range(2):
            expected = _reference_ssim(x[i, ..., c], y[i, ..., c], window_size, 2.0)
            assert_allclose(ssim[i, ..., c], expected, rtol=1e-10, atol=1e-12)


def test_ssim_map_of_an_image_with_itself_is_one_and_each_image_its_own():
    rng = np.random.RandomState(1)
    x = rng.uniform(size=(4, 8, 8, 1))
    assert_allclose(keras.ops.convert_to_numpy(ssim_map(x, x, data_range=1.0)), 1.0)
    y = rng.uniform(size=x.shape)
    batch = keras.ops.convert_to_numpy(ssim_map(x, y, data_range=1.0))
    alone = keras.ops.convert_to_numpy(ssim_map(x[2:3], y[2:3], data_range=1.0))
    assert_array_equal(batch[2:3], alone)
    assert (batch <= 1.0 + 1e-12).all() and (batch >= -1.0 - 1e-12).all()


def test_gaussian_window():
    window = gaussian_window(7)
    assert window.shape == (7, 7)
    assert window.sum() == pytest.approx(1.0)
    assert window[3, 3] == window.max()
    assert_allclose(window, window.T)


# --------------------------------------------------------------- bad input

BAD_TRAINING = [
    (lambda X: np.where(X > 200, np.nan, X), ValueError, "NaN"),
    (lambda X: np.where(X > 200, np.inf, X), ValueError, "infinity"),
    (lambda X: np.where(X > 200, np.nan, X).reshape(len(X), -1), ValueError, "NaN"),
    (lambda X: X[:0], ValueError, "0 sample"),
    (lambda X: X[:1], ValueError, "1 sample"),
    (lambda X: X[:1].reshape(1, -1), ValueError, "1 sample"),
    (lambda X: X[:, :0], ValueError, "empty images"),
    (lambda X: X[0, 0], ValueError, "1-D array of shape \\(6,\\). Reshape your data"),
    (lambda X: X[:, :, :, None, None], ValueError, "got a 5-D array"),
    (lambda X: X.reshape(len(X), -1)[:, :30], ValueError, "30 is not a perfect square"),
    (lambda X: X.astype(str).astype(object) + "x", ValueError, "could not convert"),
    (lambda X: X + 1j, ValueError, "Complex data not supported"),
    (lambda X: sp.csr_matrix(X.reshape(len(X), -1)), TypeError, "Sparse data was passed"),
    (lambda X: [x[: 5 + i % 2] for i, x in enumerate(X)], ValueError, "inhomogeneous|sequence"),
]


@names
@pytest.mark.parametrize("corrupt, error, match", BAD_TRAINING)
def test_bad_training_input(name, X, corrupt, error, match):
    with pytest.raises(error, match=match):
        DETECTORS[name]().fit(corrupt(X))


@names
def test_image_shape_must_agree_with_the_input(name, X):
    with pytest.raises(ValueError, match=r"images of shape \(6, 6\), but image_shape=\(6, 5\)"):
        DETECTORS[name](image_shape=(6, 5)).fit(X)
    match = r"rows of 36 values, but images of shape \(4, 4\) have 16"
    with pytest.raises(ValueError, match=match):
        DETECTORS[name](image_shape=(4, 4)).fit(X.reshape(20, -1))


@names
def test_bad_scoring_input(name, X, fitted):
    detector = fitted[name]
    for method in ("score_samples", "anomaly_map", "reconstruct", "predict"):
        with pytest.raises(NotFittedError):
            getattr(DETECTORS[name](), method)(X)
    fitted_on = r"fitted on images of shape \(6, 6\)"
    with pytest.raises(ValueError, match=r"images of shape \(6, 5\), but \w+ was " + fitted_on):
        detector.score_samples(X[:, :, :5])
    with pytest.raises(ValueError, match=r"images of shape \(6, 6, 3\), but .* " + fitted_on):
        detector.anomaly_map(np.repeat(X[..., None], 3, axis=-1))
    with pytest.raises(ValueError, match="X has 30 features, but .* is expecting 36"):
        detector.decision_function(X.reshape(20, -1)[:, :30])
    with pytest.raises(ValueError, match="NaN"):
        detector.score_samples(np.full((2, 6, 6), np.nan))
    with pytest.raises(ValueError, match="NaN"):
        detector.anomaly_map(np.full((2, 6, 6), np.nan))
    with pytest.raises(ValueError, match="0 sample"):
        detector.predict(X[:0])
    with pytest.raises(ValueError, match=r"1-D array.*Reshape your data: X\[np.newaxis\]"):
        detector.predict(X[0, 0])
    # A single image is fine at scoring time, as an image or a row.
    assert detector.predict(X[:1]).shape == (1,)
    assert detector.anomaly_map(X[0].reshape(1, -1)).shape == (1, 6, 6)


# ------------------------------------------------- determinism, persistence


@names
def test_scores_are_deterministic_and_independent_of_the_batch(name, X, fitted):
    detector = fitted[name]
    scores = detector.score_samples(X)
    maps = detector.anomaly_map(X)
    alone = np.array([detector.score_samples(X[i : i + 1])[0] for i in range(0, 20, 5)])
    assert_float32_close(alone, scores[::5])
    assert_float32_close(detector.anomaly_map(X[3:4])[0], maps[3])
    refit = clone(detector).fit(X)
    assert_array_equal(refit.score_samples(X), scores)


@names
def test_pickle_round_trip_gives_identical_scores_and_maps(name, X, fitted):
    detector = fitted[name]
    restored = pickle.loads(pickle.dumps(detector))
    assert_array_equal(restored.score_samples(X), detector.score_samples(X))
    assert_array_equal(restored.anomaly_map(X), detector.anomaly_map(X))
    assert_array_equal(restored.reconstruct(X), detector.reconstruct(X))
    assert restored.offset_ == detector.offset_


@names
def test_warm_start_continues_training(name, X):
    detector = DETECTORS[name](warm_start=True).fit(X)
    center = detector.scaling_center_.copy()
    weights = [w.copy() for w in detector.model_.get_weights()]
    detector.fit(X)
    assert detector.n_epochs_ == 4
    assert len(detector.history_["loss"]) == 4
    assert_array_equal(detector.scaling_center_, center)
    assert any(
        not np.array_equal(a, b) for a, b in zip(weights, detector.model_.get_weights())
    )
    with pytest.raises(ValueError, match="warm_start=True"):
        detector.fit(X[:, :4, :4])


def test_tiny_fits_train_eagerly_and_larger_ones_traced(X):
    tiny = DETECTORS["ConvAutoEncoder"]().fit(X)
    assert tiny.model_.run_eagerly
    traced = DETECTORS["ConvAutoEncoder"](epochs=4, batch_size=2).fit(X)  # 40 steps
    assert not traced.model_.run_eagerly
    assert np.isfinite(traced.score_samples(X)).all()


# -------------------------------------------------------------- a pipeline


def test_pipeline_from_image_files_to_anomaly_maps(tmp_path):
    """What a new user tries: a folder of good parts, a pipeline from paths
    to scores, then the maps of the defective parts."""
    from PIL import Image
    from sklearn.pipeline import make_pipeline

    from skanomaly.datasets import make_defect_textures
    from skanomaly.features import ImageLoader, ImageResizer

    data = make_defect_textures(12, 4, image_size=24, texture="brick", random_state=0)
    paths = []
    for i, image in enumerate(data.images):
        path = tmp_path / f"part{i:02d}.png"
        Image.fromarray((image * 255).astype(np.uint8)).save(path)
        paths.append(path)
    train, test = paths[:10], paths[10:]

    pipe = make_pipeline(
        ImageLoader(color="gray"),
        ImageResizer((16, 16)),
        ConvAutoEncoder(filters=(4, 4), latent_dim=4, epochs=2, random_state=0),
    )
    pipe.fit(train)
    scores = pipe.score_samples(test)
    assert scores.shape == (6,)
    assert pipe.predict(test).shape == (6,)
    images = pipe[:-1].transform(test)
    maps = pipe[-1].anomaly_map(images)
    assert maps.shape == (6, 16, 16)
    assert_float32_close(-maps.mean(axis=(1, 2)), scores)
    restored = pickle.loads(pickle.dumps(pipe))
    assert_array_equal(restored.score_samples(test), scores)
