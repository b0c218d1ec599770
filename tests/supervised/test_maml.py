"""MAMLDetector: the inner steps, second- and first-order meta-gradients,
learning across tasks, adapting to a new task by gradient steps, groups
through metadata routing, persistence and errors."""

import pickle

import numpy as np
import pytest
import sklearn
import tensorflow as tf
from numpy.testing import assert_allclose, assert_array_equal
from sklearn.exceptions import NotFittedError
from sklearn.metrics import roc_auc_score
from sklearn.model_selection import GridSearchCV
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler
from sklearn.utils._param_validation import InvalidParameterError
from sklearn.utils.estimator_checks import parametrize_with_checks

from skanomaly import MAMLDetector
from skanomaly.engine import keras
from skanomaly.metrics import anomaly_roc_auc_scorer
from skanomaly.model_selection import NewTaskSplit, score_new_tasks
from tests.supervised.tasks import alike_tasks, planted_tasks, small_tasks
from tests.test_common import THIRD_LABEL_CHECKS, THIRD_LABEL_REASON

ops = keras.ops

TINY = dict(hidden_units=(8,), epochs=3, inner_steps=2, n_support_anomalies=2,
            n_support_normals=5, random_state=0)

# --------------------------------------------------------- estimator checks

_NO_LABELS = "the check fits without y; MAMLDetector needs labelled anomalies"
EXPECTED_FAILURES = {
    **{name: THIRD_LABEL_REASON for name in THIRD_LABEL_CHECKS},
    "check_outliers_fit_predict": _NO_LABELS,
    "check_outliers_train": _NO_LABELS,
}


@parametrize_with_checks(
    [MAMLDetector(hidden_units=(4,), epochs=2, inner_steps=1, n_support_anomalies=1,
                  n_support_normals=2, batch_size=4, random_state=0)],
    expected_failed_checks=lambda estimator: EXPECTED_FAILURES,
    xfail_strict=True,
)
def test_sklearn_estimator_checks(estimator, check):
    check(estimator)


def test_the_checks_fail_for_those_reasons_only(small):
    X, y, _ = small
    third = np.where(np.arange(len(X)) % 7 == 0, 2, y)
    with pytest.raises(ValueError, match="MAMLDetector takes the labels .* also holds 2"):
        MAMLDetector(**TINY).fit(X, third)
    with pytest.raises(ValueError, match="MAMLDetector learns from labels and requires"):
        MAMLDetector(**TINY).fit(X)


# ------------------------------------------------------------------ data


@pytest.fixture(scope="module")
def planted():
    return planted_tasks(seed=0)


@pytest.fixture(scope="module")
def fitted(planted):
    (X, y, groups), _, _ = planted
    return MAMLDetector(random_state=0).fit(X, y, groups)


@pytest.fixture(scope="module")
def alike():
    return alike_tasks(seed=0)


@pytest.fixture(scope="module")
def small():
    return small_tasks(seed=0)


def auc(detector, X, y):
    return roc_auc_score(y, -detector.score_samples(X))


# ------------------------------------------------------------- the network


def tiny_network(first_order=False):
    """A learner of 2 inputs, 3 tanh units and one output, at fixed weights."""
    detector = MAMLDetector(hidden_units=(3,), activation="tanh", inner_steps=1,
                            first_order=first_order)
    network = detector._build_network((2,))
    network(np.zeros((1, 2), "float32"))
    rng = np.random.RandomState(0)
    network.learner.set_weights(
        [rng.normal(size=w.shape).astype("float32") for w in network.learner.get_weights()]
    )
    return network


def numpy_loss(flat, shapes, x, anomaly, members):
    """The class-balanced cross-entropy of the tiny learner, in numpy."""
    weights, start = [], 0
    for shape in shapes:
        size = int(np.prod(shape))
        weights.append(flat[start:start + size].reshape(shape))
        start += size
    kernel, bias, out_kernel, out_bias = weights
    logits = (np.tanh(x @ kernel + bias) @ out_kernel + out_bias)[:, 0]
    losses = np.logaddexp(0.0, logits) - anomaly * logits
    return 0.5 * (losses[members & anomaly].mean() + losses[members & ~anomaly].mean())


# Two support anomalies and three support normals, a query of one of each.
X_EPISODE = np.random.RandomState(1).normal(size=(7, 2))
ANOMALY = np.array([1, 1, 0, 0, 0, 1, 0], dtype=bool)
IN_SUPPORT = np.array([True] * 5 + [False] * 2)


