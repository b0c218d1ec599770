"""PrototypicalDetector: episodes drawn from tasks, the prototypical loss,
learning across tasks, adapting to a new task without training, groups
through metadata routing, persistence and errors."""

import pickle

import numpy as np
import pytest
import sklearn
from numpy.testing import assert_allclose, assert_array_equal
from sklearn.ensemble import IsolationForest
from sklearn.exceptions import NotFittedError
from sklearn.metrics import roc_auc_score
from sklearn.model_selection import GridSearchCV, cross_validate
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler
from sklearn.utils._param_validation import InvalidParameterError
from sklearn.utils.estimator_checks import parametrize_with_checks

from skanomaly import PrototypicalDetector
from skanomaly.engine import keras
from skanomaly.engine._training import episode_dataset
from skanomaly.metrics import anomaly_roc_auc_scorer
from skanomaly.model_selection import NewTaskSplit
from tests.supervised.tasks import planted_tasks, small_tasks
from tests.test_common import THIRD_LABEL_CHECKS, THIRD_LABEL_REASON

ops = keras.ops

TINY = dict(hidden_units=(8,), epochs=3, n_support_anomalies=2, n_support_normals=5,
            random_state=0)

# --------------------------------------------------------- estimator checks

# PrototypicalDetector learns from labels: these checks give it a y of three
# or more classes (0, 1, 2, ...), and it refuses the 2 with a clear error.
# These fit without y; the detector cannot learn without labelled anomalies.
_NO_LABELS = "the check fits without y; PrototypicalDetector needs labelled anomalies"
EXPECTED_FAILURES = {
    **{name: THIRD_LABEL_REASON for name in THIRD_LABEL_CHECKS},
    "check_outliers_fit_predict": _NO_LABELS,
    "check_outliers_train": _NO_LABELS,
}


# The checks fit without groups: all their samples are one task. Small
# support sets, so that their small data sets hold enough of each class.
@parametrize_with_checks(
    [PrototypicalDetector(hidden_units=(4,), epochs=2, n_support_anomalies=1,
                          n_support_normals=2, batch_size=4, random_state=0)],
    expected_failed_checks=lambda estimator: EXPECTED_FAILURES,
    xfail_strict=True,
)
def test_sklearn_estimator_checks(estimator, check):
    check(estimator)


def test_the_checks_fail_for_those_reasons_only(small):
    X, y, _ = small
    third = np.where(np.arange(len(X)) % 7 == 0, 2, y)
    with pytest.raises(ValueError, match="PrototypicalDetector takes the labels .* also holds 2"):
        PrototypicalDetector(**TINY).fit(X, third)
    with pytest.raises(ValueError, match="PrototypicalDetector learns from labels and requires"):
        PrototypicalDetector(**TINY).fit(X)


# ------------------------------------------------------------------ data


@pytest.fixture(scope="module")
def planted():
    return planted_tasks(seed=0)


@pytest.fixture(scope="module")
def fitted(planted):
    (X, y, groups), _, _ = planted
    return PrototypicalDetector(random_state=0).fit(X, y, groups)


@pytest.fixture(scope="module")
def small():
    return small_tasks(seed=0)


def auc(detector, X, y):
    return roc_auc_score(y, -detector.score_samples(X))


# ---------------------------------------------------------------- episodes


def numbered(n_tasks=3, n_per_task=20, n_anomalies=4):
    """Rows numbered by their first feature; in each task the first
    ``n_anomalies`` are labelled anomalies, the others 0 and -1 in turn."""
    n = n_tasks * n_per_task
    x = np.stack([np.arange(n), np.zeros(n)], axis=1).astype("float32")
    within = np.arange(n) % n_per_task
    labels = np.where(within < n_anomalies, 1, np.where(within % 2, 0, -1))
    return x, labels, np.repeat(np.array(["a", "b", "c"][:n_tasks]), n_per_task)


def test_an_episode_is_one_task_its_support_and_its_query():
    x, labels, tasks = numbered()
    dataset, steps = episode_dataset(x, labels, tasks, n_support=(2, 3), n_query=(3, 4), seed=0)
    assert steps == 9  # ceil(60 / 7): as many query samples as samples
    seen_tasks = set()
    for rows, (classes, in_support) in dataset.take(30):
        rows = rows.numpy()[:, 0].astype(int)
        assert rows.shape == (12,)
        assert len(set(tasks[rows])) == 1
        seen_tasks |= set(tasks[rows])
        assert_array_equal(classes.numpy(), [1, 1, 0, 0, 0, 1, 1, 1, 0, 0, 0, 0])
        assert_array_equal(in_support.numpy(), [True] * 5 + [False] * 7)
        # Each row has its class: labelled anomalies against 0 and -1 alike.
        assert_array_equal(labels[rows] == 1, classes.numpy() == 1)
        support, query = rows[:5], rows[5:]
        assert len(set(support)) == 5  # drawn without replacement
        assert not set(query) & set(support)
    assert seen_tasks == {"a", "b", "c"}


