"""Deep detectors trained by gradient descent: the engine's training loop."""

import math
import warnings
from numbers import Integral, Real

import numpy as np
from sklearn.base import _fit_context
from sklearn.utils._param_validation import Interval, StrOptions

from ..exceptions import TrainingDivergedError
from ..utils._parameters import Attribute, Parameter
from ._backend import keras, tf
from ._base import BaseDeepDetector
from ._devices import check_distribute, replica_dataset, training_scope
from ._state import network_state, optimized_variables, restore_network_state
from ._training import (
    OPTIMIZERS,
    StopOnNonFiniteLoss,
    balanced_dataset,
    epoch_dataset,
    make_optimizer,
    validation_split,
)

#: Most training steps run per call into TensorFlow: small networks are
#: dominated by the cost of each call, not by the arithmetic (32 steps a
#: call trains a small autoencoder on 100,000 rows about twice as fast as
#: one). An epoch with fewer steps runs them all in one call.
MAX_STEPS_PER_EXECUTION = 32


def steps_per_call(steps):
    """Training steps per call into TensorFlow for an epoch of ``steps``:
    the fewest calls of at most :data:`MAX_STEPS_PER_EXECUTION`, as even
    as they can be.

    Keras runs whole calls, so an epoch runs ``calls * steps_per_call``
    steps; where they do not divide ``steps``, the last call goes on into
    the next pass over the data. Even calls keep that excess under one
    step a call: 53 steps run as 2 calls of 27 (54 steps), where calls of
    32 would run 64.

    >>> steps_per_call(53), steps_per_call(64), steps_per_call(7)
    (27, 32, 7)
    """
    calls = math.ceil(steps / MAX_STEPS_PER_EXECUTION)
    return math.ceil(steps / calls)


#: A fit of at most this many steps in all (epochs times steps an epoch)
#: runs one step a call: tracing Keras' loop of several steps costs more
#: (about 0.3 s more for a small autoencoder) than the calls it saves.
FEW_STEPS = 64


def fit_steps_per_call(steps, epochs):
    """Steps a call for a fit of ``epochs`` epochs of ``steps`` steps:
    :func:`steps_per_call`, or one for a fit of at most :data:`FEW_STEPS`
    steps whose epochs run in one call each (so that it trains the same
    steps either way).

    >>> fit_steps_per_call(7, 2), fit_steps_per_call(7, 100), fit_steps_per_call(53, 1)
    (1, 7, 27)
    """
    if steps <= MAX_STEPS_PER_EXECUTION and steps * epochs <= FEW_STEPS:
        return 1
    return steps_per_call(steps)

