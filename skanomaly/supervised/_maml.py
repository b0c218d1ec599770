"""Model-agnostic meta-learning (MAML) for anomaly detection: a classifier's
starting weights learnt across tasks, so that a few gradient steps on a new
task's support set make it a detector of that task's anomalies."""

from numbers import Integral, Real

from sklearn.utils._param_validation import Interval

from ..engine import DetectorNetwork, keras
from ..utils._validation import check_layer_sizes
from ._episodic import EpisodicDetector

layers = keras.layers
ops = keras.ops


def balanced_cross_entropy(logits, anomaly, members):
    """The mean binary cross-entropy of the anomalies among ``members``
    and that of the other members, averaged with equal weights, so that a
    support set of 1 anomaly and 20 normal samples does not teach "always
    normal". ``anomaly`` and ``members`` are 0/1 floats per sample."""
    losses = ops.binary_crossentropy(anomaly, logits, from_logits=True)
    anomalies = members * anomaly
    normals = members * (1.0 - anomaly)
    return 0.5 * (
        ops.sum(losses * anomalies) / ops.maximum(ops.sum(anomalies), 1.0)
        + ops.sum(losses * normals) / ops.maximum(ops.sum(normals), 1.0)
    )


class MAMLNetwork(DetectorNetwork):
    """A dense classifier whose starting weights are trained by MAML.

    ``learner`` maps a sample to the logit of its being an anomaly
    (``hidden_units`` layers of ``activation``, then one linear unit). One
    training step is one episode (see
    :func:`~skanomaly.engine._training.episode_dataset`): ``inner_steps``
    steps of plain gradient descent of size ``inner_learning_rate`` on the
    support set's class-balanced cross-entropy, from the current weights,
    then the query set's cross-entropy under the adapted weights, which the
    outer optimizer minimises with respect to the starting weights:
    through the inner steps (second-order MAML) or, with ``first_order``,
    taking the inner gradients as constants. ``score`` takes the weights
    to score with (those adapted to a task), in the order of the learner's
    variables, as keyword arguments ``weight_00``, ``weight_01``, ...
    """

    trained_parts = ("learner",)

    def __init__(self, hidden_units, *, activation, inner_steps, inner_learning_rate,
                 first_order):
        super().__init__()
        self.learner = keras.Sequential(
            [layers.Dense(width, activation=activation) for width in hidden_units]
            + [layers.Dense(1)],
            name="learner",
        )
        self.inner_steps = inner_steps
        self.inner_learning_rate = inner_learning_rate
        self.first_order = first_order
        # The episodes' mean loss over an epoch, as Keras logs a loss.
        self.loss_tracker = keras.metrics.Mean(name="loss")

    @property
    def metrics(self):
        return [self.loss_tracker]

    def call(self, x, training=False):
        return self.learner(x, training=training)[:, 0]

    def logits(self, weights, x):
        """The anomaly logits of ``x`` under ``weights``."""
        return self.call_with("learner", weights, x)[:, 0]

    def adapted(self, weights, x, anomaly, members, steps, *, second_order):
        """``weights`` after ``steps`` gradient steps on the class-balanced
        cross-entropy of the samples of ``x`` marked in ``members``."""
        for _ in range(steps):
            _, gradients = self.gradients(
                lambda w: balanced_cross_entropy(self.logits(w, x), anomaly, members),
                weights,
                second_order=second_order,
            )
            weights = [w - self.inner_learning_rate * g for w, g in zip(weights, gradients)]
        return weights

    def episode_loss(self, x, labels, in_support):
        """The query set's cross-entropy after adapting to the support set."""
        anomaly = ops.cast(ops.equal(labels, 1), "float32")
        support = ops.cast(in_support, "float32")
        weights = self.adapted(
            self.current_weights("learner"), x, anomaly, support, self.inner_steps,
            second_order=not self.first_order,
        )
        return balanced_cross_entropy(self.logits(weights, x), anomaly, 1.0 - support)

    def train_step(self, data):
        x, (labels, in_support), _ = keras.utils.unpack_x_y_sample_weight(data)
        loss = self.minimize("learner", lambda: self.episode_loss(x, labels, in_support))
        self.loss_tracker.update_state(loss)
        return {"loss": self.loss_tracker.result()}

    def score(self, x, **weights):
        ordered = [weights[name] for name in sorted(weights)]
        # The log-odds of normal: higher for more normal samples.
        return -self.logits(ordered, x)


