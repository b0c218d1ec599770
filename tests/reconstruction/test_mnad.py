"""MNAD: memory read and update, compactness and separateness losses, the
calibrated map, learning. Input, scaling, aggregation and persistence are
tested for every image detector in tests/engine/test_images.py."""

import json
import subprocess
import sys
import textwrap

import numpy as np
import pytest
from numpy.testing import assert_allclose, assert_array_equal
from sklearn.metrics import roc_auc_score

from skanomaly import MNAD
from skanomaly.engine import keras
from skanomaly.datasets import make_defect_textures
from skanomaly.metrics import pixel_roc_auc_score
from skanomaly.reconstruction._mnad import MNADNetwork

TINY = dict(filters=(4, 8), n_memory=4, epochs=2, validation_fraction=0.0, random_state=0)


def numpy(x):
    return keras.ops.convert_to_numpy(x)


def unit(x):
    return x / np.linalg.norm(x, axis=-1, keepdims=True)


@pytest.fixture(scope="module")
def X():
    return np.random.RandomState(0).uniform(size=(16, 8, 8))


@pytest.fixture(scope="module")
def fitted(X):
    return MNAD(**TINY).fit(X)


def small_network(n_memory=3, dim=4):
    network = MNADNetwork(
        (8, 8, 1), (dim,), kernel_size=3, activation="relu", n_memory=n_memory,
        compactness_weight=0.1, separateness_weight=0.1, margin=1.0,
        reconstruction_weight=0.6,
    )
    network(np.zeros((1, 8, 8, 1), dtype="float32"))
    return network


def test_memory_update_follows_the_paper():
    network = small_network()
    items = numpy(network.items).astype(np.float64)
    queries = unit(np.random.RandomState(0).normal(size=(2, 3, 1, 4))).astype(np.float32)
    network.update_memory(queries)

    flat = queries.reshape(-1, 4).astype(np.float64)
    similarity = flat @ items.T
    nearest = similarity.argmax(axis=1)
    # Matching probabilities over the queries, for each item...
    v = np.exp(similarity) / np.exp(similarity).sum(axis=0, keepdims=True)
    expected = items.copy()
    for m in range(3):
        chosen = nearest == m
        if chosen.any():
            # ... of the queries that chose it, divided by their largest.
            weights = v[chosen, m] / v[chosen, m].max()
            expected[m] = items[m] + weights @ flat[chosen]
    assert_allclose(numpy(network.items), unit(expected), rtol=1e-5, atol=1e-6)


def test_losses(X):
    network = small_network()
    x = np.zeros((2, 8, 8, 1), dtype="float32")
    reconstruction = np.full_like(x, 0.5)  # squared error 0.25 everywhere
    queries = np.zeros((2, 4, 4, 4), dtype="float32")
    similarities = np.zeros((2, 4, 4, 3), dtype="float32")
    similarities[0, ..., :2] = [1.0, 0.2]  # nearest item on the query
    similarities[1, ..., :2] = [0.5, 0.5]  # two items as near
    loss = numpy(network.detector_loss(x, (reconstruction, queries, similarities), True))
    # compactness 2 - 2 s1, separateness max(0, 2 (s2 - s1) + margin)
    assert_allclose(loss, [0.25 + 0.1 * 0.0 + 0.1 * 0.0, 0.25 + 0.1 * 1.0 + 0.1 * 1.0], rtol=1e-6)


class RecordItems(keras.callbacks.Callback):
    def on_train_begin(self, logs=None):
        self.initial = self.model.items.numpy().copy()


def test_memory_is_updated_in_training_only(X):
    record = RecordItems()
    detector = MNAD(**TINY, callbacks=[record]).fit(X)
    items = detector.model_.items.numpy()
    assert not detector.model_.items.trainable
    # Training moved the items, and kept them of unit length.
    assert not np.allclose(items, record.initial)
    assert_allclose(np.linalg.norm(items, axis=1), 1.0, rtol=1e-6)
    assert_allclose(np.linalg.norm(record.initial, axis=1), 1.0, rtol=1e-6)
    # Scoring reads the memory and changes nothing.
    detector.score_samples(X)
    detector.anomaly_map(X)
    assert_array_equal(detector.model_.items.numpy(), items)
    assert_array_equal(detector._scoring_network.items.numpy(), items.astype(np.float64))


