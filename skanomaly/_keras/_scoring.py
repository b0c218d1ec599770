"""Scoring through one traced function, chunk by chunk.

The scoring network is a float64 copy of the trained one: a sample's score
then does not depend on which other samples share its batch (float32 matrix
products round differently for one row and for many), and scores are as
accurate as NumPy's.
"""

import numpy as np
from sklearn.utils import gen_batches
from sklearn.utils._chunking import get_chunk_n_rows

from ._backend import tf

#: Largest chunk: beyond this, bigger batches no longer score faster.
MAX_CHUNK_ROWS = 65_536
#: Working memory per input value, in bytes: the float64 copy of the chunk
#: plus the activations of a few layers of similar width.
BYTES_PER_VALUE = 8 * 16


class ChunkedScorer:
    """Apply ``score_fn`` to an array in chunks that fit in working memory.

    Parameters
    ----------
    score_fn : callable
        Maps a float64 tensor of shape ``(batch, *sample_shape)`` to scores
        of shape ``(batch,)``.
    sample_shape : tuple of int
        Shape of one sample.
    """

    def __init__(self, score_fn, sample_shape):
        self.sample_shape = tuple(sample_shape)
        signature = [tf.TensorSpec((None, *self.sample_shape), tf.float64)]
        self._fn = tf.function(score_fn, input_signature=signature)
        self._values_per_row = int(np.prod(self.sample_shape))

    def chunk_rows(self, n_samples):
        """Rows per chunk under scikit-learn's ``working_memory``."""
        rows = get_chunk_n_rows(
            row_bytes=BYTES_PER_VALUE * self._values_per_row,
            max_n_rows=min(n_samples, MAX_CHUNK_ROWS),
        )
        return max(1, rows)

    def __call__(self, X):
        n_samples = X.shape[0]
        scores = np.empty(n_samples, dtype=np.float64)
        for rows in gen_batches(n_samples, self.chunk_rows(n_samples)):
            # Only one chunk at a time is converted to float64.
            chunk = np.asarray(X[rows], dtype=np.float64)
            scores[rows] = self._fn(chunk).numpy()
        return scores
