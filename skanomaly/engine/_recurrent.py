"""Recurrent networks for sequences: stacks of LSTM or GRU layers and the
base classes of the sequence detectors' networks."""

from ..utils._validation import check_layer_sizes
from ._backend import keras
from ._network import DetectorNetwork

__all__ = [
    "RECURRENT_CELLS",
    "SequenceAutoEncoderNetwork",
    "SequenceNetwork",
    "check_units",
    "recurrent_stack",
]

layers = keras.layers
ops = keras.ops

RECURRENT_CELLS = {"lstm": layers.LSTM, "gru": layers.GRU}


def check_units(units, name):
    """Return ``units`` as a tuple of ints, or raise a clear ``ValueError``
    unless it is a non-empty sequence of positive integers."""
    return check_layer_sizes(units, name)


def recurrent_stack(
    units, *, cell="lstm", bidirectional=False, dropout=0.0, return_sequences=True,
    name=None,
):
    """A ``Sequential`` of recurrent layers of the given widths.

    Every layer but the last returns its whole output sequence; the last one
    does when ``return_sequences`` is true, else only its final output (a
    fixed-size summary of the sequence). ``bidirectional`` wraps each layer
    in ``Bidirectional`` (its output is then twice as wide); ``dropout``
    drops inputs of each layer during training.
    """
    rnn = RECURRENT_CELLS[cell]
    stack = []
    for i, width in enumerate(units):
        layer = rnn(
            width,
            return_sequences=return_sequences or i < len(units) - 1,
            dropout=dropout,
        )
        stack.append(layers.Bidirectional(layer) if bidirectional else layer)
    return keras.Sequential(stack, name=name)


class SequenceNetwork(DetectorNetwork):
    """Base of the sequence detectors' networks."""

    def build_chain(self, chain, input_shape):
        """Build ``chain``, layers applied one after the other to inputs of
        ``input_shape``, from their output shapes; return the last one.

        A network's ``build`` calls this so that Keras does not trace the
        whole forward pass symbolically to build it (a second or so for
        recurrent layers, at every fit).
        """
        shape = tuple(input_shape)
        for layer in chain:
            if not layer.built:
                layer.build(shape)
            shape = tuple(layer.compute_output_shape(shape))
        return shape


class SequenceAutoEncoderNetwork(SequenceNetwork):
    """Base of the networks that reconstruct a sequence.

    A subclass writes ``call(x, training=False)``, returning the
    reconstruction of ``x``, of the same shape ``(batch, n_steps,
    n_channels)``. A sequence's loss is its mean squared reconstruction
    error; the per-step error is its mean over the channels, and the score
    is minus the mean per-step error.
    """

    def detector_loss(self, x, reconstruction, training):
        return ops.mean(ops.square(reconstruction - x), axis=(1, 2))

    def step_errors(self, x):
        """Squared reconstruction error of each step, ``(batch, n_steps)``."""
        return ops.mean(ops.square(self(x, training=False) - x), axis=-1)

    def reconstruct(self, x):
        return self(x, training=False)

    def score(self, x):
        return -ops.mean(self.step_errors(x), axis=-1)
