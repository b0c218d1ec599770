"""The engine every deep detector shares."""

import contextlib
import functools
import warnings
from numbers import Integral, Real

import numpy as np
from sklearn.utils._param_validation import Interval, StrOptions

from ..base import BaseDetector
from ._backend import keras, tf
from ._devices import (
    DeviceOptions,
    check_device,
    check_distribute,
    device_scope,
    on_device,
    replica_dataset,
    scoring_device,
    training_scope,
)
from ._scaling import SCALINGS, apply_scaling, fit_scaling
from ._scoring import ChunkedMapper
from ._seeding import draw_seed, keep_global_rngs, own_default_seeds, seeded
from ._training import (
    OPTIMIZERS,
    StopOnNonFiniteLoss,
    TrainingDivergedError,
    epoch_dataset,
    make_optimizer,
    validation_split,
)

#: Most training steps run per call into TensorFlow: small networks are
#: dominated by the cost of each call, not by the arithmetic (32 steps a
#: call trains a small autoencoder on 100,000 rows about twice as fast as
#: one). An epoch with fewer steps runs them all in one call.
MAX_STEPS_PER_EXECUTION = 32


@contextlib.contextmanager
def _dtype_policy(name):
    """Build layers under Keras' global dtype policy ``name``."""
    previous = keras.config.dtype_policy()
    keras.config.set_dtype_policy(name)
    try:
        yield
    finally:
        keras.config.set_dtype_policy(previous)


def _score_scaled(network, center, scale, x):
    return network.score((x - center) / scale)


