"""Pieces of the training loop: optimizers, validation split, callbacks."""

__all__ = [
    "StopOnNonFiniteLoss",
    "TrainingDivergedError",
    "epoch_dataset",
    "make_optimizer",
    "validation_split",
]

import math

import numpy as np

from ..exceptions import TrainingDivergedError
from ._backend import keras, tf

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
