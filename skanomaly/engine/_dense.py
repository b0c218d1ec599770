"""Dense networks: widths sized from the input, stacks of Dense layers."""

import math

from ..utils._validation import check_layer_sizes
from ._backend import keras

layers = keras.layers


def auto_hidden_units(n_features):
    """Default ``(hidden, code)`` widths for ``n_features`` inputs.

    One hidden layer about as wide as the input (16 to 128 units) and a
    code of about ``sqrt(n_features)`` units (2 to 32), so the bottleneck
    is always narrower than the input and a network cannot learn the
    identity on data with few features.
    """
    hidden = min(128, max(16, n_features))
    code = min(32, max(2, round(math.sqrt(n_features))))
    return (hidden, code)


def resolve_hidden_units(hidden_units, n_features):
    """``hidden_units`` as a tuple, with ``"auto"`` sized from the input."""
    if hidden_units == "auto":
        return auto_hidden_units(n_features)
    return tuple(int(units) for units in hidden_units)


def dense_stack(units, *, activation, dropout=0.0, use_bias=True, name=None):
    """A ``Sequential`` of ``Dense`` layers, each followed by ``Dropout``
    when ``dropout > 0``.
    """
    # An empty Sequential cannot be built in Keras 3: no layers (a network
    # whose only hidden layer is its code) is the identity.
    stack = [] if units else [layers.Identity()]
    for width in units:
        stack.append(layers.Dense(width, activation=activation, use_bias=use_bias))
        if dropout > 0:
            stack.append(layers.Dropout(dropout))
    return keras.Sequential(stack, name=name)


def validate_hidden_units(hidden_units):
    """Raise a clear error unless ``hidden_units`` is ``"auto"`` or a
    non-empty sequence of positive integers."""
    check_layer_sizes(hidden_units, "hidden_units", allow_auto=True)
