"""Where a detector trains: device names, GPU memory and tf.distribute.

A deep detector's ``device`` is ``"auto"`` (TensorFlow's own placement: the
first visible GPU if there is one, else the CPU), ``"cpu"``, ``"gpu"`` (the
first visible GPU) or ``"gpu:N"`` (the N-th visible GPU, counted after
``CUDA_VISIBLE_DEVICES``). Its ``distribute`` is a ``tf.distribute``
strategy that trains one network on several devices. Everything that
touches TensorFlow's device configuration lives here.
"""

import contextlib
import math
import os
import re

from sklearn.utils._param_validation import StrOptions

from ._backend import quiet_native_logs, tf

_GPU_INDEX = re.compile(r"gpu:(\d+)")


class DeviceOptions(StrOptions):
    """``"auto"``, ``"cpu"``, ``"gpu"`` or ``"gpu:N"`` (sklearn constraint)."""

    def __init__(self):
        super().__init__({"auto", "cpu", "gpu"})

    def is_satisfied_by(self, val):
        return super().is_satisfied_by(val) or (
            isinstance(val, str) and _GPU_INDEX.fullmatch(val) is not None
        )

    def __str__(self):
        return f"{super().__str__()} or 'gpu:N' for the N-th GPU"


_growth_done = False


def enable_memory_growth():
    """Let TensorFlow take GPU memory as it needs it, not all at start.

    TensorFlow otherwise reserves nearly all of a GPU's memory as soon as
    it first uses it, so that a second process (another GridSearchCV
    worker) could not use the same GPU. Called before a detector first
    places anything (in ``fit`` and when scoring), it runs once a process
    and does nothing on a machine without GPUs, when the user has set
    ``TF_FORCE_GPU_ALLOW_GROWTH`` (TensorFlow then follows it), or when
    TensorFlow has already initialised its GPUs (the user's own TensorFlow
    code made the choice). It sets no environment variable.
    """
    global _growth_done
    if _growth_done:
        return
    _growth_done = True
    if "TF_FORCE_GPU_ALLOW_GROWTH" in os.environ:
        return
    # Listing the GPUs initialises CUDA, which on a machine without a GPU
    # prints a "failed call to cuInit" note.
    with quiet_native_logs():
        gpus = tf.config.list_physical_devices("GPU")
    for gpu in gpus:
        try:
            tf.config.experimental.set_memory_growth(gpu, True)
        except (RuntimeError, ValueError):
            # RuntimeError: the GPUs are initialised already.
            pass


def list_gpus():
    """Names of the GPUs this process can place work on: ``["gpu:0", ...]``."""
    enable_memory_growth()
    gpus = tf.config.list_logical_devices("GPU")
    return [f"gpu:{i}" for i in range(len(gpus))]


def _describe_devices(gpus):
    names = ", ".join(repr(name) for name in ["cpu", *gpus])
    hidden = os.environ.get("CUDA_VISIBLE_DEVICES")
    note = "" if hidden is None else f" (CUDA_VISIBLE_DEVICES={hidden!r})"
    return f"TensorFlow in this process sees only {names}{note}"


def check_device(device, owner):
    """The TensorFlow device name for ``device``, or None for ``"auto"``.

    Raises a ValueError naming the devices that exist when ``device`` asks
    for a GPU this process does not see.
    """
    enable_memory_growth()
    if device == "auto":
        return None
    if device == "cpu":
        return "/CPU:0"
    index = 0 if device == "gpu" else int(_GPU_INDEX.fullmatch(device).group(1))
    gpus = list_gpus()
    if index >= len(gpus):
        wanted = "a GPU" if device == "gpu" else f"GPU number {index}"
        raise ValueError(
            f"{owner}: device={device!r} asks for {wanted}, but "
            f"{_describe_devices(gpus)}. Use device='auto' to train on a GPU "
            "where there is one and on the CPU elsewhere."
        )
    return f"/GPU:{index}"


def device_scope(tf_device):
    """``tf.device(tf_device)``, or no placement at all for None."""
    return contextlib.nullcontext() if tf_device is None else tf.device(tf_device)


def scoring_device(device, distribute):
    """The TensorFlow device to score on, or None for the default one.

    Unlike :func:`check_device` this never fails: a detector fitted on a
    GPU and loaded where that GPU does not exist scores on the default
    device. Under a distribute strategy, scoring (one float64 copy of the
    network) runs on the default device too.
    """
    enable_memory_growth()
    if distribute is not None or device == "auto":
        return None
    if device == "cpu":
        return "/CPU:0"
    index = 0 if device == "gpu" else int(_GPU_INDEX.fullmatch(device).group(1))
    return f"/GPU:{index}" if index < len(list_gpus()) else None


def on_device(tf_device, function, *args, **kwargs):
    """``function(*args, **kwargs)`` with its operations placed on
    ``tf_device``.

    Meant to be traced: the placement is then part of the traced graph.
    """
    with device_scope(tf_device):
        return function(*args, **kwargs)


def check_distribute(distribute, device, owner):
    """Number of replicas that ``distribute`` trains on (1 without one)."""
    if distribute is None:
        return 1
    if device != "auto":
        raise ValueError(
            f"{owner}: device={device!r} and a distribute strategy are both "
            "set; the strategy places the network on its own devices. Leave "
            "device='auto' when distribute is given."
        )
    return int(distribute.num_replicas_in_sync)