class MAMLDetector(EpisodicDetector):
    """Model-agnostic meta-learning (MAML) for anomaly detection: starting
    weights learnt across tasks, from which a few gradient steps on a new
    task's labelled samples make a detector of that task's anomalies.

    Finn, Abbeel and Levine's MAML (2017), for classifying samples as
    normal or anomalous. The training data come from several tasks
    (machines, sites, products; ``groups`` tells the task of each sample),
    each with its own normal data and its own kind of anomaly, a few of
    them labelled. A dense network ``f_θ`` gives each sample the logit of
    its being an anomaly. Training is episodic: each step draws a task, a
    *support set* of ``n_support_anomalies`` of its labelled anomalies and
    ``n_support_normals`` of its other samples, and a *query set* of
    ``batch_size`` other samples of the task, half anomalies, half not.
    From the current weights ``θ``, ``inner_steps`` steps of gradient
    descent of size ``α = inner_learning_rate`` on the support set's loss
    give adapted weights ``θ'``; the step then moves ``θ`` to lower the
    query set's loss under ``θ'``, differentiating through the inner steps
    (second-order MAML) or, with ``first_order=True``, taking the inner
    gradients as constants (the paper's first-order approximation, cheaper
    and, in its miniImageNet runs, nearly as good). Both losses are binary cross-entropies, the
    support set's with its anomalies and its normal samples weighted
    equally. The network thus learns starting weights from which a few
    labelled samples of a task are enough to tell its classes apart.

    A new task is learnt by the same inner steps: :meth:`adapt` takes its
    support set (a few labelled anomalies and some normal samples) and runs
    ``adapt_steps`` gradient steps from the trained starting weights; the
    adapted weights are kept in ``task_weights_`` and the starting weights
    are left as they are, so the detector can adapt to another task next.
    The score is ``-f_θ'(x)``, the log-odds of the sample being normal,
    higher for more normal samples. After ``fit``, ``θ'`` is the starting
    weights adapted the same way to all the training data pooled.

    ``fit(X, y, groups)`` needs ``y``, one label a sample: ``1`` for a
    labelled anomaly, ``0`` for a normal sample and ``-1`` for an
    unlabelled one. Unlabelled samples are taken as normal, in the support
    and query sets and in the pooled adaptation, as are samples labelled
    ``0``: the two are not told apart. Each task must hold more than
    ``n_support_anomalies`` labelled anomalies and more than
    ``n_support_normals`` other samples. Without ``groups`` all the
    samples are one task.

    Parameters
    ----------
    hidden_units : sequence of int, default=(64, 32)
        Widths of the network's hidden layers, each followed by
        ``activation``; one linear output unit follows them (the paper's
        networks for regression have two hidden layers of 40 units, those
        for images are convolutional).
    activation : str, default="relu"
        Activation of the hidden layers (any Keras name).
    inner_steps : int >= 1, default=5
        Gradient steps on the support set in each training episode (the
        paper takes 1 to 5).
    inner_learning_rate : float > 0, default=0.03
        Size ``α`` of the inner gradient steps, in training and in
        :meth:`adapt` (the paper takes 0.01 to 0.4).
    first_order : bool, default=False
        Take the inner gradients as constants when differentiating the
        query loss (first-order MAML): no second derivatives, about half
        the cost of a training step.
    adapt_steps : int >= 1 or None, default=None
        Gradient steps on the support set in :meth:`adapt` and in the
        pooled adaptation after ``fit``; ``None`` takes ``inner_steps``
        (the paper takes up to twice as many at test time as in training).
    batch_size : int, default=32
        Query samples of each episode, whose loss one training step
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
    task_weights_ : list of ndarray
        The weights the scores are computed with, in the order of the
        network's variables: the starting weights (``model_``) adapted to
        the training data pooled after ``fit``, to the support set after
        :meth:`adapt`.

    See Also
    --------
    PrototypicalDetector : Learns across tasks too, and adapts to a new
        task without gradient steps: for tasks that differ more.
    DevNet : Learns one kind of anomaly from a few labelled ones, in one
        task.
    skanomaly.model_selection.NewTaskSplit : Cross-validation that holds out
        whole tasks.
    skanomaly.model_selection.score_new_tasks : Scores a fitted detector on
        new tasks, adapting it to each.

    Notes
    -----
    **New tasks and scikit-learn's tools.** :meth:`adapt` is not part of
    scikit-learn's API: a scorer in ``GridSearchCV`` calls
    ``score_samples`` only, and so measures the weights adapted to the
    training tasks pooled on the held-out tasks.
    :func:`~skanomaly.model_selection.score_new_tasks` measures a fitted
    detector adapted to each new task.

    **Threshold.** ``contamination="auto"`` sets ``offset_`` to 0: a sample
    is an outlier when the adapted classifier gives it a probability of
    being an anomaly above one half. This keeps its meaning after
    :meth:`adapt`, which does not change ``offset_``; a float
    ``contamination`` sets it from the training scores, under the weights
    adapted to the training data pooled.

    **When to use it.** MAML learns one starting point for all the tasks,
    which suits tasks that are alike (the same kind of sensor on several
    machines); :class:`PrototypicalDetector` learns an embedding and
    averages it per class, which copes better with tasks that differ.
    ``benchmarks/few_shot.py`` measures the two on the same tasks.

    What differs from the paper: a training step draws one task, where the
    paper averages the query losses of a meta-batch of 4 to 32 tasks
    (raise ``epochs`` rather than ``batch_size`` for more tasks); the
    network is dense, for rows of features, where the paper's image
    networks are convolutional with batch normalisation; the support loss
    weights the two classes equally, as the paper's tasks are balanced and
    a support set here is not; and ``distribute`` is refused: an episode's
    support and query sets must stay on one device. There is no early
    stopping: a held-out share holds too few labelled anomalies per task
    to tell how well they are told apart, as for :class:`~skanomaly.DevNet`.

    The paper reports few-shot classification accuracy on Omniglot and
    miniImageNet, not anomaly detection. Measured in this detector's tests
    (``tests/supervised/test_maml.py``, three seeds of the data): eight
    training tasks at different locations whose anomalies are all of one
    kind (a move along one of 4 features, beside 12 nuisance features), 10
    labelled anomalies and 100 unlabelled samples each; a new task at
    another location. Adapted to the new task's support set (5 labelled
    anomalies, 20 normal samples), its test ROC AUC is 0.698, 0.955 and
    0.882; the same steps from the untrained network 0.558, 0.536 and
    0.495; the nearest of the support set's two means in the standardised
    input 0.537, 0.754 and 0.680; a :class:`PrototypicalDetector` adapted
    to the same support set 0.890, 0.970 and 0.978. On tasks whose kinds
    of anomaly differ (those of :class:`PrototypicalDetector`'s tests),
    MAML adapted to the new task reaches 0.460, 0.346 and 0.291, below the
    untrained network's 0.734, 0.615 and 0.517: its one starting point
    does not serve tasks that pull it different ways.

    ``inner_learning_rate`` was chosen among 0.03, 0.1 and 0.4. On the
    tasks that are alike the three are close (means over the three seeds
    0.845, 0.842 and 0.769); on the selection part of
    ``benchmarks/few_shot.py`` (its seed 0, anomaly digit 7, 5 shots: seven
    tasks; ``python benchmarks/few_shot_select.py``), 0.03 reaches a mean
    ROC AUC of 0.972, 0.1 of 0.870 and 0.4 of 0.652, the larger steps on
    standardised pixels overshooting on some tasks (0.274 at 0.1). The
    other defaults were not tuned.

    References
    ----------
    .. [1] C. Finn, P. Abbeel and S. Levine, "Model-Agnostic Meta-Learning
       for Fast Adaptation of Deep Networks", Proceedings of the 34th
       International Conference on Machine Learning (ICML), 2017.

    Examples
    --------
    >>> import numpy as np
    >>> from skanomaly import MAMLDetector
    >>> rng = np.random.RandomState(0)
    >>> def task(location, feature, n=60):
    ...     X = rng.normal(location, 1.0, size=(n, 4))
    ...     X[:8, feature] += 4.0          # eight anomalies of the task's kind
    ...     return X, np.r_[np.ones(8), -np.ones(n - 8)].astype(int)
    >>> tasks = [task(0.0, 0), task(3.0, 1), task(-3.0, 2)]
    >>> X = np.vstack([X for X, _ in tasks])
    >>> y = np.concatenate([y for _, y in tasks])
    >>> groups = np.repeat([0, 1, 2], 60)
    >>> detector = MAMLDetector(epochs=5, random_state=0).fit(X, y, groups)
    >>> X_new, y_new = task(1.0, 3)                   # a new task
    >>> detector = detector.adapt(X_new[:20], y_new[:20])
    >>> detector.predict([[1.0, 1.0, 1.0, 1.0], [1.0, 1.0, 1.0, 5.0]])
    array([ 1, -1])
    """

    _parameter_defaults = {"batch_size": 32, "epochs": 100}
    _parameter_constraints: dict = {
        "hidden_units": ["array-like"],
        "activation": [str],
        "inner_steps": [Interval(Integral, 1, None, closed="left")],
        "inner_learning_rate": [Interval(Real, 0.0, None, closed="neither")],
        "first_order": ["boolean"],
        "adapt_steps": [Interval(Integral, 1, None, closed="left"), None],
    }

    def __init__(
        self,
        hidden_units=(64, 32),
        *,
        activation="relu",
        inner_steps=5,
        inner_learning_rate=0.03,
        first_order=False,
        adapt_steps=None,
        **params,
    ):
        self.hidden_units = hidden_units
        self.activation = activation
        self.inner_steps = inner_steps
        self.inner_learning_rate = inner_learning_rate
        self.first_order = first_order
        self.adapt_steps = adapt_steps
        super().__init__(**params)

    # ------------------------------------------------------ engine hooks
    def _build_network(self, sample_shape):
        return MAMLNetwork(
            check_layer_sizes(self.hidden_units, "hidden_units"),
            activation=self.activation,
            inner_steps=self.inner_steps,
            inner_learning_rate=self.inner_learning_rate,
            first_order=self.first_order,
        )

    def _set_task(self, network, X, labels):
        steps = self.inner_steps if self.adapt_steps is None else self.adapt_steps
        x = ops.convert_to_tensor(X, "float32")
        anomaly = ops.cast(ops.equal(ops.convert_to_tensor(labels), 1), "float32")
        weights = network.adapted(
            network.current_weights("learner"), x, anomaly, ops.ones_like(anomaly), steps,
            second_order=False,
        )
        self.task_weights_ = [ops.convert_to_numpy(w) for w in weights]

    def _scoring_constants(self):
        return {f"weight_{i:02d}": w for i, w in enumerate(self.task_weights_)}
