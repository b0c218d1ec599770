"""DeepSAD: Deep SVDD taught by labelled samples; its loss, its centre, its
checks, what a few labels add and what a few wrong ones cost."""

import pickle

import numpy as np
import pytest
from numpy.testing import assert_allclose, assert_array_equal
from sklearn.base import clone
from sklearn.metrics import roc_auc_score
from sklearn.utils import estimator_checks
from sklearn.utils.estimator_checks import parametrize_with_checks

from skanomaly import DeepSVDD
from skanomaly.engine import keras
from skanomaly.supervised import DeepSAD
from tests.test_common import THIRD_LABEL_CHECKS, THIRD_LABEL_REASON

ops = keras.ops

# ------------------------------------------------------- estimator checks

# These checks fit with a y of three classes (0, 1, 2); DeepSAD refuses
# the 2 with a clear error (test_the_label_checks_fail_only_for_the_third_label).
EXPECTED_FAILED = {name: THIRD_LABEL_REASON for name in THIRD_LABEL_CHECKS}
CHECKED = DeepSAD(hidden_units=(4, 2), epochs=1)


@parametrize_with_checks([CHECKED], expected_failed_checks=lambda e: EXPECTED_FAILED)
def test_sklearn_estimator_checks(estimator, check):
    check(estimator)


class _ThirdLabelUnlabelled(DeepSAD):
    """DeepSAD with any label outside {1, 0, -1} taken as unlabelled: the
    checks above then run to their end."""

    @staticmethod
    def _mapped(y):
        if y is None:
            return None
        labels = np.asarray(y)
        return np.where(np.isin(labels, [1, 0, -1]), labels, -1)

    def fit(self, X, y=None):
        return super().fit(X, self._mapped(y))

    def partial_fit(self, X, y=None):
        return super().partial_fit(X, self._mapped(y))


@pytest.mark.parametrize("check_name", THIRD_LABEL_CHECKS)
def test_the_label_checks_fail_only_for_the_third_label(check_name):
    # Only these checks: the others run above, on the same estimator.
    check = getattr(estimator_checks, check_name)
    with pytest.raises(Exception) as error:
        check("DeepSAD", clone(CHECKED))
    # check_positive_only_tag_during_fit rewords the ValueError.
    assert "y also holds 2" in str(error.value.__cause__ or error.value)
    # With that label read as "unlabelled", the check passes.
    check("DeepSAD", _ThirdLabelUnlabelled(**CHECKED.get_params()))


# ------------------------------------------------------------------ data


def _planted(rng, n_normal, n_anomalies):
    """N(0, 1) normal samples in 8-d, and anomalies of one kind: close to
    the mean in every feature but the first, where they sit at 1.8. They
    are nearer the mean than most normal samples, so that the distance
    from the mean ranks them as normal."""
    normal = rng.normal(size=(n_normal, 8))
    anomalies = 0.6 * rng.normal(size=(n_anomalies, 8))
    anomalies[:, 0] = 1.8 + 0.3 * rng.normal(size=n_anomalies)
    return normal, anomalies


@pytest.fixture(scope="module")
def semi_supervised():
    """300 normal and 16 anomalous unlabelled-or-labelled training samples
    (6 anomalies labelled, the rest -1), and a test set."""
    rng = np.random.RandomState(0)
    normal, anomalies = _planted(rng, 300, 16)
    X = np.r_[normal, anomalies]
    y = -np.ones(len(X), dtype=int)
    y[300:306] = 1
    test_normal, test_anomalies = _planted(rng, 200, 100)
    X_test = np.r_[test_normal, test_anomalies]
    y_test = np.r_[np.zeros(200), np.ones(100)]
    return X, y, X_test, y_test


PARAMS = dict(hidden_units=(16, 8), epochs=50, random_state=0)
#: DeepSVDD at DeepSAD's learning rate, so that only the labels differ.
SVDD_PARAMS = dict(PARAMS, learning_rate=1e-3)


def _auc(detector, X_test, y_test):
    return roc_auc_score(y_test, -detector.score_samples(X_test))


# ---------------------------------------------------------------- learning


def test_a_few_labelled_anomalies_teach_it_their_kind(semi_supervised):
    # Measured: distance from the mean 0.30, DeepSVDD (no labels) 0.535,
    # DeepSAD with 6 labelled anomalies 0.867 (seeds 1 and 2 of the data
    # and the detector: 0.28 / 0.52 / 0.88 and 0.19 / 0.46 / 0.65).
    X, y, X_test, y_test = semi_supervised
    trivial = roc_auc_score(y_test, np.linalg.norm(X_test - X.mean(axis=0), axis=1))
    unsupervised = _auc(DeepSVDD(**SVDD_PARAMS).fit(X), X_test, y_test)
    taught = _auc(DeepSAD(**PARAMS).fit(X, y), X_test, y_test)
    assert trivial < 0.5
    assert taught > 0.75
    assert taught > unsupervised + 0.2


