"""MemAE: hard shrinkage, memory addressing, entropy loss, learning. Input,
scaling, aggregation and persistence are tested for every image detector
in tests/engine/test_images.py."""

import numpy as np
import pytest
from numpy.testing import assert_allclose
from sklearn.metrics import roc_auc_score

from skanomaly import MemAE
from skanomaly.engine import keras
from skanomaly.datasets import make_defect_textures
from skanomaly.metrics import pixel_roc_auc_score
from skanomaly.reconstruction._memae import MemoryModule, addressing_entropy, hard_shrink

TINY = dict(filters=(4, 8), n_memory=6, epochs=2, validation_fraction=0.0, random_state=0)


def numpy(x):
    return keras.ops.convert_to_numpy(x)


@pytest.fixture(scope="module")
def X():
    return np.random.RandomState(0).uniform(size=(16, 8, 8))


def test_hard_shrink_zeroes_small_weights_and_renormalises():
    w = np.array([[0.05, 0.15, 0.3, 0.5], [0.25, 0.25, 0.25, 0.25]])
    shrunk = numpy(hard_shrink(w, 0.2))
    kept = np.where(w > 0.2, np.maximum(w - 0.2, 0) * w / (np.abs(w - 0.2) + 1e-12), 0.0)
    assert_allclose(shrunk[0], kept[0] / kept[0].sum(), rtol=1e-9)
    assert_allclose(shrunk[0], [0.0, 0.0, 0.375, 0.625], rtol=1e-9)
    assert_allclose(shrunk.sum(axis=-1), 1.0)
    # At or below the threshold everywhere: nothing is kept, nothing divides by 0.
    assert_allclose(numpy(hard_shrink(w[1:], 0.25)), 0.0)


def test_memory_addressing_is_a_softmax_of_dot_products():
    memory = MemoryModule(5, 3, 0.0)
    rng = np.random.RandomState(0)
    queries = rng.normal(size=(2, 4, 4, 3))
    read, weights = (numpy(t) for t in memory(queries))
    items = numpy(memory.items)
    similarity = queries @ items.T
    expected = np.exp(similarity) / np.exp(similarity).sum(axis=-1, keepdims=True)
    assert_allclose(weights, expected, rtol=1e-5)
    # float32 sums of five products: an absolute bound for reads near zero.
    assert_allclose(read, weights @ items, rtol=1e-5, atol=1e-6)
    # Unlike a cosine similarity, a longer query addresses more sharply.
    _, longer = memory(queries * 10.0)
    assert (numpy(longer).max(axis=-1) > weights.max(axis=-1)).all()


def test_shrink_threshold_auto_is_one_over_n_memory(X):
    detector = MemAE(**TINY).fit(X)
    assert detector.model_.memory.shrink_threshold == pytest.approx(1 / 6)
    assert detector.model_.memory.items.shape == (6, 8)
    assert detector.model_.memory.items.trainable
    explicit = MemAE(**{**TINY, "shrink_threshold": 0.0}).fit(X)
    assert explicit.model_.memory.shrink_threshold == 0.0


def _addressing_weights(detector, X):
    network = detector.model_
    queries = network.pad(
        ((X[..., None] - detector.scaling_center_) / detector.scaling_scale_).astype("float32")
    )
    for layer in network.encoder:
        queries = layer(queries)
    return numpy(network.memory(queries)[1])


def test_shrinkage_zeroes_weights_below_the_threshold(X):
    weights = _addressing_weights(MemAE(**TINY).fit(X), X)
    assert_allclose(weights.sum(axis=-1), 1.0, rtol=1e-6)
    # Weights at or below 1 / n_memory before shrinking are zero after it.
    assert ((weights == 0) | (weights > 1 / 6)).all()


@pytest.mark.parametrize("seed", [0, 1])
def test_trained_addressing_reads_a_few_items(seed):
    # The paper's point: each location of the code is made of a few memory
    # items, so that the decoder cannot rebuild what it never saw. Trained
    # on the 178 zeros of scikit-learn's digits, 100 items: each location
    # reads 8% and 17% of them (seeds 0 and 1), its largest weight about
    # 0.5. A cosine addressing read 39% of them, none with a weight above
    # 0.05: a softmax over values in [-1, 1] cannot single any item out.
    from sklearn.datasets import load_digits

    X, y = load_digits(return_X_y=True)
    zeros = X[y == 0].reshape(-1, 8, 8) / 16.0
    detector = MemAE(epochs=100, validation_fraction=0.0, random_state=seed).fit(zeros)
    weights = _addressing_weights(detector, zeros)
    assert (weights > 0).mean() < 0.25
    assert weights.max(axis=-1).mean() > 0.3


def test_entropy_weight_adds_the_addressing_entropy_to_the_loss(X):
    plain = MemAE(**{**TINY, "entropy_weight": 0.0}).fit(X)
    heavy = MemAE(**{**TINY, "entropy_weight": 10.0}).fit(X)
    assert heavy.history_["loss"][0] > plain.history_["loss"][0] + 1.0
    w = np.array([[0.5, 0.5, 0.0], [1.0, 0.0, 0.0]])
    assert_allclose(numpy(addressing_entropy(w)), [np.log(2), 0.0], atol=1e-9)


def test_memory_items_are_learned(X):
    untrained = MemAE(**{**TINY, "epochs": 1, "learning_rate": 1e-12}).fit(X)
    trained = MemAE(**TINY, learning_rate=0.01).fit(X)
    assert not np.allclose(
        untrained.model_.memory.items.numpy(), trained.model_.memory.items.numpy()
    )


@pytest.mark.parametrize(
    "params, match",
    [
        ({"n_memory": 0}, "n_memory"),
        ({"shrink_threshold": 1.0}, "shrink_threshold"),
        ({"shrink_threshold": "high"}, "shrink_threshold"),
        ({"entropy_weight": -1.0}, "entropy_weight"),
    ],
)
def test_bad_parameters(X, params, match):
    with pytest.raises(ValueError, match=match):
        MemAE(**{**TINY, **params}).fit(X)


def test_learns_planted_defects():
    train = make_defect_textures(100, 0, image_size=32, texture="brick", random_state=0)
    test = make_defect_textures(30, 30, image_size=32, texture="brick", random_state=1)
    detector = MemAE(
        map_aggregation="topk_mean", epochs=10, batch_size=32,
        validation_fraction=0.0, random_state=0,
    ).fit(train.images)
    # Measured 0.99 (image) and 0.98 (pixel).
    assert roc_auc_score(test.y, -detector.score_samples(test.images)) > 0.95
    defective = test.y == 1
    maps = detector.anomaly_map(test.images[defective])
    assert pixel_roc_auc_score(test.masks[defective], maps) > 0.95
