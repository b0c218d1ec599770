"""CNNLSTMAutoEncoder: architecture and learning."""

import numpy as np
import pytest
from sklearn.metrics import roc_auc_score

from skanomaly import CNNLSTMAutoEncoder


def layer_names(model):
    return [type(layer).__name__ for layer in model._flatten_layers(include_self=False)]


@pytest.mark.parametrize("n_steps", [13, 16, 1])
def test_any_length_is_reconstructed_to_its_own(n_steps):
    X = np.random.RandomState(0).normal(size=(12, n_steps, 3))
    detector = CNNLSTMAutoEncoder(
        filters=(4, 4), lstm_units=(4,), epochs=1, random_state=0
    ).fit(X)
    assert detector.reconstruct(X).shape == X.shape
    assert detector.anomaly_map(X).shape == (12, n_steps)


def test_architecture():
    X = np.random.RandomState(0).normal(size=(12, 20, 2))
    detector = CNNLSTMAutoEncoder(
        filters=(6, 5), lstm_units=(7, 3), kernel_size=3, pool_size=2,
        epochs=1, random_state=0,
    ).fit(X)
    model = detector.model_
    def widths(stack):
        return [layer.filters for layer in stack.layers if hasattr(layer, "filters")]

    assert widths(model.features) == [6, 5]
    assert widths(model.upsampling) == [5, 6]
    assert [layer.units for layer in model.encoder.layers] == [7, 3]
    assert [layer.units for layer in model.decoder.layers] == [3, 7]
    # 20 steps -> 10 -> 5 after two poolings: the decoder repeats the code 5 times.
    assert model.repeat.n == 5
    assert model.reconstruction.filters == 2
    assert "MaxPooling1D" in layer_names(model) and "UpSampling1D" in layer_names(model)


def test_learns_planted_anomalies(waves):
    X_train, X_test, y_test, steps = waves
    detector = CNNLSTMAutoEncoder(
        filters=(8, 8), lstm_units=(8,), epochs=10, batch_size=64, learning_rate=1e-2,
        random_state=0,
    ).fit(X_train)
    auc = roc_auc_score(y_test, -detector.score_samples(X_test))
    # Measured 1.00.
    assert auc > 0.95
    maps = detector.anomaly_map(X_test)
    spiky = steps >= 0
    assert np.mean(np.abs(maps[spiky].argmax(axis=1) - steps[spiky]) <= 1) >= 0.8
