"""IndexedBatches: training batches read from a table of sample indices that
a detector replaces between epochs."""

import numpy as np
import pytest

from skanomaly.engine import keras
from skanomaly.engine._backend import tf
from skanomaly.engine._sampling import IndexedBatches


def numbered(n):
    """Rows numbered by their first feature."""
    return np.stack([np.arange(n), np.zeros(n)], axis=1).astype("float32")


def rows_of(batch):
    return batch.numpy()[:, 0].astype(int)


def test_batches_follow_the_table_and_a_new_table_starts_afresh():
    stream = IndexedBatches(numbered(10), [9, 8, 7, 6, 5, 4], batch_size=2)
    assert stream.steps == 3
    batches = iter(stream.dataset)
    assert rows_of(next(batches)).tolist() == [9, 8]
    assert rows_of(next(batches)).tolist() == [7, 6]
    # Published mid-table: the next batch starts the new table.
    stream.publish([0, 1, 2, 3, 3, 3])
    assert rows_of(next(batches)).tolist() == [0, 1]
    assert rows_of(next(batches)).tolist() == [2, 3]
    assert rows_of(next(batches)).tolist() == [3, 3]
    # Read past its end, the table goes on from its beginning.
    assert rows_of(next(batches)).tolist() == [0, 1]


def test_every_iterator_reads_the_same_table():
    stream = IndexedBatches(numbered(5), [4, 3], batch_size=1)
    first = [rows_of(batch)[0] for batch in stream.dataset.take(3)]
    assert first == [4, 3, 4]


class _Counter(keras.Model):
    """A model whose training step counts how often it saw each row."""

    def __init__(self, n):
        super().__init__()
        self.seen = tf.Variable(tf.zeros(n, tf.int64), trainable=False)

    def call(self, x):
        return x

    def train_step(self, x):
        rows = tf.cast(x[:, 0], tf.int64)
        self.seen.scatter_add(tf.IndexedSlices(tf.ones_like(rows), rows))
        return {"rows": tf.size(rows)}


class _Publisher(keras.callbacks.Callback):
    """Records the rows seen in each epoch, then publishes the next table."""

    def __init__(self, stream, model, tables):
        super().__init__()
        self.stream, self.counter, self.tables = stream, model, tables
        self.per_epoch = []

    def on_epoch_end(self, epoch, logs=None):
        seen = self.counter.seen.numpy().copy()
        self.per_epoch.append(seen - sum(self.per_epoch, np.zeros_like(seen)))
        if epoch + 1 < len(self.tables):
            self.stream.publish(self.tables[epoch + 1])


@pytest.mark.parametrize("steps_per_execution", [1, 3, 4])
def test_in_training_each_epoch_trains_on_its_own_table(steps_per_execution):
    # 3 steps an epoch of 2 rows; 3 or 1 steps a call divide it, 4 does
    # not: Keras then asks for a 4th batch before the epoch's end, which
    # comes from the same table, from its start.
    n = 12
    rng = np.random.RandomState(0)
    tables = [rng.randint(0, n, size=6) for _ in range(3)]
    stream = IndexedBatches(numbered(n), tables[0], batch_size=2)
    model = _Counter(n)
    model.compile(steps_per_execution=steps_per_execution)
    publisher = _Publisher(stream, model, tables)
    model.fit(
        stream.dataset, steps_per_epoch=stream.steps, epochs=3, shuffle=False,
        verbose=0, callbacks=[publisher],
    )
    for table, seen in zip(tables, publisher.per_epoch):
        expected = np.bincount(table, minlength=n)
        if steps_per_execution == 4:
            expected += np.bincount(table[:2], minlength=n)
        np.testing.assert_array_equal(seen, expected)


@pytest.mark.parametrize(
    "indices, match",
    [
        ([0, 1, 2], "does not split into whole batches of 2"),
        ([], "does not split into whole batches of 2"),
        ([0, 5], r"must lie in \[0, 5\)"),
        ([-1, 0], r"must lie in \[0, 5\)"),
        ([0.0, 1.0], "1-D array of integers"),
        ([[0, 1]], "1-D array of integers"),
    ],
)
def test_bad_tables_are_refused(indices, match):
    with pytest.raises(ValueError, match=match):
        IndexedBatches(numbered(5), indices, batch_size=2)


def test_a_new_table_must_keep_the_length():
    stream = IndexedBatches(numbered(5), [0, 1], batch_size=2)
    with pytest.raises(ValueError, match="the first one's length \\(2\\); got 4"):
        stream.publish([0, 1, 2, 3])