def training_scope(tf_device, distribute):
    """The scope to build, compile and fit the training network in."""
    if distribute is not None:
        return distribute.scope()
    return device_scope(tf_device)


def per_replica(loss):
    """A replica's share of ``loss``, the mean over its part of the batch.

    Under a distribute strategy each replica computes the loss of its part
    of the batch and the gradients of all replicas are summed, so each
    replica's loss is divided by their number (as Keras' own losses do);
    with parts of equal size, the sum is the mean over the whole batch.
    """
    replicas = tf.distribute.get_strategy().num_replicas_in_sync
    return loss if replicas == 1 else loss / replicas


def sum_over_replicas(value):
    """``value`` summed over the replicas that train in sync.

    For a custom ``train_step`` that updates state by hand (a memory of
    prototypes, say): under a ``tf.distribute`` strategy each replica sees
    only its part of the batch, and an update computed from that part alone
    would differ from replica to replica. Without a strategy (or outside a
    replica's step) it is ``value`` itself.
    """
    context = tf.distribute.get_replica_context()
    if context is None or context.num_replicas_in_sync == 1:
        return value
    return context.all_reduce(tf.distribute.ReduceOp.SUM, value)


def once_for_all_replicas(function, flag):
    """``function(flag)``, which assigns variables, run once for all the
    replicas under ``tf.distribute`` (``flag`` is the same on each).

    For a custom ``train_step`` that may reset a sub-network (a GAN's
    collapsed discriminator): a variable mirrored over the replicas cannot
    be assigned from one replica's step; the assignment runs in the
    cross-replica context, which sets every copy. Without a strategy, it
    is ``function(flag)`` itself.
    """
    context = tf.distribute.get_replica_context()
    if context is None or context.num_replicas_in_sync == 1:
        return function(flag)
    return context.merge_call(
        lambda strategy, value: function(strategy.experimental_local_results(value)[0]),
        args=(flag,),
    )


def max_over_replicas(value):
    """The element-wise largest ``value`` of the replicas (see
    :func:`sum_over_replicas`)."""
    context = tf.distribute.get_replica_context()
    if context is None or context.num_replicas_in_sync == 1:
        return value
    # tf.distribute reduces by sum or mean only: gather, then take the max.
    gathered = context.all_gather(tf.expand_dims(value, 0), axis=0)
    return tf.reduce_max(gathered, axis=0)


def replica_dataset(data, batch_size, n_replicas, shuffle_seed=None):
    """An endless stream of batches that split evenly over ``n_replicas``.

    The distributed counterpart of ``_training.epoch_dataset``: Keras splits
    each batch over the replicas, and a batch that does not split evenly
    (the last partial batch of a pass, or one smaller than the number of
    replicas) breaks its distributed training loop or leaves a replica with
    nothing to average. So every batch here holds a multiple of
    ``n_replicas`` samples: each pass over the data leaves out
    ``len(x) % n_replicas`` samples, drawn afresh at every pass when
    ``shuffle_seed`` is given. ``data`` is the samples ``x`` or a tuple
    ``(x, labels)``. Returns the data set and the steps in a pass.
    """
    n_samples = len(data[0]) if isinstance(data, tuple) else len(data)
    n_used = n_samples - n_samples % n_replicas
    if n_used == 0:
        raise ValueError(
            f"{n_samples} samples cannot be split over {n_replicas} replicas; "
            f"training with this distribute strategy needs at least "
            f"{n_replicas} samples in the training and validation sets."
        )
    batch_size = max(n_replicas, min(batch_size, n_used) // n_replicas * n_replicas)
    samples = tf.data.Dataset.from_tensor_slices(data)

    def passes(_):
        dataset = samples
        if shuffle_seed is not None:
            dataset = dataset.shuffle(
                n_samples, seed=shuffle_seed, reshuffle_each_iteration=True
            )
        return dataset.take(n_used).batch(batch_size).repeat()

    # Built inside flat_map, the shuffle starts its sequence of orders
    # afresh for each iterator. Under a strategy, Keras opens one iterator
    # to look at the first batch before training; a shuffle built outside
    # would then train on its second order onwards, so the samples would
    # come in another order than on one device, with the same random_state.
    dataset = tf.data.Dataset.from_tensors(0).flat_map(passes)
    return dataset.prefetch(tf.data.AUTOTUNE), math.ceil(n_used / batch_size)


def visible_gpu_ids():
    """CUDA ids (as in ``CUDA_VISIBLE_DEVICES``) of the GPUs TensorFlow sees.

    ``tf.config.list_physical_devices`` numbers GPUs from 0 after
    ``CUDA_VISIBLE_DEVICES`` is applied; a child process that inherits the
    variable must be given the original ids, not those numbers.
    """
    visible = tf.config.get_visible_devices("GPU")
    indices = [int(gpu.name.rsplit(":", 1)[1]) for gpu in visible]
    listed = os.environ.get("CUDA_VISIBLE_DEVICES")
    if listed is None or not listed.strip():
        return [str(i) for i in indices]
    ids = [entry.strip() for entry in listed.split(",") if entry.strip()]
    return [ids[i] for i in indices if i < len(ids)]
