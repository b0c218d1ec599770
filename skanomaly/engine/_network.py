"""The base class of every detector's network."""

from ._backend import keras, tf
from ._devices import per_replica

ops = keras.ops


def trimmed_mean(values, trim_fraction, keep=None):
    """Mean of ``values`` without its ``trim_fraction`` largest entries.

    At least one value is always kept. With ``trim_fraction=0`` this is the
    plain mean. ``keep``, a boolean mask, marks values that are never left
    out (the losses of labelled anomalies): the largest of the others are
    left out instead, as many as there are of them at most.
    """
    if trim_fraction <= 0:
        return ops.mean(values)
    n = ops.shape(values)[0]
    n_float = ops.cast(n, values.dtype)
    n_drop = ops.floor(trim_fraction * n_float)
    if keep is None:
        ranked = ops.sort(values)
    else:
        # Kept values sort first, whatever their size, and are never dropped.
        n_drop = ops.minimum(n_drop, n_float - ops.sum(ops.cast(keep, values.dtype)))
        key = ops.where(keep, ops.full_like(values, -float("inf")), values)
        ranked = ops.take(values, ops.argsort(key))
    n_keep = ops.maximum(1.0, n_float - n_drop)
    mask = ops.cast(ops.cast(ops.arange(n), values.dtype) < n_keep, values.dtype)
    return ops.sum(ranked * mask) / n_keep


class DetectorNetwork(keras.Model):
    """A Keras model that knows its training loss and how to score a batch.

    A detector's network subclasses this and writes three methods:

    * ``call(x, training=False)``: the forward pass;
    * ``detector_loss(x, outputs, training)``: the loss of each sample, a
      tensor of shape ``(batch,)``; a network whose detector learns from
      labels gets them too, ``detector_loss(x, outputs, training,
      labels)``, one int label a sample (1 anomaly, 0 normal, -1
      unlabelled);
    * ``score(x)``: one normality score per sample, higher for more normal
      samples, as a tensor of shape ``(batch,)``.

    ``Model.fit`` then trains it with no ``loss`` given to ``compile``: the
    training loss is the mean of the per-sample losses, or, with
    ``trim_fraction > 0``, their trimmed mean (the largest ``trim_fraction``
    of each batch left out, so that the anomalies hidden in unlabelled
    training data pull the model less towards them; a labelled anomaly's
    loss is never left out), plus the layers' regularisation losses.
    Validation losses are plain means.

    A method that needs its own update (a memory write) overrides
    ``train_step`` as Keras documents. A method that trains several
    sub-networks, each with its own optimizer (a GAN), names them in
    ``trained_parts``: the engine then gives the network one optimizer per
    part in ``self.optimizers`` (a dict from the part's name, the
    attribute holding the sub-network, to its optimizer), persists each
    one's state, and the network's ``train_step`` makes one step for each
    part with :meth:`minimize` and returns a dict of its losses, which the
    engine records in ``history_`` and watches for divergence. A network
    whose ``call`` does not run every part builds them in
    ``build(input_shape)``.
    """

    #: Share of each training batch's largest per-sample losses left out of
    #: the loss; the engine sets it from the detector's ``trim_fraction``.
    trim_fraction = 0.0

    #: Names of the attributes holding sub-networks that a custom
    #: ``train_step`` trains, each with its own optimizer; ``None`` trains
    #: every trainable weight with one optimizer (Keras' own ``train_step``).
    trained_parts = None

    #: The optimizers the engine gives the network, by part (``None`` for
    #: the one optimizer of every trainable weight); ``None`` for a network
    #: that is not trained by gradient descent.
    optimizers = None

    #: What the engine compiled the network for when a pass of
    #: ``partial_fit`` compiled it last (steps a call, eagerness, trim
    #: fraction), so that the next pass may reuse its train function;
    #: ``None`` after any other compile.
    one_pass_compile = None

    def compute_loss(
        self, x=None, y=None, y_pred=None, sample_weight=None, training=True
    ):
        """The batch's loss from the per-sample ``detector_loss`` (see the
        class): their mean, or trimmed mean in training, plus the layers'
        regularisation losses; ``y`` holds the labels of a detector that
        learns from them, else None. Keras' ``train_step`` calls it."""
        if y is None:
            per_sample = self.detector_loss(x, y_pred, training=training)
            keep = None
        else:
            per_sample = self.detector_loss(x, y_pred, training=training, labels=y)
            keep = ops.equal(y, 1)
        loss = trimmed_mean(
            per_sample, self.trim_fraction if training else 0.0, keep=keep
        )
        for extra in self.losses:
            loss = loss + ops.cast(ops.sum(extra), loss.dtype)
        # Under tf.distribute, this replica's share (Keras sums them).
        return per_replica(loss)

    def minimize(self, part, loss_function):
        """One gradient step of the optimizer of ``part`` on the trainable
        variables of that sub-network; returns the loss.

        ``loss_function()`` computes the part's loss, a scalar, from the
        current weights (a lambda over the batch). This is the one place a
        custom ``train_step`` needs the backend's gradients: the network's
        own code stays in ``keras.ops``. Under ``tf.distribute``, each
        replica's loss is divided by their number, as Keras' own losses
        are, so that the summed gradients are those of the whole batch.
        """
        variables = getattr(self, part).trainable_variables
        with tf.GradientTape() as tape:
            loss = loss_function()
            share = per_replica(loss)
        gradients = tape.gradient(share, variables)
        self.optimizers[part].apply_gradients(zip(gradients, variables))
        return loss

    def current_weights(self, part):
        """The trainable weights of the sub-network ``part`` as tensors, in
        the order of its ``trainable_variables``: the starting point of a
        functional update (an inner loop of meta-learning), which stays
        differentiable with respect to the variables under :meth:`minimize`.
        """
        return [tf.identity(variable.value) for variable in getattr(self, part).trainable_variables]

    def call_with(self, part, weights, x):
        """The sub-network ``part`` applied to ``x`` with ``weights`` (as
        :meth:`current_weights` gives them) in place of its variables,
        which are left as they are."""
        network = getattr(self, part)
        fixed = [variable.value for variable in network.non_trainable_variables]
        outputs, _ = network.stateless_call(weights, fixed, x)
        return outputs

    @staticmethod
    def gradients(loss_function, weights, *, second_order):
        """``(loss, gradients)`` of ``loss_function(weights)`` with respect
        to the tensors ``weights``, for a functional update inside a
        training step.

        With ``second_order``, the gradients stay differentiable: inside
        :meth:`minimize`, the step then differentiates through them (the
        second derivatives of MAML); without it they are constants (its
        first-order approximation), which is cheaper.
        """
        with tf.GradientTape(watch_accessed_variables=False) as tape:
            tape.watch(weights)
            loss = loss_function(weights)
        gradients = tape.gradient(loss, weights)
        if not second_order:
            gradients = [tf.stop_gradient(gradient) for gradient in gradients]
        return loss, gradients

    def detector_loss(self, x, outputs, training):  # pragma: no cover
        raise NotImplementedError

    def score(self, x):  # pragma: no cover
        raise NotImplementedError