EPOCHS = Parameter(
    "epochs", 100, [Interval(Integral, 1, None, closed="left")], "int",
    "Largest number of passes over the training data.",
)
BATCH_SIZE = Parameter(
    "batch_size", 64, [Interval(Integral, 1, None, closed="left")], "int",
    "Samples per gradient step (at most the training set size).",
)
LEARNING_RATE = Parameter(
    "learning_rate", 1e-3, [Interval(Real, 0.0, None, closed="neither")], "float",
    "Step size of the optimizer named by ``optimizer``.",
)
OPTIMIZER = Parameter(
    "optimizer", "adam", [StrOptions(set(OPTIMIZERS)), keras.optimizers.Optimizer],
    '{"adam", "adamw", "rmsprop", "sgd"} or keras Optimizer',
    """
    The optimizer. An instance is copied through its config at each fit
    (its own learning rate then applies and ``learning_rate`` is ignored),
    so fitting never changes the object given here.
    """,
)
VALIDATION_FRACTION = Parameter(
    "validation_fraction", 0.1, [Interval(Real, 0.0, 1.0, closed="left")],
    "float in [0, 1)",
    """
    Share of the training data held out to stop training early when its
    loss stops improving; the weights of the best epoch are kept. ``0``
    trains for ``epochs`` epochs. A detector that learns from labels
    stratifies the split on them.
    """,
)
PATIENCE = Parameter(
    "patience", 10, [Interval(Integral, 1, None, closed="left")], "int",
    "Epochs without improvement of the validation loss before stopping.",
)
TRIM_FRACTION = Parameter(
    "trim_fraction", 0.0, [Interval(Real, 0.0, 0.5, closed="left")],
    "float in [0, 0.5)",
    """
    Share of each training batch's largest per-sample losses left out of
    the training loss (a trimmed mean). Unlabelled training data holds
    anomalies; trimming stops them from pulling the model towards them.
    A labelled anomaly's loss is never left out. ``0`` trains on the plain
    mean.
    """,
)
CALLBACKS = Parameter(
    "callbacks", None, [list, None], "list of keras.callbacks.Callback or None",
    "Extra Keras callbacks passed to ``Model.fit``.",
)
WARM_START = Parameter(
    "warm_start", False, ["boolean"], "bool",
    """
    Continue training the fitted network, and its optimizers' state, on
    the next call to ``fit`` instead of starting afresh; also after a pickle
    round trip.
    """,
)
DISTRIBUTE = Parameter(
    "distribute", None, [tf.distribute.Strategy, None],
    "tf.distribute.Strategy or None",
    """
    Train one network on several devices, such as
    ``tf.distribute.MirroredStrategy()`` over the GPUs of one machine;
    ``device`` must then be ``"auto"``. ``batch_size`` stays the global
    batch, split evenly over the replicas (each pass over the data leaves
    out ``n_samples % n_replicas`` samples, different ones at each pass);
    ``trim_fraction`` trims each replica's part of the batch. Scoring runs
    on the default device. A strategy belongs to its process: pickling
    drops it (the restored detector has ``distribute=None``, with a
    warning), while ``clone`` copies it.
    """,
)


