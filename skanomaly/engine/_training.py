"""Pieces of the training loop: optimizers, validation split, callbacks."""

__all__ = [
    "StopOnNonFiniteLoss",
    "TrainingDivergedError",
    "balanced_dataset",
    "epoch_dataset",
    "make_optimizer",
    "validation_split",
]

import math

import numpy as np

from ..exceptions import TrainingDivergedError
from ._backend import keras, tf

#: Largest seed tf.data takes (int32, as the engine's seeds).
_MAX_SEED = np.iinfo(np.int32).max

OPTIMIZERS = {
    "adam": keras.optimizers.Adam,
    "adamw": keras.optimizers.AdamW,
    "rmsprop": keras.optimizers.RMSprop,
    "sgd": keras.optimizers.SGD,
}


def make_optimizer(optimizer, learning_rate):
    """A fresh optimizer from a name, or a copy of a user's instance.

    A user's instance is copied through its config so that fitting never
    changes (or shares the state of) the object held in the parameters.
    """
    if isinstance(optimizer, str):
        return OPTIMIZERS[optimizer](learning_rate=learning_rate)
    return optimizer.__class__.from_config(optimizer.get_config())


def validation_split(n_samples, fraction, rng, labels=None):
    """Shuffled ``(train_indices, validation_indices)``.

    Keras' own ``validation_split`` takes the last rows, which is wrong for
    data sorted by time or label. No validation set is made when it would
    be empty or would leave fewer than two training samples. With
    ``labels``, the split is stratified: each label keeps its share of the
    training data on both sides (rounded down on the validation side), so
    that a few labelled anomalies are not all drawn into validation.
    """
    n_val = int(math.floor(fraction * n_samples))
    if n_val < 1 or n_samples - n_val < 2:
        return np.arange(n_samples), None
    if labels is None:
        order = rng.permutation(n_samples)
        return np.sort(order[n_val:]), np.sort(order[:n_val])
    val = []
    for label in np.unique(labels):
        members = np.flatnonzero(labels == label)
        taken = int(math.floor(fraction * members.size))
        val.append(rng.permutation(members)[:taken])
    val = np.sort(np.concatenate(val))
    if val.size < 1:
        return np.arange(n_samples), None
    return np.setdiff1d(np.arange(n_samples), val), val


class StopOnNonFiniteLoss(keras.callbacks.Callback):
    """Stop training at the end of an epoch where any logged loss is NaN or
    infinite.

    Every value a training step logs is watched (both losses of a GAN, each
    term of a composite loss), and the validation losses too. The estimator
    raises :class:`TrainingDivergedError` afterwards, naming the loss, with
    advice, rather than leaving a model that scores NaN.
    """

    def __init__(self):
        super().__init__()
        self.diverged_at = None
        self.diverged_loss = None

    def on_epoch_end(self, epoch, logs=None):
        for name, value in (logs or {}).items():
            try:
                value = float(value)
            except (TypeError, ValueError):
                continue  # not a number (a learning-rate schedule's name, say)
            if not math.isfinite(value):
                self.diverged_at = epoch
                self.diverged_loss = name
                self.model.stop_training = True
                return


def epoch_dataset(data, batch_size, shuffle_seed=None):
    """An endless ``tf.data`` stream of batches and the steps in one epoch.

    Keras creates a new iterator for every epoch of a finite data set,
    which costs about 10 ms each and dominates training on small data; an
    endless stream with ``steps_per_epoch`` keeps one iterator for the
    whole fit. Each pass over the data is reshuffled (seeded) and ends
    with the partial batch, so one epoch is still exactly one pass.
    ``data`` is the samples ``x`` or a tuple ``(x, labels)``.
    """
    n_samples = len(data[0]) if isinstance(data, tuple) else len(data)
    dataset = tf.data.Dataset.from_tensor_slices(data)
    if shuffle_seed is not None:
        dataset = dataset.shuffle(
            n_samples, seed=shuffle_seed, reshuffle_each_iteration=True
        )
    dataset = dataset.batch(batch_size).repeat().prefetch(tf.data.AUTOTUNE)
    return dataset, math.ceil(n_samples / batch_size)


def balanced_dataset(x, labels, batch_size, seed, *, owner="balanced_dataset"):
    """An endless stream of batches, half labelled anomalies, half the rest,
    and the steps in one epoch.

    For detectors that learn from a few labelled anomalies (DevNet): in a
    plain batch of the training data they would hardly ever appear. The
    samples labelled 1 and the others (0 or -1) are two streams, each
    cycling through its samples in a fresh seeded order at every pass (the
    few anomalies recur in every batch, drawn evenly); the batches take
    from them in turn, other sample first, so that a batch of even size is
    exactly half anomalies and one of odd size half of one more or one
    fewer. An epoch keeps the engine's length, ``ceil(len(x) /
    batch_size)`` steps, so that ``epochs`` means the same number of
    gradient steps as for any detector on the same data. Yields ``(x,
    labels)`` batches; the same ``seed`` gives the same batches. ``owner``
    names the detector in the error raised when either side is empty.
    """
    labels = np.asarray(labels)
    anomalies = labels == 1
    if anomalies.all() or not anomalies.any():
        missing = "labelled anomalies (1)" if not anomalies.any() else "other samples (0 or -1)"
        raise ValueError(
            f"{owner} trains on batches that take half their samples from the "
            "labelled anomalies (1) and half from the other samples (0 or "
            f"-1); its training labels hold no {missing}."
        )

    def cycled(members, stream_seed):
        samples = tf.data.Dataset.from_tensor_slices((x[members], labels[members]))
        return samples.shuffle(
            int(members.sum()), seed=stream_seed, reshuffle_each_iteration=True
        ).repeat()

    def stream(_):
        # Two seeds, so that two sides of the same size are not drawn in
        # the same order.
        sides = [cycled(~anomalies, seed), cycled(anomalies, (seed + 1) % _MAX_SEED)]
        turns = tf.data.Dataset.range(2).repeat()
        return tf.data.Dataset.choose_from_datasets(sides, turns)

    # Built inside flat_map, as in _devices.replica_dataset: every iterator
    # starts the same sequence of orders.
    dataset = tf.data.Dataset.from_tensors(0).flat_map(stream)
    dataset = dataset.batch(batch_size).prefetch(tf.data.AUTOTUNE)
    return dataset, math.ceil(len(x) / batch_size)
