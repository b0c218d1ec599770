"""A network's state as plain arrays, and back.

What a fitted network holds beyond what its detector's parameters rebuild:
the values of its variables (weights, non-trainable state such as a memory
or a centre, and the states of its random seed generators, so that a
training continued after a pickle round trip draws the same noise), and
the state of each of its optimizers. Frozen sub-networks are left out:
their weights are kept once, by the detector.
"""

import numpy as np


def _values(variables):
    # Read through TensorFlow: converting a variable with NumPy goes through
    # an __array__ that NumPy 2 warns about (a copy keyword it lacks).
    return [v.value.numpy() for v in variables]


def own_variables(network, frozen):
    """The network's variables, less those of its frozen sub-networks."""
    skip = {id(v) for part in frozen.values() for v in part.variables}
    return [v for v in network.variables if id(v) not in skip]


def optimized_variables(network, part):
    """The variables the optimizer of ``part`` updates: every trainable one
    for a network with one optimizer (``part`` None), else those of the
    sub-network in the attribute ``part``."""
    if part is None:
        return network.trainable_variables
    return getattr(network, part).trainable_variables


def network_state(network, frozen):
    """The state of ``network`` as NumPy arrays (see the module)."""
    optimizers = {}
    for part, optimizer in (network.optimizers or {}).items():
        optimizers[part] = {
            "built": bool(optimizer.built),
            "variables": _values(optimizer.variables),
        }
    return {
        "variables": _values(own_variables(network, frozen)),
        "optimizers": optimizers,
        "run_eagerly": bool(network.run_eagerly),
    }


def _assign(variables, values, what, owner):
    if len(variables) != len(values):
        raise ValueError(
            f"{owner}: cannot restore the {what}: it was saved with "
            f"{len(values)} variables and the rebuilt one has "
            f"{len(variables)}. Was it saved by another version of "
            "skanomaly or Keras?"
        )
    for variable, value in zip(variables, values):
        if tuple(variable.shape) != np.shape(value):
            raise ValueError(
                f"{owner}: cannot restore the {what}: {variable.path} has "
                f"shape {tuple(variable.shape)}, the saved value "
                f"{np.shape(value)}."
            )
        variable.assign(value)


def restore_network_state(network, state, frozen, owner):
    """Set a rebuilt ``network`` (with the same frozen sub-networks and
    optimizers) to a saved ``state``; a clear error if they do not match."""
    _assign(own_variables(network, frozen), state["variables"], "network", owner)
    optimizers = network.optimizers or {}
    if set(optimizers) != set(state["optimizers"]):
        raise ValueError(
            f"{owner}: cannot restore the optimizers: saved "
            f"{sorted(state['optimizers'], key=str)}, the rebuilt network "
            f"has {sorted(optimizers, key=str)}."
        )
    for part, saved in state["optimizers"].items():
        optimizer = optimizers[part]
        if saved["built"]:
            optimizer.build(optimized_variables(network, part))
        _assign(optimizer.variables, saved["variables"], f"optimizer of {part}", owner)
