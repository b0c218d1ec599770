"""AutoEncoder: architecture, denoising and sparse variants, learning."""

import numpy as np
import pytest
from sklearn.metrics import roc_auc_score

from skanomaly import AutoEncoder


def dense_widths(model):
    return [
        layer.units
        for layer in model._flatten_layers(include_self=False)
        if hasattr(layer, "units")
    ]


@pytest.fixture
def X():
    return np.random.RandomState(0).normal(size=(80, 6))


def test_hidden_units_give_a_mirrored_network(X):
    detector = AutoEncoder(hidden_units=(16, 3), epochs=1, random_state=0).fit(X)
    assert dense_widths(detector.model_) == [16, 3, 16, 6]


def test_a_code_alone_is_a_network_too(X):
    # No hidden layer around the code: the encoder and decoder are empty.
    detector = AutoEncoder(hidden_units=(3,), epochs=1, random_state=0).fit(X)
    assert dense_widths(detector.model_) == [3, 6]
    assert np.isfinite(detector.score_samples(X)).all()


@pytest.mark.parametrize(
    "n_features, expected", [(4, [16, 2, 16, 4]), (64, [64, 8, 64, 64]), (400, [128, 20, 128, 400])]
)
def test_auto_hidden_units_are_sized_from_the_input(n_features, expected):
    X = np.random.RandomState(0).normal(size=(20, n_features))
    detector = AutoEncoder(epochs=1, random_state=0).fit(X)
    assert dense_widths(detector.model_) == expected


@pytest.mark.parametrize("hidden_units", [(0,), (), (4, -1), "wide", (2.5,), [True]])
def test_bad_hidden_units(X, hidden_units):
    with pytest.raises(ValueError, match="hidden_units must be 'auto' or"):
        AutoEncoder(hidden_units=hidden_units, epochs=1).fit(X)


@pytest.mark.parametrize(
    "params, match",
    [
        ({"dropout": 1.0}, "dropout"),
        ({"noise_std": -0.1}, "noise_std"),
        ({"sparsity": -1.0}, "sparsity"),
        ({"epochs": 0}, "epochs"),
        ({"batch_size": 0}, "batch_size"),
        ({"learning_rate": 0.0}, "learning_rate"),
        ({"optimizer": "lbfgs"}, "optimizer"),
        ({"validation_fraction": 1.0}, "validation_fraction"),
        ({"patience": 0}, "patience"),
        ({"scaling": "log"}, "scaling"),
        ({"contamination": 0.6}, "contamination"),
        ({"contamination": "high"}, "contamination"),
        ({"callbacks": "early"}, "callbacks"),
    ],
)
def test_bad_parameters(X, params, match):
    with pytest.raises(ValueError, match=match):
        AutoEncoder(**{"epochs": 1, **params}).fit(X)


def test_denoising_trains_differently_but_scores_deterministically(X):
    plain = AutoEncoder(hidden_units=(8, 2), epochs=3, random_state=0).fit(X)
    noisy = AutoEncoder(
        hidden_units=(8, 2), epochs=3, noise_std=0.5, random_state=0
    ).fit(X)
    assert not np.allclose(plain.score_samples(X), noisy.score_samples(X))
    # The noise is a training-time corruption only.
    np.testing.assert_array_equal(noisy.score_samples(X), noisy.score_samples(X))


def test_sparsity_adds_a_penalty_on_the_code(X):
    params = dict(hidden_units=(8, 4), epochs=3, validation_fraction=0.0, random_state=0)
    plain = AutoEncoder(**params).fit(X)
    sparse = AutoEncoder(sparsity=10.0, **params).fit(X)
    assert sparse.history_["loss"][0] > plain.history_["loss"][0]
    assert sparse.model_.code.activity_regularizer is not None
    assert plain.model_.code.activity_regularizer is None


def test_dropout_layers_are_present(X):
    detector = AutoEncoder(hidden_units=(8, 2), dropout=0.3, epochs=1, random_state=0).fit(X)
    names = [type(layer).__name__ for layer in detector.model_._flatten_layers()]
    assert "Dropout" in names


@pytest.mark.parametrize(
    "params", [{}, {"noise_std": 0.2}, {"sparsity": 1e-3}, {"dropout": 0.1}]
)
def test_learns_planted_anomalies(planted, params):
    X_train, X_test, y_test = planted
    detector = AutoEncoder(epochs=30, random_state=0, **params).fit(X_train)
    auc = roc_auc_score(y_test, -detector.score_samples(X_test))
    # Measured 1.00 for every variant: anomalies lie 4 sd away on 8 features.
    assert auc > 0.97
    # Scores are higher for normals, and predict flags most anomalies.
    assert (detector.predict(X_test[y_test == 1]) == -1).mean() > 0.8