def test_an_inner_step_is_a_gradient_step_on_the_class_balanced_loss():
    network = tiny_network()
    start = [w.astype(float) for w in network.learner.get_weights()]
    shapes = [w.shape for w in start]
    flat = np.concatenate([w.ravel() for w in start])

    def loss(values):
        return numpy_loss(values, shapes, X_EPISODE, ANOMALY, IN_SUPPORT)

    step = 1e-5
    gradient = np.array([
        (loss(flat + step * e) - loss(flat - step * e)) / (2 * step)
        for e in np.eye(flat.size)
    ])
    expected = flat - 0.03 * gradient
    adapted = network.adapted(
        network.current_weights("learner"), tf.constant(X_EPISODE, "float32"),
        tf.constant(ANOMALY, "float32"), tf.constant(IN_SUPPORT, "float32"), 1,
        second_order=False,
    )
    got = np.concatenate([ops.convert_to_numpy(w).ravel() for w in adapted])
    assert_allclose(got, expected, rtol=1e-3, atol=1e-4)
    # The variables themselves are left as they were.
    for before, after in zip(start, network.learner.get_weights()):
        assert_array_equal(before.astype("float32"), after)


def meta_gradient(network):
    labels = tf.constant(ANOMALY.astype("int32"))
    with tf.GradientTape() as tape:
        loss = network.episode_loss(tf.constant(X_EPISODE, "float32"), labels,
                                    tf.constant(IN_SUPPORT))
    variables = network.learner.trainable_variables
    return [ops.convert_to_numpy(g) for g in tape.gradient(loss, variables)]


def test_first_order_takes_the_query_gradient_at_the_adapted_weights():
    first, second = tiny_network(first_order=True), tiny_network()
    # First-order MAML: the gradient of the query loss with respect to the
    # adapted weights, applied to the starting ones.
    adapted = first.adapted(
        first.current_weights("learner"), tf.constant(X_EPISODE, "float32"),
        tf.constant(ANOMALY, "float32"), tf.constant(IN_SUPPORT, "float32"), 1,
        second_order=False,
    )
    _, at_adapted = first.gradients(
        lambda w: _query_loss(first, w), adapted, second_order=False
    )
    for got, expected in zip(meta_gradient(first), at_adapted):
        assert_allclose(got, ops.convert_to_numpy(expected), rtol=1e-5, atol=1e-6)
    # Second-order MAML differentiates through the inner step as well.
    differences = [np.abs(a - b).max() for a, b in zip(meta_gradient(second),
                                                       meta_gradient(first))]
    assert max(differences) > 1e-3


def _query_loss(network, weights):
    from skanomaly.supervised._maml import balanced_cross_entropy

    x = tf.constant(X_EPISODE, "float32")
    return balanced_cross_entropy(network.logits(weights, x), tf.constant(ANOMALY, "float32"),
                                  tf.constant(~IN_SUPPORT, "float32"))


def test_the_score_is_minus_the_logit_under_the_task_weights(fitted, planted):
    _, _, (X_test, _) = planted
    scaled = (X_test - fitted.scaling_center_) / fitted.scaling_scale_
    kernel_1, bias_1, kernel_2, bias_2, kernel_3, bias_3 = fitted.task_weights_
    hidden = np.maximum(scaled @ kernel_1 + bias_1, 0.0)
    hidden = np.maximum(hidden @ kernel_2 + bias_2, 0.0)
    logits = (hidden @ kernel_3 + bias_3)[:, 0]
    assert_allclose(fitted.score_samples(X_test), -logits, rtol=1e-4, atol=1e-4)
    assert fitted.offset_ == 0.0
    assert_array_equal(fitted.predict(X_test), np.where(logits > 0, -1, 1))
    assert fitted.n_tasks_ == 7
    assert fitted.n_epochs_ == 100 and len(fitted.history_["loss"]) == 100


def test_after_fit_the_task_weights_are_the_start_adapted_to_all_the_data(fitted, planted):
    (X, y, _), _, _ = planted
    network = fitted.model_
    scaled = (X - fitted.scaling_center_) / fitted.scaling_scale_
    anomaly = tf.constant(y == 1, "float32")
    expected = network.adapted(
        network.current_weights("learner"), tf.constant(scaled, "float32"), anomaly,
        tf.ones_like(anomaly), 5, second_order=False,
    )
    for got, want in zip(fitted.task_weights_, expected):
        assert_allclose(got, ops.convert_to_numpy(want), rtol=1e-4, atol=1e-5)


