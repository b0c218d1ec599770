"""ConvAutoEncoder: architecture, denoising, squared-error and SSIM maps,
learning. Input, scaling, aggregation and persistence are tested for every
image detector in tests/engine/test_images.py."""

import numpy as np
import pytest
from numpy.testing import assert_allclose, assert_array_equal
from sklearn.metrics import roc_auc_score

from skanomaly import ConvAutoEncoder
from skanomaly.engine import keras
from skanomaly.engine._conv import ssim_map
from skanomaly.datasets import make_defect_textures
from skanomaly.metrics import pixel_roc_auc_score

TINY = dict(filters=(4, 8), latent_dim=4, epochs=2, validation_fraction=0.0, random_state=0)


@pytest.fixture(scope="module")
def X():
    """16 RGB images 8x8 in [0, 1]."""
    return np.random.RandomState(0).uniform(size=(16, 8, 8, 3))


def layer_widths(stack):
    return [layer.filters for layer in stack]


def test_filters_give_a_mirrored_network(X):
    detector = ConvAutoEncoder(**TINY).fit(X)
    network = detector.model_
    assert layer_widths(network.encoder) == [4, 8]
    assert [type(layer).__name__ for layer in network.decoder] == ["Conv2DTranspose"] * 2
    # Mirrored back to the image's channels; the last layer is linear.
    assert layer_widths(network.decoder) == [4, 3]
    assert network.decoder[-1].activation.__name__ == "linear"
    assert network.to_code.units == 4
    assert network.code_size == (2, 2)
    assert network.from_code.units == 2 * 2 * 8


def test_without_latent_dim_the_network_is_fully_convolutional(X):
    detector = ConvAutoEncoder(**{**TINY, "latent_dim": None}).fit(X)
    network = detector.model_
    assert not hasattr(network, "to_code")
    assert not any(type(layer).__name__ == "Dense" for layer in network._flatten_layers())
    # The code is the last level's linear feature map.
    assert network.encoder[-1].activation.__name__ == "linear"
    assert detector.anomaly_map(X).shape == (16, 8, 8)


def test_denoising_trains_differently_but_scores_deterministically(X):
    plain = ConvAutoEncoder(**TINY).fit(X)
    noisy = ConvAutoEncoder(**{**TINY, "noise_std": 0.5}).fit(X)
    assert not np.allclose(plain.score_samples(X), noisy.score_samples(X))
    # The noise is a training-time corruption only.
    assert_array_equal(noisy.score_samples(X), noisy.score_samples(X))
    assert noisy.model_.noise is not None and plain.model_.noise is None


def test_squared_error_map_is_that_of_the_reconstruction(X):
    detector = ConvAutoEncoder(**TINY).fit(X)
    scale = detector.scaling_scale_
    expected = (((X - detector.reconstruct(X)) / scale) ** 2).mean(axis=-1)
    # Images are scored in float32: equal to about the seventh digit.
    maps = detector.anomaly_map(X)
    assert_allclose(maps, expected, rtol=1e-5, atol=1e-6 * expected.max())
    assert_allclose(detector.score_samples(X), -expected.mean(axis=(1, 2)), rtol=1e-5)


def test_ssim_map_is_one_minus_ssim_of_the_reconstruction(X):
    detector = ConvAutoEncoder(**TINY, loss="ssim", ssim_window=5).fit(X)
    center, scale = detector.scaling_center_, detector.scaling_scale_
    scaled = (X - center) / scale
    rebuilt = (detector.reconstruct(X) - center) / scale
    ssim = keras.ops.convert_to_numpy(
        ssim_map(scaled, rebuilt, data_range=1.0, window_size=5)
    )
    maps = detector.anomaly_map(X)
    # Images are scored in float32: equal to about the seventh digit.
    assert_allclose(maps, (1.0 - ssim).mean(axis=-1), rtol=1e-5, atol=1e-6)
    assert (maps >= 0).all() and (maps <= 2).all()
    # The training loss is 1 - SSIM too: it differs from the squared error's.
    mse = ConvAutoEncoder(**TINY).fit(X)
    assert detector.history_["loss"][0] != pytest.approx(mse.history_["loss"][0])


@pytest.mark.parametrize(
    "params, match",
    [
        ({"latent_dim": 0}, "latent_dim"),
        ({"noise_std": -0.1}, "noise_std"),
        ({"loss": "l1"}, "loss"),
        ({"ssim_window": 0}, "ssim_window"),
        ({"trim_fraction": 0.5}, "trim_fraction"),
    ],
)
def test_bad_parameters(X, params, match):
    with pytest.raises(ValueError, match=match):
        ConvAutoEncoder(**{**TINY, **params}).fit(X)


@pytest.fixture(scope="module")
def textures():
    """Brick textures 32x32: 100 good ones to train on, and 30 good and 30
    with a scratch, a blob or a stain (with masks) to test on."""
    train = make_defect_textures(100, 0, image_size=32, texture="brick", random_state=0)
    test = make_defect_textures(30, 30, image_size=32, texture="brick", random_state=1)
    return train.images, test


@pytest.mark.parametrize(
    "loss, image_bound, pixel_bound",
    # Measured: 0.99 and 0.98 with the squared error, 0.67 and 0.82 with
    # SSIM (whose windows blur small defects and need longer training).
    [("mse", 0.95, 0.95), ("ssim", 0.55, 0.7)],
)
def test_learns_planted_defects(textures, loss, image_bound, pixel_bound):
    X_train, test = textures
    detector = ConvAutoEncoder(
        loss=loss, map_aggregation="topk_mean", epochs=10, batch_size=32,
        validation_fraction=0.0, random_state=0,
    ).fit(X_train)
    scores = detector.score_samples(test.images)
    assert roc_auc_score(test.y, -scores) > image_bound
    defective = test.y == 1
    maps = detector.anomaly_map(test.images[defective])
    assert pixel_roc_auc_score(test.masks[defective], maps) > pixel_bound
