"""Per-sample gradients: what each sample alone backpropagates.

A detector that reads gradients as representations (GradCon scores a
sample by the direction of the gradient it alone would give the decoder's
weights) needs the gradient of each sample's loss, not the batch's. This
module computes them for a whole batch at once, vectorised over the
samples, so that a detector's scoring stays chunked and traced like any
other; it is the engine's only place for that TensorFlow-specific code.
"""

from ._backend import ScopedLogFilter, quiet_retracing, tf

__all__ = ["per_sample_gradients"]


#: Drop TensorFlow's "<op> uses a while_loop. Fix that!" warning: the
#: vectoriser has no batched rule for a few gradient ops (the filter
#: gradient of a convolution among them) and runs those ops in a loop over
#: the samples, warning at every trace. The results are the same, only
#: slower; the warning says nothing a user can act on.
_quiet_loop_warnings = ScopedLogFilter("uses a while_loop. Fix that!")


def per_sample_gradients(loss_function, weights, inputs):
    """The gradient of each sample's loss with respect to ``weights``.

    ``loss_function(weights, batch)`` computes the losses of a batch (a
    scalar, or one loss a sample) from the tensors ``weights``; it is
    called on batches of one sample each, so a sample's gradient is that
    of its own loss alone, whatever else is in ``inputs``. The samples are
    processed in one vectorised pass (``tf.vectorized_map``), inside a
    traced function or eagerly; the memory it takes grows with the number
    of samples times the number of weights, so callers map it over chunks
    (:class:`~skanomaly.engine._scoring.ChunkedMapper`).

    Parameters
    ----------
    loss_function : callable
        ``loss_function(weights, batch) -> loss``, written with
        ``keras.ops``; ``batch`` has the structure of ``inputs``, each
        tensor with a leading axis of length 1. A network's sub-network
        applied with given weights is
        :meth:`~skanomaly.engine.DetectorNetwork.call_with`.
    weights : list of tensors
        The tensors to differentiate with respect to (as
        :meth:`~skanomaly.engine.DetectorNetwork.current_weights` gives
        them). They are the same for every sample.
    inputs : tensor or tuple of tensors
        The samples, along the first axis of every tensor (the same length
        for all).

    Returns
    -------
    gradients : list of tensors
        One tensor of shape ``(n_samples, *weight.shape)`` per weight, in
        the order of ``weights``: the gradient of each sample's loss.

    Examples
    --------
    >>> import numpy as np
    >>> from skanomaly.engine import keras
    >>> from skanomaly.engine._backprop import per_sample_gradients
    >>> w = [np.array([1.0, 2.0])]
    >>> x = np.array([[1.0, 0.0], [0.0, 3.0]])
    >>> def squared_dot(weights, batch):
    ...     return keras.ops.matmul(batch, weights[0]) ** 2
    >>> [np.asarray(g) for g in per_sample_gradients(squared_dot, w, x)]
    [array([[ 2.,  0.],
           [ 0., 36.]])]
    """
    weights = [tf.convert_to_tensor(w) for w in weights]

    def one_sample(sample):
        batch = tf.nest.map_structure(lambda t: t[None], sample)
        with tf.GradientTape(watch_accessed_variables=False) as tape:
            tape.watch(weights)
            loss = tf.reduce_sum(loss_function(weights, batch))
        return tape.gradient(loss, weights, unconnected_gradients="zero")

    # Called eagerly, the vectoriser traces a new function at every call:
    # TensorFlow's warnings of "retracing" say nothing useful either.
    with _quiet_loop_warnings(), quiet_retracing():
        return tf.vectorized_map(one_sample, inputs)
