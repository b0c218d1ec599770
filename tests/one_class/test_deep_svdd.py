import pickle

import numpy as np
import pytest
from sklearn.metrics import roc_auc_score

from skanomaly import DeepSVDD

N_FEATURES = 8


def _planted(seed, kind):
    """Normal N(0, 1) samples, then anomalies shifted by +4 or scaled by 4."""
    rng = np.random.RandomState(seed)
    normal = rng.normal(size=(100, N_FEATURES))
    anomalies = rng.normal(size=(20, N_FEATURES))
    anomalies = anomalies + 4.0 if kind == "shift" else 4.0 * anomalies
    X = np.vstack([normal, anomalies])
    y = np.r_[np.zeros(len(normal)), np.ones(len(anomalies))]
    return X, y


@pytest.fixture(scope="module")
def X_train():
    return np.random.RandomState(0).normal(size=(300, N_FEATURES))


@pytest.fixture(scope="module")
def one_class(X_train):
    return DeepSVDD(epochs=15, random_state=0).fit(X_train)


@pytest.fixture(scope="module")
def soft_boundary(X_train):
    return DeepSVDD(
        objective="soft-boundary", epochs=15, warm_up_epochs=5, random_state=0
    ).fit(X_train)


@pytest.mark.parametrize("fitted", ["one_class", "soft_boundary"])
def test_network_has_no_bias(fitted, request):
    detector = request.getfixturevalue(fitted)
    dense = detector.model_.embedding.layers
    assert dense and all(not layer.use_bias and layer.bias is None for layer in dense)
    assert not any("bias" in w.path for w in detector.model_.weights)
    # Without biases, the zero vector is mapped to the zero vector.
    zeros = np.zeros((1, N_FEATURES), dtype="float32")
    np.testing.assert_array_equal(np.asarray(detector.model_(zeros)), 0.0)


@pytest.mark.parametrize("fitted", ["one_class", "soft_boundary"])
def test_center_is_guarded_and_stored_in_the_network(fitted, request):
    detector = request.getfixturevalue(fitted)
    assert detector.center_.shape == (32,)  # "auto" for 8 features: (16, 32)
    assert np.all(np.abs(detector.center_) >= detector.eps)
    np.testing.assert_allclose(detector.center_, np.asarray(detector.model_.center))
    assert not detector.model_.center.trainable


def test_center_guard_sets_near_zero_coordinates_to_eps():
    # Constant features scale to zeros, which a bias-free network maps to
    # zeros: every coordinate of the mean representation is exactly zero.
    detector = DeepSVDD(epochs=1, eps=0.5, random_state=0).fit(np.ones((20, 3)))
    np.testing.assert_array_equal(detector.center_, 0.5)
    # A large eps pushes every coordinate to +-eps, keeping its sign.
    X = np.random.RandomState(0).normal(size=(40, 3))
    detector = DeepSVDD(epochs=1, eps=100.0, random_state=0).fit(X)
    np.testing.assert_array_equal(np.abs(detector.center_), 100.0)


@pytest.mark.parametrize("kind", ["shift", "scale"])
@pytest.mark.parametrize(
    "fitted, bound",
    # Measured over 5 seeds with this setting: one-class 0.97-1.0 (scale)
    # and 0.998-1.0 (shift); soft-boundary 0.96-1.0 and 0.99-1.0.
    [("one_class", 0.9), ("soft_boundary", 0.9)],
)
def test_detects_planted_anomalies(fitted, bound, kind, request):
    detector = request.getfixturevalue(fitted)
    X, y = _planted(1, kind)
    auc = roc_auc_score(y, -detector.score_samples(X))
    assert auc > bound


def test_one_class_has_no_radius(one_class, X_train):
    assert one_class.radius_ == 0.0
    assert one_class.offset_ < 0  # Tukey's lower fence of -distances
    np.testing.assert_allclose(
        one_class.decision_function(X_train),
        one_class.score_samples(X_train) - one_class.offset_,
    )


def test_soft_boundary_sphere_is_the_boundary(soft_boundary, X_train):
    assert soft_boundary.radius_ > 0
    assert soft_boundary.offset_ == 0
    # Measured share of training samples outside the sphere over 5 seeds:
    # 0.10 to 0.12 for nu=0.1.
    share = np.mean(soft_boundary.predict(X_train) == -1)
    assert abs(share - soft_boundary.nu) < 0.05
    # Inside the sphere means a positive score R^2 - ||phi(x) - c||^2.
    np.testing.assert_array_equal(
        soft_boundary.decision_function(X_train), soft_boundary.score_samples(X_train)
    )


def test_soft_boundary_radius_set_even_within_warm_up():
    X = np.random.RandomState(0).normal(size=(100, 4))
    detector = DeepSVDD(
        objective="soft-boundary", nu=0.2, epochs=2, warm_up_epochs=10, random_state=0
    ).fit(X)
    assert detector.radius_ > 0
    share = np.mean(detector.predict(X) == -1)
    assert abs(share - 0.2) < 0.08


def test_same_random_state_same_scores():
    X = np.random.RandomState(0).normal(size=(60, 4))
    first = DeepSVDD(epochs=2, random_state=3).fit(X).score_samples(X)
    second = DeepSVDD(epochs=2, random_state=3).fit(X).score_samples(X)
    np.testing.assert_array_equal(first, second)


@pytest.mark.parametrize("fitted", ["one_class", "soft_boundary"])
def test_pickle_round_trip(fitted, request, X_train):
    detector = request.getfixturevalue(fitted)
    restored = pickle.loads(pickle.dumps(detector))
    np.testing.assert_array_equal(restored.center_, detector.center_)
    assert restored.radius_ == detector.radius_
    np.testing.assert_array_equal(
        np.asarray(restored.model_.center), np.asarray(detector.model_.center)
    )
    np.testing.assert_array_equal(
        restored.score_samples(X_train), detector.score_samples(X_train)
    )
    np.testing.assert_array_equal(restored.predict(X_train), detector.predict(X_train))


@pytest.mark.parametrize(
    "params, match",
    [
        ({"nu": 0}, "nu"),
        ({"nu": 1.5}, "nu"),
        ({"objective": "foo"}, "objective"),
        ({"eps": -1}, "eps"),
        ({"weight_decay": -1}, "weight_decay"),
        ({"warm_up_epochs": -1}, "warm_up_epochs"),
        ({"hidden_units": (4, 0)}, "hidden_units"),
    ],
)
def test_bad_parameters(params, match):
    X = np.random.RandomState(0).normal(size=(20, 3))
    with pytest.raises(ValueError, match=match):
        DeepSVDD(epochs=1, **params).fit(X)


def test_nan_in_input():
    X = np.random.RandomState(0).normal(size=(20, 3))
    X[3, 1] = np.nan
    with pytest.raises(ValueError, match="NaN"):
        DeepSVDD(epochs=1).fit(X)


def test_wrong_number_of_features(one_class):
    with pytest.raises(ValueError, match="features"):
        one_class.score_samples(np.zeros((3, N_FEATURES + 1)))
