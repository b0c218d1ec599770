"""Prototypical networks for anomaly detection: an embedding learnt across
tasks, a normal and an anomaly prototype per task."""

from ..engine import DetectorNetwork, keras
from ..utils._validation import check_layer_sizes
from ._episodic import EpisodicDetector

layers = keras.layers
ops = keras.ops


def squared_distances(embedded, prototypes):
    """``||f(x) - c_k||^2`` of each embedded sample to each prototype:
    ``(batch, dim)`` and ``(n_prototypes, dim)`` give ``(batch,
    n_prototypes)``."""
    return ops.sum(ops.square(embedded[:, None, :] - prototypes[None, :, :]), axis=-1)


def weighted_mean(embedded, weights):
    """The mean of the embedded samples of weight 1 (weights are 0 or 1)."""
    return ops.sum(embedded * weights[:, None], axis=0) / ops.sum(weights)


class PrototypicalNetwork(DetectorNetwork):
    """A dense embedding network ``f`` trained on episodes.

    ``hidden_units`` are the widths of its layers, the last one the
    embedding's: every layer but the last is followed by ``activation``,
    the last is linear. One training step is one episode (see
    :func:`~skanomaly.engine._training.episode_dataset`): the prototypes
    are the mean embeddings of the support set's normal samples and
    anomalies, and the loss is the cross-entropy of the query samples'
    classes under a softmax over their negative squared distances to the
    two prototypes. ``score`` takes the prototypes to score against.
    """

    trained_parts = ("embedding",)

    def __init__(self, hidden_units, *, activation):
        super().__init__()
        self.embedding = keras.Sequential(
            [layers.Dense(width, activation=activation) for width in hidden_units[:-1]]
            + [layers.Dense(hidden_units[-1])],
            name="embedding",
        )
        # The episodes' mean loss over an epoch, as Keras logs a loss.
        self.loss_tracker = keras.metrics.Mean(name="loss")

    @property
    def metrics(self):
        return [self.loss_tracker]

    def call(self, x, training=False):
        return self.embedding(x, training=training)

    def episode_loss(self, x, labels, in_support):
        """The mean cross-entropy of the query samples of one episode."""
        embedded = self.embedding(x, training=True)
        anomaly = ops.cast(ops.equal(labels, 1), embedded.dtype)
        support = ops.cast(in_support, embedded.dtype)
        prototypes = ops.stack(
            [
                weighted_mean(embedded, support * (1.0 - anomaly)),
                weighted_mean(embedded, support * anomaly),
            ]
        )
        # Class 0 is normal, class 1 the anomaly: the paper's logits.
        logits = -squared_distances(embedded, prototypes)
        losses = ops.sparse_categorical_crossentropy(
            ops.cast(anomaly, "int32"), logits, from_logits=True
        )
        query = 1.0 - support
        return ops.sum(losses * query) / ops.sum(query)

    def train_step(self, data):
        x, (labels, in_support), _ = keras.utils.unpack_x_y_sample_weight(data)
        loss = self.minimize("embedding", lambda: self.episode_loss(x, labels, in_support))
        self.loss_tracker.update_state(loss)
        return {"loss": self.loss_tracker.result()}

    def score(self, x, normal_prototype, anomaly_prototype):
        distances = squared_distances(
            self(x), ops.stack([normal_prototype, anomaly_prototype])
        )
        # log p(normal | x) - log p(anomaly | x) under the paper's softmax.
        return distances[:, 1] - distances[:, 0]


def _embed(network, x):
    return network(x)


