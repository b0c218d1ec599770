"""LSTMAutoEncoder: architecture and learning."""

import numpy as np
import pytest
from sklearn.metrics import roc_auc_score

from skanomaly import LSTMAutoEncoder


def recurrent_layers(model):
    return list(model.encoder.layers) + list(model.decoder.layers)


@pytest.fixture(scope="module")
def X():
    return np.random.RandomState(0).normal(size=(16, 5, 2))


def test_hidden_units_give_a_mirrored_network(X):
    detector = LSTMAutoEncoder(hidden_units=(8, 3), epochs=1, random_state=0).fit(X)
    widths = [layer.units for layer in recurrent_layers(detector.model_)]
    assert widths == [8, 3, 3, 8]
    assert detector.model_.reconstruction.units == 2
    # The code is the last encoder layer's final output.
    code = detector.model_.encoder(X[:4].astype("float32"))
    assert tuple(code.shape) == (4, 3)


def test_bidirectional_wraps_every_layer(X):
    detector = LSTMAutoEncoder(
        hidden_units=(4,), bidirectional=True, epochs=1, random_state=0
    ).fit(X)
    layers = recurrent_layers(detector.model_)
    assert [type(layer).__name__ for layer in layers] == ["Bidirectional"] * 2
    code = detector.model_.encoder(X[:4].astype("float32"))
    assert tuple(code.shape) == (4, 8)
    assert detector.anomaly_map(X).shape == (16, 5)


def test_dropout_is_a_training_time_corruption(X):
    detector = LSTMAutoEncoder(
        hidden_units=(4,), dropout=0.5, epochs=2, random_state=0
    ).fit(X)
    assert all(layer.dropout == 0.5 for layer in recurrent_layers(detector.model_))
    np.testing.assert_array_equal(detector.score_samples(X), detector.score_samples(X))


def test_learns_planted_anomalies(waves):
    X_train, X_test, y_test, steps = waves
    detector = LSTMAutoEncoder(
        hidden_units=(16,), epochs=10, batch_size=64, learning_rate=1e-2, random_state=0
    ).fit(X_train)
    auc = roc_auc_score(y_test, -detector.score_samples(X_test))
    # Spikes, doubled frequency and flat stretches among sine waves;
    # measured 1.00.
    assert auc > 0.95
    # The map points at the spikes.
    maps = detector.anomaly_map(X_test)
    spiky = steps >= 0
    assert np.mean(maps[spiky].argmax(axis=1) == steps[spiky]) >= 0.8