# ---------------------------------------------------------------- learning


def test_learns_across_alike_tasks_and_a_new_task_from_five_labelled_anomalies(alike):
    # Eight training tasks at different locations, all with anomalies of
    # one kind (a move up one of 4 signal features, 12 nuisance features),
    # and a new task at another location (tests/supervised/tasks.py).
    # Measured with seeds 0, 1, 2 of alike_tasks, adapted to the new task's
    # 5 labelled anomalies and 20 normal samples (5 steps of 0.03):
    # meta-trained (the defaults)                  0.698, 0.955, 0.882;
    # the same steps from the untrained network     0.558, 0.536, 0.495;
    # nearest of the two support means, standardised 0.537, 0.754, 0.680;
    # distance from the support normals' mean       0.457, 0.512, 0.569.
    (X, y, groups), (X_support, y_support), (X_test, y_test) = alike
    fitted = MAMLDetector(random_state=0).fit(X, y, groups)
    adapted = auc(pickle.loads(pickle.dumps(fitted)).adapt(X_support, y_support),
                  X_test, y_test)
    untrained = MAMLDetector(epochs=1, learning_rate=1e-9, random_state=0)
    untrained = auc(untrained.fit(X, y, groups).adapt(X_support, y_support), X_test, y_test)
    mean, scale = X.mean(axis=0), X.std(axis=0)
    support, test = (X_support - mean) / scale, (X_test - mean) / scale
    normal, anomaly = support[y_support == 0].mean(axis=0), support[y_support == 1].mean(axis=0)
    centroids = roc_auc_score(
        y_test, ((test - normal) ** 2).sum(axis=1) - ((test - anomaly) ** 2).sum(axis=1)
    )
    assert adapted > 0.65
    assert adapted > untrained + 0.1
    assert adapted > centroids + 0.1


def test_adapt_leaves_the_starting_weights_and_the_fit_as_they_were(fitted, planted):
    _, (X_support, y_support), (X_test, _) = planted
    detector = pickle.loads(pickle.dumps(fitted))
    weights = [w.copy() for w in detector.model_.get_weights()]
    state = {k: detector.__dict__[k] for k in ("offset_", "n_epochs_", "history_")}
    detector.adapt(X_support, y_support)
    for before, after in zip(weights, detector.model_.get_weights()):
        assert_array_equal(before, after)
    assert {k: detector.__dict__[k] for k in state} == state
    assert not np.allclose(detector.score_samples(X_test), fitted.score_samples(X_test))
    # Adapting twice to the same support set starts from the same weights.
    again = pickle.loads(pickle.dumps(detector)).adapt(X_support, y_support)
    assert_allclose(again.score_samples(X_test), detector.score_samples(X_test), rtol=1e-6)
    # More steps move further from the trained start.
    longer = pickle.loads(pickle.dumps(fitted)).set_params(adapt_steps=20)
    longer.adapt(X_support, y_support)
    assert not np.allclose(longer.score_samples(X_test), detector.score_samples(X_test))
    # Unlabelled samples in the support set are taken as normal.
    unlabelled = pickle.loads(pickle.dumps(fitted)).adapt(
        X_support, np.where(y_support == 1, 1, -1)
    )
    assert_array_equal(unlabelled.score_samples(X_test), detector.score_samples(X_test))


def test_a_pickle_keeps_the_adapted_weights(fitted, planted):
    _, (X_support, y_support), (X_test, _) = planted
    adapted = pickle.loads(pickle.dumps(fitted)).adapt(X_support, y_support)
    restored = pickle.loads(pickle.dumps(adapted))
    for a, b in zip(restored.task_weights_, adapted.task_weights_):
        assert_array_equal(a, b)
    assert_array_equal(restored.score_samples(X_test), adapted.score_samples(X_test))


def test_first_order_trains_too(small):
    X, y, groups = small
    detector = MAMLDetector(**TINY, first_order=True).fit(X, y, groups)
    assert np.isfinite(detector.score_samples(X)).all()
    assert detector.n_tasks_ == 3


def test_same_random_state_same_scores(small):
    X, y, groups = small
    first = MAMLDetector(**TINY).fit(X, y, groups).score_samples(X)
    assert_array_equal(MAMLDetector(**TINY).fit(X, y, groups).score_samples(X), first)
    other = MAMLDetector(**{**TINY, "random_state": 1}).fit(X, y, groups)
    assert not np.allclose(other.score_samples(X), first)