class BaseGradientDetector(BaseDeepDetector):
    """Base class of the deep detectors trained by gradient descent.

    A subclass writes ``_build_network(sample_shape)``, returning a
    :class:`~skanomaly.engine.DetectorNetwork` whose per-sample
    ``detector_loss`` the engine trains with Keras' ``Model.fit``, or
    whose own ``train_step`` trains it (with one optimizer per entry of
    its ``trained_parts`` for several sub-networks). The engine owns the
    rest, once: epochs and batches, the optimizers and their state, a
    validation split (stratified on the labels of a detector that learns
    from them) with early stopping that keeps the best weights, trimming of
    the largest per-sample losses (never those of labelled anomalies), the
    user's ``callbacks`` and ``verbose``, ``warm_start`` (after a pickle
    round trip too), ``tf.distribute``, and stopping with
    :class:`~skanomaly.exceptions.TrainingDivergedError` when any logged
    loss turns NaN or infinite. Its parameters are documented once, here,
    and added to each detector's signature and docstring.

    Optional hooks and declarations, besides those of
    :class:`~skanomaly.engine.BaseDeepDetector`:

    * ``_init_network(network, X, y)``: run once on a new network, before
      its first epoch, with the scaled training part of the data (a Deep
      SVDD centre, say);
    * ``_training_callbacks(network, X, epochs_done)``: Keras callbacks the
      detector itself needs (they run after early stopping has restored the
      best weights);
    * ``_trains_eagerly(X)``: run tiny fits eagerly, where tracing a graph
      costs more than it saves;
    * ``_make_optimizers(network)``: the optimizers, by part (``None`` for
      the one optimizer of a network without ``trained_parts``); by default
      each is made from ``optimizer`` and ``learning_rate``;
    * ``_early_stopping_monitor``: the logged value early stopping watches
      and minimises (``"val_loss"``; a network's ``test_step`` may log
      others), or ``None`` for a detector that does not stop early: it then
      takes no ``validation_fraction`` or ``patience``;
    * ``_trims_losses``: ``False`` for a detector whose training loss is
      not a mean of per-sample losses (its own ``train_step``): it then
      takes no ``trim_fraction``;
    * ``_balanced_batches``: ``True`` for a detector that learns from a few
      labelled anomalies and trains on batches half of them, half of the
      other samples (drawn afresh, with the anomalies recurring, see
      :func:`~skanomaly.engine._training.balanced_dataset`), when it is
      given labels; an epoch keeps its number of steps, and the validation
      batches stay plain, so that the validation loss is the loss on the
      held-out data as they are. Under ``distribute``, the batch size is
      rounded down to a multiple of the number of replicas;
    * ``_training_data(X, y, groups, batch_size, seed)``: the detector's
      own endless stream of training batches (a ``tf.data`` data set built
      by a function of :mod:`~skanomaly.engine._training`, such as
      :func:`~skanomaly.engine._training.episode_dataset`) and the steps in
      one epoch, from the scaled training part of the data, its labels and
      tasks (``groups``, for a detector that declares ``_fit_groups``, else
      ``None``); ``None`` (the default, unless ``_balanced_batches``) for
      the engine's shuffled passes over the data. ``batch_size`` is the
      parameter's, at most the number of training samples (and a multiple
      of the number of replicas under ``distribute``); the network's
      ``train_step`` takes the batches as the stream yields them.
    """

    _shared_parameters = (
        EPOCHS,
        BATCH_SIZE,
        LEARNING_RATE,
        OPTIMIZER,
        VALIDATION_FRACTION,
        PATIENCE,
        TRIM_FRACTION,
        CALLBACKS,
        WARM_START,
        DISTRIBUTE,
    )
    _shared_attributes = (
        Attribute(
            "history_", "dict of list",
            "Every logged loss per epoch (training and validation), across "
            "warm starts.",
        ),
        Attribute("n_epochs_", "int", "Epochs trained in all."),
    )

    #: The logged value early stopping watches (and minimises), or None not
    #: to stop early.
    _early_stopping_monitor = "val_loss"
    #: Whether the training loss is a mean of per-sample losses.
    _trims_losses = True
    #: Whether training batches are half labelled anomalies, half the rest.
    _balanced_batches = False
    #: Set during :meth:`partial_fit`: one pass, no validation, continued.
    _one_pass = False

    @classmethod
    def _takes_parameter(cls, name):
        if name in ("validation_fraction", "patience"):
            return cls._early_stopping_monitor is not None
        if name == "trim_fraction":
            return cls._trims_losses
        return super()._takes_parameter(name)

    # ----------------------------------------------------- subclass hooks
    def _init_network(self, network, X, y):
        """Prepare a new network on the scaled training data; no-op here."""

    def _training_callbacks(self, network, X, epochs_done):
        """Keras callbacks the detector itself needs; none here."""
        return []

    def _trains_eagerly(self, X):
        """Whether training on the scaled ``X`` runs eagerly; never here."""
        return False

    def _make_optimizers(self, network):
        """One optimizer per trained part, from ``optimizer`` and
        ``learning_rate``."""
        parts = [None] if network.trained_parts is None else network.trained_parts
        return {part: make_optimizer(self.optimizer, self.learning_rate) for part in parts}

    # ------------------------------------------------------ partial_fit
    @_fit_context(prefer_skip_nested_validation=True)
    def partial_fit(self, X, y=None):
        """Train on one more batch of data.

        The first call starts the detector, as ``fit`` would, from this
        batch: it sets the scaling (``scaling_center_`` and
        ``scaling_scale_``) and builds the network. Every later call goes
        on training that network, and its optimizers, with one pass over
        the batch, its samples shuffled into steps of ``batch_size``, and
        keeps the first call's scaling, so that the network's inputs keep
        their meaning as the data drift. No share is held out for
        validation and nothing stops early: a batch is trained on whole.
        ``offset_`` is set from the batch's own scores, as ``fit`` sets it
        from the training data's: the threshold follows the data.
        ``history_`` and ``n_epochs_`` grow by one pass a call. A later
        ``fit`` starts afresh unless ``warm_start=True``.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            The batch, with the features (or image shape) of the first.
        y : array-like of shape (n_samples,), default=None
            Its labels, for a detector that learns from them, as in ``fit``.

        Returns
        -------
        self : object
            The detector, trained on one more batch.
        """
        if "model_" in vars(self):
            # A batch with other features is refused as scoring refuses it.
            self._validate_input(X, reset=False)
        self._one_pass = True
        try:
            return self._fit_checked(X, y)
        finally:
            del self._one_pass

    # --------------------------------------------------- engine overrides
    def _fit(self, X, y, groups=None):
        check_distribute(self.distribute, self.device, type(self).__name__)
        return super()._fit(X, y, groups)

    def _continues_fit(self):
        return (self.warm_start or self._one_pass) and "model_" in vars(self)

    def _continues(self, sample_shape):
        if not self._continues_fit():
            return False
        if sample_shape != self._sample_shape_:
            raise ValueError(
                f"warm_start=True: X has samples of shape {sample_shape} but "
                f"the network was trained on {self._sample_shape_}. Set "
                "warm_start=False to train a new network."
            )
        return True

    def _continued_network(self):
        # A network keeps the strategy it was built under; continuing under
        # another one (or none) needs a copy built under the new one.
        if self.model_.distribute_strategy is (
            self.distribute or tf.distribute.get_strategy()
        ):
            return self.model_
        return self._restored_network(self._network_state())

    def _training_strategy(self):
        return self.distribute

    def _placement(self, tf_device):
        return training_scope(tf_device, self.distribute)

    def _new_training_network(self, seed=None):
        network = super()._new_training_network(seed)
        network.optimizers = self._make_optimizers(network)
        return network

    def _restored_network(self, state):
        network = super()._restored_network(state)
        self._compile(network, 1, state["run_eagerly"])
        return network

    @staticmethod
    def _compile(network, steps_per_execution, run_eagerly):
        one = network.trained_parts is None
        network.compile(
            optimizer=network.optimizers[None] if one else None,
            steps_per_execution=steps_per_execution,
            run_eagerly=run_eagerly,
        )
        # A compile for anything else than a pass of partial_fit (a fit, a
        # detector's own phase of training) leaves a train function that a
        # pass must not reuse.
        network.one_pass_compile = None

    def _training_data(self, X, y, groups, batch_size, seed):
        """The detector's own stream of training batches and the steps in
        one epoch, or None for the engine's: balanced batches with
        ``_balanced_batches`` and labels, else None."""
        if self._balanced_batches and y is not None:
            return balanced_dataset(X, y, batch_size, seed, owner=type(self).__name__)
        return None

    # ----------------------------------------------------------- training
    def _fit_network(self, network, X, y, *, seed, warm, groups=None):
        owner = type(self).__name__
        n_replicas = check_distribute(self.distribute, self.device, owner)
        fraction = (
            self.validation_fraction
            if self._early_stopping_monitor is not None and not self._one_pass
            else 0.0
        )
        rng = np.random.RandomState(seed)
        train, val = validation_split(len(X), fraction, rng, labels=y)
        X_train = X if val is None else X[train]
        y_train = y if val is None or y is None else y[train]
        groups_train = groups if val is None or groups is None else groups[train]
        saved = network_state(network, self._frozen_) if warm else None
        if not warm:
            self._init_network(network, X_train, y_train)
        network.trim_fraction = float(self.trim_fraction) if self._trims_losses else 0.0
        eager = self._trains_eagerly(X_train)

        guard = StopOnNonFiniteLoss()
        callbacks = [guard]
        if val is not None:
            callbacks.append(
                keras.callbacks.EarlyStopping(
                    monitor=self._early_stopping_monitor,
                    mode="min",
                    patience=self.patience,
                    restore_best_weights=True,
                )
            )
        # Early stopping restores the best weights before the detector's
        # own callbacks see the end of training.
        epochs_done = self.n_epochs_ if warm else 0
        callbacks += self._training_callbacks(network, X_train, epochs_done)
        callbacks += list(self.callbacks or [])
        batch_size = min(self.batch_size, len(X_train))

        def batches(x, labels, shuffle_seed=None):
            data = x if labels is None else (x, labels)
            if self.distribute is None:
                return epoch_dataset(data, batch_size, shuffle_seed)
            return replica_dataset(data, batch_size, n_replicas, shuffle_seed)

        # A detector's own stream yields full batches, endlessly: only the
        # batch size must split evenly over the replicas.
        own_stream = self._training_data(
            X_train, y_train, groups_train,
            max(n_replicas, batch_size // n_replicas * n_replicas), seed,
        )
        if own_stream is None:
            train_data, train_steps = batches(X_train, y_train, seed)
        else:
            train_data, train_steps = own_stream
        # Built here, in the fit's tf.distribute scope: an optimizer of one
        # part left to build itself in its first step, inside a replica's
        # traced step, fails under MirroredStrategy.
        if network.trained_parts is not None:
            for part, optimizer in network.optimizers.items():
                if not optimizer.built:
                    optimizer.build(optimized_variables(network, part))
        # Compiled afresh at every fit for this data's number of steps; a
        # warm start keeps its optimizers (and their state). Keras' loop of
        # several steps a call fails under tf.distribute
        # (keras-team/keras#19246): one step a call there.
        compile_key = (
            1 if self.distribute is not None
            else fit_steps_per_call(train_steps, 1 if self._one_pass else self.epochs),
            eager,
            network.trim_fraction,
        )
        # Passes of partial_fit one after the other reuse the train function
        # Keras traced for the first (tracing costs more than a small
        # batch's pass); what the trace depends on is in the key.
        if not (self._one_pass and warm and network.one_pass_compile == compile_key):
            self._compile(network, *compile_key[:2])
        if self._one_pass:
            network.one_pass_compile = compile_key
        if val is None:
            val_data, val_steps = None, None
        elif self.distribute is None:
            # Finite, so that a validation is one pass over the held-out
            # data whatever the steps a call (see epoch_dataset).
            held_out = X[val] if y is None else (X[val], y[val])
            val_data, val_steps = epoch_dataset(held_out, batch_size, repeat=False)[0], None
        else:
            # One step a call under tf.distribute: the steps are exact.
            val_data, val_steps = batches(X[val], None if y is None else y[val])
        try:
            history = network.fit(
                train_data,
                steps_per_epoch=train_steps,
                validation_data=val_data,
                validation_steps=val_steps,
                epochs=1 if self._one_pass else self.epochs,
                shuffle=False,  # the data set shuffles itself
                verbose=self.verbose,
                callbacks=callbacks,
            )
            if guard.diverged_at is not None:
                loss = (
                    "training loss" if guard.diverged_loss == "loss"
                    else f"logged loss {guard.diverged_loss!r}"
                )
                raise TrainingDivergedError(
                    f"{owner}: the {loss} became NaN or infinite at epoch "
                    f"{guard.diverged_at + 1}. Lower learning_rate (now "
                    f"{self.learning_rate}), keep scaling='standard', or check "
                    "the input for extreme values."
                    + (" The weights from before this fit were kept." if warm else "")
                )
        except BaseException:
            # A continued fit that fails (diverged, interrupted) leaves the
            # network, its optimizers included, as it was before.
            if warm:
                restore_network_state(network, saved, self._frozen_, owner)
            raise
        # A new dict of new lists: a fit that fails later restores the
        # detector's attributes from a shallow copy, the old history_ among
        # them, which must not have grown in place.
        before = {} if not warm else self.history_
        added = {name: [float(v) for v in values] for name, values in history.history.items()}
        self.history_ = {
            name: before.get(name, []) + added.get(name, [])
            for name in {**before, **added}
        }
        self.n_epochs_ = (self.n_epochs_ if warm else 0) + len(history.epoch)

    # -------------------------------------------------------- persistence
    def __getstate__(self):
        state = super().__getstate__()
        if state.get("distribute") is not None:
            # A strategy holds devices and threads of this process.
            warnings.warn(
                f"{type(self).__name__}: a tf.distribute strategy cannot be "
                "pickled; the pickled detector has distribute=None. Give it "
                "a strategy again with set_params(distribute=...).",
                UserWarning,
            )
            state["distribute"] = None
        return state
