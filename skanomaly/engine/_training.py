"""Pieces of the training loop: optimizers, validation split, callbacks."""

__all__ = [
    "StopOnNonFiniteLoss",
    "TrainingDivergedError",
    "balanced_dataset",
    "check_tasks",
    "episode_dataset",
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


def epoch_dataset(data, batch_size, shuffle_seed=None, repeat=True):
    """An endless ``tf.data`` stream of batches and the steps in one epoch.

    Keras creates a new iterator for every epoch of a finite data set,
    which costs about 10 ms each and dominates training on small data; an
    endless stream with ``steps_per_epoch`` keeps one iterator for the
    whole fit. Each pass over the data is reshuffled (seeded) and ends
    with the partial batch, so one epoch is still exactly one pass.
    ``data`` is the samples ``x`` or a tuple ``(x, labels)``.

    ``repeat=False`` gives one pass, for validation: Keras runs
    ``steps_per_execution`` steps a call, and from an endless stream a
    call would take more batches than one pass holds, weighting some
    held-out samples more than others; a finite one ends where the pass
    does.
    """
    n_samples = len(data[0]) if isinstance(data, tuple) else len(data)
    dataset = tf.data.Dataset.from_tensor_slices(data)
    if shuffle_seed is not None:
        dataset = dataset.shuffle(
            n_samples, seed=shuffle_seed, reshuffle_each_iteration=True
        )
    dataset = dataset.batch(batch_size)
    if repeat:
        dataset = dataset.repeat()
    dataset = dataset.prefetch(tf.data.AUTOTUNE)
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


def check_tasks(groups, n_samples, *, owner):
    """``groups``, the task of each sample, as a 1-D array, or a clear
    ``ValueError``.

    For detectors that learn across tasks (meta-learning): ``groups`` holds
    one task identifier a sample (any hashable values of one kind, as
    scikit-learn's group splitters take them), and must name at least two
    tasks: learning across tasks needs several (such a detector's ``fit``
    without ``groups`` takes all the data as one task). What each task
    must hold (labelled anomalies, normal samples) is checked where the
    training data are drawn from them
    (:func:`episode_dataset`), which knows how many a step takes.

    Examples
    --------
    >>> from skanomaly.engine._training import check_tasks
    >>> check_tasks(["a", "a", "b"], 3, owner="PrototypicalDetector")
    array(['a', 'a', 'b'], dtype='<U1')
    """
    tasks = np.asarray(groups)
    if tasks.ndim == 2 and tasks.shape[1] == 1:
        tasks = tasks[:, 0]
    if tasks.ndim != 1:
        raise ValueError(
            f"{owner}: groups must be one task a sample, a 1-D array; got an "
            f"array of shape {tasks.shape}."
        )
    if tasks.shape[0] != n_samples:
        raise ValueError(
            f"{owner}: groups has {tasks.shape[0]} entries but X has "
            f"{n_samples} samples; give the task of each sample."
        )
    if tasks.dtype.kind == "f" and np.isnan(tasks).any():
        raise ValueError(
            f"{owner}: groups holds NaN; give every sample the identifier of "
            "its task."
        )
    try:
        names = np.unique(tasks)
    except TypeError:
        raise ValueError(
            f"{owner}: groups must hold task identifiers of one kind (all "
            f"numbers or all strings) that can be sorted; got values such as "
            f"{tasks[:3].tolist()!r}."
        ) from None
    if names.shape[0] < 2:
        raise ValueError(
            f"{owner} learns across tasks and groups names one task only "
            f"({names.tolist()[0]!r}); give at least two, or fit without groups to "
            "train on all the data as one task."
        )
    return tasks


def episode_dataset(
    x, labels, tasks, *, n_support, n_query, seed, owner="episode_dataset",
    support_names=("the support set's anomalies", "the support set's normal samples"),
):
    """An endless stream of episodes, one a step, and the steps in one epoch.

    For detectors that learn across tasks from a few labelled anomalies
    (prototypical networks). Each episode draws one task uniformly, then
    from that task's samples of two classes, its labelled anomalies
    (``labels == 1``) and its other samples (``0`` or ``-1``, taken as
    normal):

    * a **support set** of ``n_support = (anomalies, normals)`` samples,
      drawn without replacement;
    * a **query set** of ``n_query = (anomalies, normals)`` samples, drawn
      with replacement from the task's samples of each class that are not
      in the support set (the few anomalies left recur).

    Each task must therefore hold more samples of each class than the
    support set takes of it; a ``ValueError`` names the first task that
    does not, and the parameter to lower (``support_names``, for the
    detector's parameters). ``tasks`` is None for one task of all the
    samples.

    An episode is ``(x, (labels, in_support))``: the rows of the support
    anomalies, support normals, query anomalies and query normals, in that
    order; ``labels`` their class (1 for an anomaly, 0 for a normal sample)
    and ``in_support`` whether each is in the support set. The draws are
    stateless functions of ``seed`` and the episode's number, so the same
    seed gives the same episodes in every iterator. An epoch is
    ``ceil(len(x) / sum(n_query))`` episodes: as many query samples as
    training samples, the engine's meaning of an epoch.
    """
    x = np.asarray(x, dtype=np.float32)
    anomalies = np.asarray(labels) == 1
    if tasks is None:
        codes, names = np.zeros(len(x), dtype=int), ["the training data"]
    else:
        task_ids, codes = np.unique(tasks, return_inverse=True)
        names = [f"task {task!r}" for task in task_ids.tolist()]
    n_support = tuple(int(n) for n in n_support)
    n_query = tuple(int(n) for n in n_query)
    if min(n_query) < 1:
        raise ValueError(
            f"{owner}: an episode's query set needs at least one anomaly and "
            f"one normal sample; got {n_query[0]} and {n_query[1]}."
        )
    # members[t][c]: the indices of task t's samples of class c (0 for the
    # anomalies, 1 for the others).
    members = [
        [np.flatnonzero((codes == t) & side) for side in (anomalies, ~anomalies)]
        for t in range(len(names))
    ]
    classes = ("labelled anomalies (1)", "normal or unlabelled samples (0 or -1)")
    for name, sides in zip(names, members):
        for side, taken, what, parameter in zip(sides, n_support, classes, support_names):
            if side.shape[0] <= taken:
                raise ValueError(
                    f"{owner}: {name} holds {side.shape[0]} {what}; an episode "
                    f"takes {taken} of them for its support set and needs at "
                    "least one more for its query set. Label more samples or "
                    f"lower {parameter}."
                )
    # Padded with -1 to the longest, for the draws in the graph.
    width = max(side.shape[0] for sides in members for side in sides)
    padded = np.full((len(members), 2, width), -1, dtype=np.int64)
    counts = np.zeros((len(members), 2), dtype=np.int64)
    for t, sides in enumerate(members):
        for c, side in enumerate(sides):
            padded[t, c, : side.shape[0]] = side
            counts[t, c] = side.shape[0]
    rows = tf.constant(x)
    padded = tf.constant(padded)
    counts = tf.constant(counts)
    n_tasks = len(members)
    positions = tf.range(width, dtype=tf.int64)
    labels_out = tf.constant(
        np.r_[np.ones(n_support[0]), np.zeros(n_support[1]),
              np.ones(n_query[0]), np.zeros(n_query[1])].astype(np.int32)
    )
    in_support = tf.constant(np.r_[np.ones(sum(n_support)), np.zeros(sum(n_query))] > 0)

    def draw(side, count, support_size, query_size, seeds):
        # A random order of the side's members (the padding last), its head
        # the support set; the query set from the rest, with replacement.
        keys = tf.random.stateless_uniform([width], seeds[0])
        keys = tf.where(positions < count, keys, 2.0)
        order = tf.gather(side, tf.argsort(keys))
        picks = tf.random.stateless_uniform(
            [query_size], seeds[1], minval=support_size, maxval=count, dtype=tf.int64
        )
        return order[:support_size], tf.gather(order, picks)

    def episode(number):
        seeds = tf.random.experimental.stateless_split(
            tf.stack([tf.cast(seed, tf.int64), number]), 5
        )
        task = tf.random.stateless_uniform(
            [], seeds[0], minval=0, maxval=n_tasks, dtype=tf.int64
        )
        support_anomalies, query_anomalies = draw(
            padded[task, 0], counts[task, 0], n_support[0], n_query[0], seeds[1:3]
        )
        support_normals, query_normals = draw(
            padded[task, 1], counts[task, 1], n_support[1], n_query[1], seeds[3:5]
        )
        indices = tf.concat(
            [support_anomalies, support_normals, query_anomalies, query_normals], axis=0
        )
        return tf.gather(rows, indices), (labels_out, in_support)

    dataset = tf.data.Dataset.counter().map(episode).prefetch(tf.data.AUTOTUNE)
    return dataset, math.ceil(len(x) / sum(n_query))
