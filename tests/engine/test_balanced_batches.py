"""Balanced batches: half labelled anomalies, half the other samples, for
detectors that learn from a few labelled anomalies (``_balanced_batches``),
while the validation batches stay plain."""

import json
import subprocess
import sys
import textwrap

import numpy as np
import pytest

from skanomaly.engine import BaseGradientDetector, DetectorNetwork, keras
from skanomaly.engine._training import balanced_dataset

ops = keras.ops


def labelled(n_other=40, n_anomalies=5):
    """Rows numbered by their first feature; the last ``n_anomalies`` are
    labelled anomalies, the others alternate between 0 and -1."""
    n = n_other + n_anomalies
    x = np.stack([np.arange(n), np.zeros(n)], axis=1).astype("float32")
    labels = np.r_[np.tile([0, -1], n_other)[:n_other], np.ones(n_anomalies)].astype("int32")
    return x, labels


def take(dataset, n_batches):
    """The first batches of a data set as ``(rows, labels)`` numpy pairs."""
    iterator = iter(dataset)
    batches = []
    for _ in range(n_batches):
        x, labels = next(iterator)
        batches.append((x.numpy()[:, 0].astype(int), labels.numpy()))
    return batches


# ---------------------------------------------------------- the data set


def test_every_batch_of_even_size_is_half_anomalies():
    x, labels = labelled()
    dataset, steps = balanced_dataset(x, labels, 8, seed=0)
    assert steps == 6  # ceil(45 / 8): the engine's epoch
    for rows, batch_labels in take(dataset, 50):
        assert rows.shape == (8,)
        # Each row comes with its own label, anomalies in every other slot.
        np.testing.assert_array_equal(batch_labels, labels[rows])
        np.testing.assert_array_equal(batch_labels[1::2], 1)
        assert (batch_labels[::2] != 1).all()


def test_batches_of_odd_size_are_half_anomalies_on_average():
    x, labels = labelled()
    dataset, _ = balanced_dataset(x, labels, 5, seed=0)
    counts = [int((batch_labels == 1).sum()) for _, batch_labels in take(dataset, 40)]
    # Turns carry over from batch to batch: 2 and 3 anomalies in turn.
    assert set(counts) == {2, 3}
    assert np.mean(counts) == 2.5


def test_each_side_cycles_through_all_its_samples():
    # The anomalies recur evenly, and every other sample is drawn once in
    # each pass over them, in a new order at every pass.
    x, labels = labelled(n_other=40, n_anomalies=5)
    dataset, _ = balanced_dataset(x, labels, 8, seed=0)
    rows = np.concatenate([r for r, _ in take(dataset, 20)])  # 80 of each side
    anomalies, others = rows[1::2], rows[::2]
    np.testing.assert_array_equal(np.bincount(anomalies - 40, minlength=5), [16] * 5)
    first, second = others[:40], others[40:80]
    np.testing.assert_array_equal(np.sort(first), np.arange(40))
    np.testing.assert_array_equal(np.sort(second), np.arange(40))
    assert not np.array_equal(first, second)


def test_the_seed_gives_the_same_batches():
    x, labels = labelled()
    first = take(balanced_dataset(x, labels, 8, seed=3)[0], 12)
    again = take(balanced_dataset(x, labels, 8, seed=3)[0], 12)
    other = take(balanced_dataset(x, labels, 8, seed=4)[0], 12)
    for (a, _), (b, _) in zip(first, again):
        np.testing.assert_array_equal(a, b)
    assert not all(np.array_equal(a, b) for (a, _), (b, _) in zip(first, other))


@pytest.mark.parametrize(
    "labels, missing",
    [([0, -1, 0, -1], "labelled anomalies \\(1\\)"), ([1, 1, 1], "other samples \\(0 or -1\\)")],
)
def test_both_sides_are_needed(labels, missing):
    labels = np.asarray(labels, dtype="int32")
    x = np.zeros((len(labels), 2), dtype="float32")
    with pytest.raises(ValueError, match=f"Owner trains on batches .* hold no {missing}"):
        balanced_dataset(x, labels, 2, seed=0, owner="Owner")


# ----------------------------------------------------- through the engine

#: Labels of every batch the recording network sees, by phase.
SEEN = {"train": [], "test": []}


class RecordingNetwork(DetectorNetwork):
    """A linear score; records the labels of every batch (it trains
    eagerly, so that its Python runs at each step)."""

    def __init__(self):
        super().__init__()
        self.dense = keras.layers.Dense(1)

    def call(self, x, training=False):
        return ops.squeeze(self.dense(x), axis=-1)

    def train_step(self, data):
        SEEN["train"].append(np.asarray(data[1]))
        return super().train_step(data)

    def test_step(self, data):
        SEEN["test"].append(np.asarray(data[1]))
        return super().test_step(data)

    def detector_loss(self, x, outputs, training, labels=None):
        return ops.where(ops.equal(labels, 1), ops.relu(1.0 - outputs), ops.abs(outputs))

    def score(self, x):
        return -self(x)