class PrototypicalDetector(EpisodicDetector):
    """Prototypical networks for anomaly detection: an embedding learnt
    across tasks, so that a new task is learnt from a few labelled
    anomalies without training.

    Snell, Swersky and Zemel's prototypical networks (2017), with two
    classes, normal and anomalous. The training data come from several
    tasks (machines, sites, products; ``groups`` tells the task of each
    sample), each with its own normal data and its own kind of anomaly, a
    few of them labelled. Training is episodic: each step draws a task, a
    *support set* of ``n_support_anomalies`` of its labelled anomalies and
    ``n_support_normals`` of its other samples, and a *query set* of
    ``batch_size`` other samples of the task, half anomalies, half not. A
    dense network ``f`` embeds them; the *prototypes* ``c_n`` and ``c_a``
    are the mean embeddings of the support set's normal samples and
    anomalies; and the loss is the cross-entropy of the query samples'
    classes under ``p(k | x) = softmax_k(-||f(x) - c_k||^2)``. The network
    thus learns an embedding in which, for any task, a few labelled
    samples of each class make prototypes that tell the classes apart.

    A new task needs no training: :meth:`adapt` takes its support set (a
    few labelled anomalies and some normal samples) and sets the
    prototypes from it. The score is

    ``||f(x) - c_a||^2 - ||f(x) - c_n||^2 = log p(normal | x) - log
    p(anomaly | x)``,

    higher for more normal samples. After ``fit``, the prototypes are those
    of all the training tasks pooled: the mean embedding of every training
    sample not labelled anomalous and of every labelled anomaly.

    ``fit(X, y, groups)`` needs ``y``, one label a sample: ``1`` for a
    labelled anomaly, ``0`` for a normal sample and ``-1`` for an
    unlabelled one. Unlabelled samples are taken as normal, in the support
    and query sets and in the pooled prototype, as are samples labelled
    ``0``: the two are not told apart. Each task must hold more than
    ``n_support_anomalies`` labelled anomalies and more than
    ``n_support_normals`` other samples. Without ``groups`` all the
    samples are one task.

    Parameters
    ----------
    hidden_units : sequence of int, default=(64, 32)
        Widths of the embedding network's layers, the last one the
        embedding's (the paper's embeddings have 64 dimensions, from a
        convolutional network for images). Every layer but the last is
        followed by ``activation``; the last is linear.
    activation : str, default="relu"
        Activation of the hidden layers (any Keras name).
    n_support_anomalies : int >= 1, default=5
        Labelled anomalies in each training episode's support set: the
        number of shots the embedding is trained for (the paper trains with
        as many shots as the new tasks will have). :meth:`adapt` takes any
        number.
    n_support_normals : int >= 1, default=20
        Normal (or unlabelled) samples in each training episode's support
        set.
    batch_size : int, default=32
        Query samples of each episode, whose mean loss one training step
        minimises: ``batch_size // 2`` of the task's labelled anomalies
        outside the support set (drawn with replacement: the few there are
        recur) and the rest of its other samples. At least 2, and at most
        the number of training samples.
    epochs : int, default=100
        Number of epochs, each of ``ceil(n_samples / batch_size)`` episodes
        (as many query samples as training samples). The detector trains
        them all: it does not stop early.

    Attributes
    ----------
    normal_prototype_ : ndarray of shape (n_embedding,)
        The normal prototype ``c_n`` the scores are computed against: that
        of the training tasks pooled after ``fit``, that of the support set
        after :meth:`adapt`.
    anomaly_prototype_ : ndarray of shape (n_embedding,)
        The anomaly prototype ``c_a``, likewise.
    n_tasks_ : int
        Number of tasks trained on (1 without ``groups``).

    See Also
    --------
    DevNet : Learns one kind of anomaly from a few labelled ones, in one
        task.
    DeepSAD : Deep SVDD taught by a few labelled samples.
    skanomaly.model_selection.NewTaskSplit : Cross-validation that holds out
        whole tasks.
    skanomaly.model_selection.score_new_tasks : Scores a fitted detector on
        new tasks, adapting it to each.

    Notes
    -----
    **New tasks and scikit-learn's tools.** :meth:`adapt` is not part of
    scikit-learn's API: a scorer in ``GridSearchCV`` calls
    ``score_samples`` only, and so measures the pooled prototypes on the
    held-out tasks. :func:`~skanomaly.model_selection.score_new_tasks`
    measures a fitted detector adapted to each new task.

    **Threshold.** ``contamination="auto"`` sets ``offset_`` to 0: a sample
    is an outlier when it is nearer the anomaly prototype than the normal
    one (``p(anomaly | x) > 1/2``). This keeps its meaning after
    :meth:`adapt`, which does not change ``offset_``; a float
    ``contamination`` sets it from the training scores, under the pooled
    prototypes.

    What differs from the paper: its classes are many and balanced, and an
    episode draws several of them (``N``-way); here every task has the same
    two classes, and an episode draws one task, with more normal samples
    than anomalies in its support set. The embedding is a dense network
    for rows of features rather than the paper's convolutional one. The
    paper's classes are sampled with equal query counts, as the two
    classes here are (``batch_size // 2`` anomalies); the few anomalies of
    a task recur in the query set rather than being drawn without
    replacement. The learning rate is not halved every 2000 episodes (pass
    a Keras ``LearningRateSchedule`` in an optimizer for that), and
    ``distribute`` is refused: an episode's support and query sets must
    stay on one device. There is no early stopping: a held-out share holds
    too few labelled anomalies per task to tell how well they are told
    apart, as for :class:`~skanomaly.DevNet`.

    The paper reports few-shot classification accuracy on Omniglot and
    miniImageNet, not anomaly detection. Measured in this detector's tests
    (``tests/supervised/test_prototypical.py``, three seeds of the data):
    seven training tasks at different locations, each with its own kind
    of anomaly (a move along one of 4 features, beside 12 nuisance
    features), 10 labelled anomalies and 100 unlabelled samples each; a
    new task with another kind of anomaly. Adapted to the new task's
    support set (5 labelled anomalies, 20 normal samples), its test ROC
    AUC is 0.959, 0.913 and 0.915 (0.964, 0.940 and 0.923 with 3 labelled
    anomalies); with the pooled prototypes 0.06 to 0.14 (the new task's
    anomalies look like the other tasks' data); adapted the same way with
    the untrained embedding 0.67 to 0.75; the nearest of the support set's
    two means in the standardised input 0.61 to 0.90; the distance from
    the training mean and an ``IsolationForest`` 0.30 to 0.46. The
    defaults were not tuned on a benchmark; ``epochs=100`` is what those
    tasks needed (0.957, 0.907 and 0.889 after 50 epochs).

    References
    ----------
    .. [1] J. Snell, K. Swersky and R. Zemel, "Prototypical Networks for
       Few-shot Learning", Advances in Neural Information Processing
       Systems 30 (NeurIPS), 2017.

    Examples
    --------
    >>> import numpy as np
    >>> from skanomaly import PrototypicalDetector
    >>> rng = np.random.RandomState(0)
    >>> def task(location, feature, n=60):
    ...     X = rng.normal(location, 1.0, size=(n, 4))
    ...     X[:8, feature] += 4.0          # eight anomalies of the task's kind
    ...     return X, np.r_[np.ones(8), -np.ones(n - 8)].astype(int)
    >>> tasks = [task(0.0, 0), task(3.0, 1), task(-3.0, 2)]
    >>> X = np.vstack([X for X, _ in tasks])
    >>> y = np.concatenate([y for _, y in tasks])
    >>> groups = np.repeat([0, 1, 2], 60)
    >>> detector = PrototypicalDetector(epochs=5, random_state=0).fit(X, y, groups)
    >>> X_new, y_new = task(1.0, 3)                   # a new task
    >>> detector = detector.adapt(X_new[:20], y_new[:20])
    >>> detector.predict([[1.0, 1.0, 1.0, 1.0], [1.0, 1.0, 1.0, 5.0]])
    array([ 1, -1])
    """

    _parameter_defaults = {"batch_size": 32, "epochs": 100}
    _parameter_constraints: dict = {
        "hidden_units": ["array-like"],
        "activation": [str],
    }

    def __init__(
        self,
        hidden_units=(64, 32),
        *,
        activation="relu",
        **params,
    ):
        self.hidden_units = hidden_units
        self.activation = activation
        super().__init__(**params)

    # ------------------------------------------------------ engine hooks
    def _build_network(self, sample_shape):
        return PrototypicalNetwork(
            check_layer_sizes(self.hidden_units, "hidden_units"),
            activation=self.activation,
        )

    def _set_task(self, network, X, labels):
        # The mean embeddings of the samples not labelled anomalous and of
        # the labelled anomalies.
        width = int(check_layer_sizes(self.hidden_units, "hidden_units")[-1])
        embedded = self._map_in_chunks(network, _embed, X, (width,))
        anomalies = labels == 1
        self.normal_prototype_ = embedded[~anomalies].mean(axis=0)
        self.anomaly_prototype_ = embedded[anomalies].mean(axis=0)

    def _scoring_constants(self):
        return {
            "normal_prototype": self.normal_prototype_,
            "anomaly_prototype": self.anomaly_prototype_,
        }