def test_warm_start_continues_with_the_tasks(small):
    X, y, groups = small
    detector = MAMLDetector(**TINY, warm_start=True).fit(X, y, groups)
    iterations = int(detector.model_.optimizers["learner"].iterations.numpy())
    detector.fit(X, y, groups)
    assert detector.n_epochs_ == 6
    assert int(detector.model_.optimizers["learner"].iterations.numpy()) == 2 * iterations


# ------------------------------------------------- groups through sklearn


def test_a_grid_search_over_new_tasks_with_routing_and_scoring_new_tasks(planted):
    (X, y, groups), _, _ = planted
    keep = groups < 4
    X, y, groups = X[keep], np.where(y[keep] == 1, 1, 0), groups[keep]
    with sklearn.config_context(enable_metadata_routing=True):
        search = GridSearchCV(
            make_pipeline(StandardScaler(), MAMLDetector(**TINY).set_fit_request(groups=True)),
            {"mamldetector__inner_learning_rate": [0.1, 0.4]},
            cv=NewTaskSplit(n_splits=2, random_state=0), scoring=anomaly_roc_auc_scorer,
        )
        search.fit(X, y, groups=groups)
    assert set(search.cv_results_["param_mamldetector__inner_learning_rate"]) == {0.1, 0.4}
    assert search.best_estimator_[-1].n_tasks_ == 4
    assert np.isfinite(search.cv_results_["mean_test_score"]).all()
    # Scored on new tasks, adapted to each from its support set.
    detector = MAMLDetector(**TINY).fit(X[groups < 3], y[groups < 3], groups[groups < 3])
    scores = score_new_tasks(detector, X[groups == 3], y[groups == 3], groups[groups == 3],
                             n_support_anomalies=2, n_support_normals=5, random_state=0)
    assert set(scores) == {3} and 0.0 <= scores[3] <= 1.0


# ------------------------------------------------------------------ errors


def test_adapt_refuses_bad_support_sets(small):
    X, y, groups = small
    with pytest.raises(NotFittedError):
        MAMLDetector(**TINY).adapt(X, y)
    detector = MAMLDetector(**TINY).fit(X, y, groups)
    with pytest.raises(ValueError, match="MAMLDetector.adapt needs at least one "
                       "labelled anomaly"):
        detector.adapt(X, np.zeros(len(X), dtype=int))
    with pytest.raises(ValueError, match="adapt needs normal samples .* every label is 1"):
        detector.adapt(X[:3], [1, 1, 1])
    with pytest.raises(ValueError, match="X has 3 features, but MAMLDetector is "
                       "expecting 16"):
        detector.adapt(X[:, :3], y)
    with pytest.raises(ValueError, match="NaN"):
        detector.adapt(np.where(X == X[0, 0], np.nan, X), y)


def test_episodes_the_tasks_cannot_fill_and_distribute_are_refused(small):
    X, y, groups = small
    with pytest.raises(ValueError, match="task 0 holds 3 labelled anomalies .* lower "
                       "n_support_anomalies"):
        MAMLDetector(**{**TINY, "n_support_anomalies": 3}).fit(X, y, groups)
    with pytest.raises(ValueError, match="batch_size is the size of an episode's query set"):
        MAMLDetector(**{**TINY, "batch_size": 1}).fit(X, y, groups)
    strategy = tf.distribute.OneDeviceStrategy("/cpu:0")
    with pytest.raises(ValueError, match="support and query sets must stay on one device"):
        MAMLDetector(**TINY, distribute=strategy).fit(X, y, groups)


@pytest.mark.parametrize(
    "params, error, match",
    [
        ({"hidden_units": ()}, ValueError, "hidden_units must be a non-empty sequence"),
        ({"inner_steps": 0}, InvalidParameterError, "'inner_steps' parameter"),
        ({"inner_learning_rate": 0.0}, InvalidParameterError,
         "'inner_learning_rate' parameter"),
        ({"first_order": "yes"}, InvalidParameterError, "'first_order' parameter"),
        ({"adapt_steps": 0}, InvalidParameterError, "'adapt_steps' parameter"),
    ],
)
def test_bad_parameters_are_refused(small, params, error, match):
    X, y, groups = small
    with pytest.raises(error, match=match):
        MAMLDetector(**{**TINY, **params}).fit(X, y, groups)
