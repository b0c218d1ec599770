"""Mapping samples through a network, one chunk at a time.

Scores, anomaly maps, reconstructions and extracted features all go through
a :class:`ChunkedMapper`: one traced function applied to chunks of the input
that fit in scikit-learn's ``working_memory``, each converted to the
network's dtype only when its turn comes. In float32, every chunk has the
same number of rows (see :class:`ChunkedMapper`), so that a sample's output
does not depend on the samples it is mapped with.
"""

import numpy as np
from sklearn.utils import gen_batches
from sklearn.utils._chunking import get_chunk_n_rows

from ._backend import keras, quiet_retracing, tf

#: Largest chunk: beyond this, bigger batches no longer score faster.
MAX_CHUNK_ROWS = 65_536
#: Rows of every chunk of a float32 mapper, at most (less where working
#: memory holds fewer): beyond about 16, the float32 kernels of these
#: machines give each row the same output whatever the others in its batch.
FIXED_CHUNK_ROWS = 64
#: Working memory per input value, in bytes: the float64 copy of the chunk
#: plus the activations of a few layers of similar width.
BYTES_PER_VALUE = 8 * 16


class ChunkedMapper:
    """Apply ``map_fn`` to an array in chunks that fit in working memory.

    Parameters
    ----------
    map_fn : callable
        Maps a tensor of shape ``(batch, *sample_shape)`` and dtype
        ``dtype`` to one of shape ``(batch, *output_shape)``: scores,
        anomaly maps, reconstructions, features.
    sample_shape : tuple of int
        Shape of one sample.
    output_shape : tuple of int, default=()
        Shape of the output for one sample; ``()`` for a score.
    values_per_row : int or None, default=None
        Working memory of one row in values, when it is more than the
        sample's own (convolution and recurrent layers are wider than their
        input).
    eager : bool, default=False
        Call ``map_fn`` eagerly instead of through one traced function,
        which takes longer to trace than a tiny network takes to score.
    dtype : {"float64", "float32"}, default="float64"
        The dtype the chunks are given to ``map_fn`` in.
    output_dtype : {"float64", "float32"}, default="float64"
        The dtype of the output (float32 halves the memory of extracted
        features).
    progress : bool, default=False
        Show a Keras progress bar over the chunks.
    compile_single_row : bool, default=False
        Map a single sample through a second trace of ``map_fn``, for a
        batch of exactly one, compiled with XLA at its first use. Calling
        a traced function costs more than a small network takes to score
        one row; the compiled one takes about half as long. Its output
        agrees with the general trace's to float rounding (XLA fuses
        operations and may reorder sums). Ignored when ``eager``.

    Notes
    -----
    A float32 mapper maps every chunk at one batch size,
    :meth:`chunk_rows` of any input, the last chunk padded with copies of
    its last row: the float32 convolution and matrix kernels choose their
    blocking, and so the order of their sums, by the size of the batch, and
    would make a sample's output depend, in its last digits, on how many
    samples it came with (seen on AVX2-only CPUs). Scoring a row alone, in
    a subset or in another order then gives the same output. A float64
    mapper maps chunks as large as working memory allows; its outputs agree
    across batch sizes to float64 rounding.

    Examples
    --------
    >>> import numpy as np
    >>> from skanomaly.engine._scoring import ChunkedMapper
    >>> minus_squared_norm = ChunkedMapper(lambda x: -(x[:, 0] ** 2 + x[:, 1] ** 2), (2,))
    >>> minus_squared_norm(np.array([[1.0, 2.0], [0.0, 3.0]]))
    array([-5., -9.])
    """

    def __init__(
        self, map_fn, sample_shape, output_shape=(), values_per_row=None,
        eager=False, dtype="float64", output_dtype="float64", progress=False,
        compile_single_row=False,
    ):
        self.sample_shape = tuple(sample_shape)
        self.output_shape = tuple(output_shape)
        self.dtype = np.dtype(dtype)
        self.output_dtype = np.dtype(output_dtype)
        self.progress = progress
        self._fn = map_fn if eager else None
        self._compile_single_row = compile_single_row and not eager
        self._single_row_fn = None
        signature = [tf.TensorSpec((None, *self.sample_shape), tf.as_dtype(self.dtype))]
        # Traced at the first call, unless eager; export traces it anyway.
        self._traced = tf.function(map_fn, input_signature=signature)
        self._values_per_row = max(
            int(np.prod(self.sample_shape)), int(values_per_row or 0)
        )

    def concrete_function(self, batch_size=None):
        """The traced function of one batch of shape ``(batch_size,
        *sample_shape)`` (any size for None), as an export needs it."""
        with quiet_retracing():
            if batch_size is None:
                return self._traced.get_concrete_function()
            spec = tf.TensorSpec((batch_size, *self.sample_shape), tf.as_dtype(self.dtype))
            return tf.function(self._traced.python_function).get_concrete_function(spec)

    def _single_row(self):
        """The XLA-compiled trace for a batch of one, made at its first use,
        as its flat graph function and the tensors it captured."""
        if self._single_row_fn is None:
            spec = tf.TensorSpec((1, *self.sample_shape), tf.as_dtype(self.dtype))
            with quiet_retracing():
                concrete = tf.function(
                    self._traced.python_function, jit_compile=True
                ).get_concrete_function(spec)
            # The flat function skips binding Python arguments to the
            # signature: half the time of a call for one row.
            self._single_row_fn = (concrete.inference_fn, concrete.captured_inputs)
        return self._single_row_fn

    def _map_single_row(self, row):
        function, captured = self._single_row()
        (output,) = function.call_flat(row, *captured)
        return output

    def _check_range(self, X):
        """Refuse values that the network's dtype cannot hold: cast to
        float32, they would become infinite and give meaningless output."""
        if self.dtype != np.float32 or np.asarray(X).dtype.itemsize <= 4:
            return
        largest = float(np.max(np.abs(X))) if X.size else 0.0
        limit = float(np.finfo(np.float32).max)
        if largest > limit:
            raise ValueError(
                f"X holds values of magnitude up to {largest:.3g}, beyond the "
                f"range of float32 ({limit:.3g}), in which "
                "this network computes. Give X on the scale of the training data."
            )

    @property
    def fixed_batch(self):
        """Whether every chunk has :meth:`chunk_rows` rows, the last one
        padded: in float32 (see the Notes)."""
        return self.dtype == np.float32

    def chunk_rows(self, n_samples):
        """Rows per chunk under scikit-learn's ``working_memory``; in
        float32 the same for every ``n_samples``."""
        most = FIXED_CHUNK_ROWS if self.fixed_batch else min(n_samples, MAX_CHUNK_ROWS)
        rows = get_chunk_n_rows(
            row_bytes=BYTES_PER_VALUE * self._values_per_row, max_n_rows=most
        )
        return max(1, rows)

    def _chunk(self, X, rows, chunk_rows):
        """``X[rows]`` in the network's dtype, as a tensor; in float32
        padded to ``chunk_rows`` rows with copies of its last row."""
        chunk = np.asarray(X[rows], dtype=self.dtype)
        missing = chunk_rows - len(chunk)
        if self.fixed_batch and missing > 0:
            chunk = np.concatenate([chunk, np.repeat(chunk[-1:], missing, axis=0)])
        return tf.constant(chunk)

    def __call__(self, X):
        if self._fn is None:
            # Traced at the first call (a mapper may never be called); then
            # the concrete function is called directly, which skips the
            # matching of arguments to traces, a cost larger than scoring
            # a few rows through a small network.
            self._fn = self.concrete_function()
        self._check_range(X)
        n_samples = X.shape[0]
        chunk_rows = self.chunk_rows(n_samples)
        if chunk_rows >= n_samples and not self.progress:
            # One chunk: the shortest way, for scoring a few rows at a time.
            if n_samples == 1 and self._compile_single_row:
                fn, chunk = self._map_single_row, tf.constant(np.asarray(X, dtype=self.dtype))
            else:
                fn, chunk = self._fn, self._chunk(X, slice(0, n_samples), chunk_rows)
            return keras.ops.convert_to_numpy(fn(chunk))[:n_samples].astype(
                self.output_dtype, copy=False
            )
        out = np.empty((n_samples, *self.output_shape), dtype=self.output_dtype)
        bar = keras.utils.Progbar(n_samples, unit_name="sample") if self.progress else None
        for rows in gen_batches(n_samples, chunk_rows):
            # Only one chunk at a time is converted to the network's dtype.
            chunk = self._chunk(X, rows, chunk_rows)
            out[rows] = keras.ops.convert_to_numpy(self._fn(chunk))[: rows.stop - rows.start]
            if bar is not None:
                bar.add(rows.stop - rows.start)
        return out