class Recording(BaseGradientDetector):
    """A detector that learns from labelled anomalies, in balanced batches."""

    _fit_labels = {1, 0, -1}
    _needs_anomaly_labels = True
    _balanced_batches = True

    def _build_network(self, sample_shape):
        return RecordingNetwork()

    def _trains_eagerly(self, X):
        return True


class Plain(Recording):
    """The same, in plain batches."""

    _balanced_batches = False


def recorded_fit(cls, X, y, **params):
    SEEN["train"].clear()
    SEEN["test"].clear()
    cls(**params).fit(X, y)
    return [b.copy() for b in SEEN["train"]], [b.copy() for b in SEEN["test"]]


@pytest.fixture
def Xy():
    rng = np.random.RandomState(0)
    X = rng.normal(size=(120, 3))
    y = np.r_[np.full(100, -1), np.zeros(10), np.ones(10)].astype(int)
    return X, y


def test_training_batches_are_balanced_and_validation_batches_plain(Xy):
    X, y = Xy
    train, test = recorded_fit(
        Recording, X, y, epochs=2, batch_size=16, validation_fraction=0.25, random_state=0
    )
    # Stratified split: 91 training samples (8 anomalies), 29 held out
    # (2 anomalies, 2 normal, 25 unlabelled).
    assert len(train) == 2 * 6  # ceil(91 / 16) steps an epoch, as plain
    for labels in train:
        assert labels.shape == (16,)
        assert (labels == 1).sum() == 8
    # One pass over the held-out samples an epoch, in plain batches of 16
    # and 13, although Keras runs 6 steps a call here: no held-out sample
    # counts more than another in the validation loss.
    assert [len(b) for b in test] == [16, 13] * 2
    assert (np.concatenate(test[:2]) == 1).sum() == 2


def test_without_the_declaration_batches_are_plain(Xy):
    X, y = Xy
    train, _ = recorded_fit(
        Plain, X, y, epochs=1, batch_size=16, validation_fraction=0.0, random_state=0
    )
    seen = np.concatenate(train)
    assert seen.shape == (120,)
    assert (seen == 1).sum() == 10


def test_balanced_training_is_reproducible(Xy):
    X, y = Xy
    params = dict(epochs=2, batch_size=16, validation_fraction=0.0)
    first, _ = recorded_fit(Recording, X, y, random_state=1, **params)
    again, _ = recorded_fit(Recording, X, y, random_state=1, **params)
    for a, b in zip(first, again):
        np.testing.assert_array_equal(a, b)
    scores = [Recording(random_state=1, **params).fit(X, y).score_samples(X) for _ in range(2)]
    np.testing.assert_array_equal(scores[0], scores[1])


def test_a_training_part_without_other_samples_is_refused():
    X = np.random.RandomState(0).normal(size=(6, 3))
    with pytest.raises(ValueError, match="Recording trains on batches .* no other samples"):
        Recording(epochs=1, validation_fraction=0.0).fit(X, np.ones(6, dtype=int))


MIRRORED = textwrap.dedent(
    """
    import json, sys
    import numpy as np
    import tensorflow as tf

    (cpu,) = tf.config.list_physical_devices("CPU")
    tf.config.set_logical_device_configuration(
        cpu, [tf.config.LogicalDeviceConfiguration()] * 2
    )
    from skanomaly import DevNet

    strategy = tf.distribute.MirroredStrategy(["/cpu:0", "/cpu:1"])
    rng = np.random.RandomState(0)
    X = rng.normal(size=(80, 4))
    y = np.r_[np.full(74, -1), np.ones(6)].astype(int)
    params = dict(hidden_units=(8,), epochs=3, random_state=0)
    # A batch of 33 cannot split over two replicas: it is rounded to 32.
    one = DevNet(batch_size=32, **params).fit(X, y)
    two = DevNet(batch_size=33, distribute=strategy, **params).fit(X, y)
    json.dump({"one": one.score_samples(X).tolist(), "two": two.score_samples(X).tolist(),
               "replicas": strategy.num_replicas_in_sync}, sys.stdout)
    """
)


def test_balanced_batches_split_over_replicas():
    # The same balanced batches on two devices as on one: only the order of
    # float32 sums differs.
    out = subprocess.run(
        [sys.executable, "-c", MIRRORED], check=True, capture_output=True, text=True
    ).stdout
    result = json.loads(out)
    assert result["replicas"] == 2
    np.testing.assert_allclose(result["two"], result["one"], rtol=1e-5)
