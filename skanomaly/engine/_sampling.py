"""Training batches read from a table of sample indices that a detector
replaces between epochs: for a detector that chooses, epoch by epoch, which
samples its network trains on (a learnt batch sampler)."""

__all__ = ["IndexedBatches"]

import numpy as np

from ._backend import tf


class IndexedBatches:
    """An endless stream of training batches drawn from a table of sample
    indices, which the detector replaces between epochs.

    The table holds the indices (into ``x``) of one epoch's samples, in
    order; each batch takes the next ``batch_size`` of them. At the end of
    an epoch the detector gives the next epoch's table to :meth:`publish`
    (from a Keras callback's ``on_epoch_end``), and the next batch starts
    at its beginning. A batch is read when the training step asks for it,
    never ahead (no prefetching, no parallel reads), so the batches of an
    epoch are those of the table published before it, whatever the
    threads: the same tables give the same batches.

    Keras runs ``steps_per_execution`` steps a call into TensorFlow, and
    when that does not divide the steps of an epoch, the last call of an
    epoch asks for more batches than the epoch holds, before the epoch's
    end is seen; those batches go on through the same table, from its
    beginning again, so they are drawn as the epoch's own were.

    Use it from a detector's ``_training_data`` hook (see
    :class:`~skanomaly.engine.BaseGradientDetector`), which returns
    :attr:`dataset` and :attr:`steps`. Not under ``tf.distribute``,
    whose distributed data sets may be read ahead (prefetched to the
    devices).

    Parameters
    ----------
    x : ndarray of shape (n_samples, ...)
        The training samples (scaled, as the hook gets them).
    indices : array-like of int, of shape (steps * batch_size,)
        The first epoch's table: indices into ``x``, repeats allowed.
    batch_size : int
        Samples per batch; it divides the length of every table.

    Attributes
    ----------
    dataset : tf.data.Dataset
        The endless stream of batches of ``x``.
    steps : int
        Batches in one epoch: the length of a table over ``batch_size``.

    Examples
    --------
    >>> import numpy as np
    >>> from skanomaly.engine._sampling import IndexedBatches
    >>> x = np.arange(6.0)[:, None]
    >>> stream = IndexedBatches(x, [5, 4, 3, 2], batch_size=2)
    >>> batches = iter(stream.dataset)
    >>> next(batches).numpy()[:, 0], next(batches).numpy()[:, 0]
    (array([5., 4.]), array([3., 2.]))
    >>> stream.publish([0, 0, 1, 1])
    >>> next(batches).numpy()[:, 0]
    array([0., 0.])
    """

    def __init__(self, x, indices, batch_size):
        self.batch_size = int(batch_size)
        self._n_samples = len(x)
        indices = self._checked(indices, expected_length=None)
        self._length = indices.shape[0]
        self.steps = self._length // self.batch_size
        self._rows = tf.constant(x)
        self._table = tf.Variable(indices, trainable=False, name="sample_indices")
        self._position = tf.Variable(np.int64(0), trainable=False, name="table_position")
        self.dataset = self._make_dataset()

    def _checked(self, indices, expected_length):
        indices = np.asarray(indices)
        if indices.size == 0:
            raise ValueError(
                f"IndexedBatches: a table of 0 indices does not split into whole "
                f"batches of {self.batch_size}; give a positive multiple of "
                "batch_size."
            )
        if indices.ndim != 1 or indices.dtype.kind not in "iu":
            raise ValueError(
                "IndexedBatches: a table of sample indices must be a 1-D array of "
                f"integers; got an array of shape {indices.shape} and dtype "
                f"{indices.dtype}."
            )
        if indices.size % self.batch_size:
            raise ValueError(
                f"IndexedBatches: a table of {indices.size} indices does not split "
                f"into whole batches of {self.batch_size}; give a positive "
                "multiple of batch_size."
            )
        if expected_length is not None and indices.size != expected_length:
            raise ValueError(
                f"IndexedBatches: every epoch's table has the first one's length "
                f"({expected_length}); got {indices.size} indices."
            )
        if indices.min() < 0 or indices.max() >= self._n_samples:
            raise ValueError(
                f"IndexedBatches: sample indices must lie in [0, {self._n_samples}); "
                f"got values from {indices.min()} to {indices.max()}."
            )
        return indices.astype(np.int64)

    def publish(self, indices):
        """Replace the table: the next batch starts the new one.

        Parameters
        ----------
        indices : array-like of int
            The next epoch's table, as long as the first one.
        """
        self._table.assign(self._checked(indices, expected_length=self._length))
        self._position.assign(0)

    def _make_dataset(self):
        table, position = self._table, self._position
        rows, length = self._rows, self._length
        offsets = tf.range(self.batch_size, dtype=tf.int64)

        def next_batch(_):
            # assign_add returns the position after this batch.
            start = position.assign_add(self.batch_size) - self.batch_size
            taken = tf.gather(table, (start + offsets) % length)
            return tf.gather(rows, taken)

        dataset = tf.data.Dataset.from_tensors(np.int64(0)).repeat().map(next_batch)
        # Read only when asked: tf.data would otherwise read ahead (an
        # injected prefetch, a parallel map), from a table about to change.
        options = tf.data.Options()
        options.deterministic = True
        options.autotune.enabled = False
        options.experimental_optimization.apply_default_optimizations = False
        options.experimental_optimization.inject_prefetch = False
        options.experimental_optimization.map_parallelization = False
        return dataset.with_options(options)