class BaseDeepDetector(BaseDetector):
    """Base class of the deep detectors: training, scoring and persistence.

    A subclass writes only what is its own:

    * ``_build_network(sample_shape)``: a new, unbuilt
      :class:`~skanomaly._keras.DetectorNetwork` for samples of that shape,
      built only from the estimator's parameters;
    * optionally ``_init_network(network, X)``, run once on a new network
      before its first epoch (a Deep SVDD centre, say),
      ``_training_callbacks(network, X)`` for Keras callbacks of its own,
      and ``_calibrate(X)``, run on the scaled training data after every
      fit, for what scoring needs from the trained network;
    * for inputs other than rows of features: ``_scale_per_channel = True``
      (one centre and scale per channel, the last axis, rather than per
      value), ``_trains_eagerly(X)`` (tiny fits of networks that take
      seconds to trace), ``_values_per_row()`` (the scoring memory bound
      of wide layers) and, for outputs other than scores, mappers of
      their own (``_make_scorer`` with :meth:`_mapper_of`).

    The engine owns everything else: input scaling, seeding, the
    validation split with early stopping and restoring the best weights,
    the user's ``callbacks`` and ``verbose``, ``warm_start``, stopping with
    :class:`~skanomaly._keras.TrainingDivergedError` when the loss turns
    NaN, chunked scoring through a compiled float64 copy of the network,
    and pickling (a network is rebuilt from the parameters and its weights,
    optimizer state included).

    Parameters
    ----------
    epochs : int
        Largest number of passes over the training data.
    batch_size : int
        Samples per gradient step (at most the training set size).
    learning_rate : float
        Step size of the optimizer named by ``optimizer``.
    optimizer : {"adam", "adamw", "rmsprop", "sgd"} or keras Optimizer
        An instance is copied through its config at each fit (its own
        learning rate then applies and ``learning_rate`` is ignored).
    validation_fraction : float in [0, 1)
        Share of the training data held out to stop training early when
        its loss stops improving; the weights of the best epoch are kept.
        ``0`` trains for ``epochs`` epochs.
    patience : int
        Epochs without improvement of the validation loss before stopping.
    trim_fraction : float in [0, 0.5)
        Share of each training batch's largest per-sample losses left out
        of the training loss (a trimmed mean). Unlabelled training data
        holds anomalies; trimming stops them from pulling the model
        towards them. ``0`` trains on the plain mean.
    scaling : {"standard", "robust", "minmax"} or None
        Per-feature scaling fitted on the training data and applied inside
        the detector, so raw, unscaled features work.
    callbacks : list of keras.callbacks.Callback or None
        Extra Keras callbacks passed to ``Model.fit``.
    verbose : int
        Keras' progress output: 0 silent, 1 progress bar, 2 a line per epoch.
    random_state : int, RandomState instance or None
        Seeds weight initialisation, shuffling, dropout and noise: an int
        gives the same scores run after run.
    warm_start : bool
        Continue training the fitted network (and its optimizer state) on
        the next call to ``fit`` instead of starting afresh.
    device : {"auto", "cpu", "gpu"} or "gpu:N"
        Where to train and score: ``"auto"`` lets TensorFlow choose (the
        first visible GPU if there is one, else the CPU), ``"gpu"`` is the
        first visible GPU and ``"gpu:N"`` the N-th, counted after
        ``CUDA_VISIBLE_DEVICES``. ``fit`` raises a ValueError naming the
        devices that exist when the one asked for does not; a fitted
        detector loaded where its GPU does not exist scores on the default
        device. GPU memory is taken as needed, so that several processes
        can share a GPU (set ``TF_FORCE_GPU_ALLOW_GROWTH=false`` before
        importing skanomaly to turn this off).
    distribute : tf.distribute.Strategy or None
        Train one network on several devices, such as
        ``tf.distribute.MirroredStrategy()`` over the GPUs of one machine;
        ``device`` must then be ``"auto"``. ``batch_size`` stays the
        global batch, split evenly over the replicas (each pass over the
        data leaves out ``n_samples % n_replicas`` samples, different ones
        at each pass); ``trim_fraction`` trims each replica's part of the
        batch. Scoring runs on the default device. A strategy belongs to
        its process: pickling drops it (the restored detector has
        ``distribute=None``, with a warning), while ``clone`` copies it.
    contamination : "auto" or float in (0, 0.5]
        See :class:`skanomaly.base.BaseDetector`.
    """

    _parameter_constraints: dict = {
        **BaseDetector._parameter_constraints,
        "epochs": [Interval(Integral, 1, None, closed="left")],
        "batch_size": [Interval(Integral, 1, None, closed="left")],
        "learning_rate": [Interval(Real, 0.0, None, closed="neither")],
        "optimizer": [StrOptions(set(OPTIMIZERS)), keras.optimizers.Optimizer],
        "validation_fraction": [Interval(Real, 0.0, 1.0, closed="left")],
        "patience": [Interval(Integral, 1, None, closed="left")],
        "trim_fraction": [Interval(Real, 0.0, 0.5, closed="left")],
        "scaling": [StrOptions(set(SCALINGS)), None],
        "callbacks": [list, None],
        "verbose": ["verbose"],
        "random_state": ["random_state"],
        "warm_start": ["boolean"],
        "device": [DeviceOptions()],
        "distribute": [tf.distribute.Strategy, None],
    }

    #: Fit one centre and scale per channel (the last axis) over all the
    #: other axes, rather than one per value: a pixel's position or a step
    #: of a window has no meaning of its own.
    _scale_per_channel = False

    # ----------------------------------------------------- subclass hooks
    def _build_network(self, sample_shape):  # pragma: no cover - abstract
        raise NotImplementedError

    def _trains_eagerly(self, X):
        """Whether training on the scaled ``X`` runs eagerly; never here."""
        return False

    def _calibrate(self, X):
        """Fit what scoring needs from the trained network; nothing here."""

    def _values_per_row(self):
        """Working memory of one sample in values while scoring, when it is
        more than the sample's own; ``None`` here."""
        return None

    def _init_network(self, network, X):
        """Prepare a new network on the scaled training data; no-op here."""

    def _training_callbacks(self, network, X):
        """Keras callbacks the detector itself needs; none here."""
        return []

    # ----------------------------------------------------------- training
    def _fit(self, X, y):
        owner = type(self).__name__
        tf_device = check_device(self.device, owner)
        n_replicas = check_distribute(self.distribute, self.device, owner)
        seed = draw_seed(self.random_state)
        sample_shape = tuple(X.shape[1:])
        warm = self.warm_start and getattr(self, "model_", None) is not None
        # A network keeps the strategy it was built under; continuing under
        # another one (or none) needs a copy built under the new one.
        moved = warm and self.model_.distribute_strategy is not (
            self.distribute or tf.distribute.get_strategy()
        )
        if warm and sample_shape != self._sample_shape:
            raise ValueError(
                f"warm_start=True: X has samples of shape {sample_shape} but "
                f"the network was trained on {self._sample_shape}. Set "
                "warm_start=False to train a new network."
            )
        if not warm:
            self.scaling_center_, self.scaling_scale_ = fit_scaling(
                X.reshape(-1, X.shape[-1]) if self._scale_per_channel else X,
                self.scaling,
            )
        X_scaled = apply_scaling(X, self.scaling_center_, self.scaling_scale_)
        rng = np.random.RandomState(seed)
        train, val = validation_split(len(X), self.validation_fraction, rng)
        X_train = X_scaled if val is None else X_scaled[train]

        with seeded(seed), training_scope(tf_device, self.distribute):
            if warm:
                network = self.model_
                if moved:
                    network = self._restored_network(self._network_state(network))
                saved_weights = network.get_weights()
            else:
                self._sample_shape = sample_shape
                network = self._new_training_network(seed)
                self._init_network(network, X_train)
                saved_weights = None
            network.trim_fraction = float(self.trim_fraction)
            self._eager = self._trains_eagerly(X_train)
            guard = StopOnNonFiniteLoss()
            callbacks = [guard]
            if val is not None:
                callbacks.append(
                    keras.callbacks.EarlyStopping(
                        monitor="val_loss",
                        patience=self.patience,
                        restore_best_weights=True,
                    )
                )
            # Early stopping restores the best weights before the detector's
            # own callbacks see the end of training.
            callbacks += self._training_callbacks(network, X_train)
            callbacks += list(self.callbacks or [])
            batch_size = min(self.batch_size, len(X_train))

            def batches(data, shuffle_seed=None):
                if self.distribute is None:
                    return epoch_dataset(data, batch_size, shuffle_seed)
                return replica_dataset(data, batch_size, n_replicas, shuffle_seed)

            train_data, train_steps = batches(X_train, seed)
            # Compiled afresh at every fit for this data's number of steps;
            # a warm start keeps its optimizer (and the optimizer's state).
            # Keras' loop of several steps a call fails under tf.distribute
            # (keras-team/keras#19246): one step a call there.
            network.compile(
                optimizer=network.optimizer,
                steps_per_execution=(
                    1
                    if self.distribute is not None
                    else min(MAX_STEPS_PER_EXECUTION, train_steps)
                ),
                run_eagerly=self._eager,
            )
            if val is None:
                val_data, val_steps = None, None
            else:
                val_data, val_steps = batches(X_scaled[val])
            history = network.fit(
                train_data,
                steps_per_epoch=train_steps,
                validation_data=val_data,
                validation_steps=val_steps,
                epochs=self.epochs,
                shuffle=False,  # the data set shuffles itself
                verbose=self.verbose,
                callbacks=callbacks,
            )

        if guard.diverged_at is not None:
            self._discard_diverged(network, saved_weights)
            raise TrainingDivergedError(
                f"{type(self).__name__}: the training loss became NaN or "
                f"infinite at epoch {guard.diverged_at + 1}. Lower "
                f"learning_rate (now {self.learning_rate}), keep "
                "scaling='standard', or check the input for extreme values."
                + (" The weights from before this fit were kept." if warm else "")
            )
        self.model_ = network
        if not warm:
            self.history_ = {}
            self.n_epochs_ = 0
        for name, values in history.history.items():
            self.history_.setdefault(name, []).extend(float(v) for v in values)
        self.n_epochs_ += len(history.epoch)
        self._scorer = self._make_scorer()
        self._calibrate(X_scaled)
        return None

    def _discard_diverged(self, network, saved_weights):
        """Leave the estimator as it was before a fit that diverged."""
        if saved_weights is not None:
            network.set_weights(saved_weights)
        else:
            # Nothing usable is left: the estimator is unfitted again.
            for name in list(vars(self)):
                if name.endswith("_") and not name.startswith("__"):
                    delattr(self, name)
            for name in self._SCORING_STATE:
                self.__dict__.pop(name, None)

    def _new_network(self, dtype, seed=None):
        """The detector's network for ``_sample_shape``, built, in ``dtype``
        (its initial weights drawn from ``seed`` when given)."""
        with keep_global_rngs(), _dtype_policy(dtype), own_default_seeds(seed):
            network = self._build_network(self._sample_shape)
            network(np.zeros((1, *self._sample_shape), dtype=dtype))
        return network

    def _new_training_network(self, seed=None):
        network = self._new_network("float32", seed)
        network.compile(
            optimizer=make_optimizer(self.optimizer, self.learning_rate),
            run_eagerly=getattr(self, "_eager", False),
        )
        return network

    # ------------------------------------------------------------ scoring
    #: What scoring keeps besides the fitted attributes; rebuilt, not pickled.
    _SCORING_STATE = ("_scorer", "_scoring_network", "_mappers", "_scoring_device")

    def _make_scorer(self):
        """The compiled scorer over a float64 copy of the trained network.

        A subclass that maps samples to more than a score (anomaly maps,
        reconstructions) extends this, adding mappers from
        :meth:`_mapper_of` to ``self._mappers``.
        """
        # Parameters from before devices existed read as their defaults.
        self._scoring_device = scoring_device(
            getattr(self, "device", "auto"), getattr(self, "distribute", None)
        )
        with device_scope(self._scoring_device):
            network = self._new_network("float64")
        network.set_weights(
            [
                w.astype(np.float64) if np.issubdtype(w.dtype, np.floating) else w
                for w in self.model_.get_weights()
            ]
        )
        self._scoring_network = network
        self._mappers = {}
        return self._mapper_of(_score_scaled)

    def _mapper_of(self, function, output_shape=(), center=None, scale=None):
        """A :class:`~skanomaly._keras._scoring.ChunkedMapper` of
        ``function(network, center, scale, x)`` over the float64 scoring
        network, with the fitted scaling unless ``center`` and ``scale``
        are given."""
        center = self.scaling_center_ if center is None else center
        scale = self.scaling_scale_ if scale is None else scale
        # A partial rather than a closure: TensorFlow counts traces per code
        # object and would warn of "retracing" across fitted detectors.
        return ChunkedMapper(
            functools.partial(
                on_device,
                self._scoring_device,
                function,
                self._scoring_network,
                tf.constant(center, tf.float64),
                tf.constant(scale, tf.float64),
            ),
            self._sample_shape,
            output_shape,
            values_per_row=self._values_per_row(),
            # Trained eagerly means tiny: tracing would cost more than it saves.
            eager=getattr(self, "_eager", False),
        )

    def _score_samples(self, X):
        return self._scorer(X)

    # -------------------------------------------------------- persistence
    def __getstate__(self):
        # A copy: on Python 3.11 the parent returns the live __dict__.
        state = dict(super().__getstate__())
        for name in self._SCORING_STATE:
            state.pop(name, None)
        network = state.pop("model_", None)
        if network is not None:
            state["_network_state"] = self._network_state(network)
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

    def __setstate__(self, state):
        network_state = state.pop("_network_state", None)
        super().__setstate__(state)
        if network_state is None:
            return
        self.model_ = self._restored_network(network_state)
        self._scorer = self._make_scorer()

    @staticmethod
    def _network_state(network):
        """The weights and optimizer state of a training network."""
        return {
            "weights": network.get_weights(),
            "optimizer": [
                keras.ops.convert_to_numpy(v) for v in network.optimizer.variables
            ],
        }

    def _restored_network(self, network_state):
        """A new training network (in the current scope) from its state."""
        network = self._new_training_network()
        network.set_weights(network_state["weights"])
        network.optimizer.build(network.trainable_variables)
        saved = network_state["optimizer"]
        if len(saved) == len(network.optimizer.variables):
            for variable, value in zip(network.optimizer.variables, saved):
                variable.assign(value)
        return network
