"""The base class of every detector's network."""

from ._backend import keras

ops = keras.ops


class DetectorNetwork(keras.Model):
    """A Keras model that knows its training loss and how to score a batch.

    A detector's network subclasses this and writes three methods:

    * ``call(x, training=False)``: the forward pass;
    * ``detector_loss(x, outputs, training)``: the scalar loss that
      ``fit`` minimises (regularisation losses of the layers are added
      here, once for all);
    * ``score(x)``: one normality score per sample, higher for more normal
      samples, as a tensor of shape ``(batch,)``.

    ``Model.fit`` then trains it with no ``loss`` given to ``compile``. A
    method that needs a custom update (a GAN, a memory write) overrides
    ``train_step`` as Keras documents.
    """

    def compute_loss(
        self, x=None, y=None, y_pred=None, sample_weight=None, training=True
    ):
        loss = self.detector_loss(x, y_pred, training=training)
        for extra in self.losses:
            loss = loss + ops.cast(ops.sum(extra), loss.dtype)
        return loss

    def detector_loss(self, x, outputs, training):  # pragma: no cover
        raise NotImplementedError

    def score(self, x):  # pragma: no cover
        raise NotImplementedError
