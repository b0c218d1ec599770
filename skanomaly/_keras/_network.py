"""The base class of every detector's network."""

from ._backend import keras
from ._devices import per_replica

ops = keras.ops


def trimmed_mean(values, trim_fraction):
    """Mean of ``values`` without its ``trim_fraction`` largest entries.

    At least one value is always kept. With ``trim_fraction=0`` this is the
    plain mean.
    """
    if trim_fraction <= 0:
        return ops.mean(values)
    n = ops.shape(values)[0]
    n_float = ops.cast(n, values.dtype)
    n_keep = ops.maximum(1.0, n_float - ops.floor(trim_fraction * n_float))
    keep = ops.cast(ops.cast(ops.arange(n), values.dtype) < n_keep, values.dtype)
    return ops.sum(ops.sort(values) * keep) / n_keep


class DetectorNetwork(keras.Model):
    """A Keras model that knows its training loss and how to score a batch.

    A detector's network subclasses this and writes three methods:

    * ``call(x, training=False)``: the forward pass;
    * ``detector_loss(x, outputs, training)``: the loss of each sample, a
      tensor of shape ``(batch,)``;
    * ``score(x)``: one normality score per sample, higher for more normal
      samples, as a tensor of shape ``(batch,)``.

    ``Model.fit`` then trains it with no ``loss`` given to ``compile``: the
    training loss is the mean of the per-sample losses, or, with
    ``trim_fraction > 0``, their trimmed mean (the largest ``trim_fraction``
    of each batch left out, so that the anomalies hidden in unlabelled
    training data pull the model less towards them), plus the layers'
    regularisation losses. Validation losses are plain means. A method that
    needs a custom update (a GAN, a memory write) overrides ``train_step``
    as Keras documents.
    """

    #: Share of each training batch's largest per-sample losses left out of
    #: the loss; the engine sets it from the detector's ``trim_fraction``.
    trim_fraction = 0.0

    def compute_loss(
        self, x=None, y=None, y_pred=None, sample_weight=None, training=True
    ):
        per_sample = self.detector_loss(x, y_pred, training=training)
        loss = trimmed_mean(per_sample, self.trim_fraction if training else 0.0)
        for extra in self.losses:
            loss = loss + ops.cast(ops.sum(extra), loss.dtype)
        # Under tf.distribute, this replica's share (Keras sums them).
        return per_replica(loss)

    def detector_loss(self, x, outputs, training):  # pragma: no cover
        raise NotImplementedError

    def score(self, x):  # pragma: no cover
        raise NotImplementedError