def test_the_map_is_calibrated_on_the_training_images(X, fitted):
    # Both terms are divided by their mean over the training images, so the
    # map averages 1 over them.
    assert fitted.anomaly_map(X).mean() == pytest.approx(1.0, rel=1e-5)
    assert fitted.model_.error_scale.numpy() == fitted._scoring_network.error_scale.numpy()
    # With all the weight on the reconstruction, the map is the squared
    # error divided by its training mean.
    only_error = MNAD(**TINY, reconstruction_weight=1.0).fit(X)
    error = ((X - only_error.reconstruct(X)) / only_error.scaling_scale_) ** 2
    assert_allclose(only_error.anomaly_map(X), error / error.mean(), rtol=1e-5)


@pytest.mark.parametrize(
    "params, match",
    [
        ({"n_memory": 1}, "n_memory"),
        ({"compactness_weight": -1.0}, "compactness_weight"),
        ({"separateness_weight": -1.0}, "separateness_weight"),
        ({"margin": -0.5}, "margin"),
        ({"reconstruction_weight": 1.5}, "reconstruction_weight"),
    ],
)
def test_bad_parameters(X, params, match):
    with pytest.raises(ValueError, match=match):
        MNAD(**{**TINY, **params}).fit(X)


def test_learns_planted_defects():
    train = make_defect_textures(100, 0, image_size=32, texture="brick", random_state=0)
    test = make_defect_textures(30, 30, image_size=32, texture="brick", random_state=1)
    detector = MNAD(
        map_aggregation="topk_mean", epochs=10, batch_size=32,
        validation_fraction=0.0, random_state=0,
    ).fit(train.images)
    # Measured 0.97 (image) and 0.97 (pixel).
    assert roc_auc_score(test.y, -detector.score_samples(test.images)) > 0.9
    defective = test.y == 1
    maps = detector.anomaly_map(test.images[defective])
    assert pixel_roc_auc_score(test.masks[defective], maps) > 0.9


MIRRORED = textwrap.dedent(
    """
    import json, sys
    import numpy as np
    import tensorflow as tf

    # Two logical CPUs stand for two GPUs (before TensorFlow's runtime starts).
    (cpu,) = tf.config.list_physical_devices("CPU")
    tf.config.set_logical_device_configuration(
        cpu, [tf.config.LogicalDeviceConfiguration()] * 2
    )
    from skanomaly import MNAD

    strategy = tf.distribute.MirroredStrategy(["/cpu:0", "/cpu:1"])
    rng = np.random.RandomState(0)
    X = np.tile(np.linspace(0, 1, 8), (64, 8, 1)) + rng.normal(scale=0.05, size=(64, 8, 8))
    params = dict(n_memory=4, epochs=3, batch_size=16, validation_fraction=0.0,
                  random_state=0)
    one = MNAD(**params).fit(X)
    two = MNAD(**params, distribute=strategy).fit(X)
    json.dump({
        "copies": [np.asarray(c).tolist() for c in two.model_.items.value.values],
        "one": np.asarray(one.model_.items).tolist(),
        "one_scores": one.score_samples(X).tolist(),
        "two_scores": two.score_samples(X).tolist(),
    }, sys.stdout)
    """
)


def test_memory_copies_stay_equal_under_a_distribute_strategy():
    # Each replica sees half of each batch; the memory update combines the
    # halves, so both copies of the memory make the whole batch's update.
    # Measured: the copies equal, 9e-8 from one device's memory, scores
    # 1e-6 relative apart. Before (each replica updating its own copy from
    # its half): copies 0.011 apart after 3 epochs, 0.007 from one device's.
    out = subprocess.run(
        [sys.executable, "-c", MIRRORED], check=True, capture_output=True, text=True
    ).stdout
    result = json.loads(out)
    first, second = (np.array(copy) for copy in result["copies"])
    assert_array_equal(first, second)
    assert_allclose(first, result["one"], atol=1e-5)
    assert_allclose(result["two_scores"], result["one_scores"], rtol=1e-4)
