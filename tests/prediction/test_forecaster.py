"""RNNForecaster: forecasts, normalisation, the per-step map, learning."""

import numpy as np
import pytest
from sklearn.metrics import roc_auc_score

from skanomaly import RNNForecaster

TINY = dict(
    hidden_units=(4,), horizon=1, epochs=2, batch_size=256, validation_fraction=0.0,
    random_state=0,
)


@pytest.fixture(scope="module")
def X():
    return np.random.RandomState(0).normal(size=(16, 7, 2))


def test_forecasts_have_the_horizon_and_channels(X):
    detector = RNNForecaster(**{**TINY, "horizon": 3}).fit(X)
    network = detector.model_
    forecasts = network(X[:5].astype("float32"))
    # 7 steps, 3 ahead: forecasts after steps 0 to 3.
    assert tuple(forecasts.shape) == (5, 4, 3, 2)
    targets = np.asarray(network.targets(X[:5].astype("float32")))
    np.testing.assert_array_equal(targets[:, 0, :, :], X[:5, 1:4].astype("float32"))
    np.testing.assert_array_equal(targets[:, 3, 2, :], X[:5, 6].astype("float32"))


def test_error_scale_is_the_mean_training_error(X):
    detector = RNNForecaster(**{**TINY, "horizon": 2}).fit(X)
    network = detector.model_
    scaled = ((X - detector.scaling_center_) / detector.scaling_scale_).astype("float32")
    errors = np.asarray(network.squared_errors(scaled), dtype=np.float64)
    np.testing.assert_allclose(network.error_scale.numpy(), errors.mean(axis=(0, 1)), rtol=1e-5)
    # So the mean normalised error on the training data is about 1.
    np.testing.assert_allclose(-detector.score_samples(X).mean(), 1.0, rtol=1e-3)


def test_without_normalisation_scores_are_raw_errors(X):
    detector = RNNForecaster(normalize_errors=False, **TINY).fit(X)
    np.testing.assert_array_equal(detector.model_.error_scale.numpy(), np.ones((1, 2)))
    network = detector.model_
    scaled = (X - detector.scaling_center_) / detector.scaling_scale_
    errors = np.asarray(network.squared_errors(scaled.astype("float32")), dtype=np.float64)
    np.testing.assert_allclose(-detector.score_samples(X), errors.mean(axis=(1, 2, 3)), rtol=1e-5)


def test_map_puts_each_error_on_the_forecast_step(X):
    detector = RNNForecaster(**{**TINY, "horizon": 2}).fit(X)
    network = detector.model_
    scaled = ((X - detector.scaling_center_) / detector.scaling_scale_).astype("float32")
    errors = np.asarray(network.normalized_errors(scaled), dtype=np.float64).mean(axis=-1)
    maps = detector.anomaly_map(X)
    assert maps.shape == (16, 7)
    np.testing.assert_array_equal(maps[:, 0], 0.0)  # never forecast
    # Step 1: only the 1-step forecast made after step 0.
    np.testing.assert_allclose(maps[:, 1], errors[:, 0, 0], rtol=1e-5)
    # Step 3: the 1-step forecast after step 2 and the 2-step one after step 1.
    np.testing.assert_allclose(maps[:, 3], (errors[:, 2, 0] + errors[:, 1, 1]) / 2, rtol=1e-5)
    # Step 6, the last: only the 2-step forecast after step 4 (no forecast
    # is made after step 5, which has fewer than `horizon` steps after it).
    np.testing.assert_allclose(maps[:, 6], errors[:, 4, 1], rtol=1e-5)


def test_gru_cell(X):
    detector = RNNForecaster(cell="gru", **TINY).fit(X)
    names = [type(layer).__name__ for layer in detector.model_._flatten_layers()]
    assert "GRU" in names and "LSTM" not in names


def test_learns_planted_anomalies(waves):
    horizon = 4
    X_train, X_test, y_test, steps = waves
    detector = RNNForecaster(
        hidden_units=(8,), horizon=horizon, epochs=20, batch_size=64, learning_rate=1e-2,
        random_state=0,
    ).fit(X_train)
    auc = roc_auc_score(y_test, -detector.score_samples(X_test))
    # Measured 1.00.
    assert auc > 0.95
    spiky = steps >= 0
    found = detector.anomaly_map(X_test)[spiky].argmax(axis=1)
    # The forecasts after a spike miss too, so allow the next few steps.
    assert np.mean((found >= steps[spiky]) & (found <= steps[spiky] + horizon)) >= 0.8