def test_the_few_anomalies_left_recur_in_the_query_set():
    # Four anomalies a task, three in the support set: one left, drawn
    # again and again.
    x, labels, tasks = numbered()
    dataset, _ = episode_dataset(x, labels, tasks, n_support=(3, 2), n_query=(5, 5), seed=1)
    for rows, _ in dataset.take(10):
        rows = rows.numpy()[:, 0].astype(int)
        assert len(set(rows[5:10])) == 1
        assert labels[rows[5]] == 1 and rows[5] not in rows[:3]


def test_the_same_seed_gives_the_same_episodes():
    x, labels, tasks = numbered()

    def first(seed):
        dataset, _ = episode_dataset(x, labels, tasks, n_support=(2, 3), n_query=(2, 2),
                                     seed=seed)
        return [rows.numpy().tolist() for rows, _ in dataset.take(5)]

    assert first(3) == first(3)
    assert first(3) != first(4)


def test_without_tasks_the_episodes_draw_from_all_samples():
    x, labels, _ = numbered()
    dataset, _ = episode_dataset(x, labels, None, n_support=(2, 3), n_query=(2, 2), seed=0)
    rows = np.concatenate([r.numpy()[:, 0] for r, _ in dataset.take(20)]).astype(int)
    assert len(set(rows // 20)) == 3


@pytest.mark.parametrize(
    "n_support, match",
    [
        ((4, 3), "task 'a' holds 4 labelled anomalies \\(1\\); an episode takes 4 of "
         "them for its support set and needs at least one more .* lower n_anomalies"),
        ((2, 16), "task 'a' holds 16 normal or unlabelled samples \\(0 or -1\\); an "
         "episode takes 16 .* lower n_normals"),
    ],
)
def test_a_task_too_small_for_an_episode_is_refused(n_support, match):
    x, labels, tasks = numbered()
    with pytest.raises(ValueError, match=match):
        episode_dataset(x, labels, tasks, n_support=n_support, n_query=(2, 2), seed=0,
                        support_names=("n_anomalies", "n_normals"))
    with pytest.raises(ValueError, match="the training data holds 12 labelled anomalies"):
        episode_dataset(x, labels, None, n_support=(12, 3), n_query=(2, 2), seed=0)
    with pytest.raises(ValueError, match="query set needs at least one anomaly and one "
                       "normal sample; got 0 and 2"):
        episode_dataset(x, labels, tasks, n_support=(1, 1), n_query=(0, 2), seed=0)


# ------------------------------------------------------------- the network


def test_the_loss_is_the_papers_on_the_query_set():
    network = PrototypicalDetector(hidden_units=(3,))._build_network((2,))
    network(np.zeros((1, 2), "float32"))
    # An identity embedding with a zero third coordinate.
    network.embedding.layers[0].set_weights(
        [np.array([[1.0, 0, 0], [0, 1.0, 0]], "float32"), np.zeros(3, "float32")]
    )
    x = np.array([[2.0, 0], [4, 0], [0, 0], [0, 2],   # support: 2 anomalies, 2 normals
                  [3, 0], [1, 1]], "float32")           # query: an anomaly, a normal
    labels = np.array([1, 1, 0, 0, 1, 0])
    in_support = np.array([True] * 4 + [False] * 2)
    loss = float(network.episode_loss(x, labels, in_support))
    anomaly, normal = np.array([3.0, 0]), np.array([0.0, 1])
    logits = np.array([[-np.sum((q - normal) ** 2), -np.sum((q - anomaly) ** 2)]
                       for q in x[4:]])
    log_p = logits - np.log(np.exp(logits).sum(axis=1, keepdims=True))
    assert loss == pytest.approx(-(log_p[0, 1] + log_p[1, 0]) / 2, rel=1e-5)


def test_the_score_is_the_log_odds_of_normal_and_auto_puts_the_threshold_at_0(fitted, planted):
    _, _, (X_test, _) = planted
    scaled = (X_test - fitted.scaling_center_) / fitted.scaling_scale_
    embedded = ops.convert_to_numpy(fitted.model_(scaled.astype("float32"))).astype(float)
    to_anomaly = ((embedded - fitted.anomaly_prototype_) ** 2).sum(axis=1)
    to_normal = ((embedded - fitted.normal_prototype_) ** 2).sum(axis=1)
    scores = fitted.score_samples(X_test)
    assert_allclose(scores, to_anomaly - to_normal, rtol=1e-4, atol=1e-3)
    assert fitted.offset_ == 0.0
    assert_array_equal(fitted.predict(X_test), np.where(to_anomaly < to_normal, -1, 1))


def test_the_prototypes_after_fit_are_the_pooled_mean_embeddings(fitted, planted):
    (X, y, _), _, _ = planted
    scaled = (X - fitted.scaling_center_) / fitted.scaling_scale_
    embedded = ops.convert_to_numpy(fitted.model_(scaled.astype("float32"))).astype(float)
    assert_allclose(fitted.normal_prototype_, embedded[y != 1].mean(axis=0), rtol=1e-5,
                    atol=1e-5)
    assert_allclose(fitted.anomaly_prototype_, embedded[y == 1].mean(axis=0), rtol=1e-5,
                    atol=1e-5)
    assert fitted.n_tasks_ == 7
    assert fitted.n_epochs_ == 100 and len(fitted.history_["loss"]) == 100


# ---------------------------------------------------------------- learning


def test_learns_across_tasks_and_a_new_task_from_five_labelled_anomalies(fitted, planted):
    # Seven tasks at different locations, each with its own kind of anomaly
    # (+ or - one of 4 signal features, 12 nuisance features); a new task
    # with another kind, whose anomalies move towards the other tasks'
    # data. Measured with seeds 0, 1, 2 of planted_tasks:
    # adapted to the new task's 5 labelled anomalies and 20 normal samples
    #                                            0.959, 0.913, 0.915;
    # the pooled prototypes of the training tasks 0.060, 0.115, 0.137;
    # the same adapted, with the untrained embedding 0.747, 0.688, 0.671;
    # nearest of the two support means, standardised input 0.899, 0.707, 0.608;
    # distance from the training mean                  0.452, 0.460, 0.383;
    # IsolationForest on the training data              0.418, 0.448, 0.295.
    (X, y, groups), (X_support, y_support), (X_test, y_test) = planted
    mean, scale = X.mean(axis=0), X.std(axis=0)
    distance = roc_auc_score(y_test, (((X_test - mean) / scale) ** 2).sum(axis=1))
    forest = IsolationForest(random_state=0).fit(X)
    isolation = roc_auc_score(y_test, -forest.score_samples(X_test))
    support, test = (X_support - mean) / scale, (X_test - mean) / scale
    normal, anomaly = support[y_support == 0].mean(axis=0), support[y_support == 1].mean(axis=0)
    centroids = roc_auc_score(
        y_test, ((test - normal) ** 2).sum(axis=1) - ((test - anomaly) ** 2).sum(axis=1)
    )
    pooled = auc(fitted, X_test, y_test)
    adapted_detector = pickle.loads(pickle.dumps(fitted)).adapt(X_support, y_support)
    adapted = auc(adapted_detector, X_test, y_test)
    untrained = PrototypicalDetector(epochs=1, learning_rate=1e-9, random_state=0)
    untrained = auc(untrained.fit(X, y, groups).adapt(X_support, y_support), X_test, y_test)

    assert max(distance, isolation) < 0.55
    assert pooled < 0.3
    assert adapted > 0.9
    assert adapted > untrained + 0.15
    assert adapted > centroids


def test_adapt_leaves_the_embedding_and_the_fit_as_they_were(fitted, planted):
    _, (X_support, y_support), (X_test, _) = planted
    detector = pickle.loads(pickle.dumps(fitted))
    weights = [w.copy() for w in detector.model_.get_weights()]
    state = {k: detector.__dict__[k] for k in ("offset_", "n_epochs_", "history_")}
    detector.adapt(X_support, y_support)
    for before, after in zip(weights, detector.model_.get_weights()):
        assert_array_equal(before, after)
    assert {k: detector.__dict__[k] for k in state} == state
    # The new prototypes: the support set's mean embeddings.
    scaled = (X_support - detector.scaling_center_) / detector.scaling_scale_
    embedded = ops.convert_to_numpy(detector.model_(scaled.astype("float32"))).astype(float)
    assert_allclose(detector.anomaly_prototype_, embedded[y_support == 1].mean(axis=0),
                    rtol=1e-5, atol=1e-5)
    assert_allclose(detector.normal_prototype_, embedded[y_support == 0].mean(axis=0),
                    rtol=1e-5, atol=1e-5)
    assert not np.allclose(detector.score_samples(X_test), fitted.score_samples(X_test))
    # Unlabelled samples in the support set are taken as normal.
    unlabelled = pickle.loads(pickle.dumps(fitted)).adapt(
        X_support, np.where(y_support == 1, 1, -1)
    )
    assert_array_equal(unlabelled.score_samples(X_test), detector.score_samples(X_test))


def test_a_pickle_keeps_the_adapted_prototypes(fitted, planted):
    _, (X_support, y_support), (X_test, _) = planted
    adapted = pickle.loads(pickle.dumps(fitted)).adapt(X_support, y_support)
    restored = pickle.loads(pickle.dumps(adapted))
    assert_array_equal(restored.anomaly_prototype_, adapted.anomaly_prototype_)
    assert_array_equal(restored.score_samples(X_test), adapted.score_samples(X_test))


def test_without_groups_all_the_samples_are_one_task(small):
    X, y, groups = small
    # Every task of `small` holds 3 labelled anomalies: too few for a
    # support set of 3 taken per task, enough once the tasks are pooled.
    params = {**TINY, "n_support_anomalies": 3}
    with pytest.raises(ValueError, match="task 0 holds 3 labelled anomalies"):
        PrototypicalDetector(**params).fit(X, y, groups)
    detector = PrototypicalDetector(**params).fit(X, y)
    assert detector.n_tasks_ == 1


def test_same_random_state_same_scores(small):
    X, y, groups = small
    first = PrototypicalDetector(**TINY).fit(X, y, groups).score_samples(X)
    assert_array_equal(PrototypicalDetector(**TINY).fit(X, y, groups).score_samples(X), first)
    other = PrototypicalDetector(**{**TINY, "random_state": 1}).fit(X, y, groups)
    assert not np.allclose(other.score_samples(X), first)


def test_warm_start_continues_with_the_tasks(small):
    X, y, groups = small
    detector = PrototypicalDetector(**TINY, warm_start=True).fit(X, y, groups)
    iterations = int(detector.model_.optimizers["embedding"].iterations.numpy())
    detector.fit(X, y, groups)
    assert detector.n_epochs_ == 6
    assert int(detector.model_.optimizers["embedding"].iterations.numpy()) == 2 * iterations


# ------------------------------------------------- groups through sklearn


@pytest.fixture(scope="module")
def labelled_tasks(planted):
    """Four of the training tasks, their normal samples labelled 0."""
    (X, y, groups), _, _ = planted
    keep = groups < 4
    return X[keep], np.where(y[keep] == 1, 1, 0), groups[keep]


def test_groups_reach_the_detector_in_a_pipeline_through_metadata_routing(labelled_tasks):
    X, y, groups = labelled_tasks
    with sklearn.config_context(enable_metadata_routing=True):
        pipeline = make_pipeline(
            StandardScaler(), PrototypicalDetector(**TINY).set_fit_request(groups=True)
        )
        pipeline.fit(X, y, groups=groups)
        assert pipeline[-1].n_tasks_ == 4
        # Requested but not given: one task.
        assert pipeline.fit(X, y)[-1].n_tasks_ == 1
        results = cross_validate(
            pipeline, X, y, cv=NewTaskSplit(n_splits=2, random_state=0),
            scoring=anomaly_roc_auc_scorer, params={"groups": groups}, return_estimator=True,
        )
        assert [p[-1].n_tasks_ for p in results["estimator"]] == [2, 2]
    # Without routing, the pipeline's own way to pass a fit parameter.
    pipeline = make_pipeline(StandardScaler(), PrototypicalDetector(**TINY))
    assert pipeline.fit(X, y, prototypicaldetector__groups=groups)[-1].n_tasks_ == 4


def test_a_grid_search_over_new_tasks_with_routing(labelled_tasks):
    X, y, groups = labelled_tasks

    def search(detector):
        return GridSearchCV(
            make_pipeline(StandardScaler(), detector),
            {"prototypicaldetector__n_support_normals": [3, 5]},
            cv=NewTaskSplit(n_splits=2, random_state=0), scoring=anomaly_roc_auc_scorer,
        )

    with sklearn.config_context(enable_metadata_routing=True):
        routed = search(PrototypicalDetector(**TINY).set_fit_request(groups=True))
        routed.fit(X, y, groups=groups)
    assert set(routed.cv_results_["param_prototypicaldetector__n_support_normals"]) == {3, 5}
    assert routed.best_estimator_[-1].n_tasks_ == 4
    assert np.isfinite(routed.cv_results_["mean_test_score"]).all()
    # Without routing, GridSearchCV gives groups to the splitter only: the
    # detector trains on all its samples as one task (documented).
    plain = search(PrototypicalDetector(**TINY)).fit(X, y, groups=groups)
    assert plain.best_estimator_[-1].n_tasks_ == 1


# ------------------------------------------------------------------ errors


@pytest.mark.parametrize(
    "groups, match",
    [
        ("short", "groups has 3 entries but X has 90 samples"),
        ("2-d", "groups must be one task a sample, a 1-D array"),
        ("one task", "groups names one task only \\(0\\); give at least two"),
        ("nan", "groups holds NaN"),
        ("mixed", "groups must hold task identifiers of one kind"),
    ],
)
def test_bad_groups_are_refused(small, groups, match):
    X, y, good = small
    groups = {
        "short": [0, 1, 2],
        "2-d": np.stack([good, good], axis=1),
        "one task": np.zeros(len(X), dtype=int),
        "nan": np.where(np.arange(len(X)) == 5, np.nan, good.astype(float)),
        "mixed": np.array([0 if i % 2 else "a" for i in range(len(X))], dtype=object),
    }[groups]
    with pytest.raises(ValueError, match=match):
        PrototypicalDetector(**TINY).fit(X, y, groups)


@pytest.mark.parametrize(
    "change, match",
    [
        ({"n_support_anomalies": 3}, "task 0 holds 3 labelled anomalies \\(1\\); an episode "
         "takes 3 of them .* lower n_support_anomalies"),
        ({"n_support_normals": 27}, "task 0 holds 27 normal or unlabelled samples .* lower "
         "n_support_normals"),
        ({"batch_size": 1}, "batch_size is the size of an episode's query set, .* at least 2"),
    ],
)
def test_episodes_the_tasks_cannot_fill_are_refused(small, change, match):
    X, y, groups = small
    with pytest.raises(ValueError, match=match):
        PrototypicalDetector(**{**TINY, **change}).fit(X, y, groups)


def test_no_labels_and_distribute_are_refused(small):
    import tensorflow as tf

    X, y, groups = small
    with pytest.raises(ValueError, match="needs at least one labelled anomaly"):
        PrototypicalDetector(**TINY).fit(X, np.where(y == 1, 0, y), groups)
    strategy = tf.distribute.OneDeviceStrategy("/cpu:0")
    with pytest.raises(ValueError, match="support and query sets must stay on one device"):
        PrototypicalDetector(**TINY, distribute=strategy).fit(X, y, groups)


def test_adapt_refuses_bad_support_sets(small):
    X, y, groups = small
    with pytest.raises(NotFittedError):
        PrototypicalDetector(**TINY).adapt(X, y)
    detector = PrototypicalDetector(**TINY).fit(X, y, groups)
    with pytest.raises(ValueError, match="PrototypicalDetector.adapt needs at least one "
                       "labelled anomaly"):
        detector.adapt(X, np.zeros(len(X), dtype=int))
    with pytest.raises(ValueError, match="adapt needs normal samples .* every label is 1"):
        detector.adapt(X[:3], [1, 1, 1])
    with pytest.raises(ValueError, match="X has 3 features, but PrototypicalDetector is "
                       "expecting 16"):
        detector.adapt(X[:, :3], y)
    with pytest.raises(ValueError, match="y has 2 labels but X has"):
        detector.adapt(X, [0, 1])


@pytest.mark.parametrize(
    "params, error, match",
    [
        ({"hidden_units": ()}, ValueError, "hidden_units must be a non-empty sequence"),
        ({"n_support_anomalies": 0}, InvalidParameterError, "'n_support_anomalies' parameter"),
        ({"n_support_normals": 1.5}, InvalidParameterError, "'n_support_normals' parameter"),
    ],
)
def test_bad_parameters_are_refused(small, params, error, match):
    X, y, groups = small
    with pytest.raises(error, match=match):
        PrototypicalDetector(**{**TINY, **params}).fit(X, y, groups)