def test_a_few_wrong_labels_cost_little(semi_supervised):
    # Three normal samples labelled as anomalies beside the six right ones:
    # measured 0.867 -> 0.827 (seeds 1 and 2: 0.884 -> 0.852, 0.648 ->
    # 0.642); the bound allows twice the largest drop.
    X, y, X_test, y_test = semi_supervised
    noisy = y.copy()
    noisy[:3] = 1
    right = _auc(DeepSAD(**PARAMS).fit(X, y), X_test, y_test)
    wrong = _auc(DeepSAD(**PARAMS).fit(X, noisy), X_test, y_test)
    assert wrong > right - 0.08


def test_without_labels_it_is_deep_svdd(semi_supervised):
    X, _, X_test, _ = semi_supervised
    plain = DeepSVDD(**SVDD_PARAMS).fit(X).score_samples(X_test)
    unlabelled = DeepSAD(**PARAMS).fit(X, -np.ones(len(X), dtype=int))
    assert_allclose(unlabelled.score_samples(X_test), plain, rtol=1e-6)
    assert_allclose(DeepSAD(**PARAMS).fit(X).score_samples(X_test), plain, rtol=1e-6)


# ---------------------------------------------------------- loss and centre


def test_the_loss_pulls_unlabelled_and_normal_samples_and_pushes_anomalies():
    detector = DeepSAD(hidden_units=(4, 2), eta=3.0, epochs=1, random_state=0)
    detector.fit(np.random.RandomState(0).normal(size=(20, 3)))
    network = detector.model_
    x = np.random.RandomState(1).normal(size=(3, 3)).astype("float32")
    outputs = network(x)
    distances = np.asarray(network.squared_distances(outputs))
    loss = np.asarray(network.detector_loss(x, outputs, True, ops.convert_to_tensor([-1, 0, 1])))
    assert_allclose(loss, [distances[0], 3.0 * distances[1], 3.0 / (distances[2] + 1e-6)],
                    rtol=1e-5)


def test_the_centre_is_fixed_on_samples_not_labelled_as_anomalies():
    rng = np.random.RandomState(0)
    X = np.r_[rng.normal(size=(40, 3)), rng.normal(50.0, 1.0, size=(5, 3))]
    y = np.r_[-np.ones(40), np.ones(5)].astype(int)
    seen = {}

    class Recording(DeepSAD):
        def _init_network(self, network, X, y):
            super()._init_network(network, X, y)
            seen["outputs"] = np.asarray(network(X[y != 1].astype("float32"))).mean(axis=0)

    detector = Recording(hidden_units=(4, 2), epochs=1, validation_fraction=0.0,
                         random_state=0).fit(X, y)
    expected = np.where(np.abs(seen["outputs"]) < 0.1, np.sign(seen["outputs"]) * 0.1,
                        seen["outputs"])
    assert_allclose(detector.center_, expected, rtol=1e-5)
    assert not any(layer.use_bias for layer in detector.model_.embedding.layers)


# ------------------------------------------------------------- persistence


def test_pickle_round_trip_and_reproducibility(semi_supervised):
    X, y, X_test, _ = semi_supervised
    params = dict(PARAMS, epochs=3)
    detector = DeepSAD(**params).fit(X, y)
    restored = pickle.loads(pickle.dumps(detector))
    assert_array_equal(restored.score_samples(X_test), detector.score_samples(X_test))
    assert_array_equal(DeepSAD(**params).fit(X, y).score_samples(X_test),
                       detector.score_samples(X_test))


# ------------------------------------------------------------------ errors


@pytest.mark.parametrize(
    "y, match",
    [
        (np.r_[np.zeros(29), 2], "y also holds 2"),
        (np.zeros(29), "y has 29 labels but X has 30 samples"),
        (np.ones(30), "every training sample is labelled 1"),
    ],
)
def test_unusable_labels_get_a_clear_error(y, match):
    X = np.random.RandomState(0).normal(size=(30, 3))
    with pytest.raises(ValueError, match=match):
        DeepSAD(hidden_units=(4, 2), epochs=1, validation_fraction=0.0).fit(X, y)


@pytest.mark.parametrize(
    "params, match",
    [
        ({"eta": 0.0}, "'eta' parameter of DeepSAD must be a float in the range \\(0.0, inf\\)"),
        ({"hidden_units": ()}, "hidden_units"),
        ({"eps": -1.0}, "'eps' parameter"),
    ],
)
def test_bad_parameters_get_a_clear_error(params, match):
    X = np.random.RandomState(0).normal(size=(30, 3))
    with pytest.raises(ValueError, match=match):
        DeepSAD(epochs=1, **params).fit(X)
