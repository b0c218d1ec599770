"""Loss profiles: a sample's reconstruction loss over the course of training."""

import functools
import math
from numbers import Integral, Real

import numpy as np
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import roc_auc_score
from sklearn.utils import gen_batches
from sklearn.utils._available_if import available_if
from sklearn.utils._param_validation import Interval, StrOptions
from sklearn.utils.validation import check_is_fitted

from ..engine import BaseGradientDetector, DetectorNetwork, ImageInput, keras
from ..engine._conv import ConvNetwork, ImageNetwork, conv_decoder, conv_encoder
from ..engine._dense import resolve_hidden_units, validate_hidden_units
from ..engine._inputs import MAX_EAGER_STEPS
from ..engine._sampling import IndexedBatches
from ..engine._scoring import ChunkedMapper
from ..engine._state import network_state, restore_network_state
from ..utils._parameters import Attribute, Parameter

__all__ = ["ConvLossProfileDetector", "LossProfileDetector"]

layers = keras.layers
ops = keras.ops

#: Most units (rows, or pixels of images) whose profiles train the predictor
#: and set the profiles' standardisation: beyond this, a logistic regression
#: on a handful of features learns nothing more, and pixel profiles of many
#: large images would not fit in memory.
MAX_PREDICTOR_UNITS = 100_000
#: Values of pixel profiles mapped at once while drawing the predictor's
#: pixels (float32: 64 MB).
PROFILE_PASS_VALUES = 16_000_000

#: The reinforcement-learning sampler (``sampler="reinforce"``): bins of the
#: training samples' current loss (quartiles) that its policy chooses among,
#: the step size of the policy's logits, and the decay of its running
#: averages (the reward's baseline and the advantage's scale). The step
#: size was chosen among 0.1, 0.3 and 1.0 on seed 0 of
#: ``benchmarks/loss_profile_sampler.py --select``.
SAMPLER_BINS = 4
SAMPLER_LEARNING_RATE = 1.0
SAMPLER_DECAY = 0.9


# --------------------------------------------------------------------------
# networks


class _Snapshots:
    """What both networks share: the autoencoder's weights kept at
    ``n_snapshots`` points of training, the loss of a sample under each
    (its profile), and the linear predictor that turns a profile into an
    anomaly score.

    The snapshots are non-trainable weights, one per trainable weight of
    ``self.autoencoder`` with a leading axis of ``n_snapshots``, so that
    the engine saves them with the network and copies them into the
    network it scores with. A subclass builds ``self.autoencoder`` (a
    built Keras model) and writes ``unit_losses(x, weights)``: the loss of
    each unit of ``x`` (a row; a pixel of an image) under ``weights``.
    """

    def _add_snapshots(self, n_snapshots):
        self.n_snapshots = n_snapshots
        self.snapshots = [
            self.add_weight(
                shape=(n_snapshots, *variable.shape),
                initializer="zeros",
                trainable=False,
                name=f"snapshot_{i}",
            )
            for i, variable in enumerate(self.autoencoder.trainable_variables)
        ]

    def call(self, x, training=False):
        return self.autoencoder(x, training=training)

    def take_snapshot(self, k):
        """Keep the autoencoder's current weights as snapshot ``k``."""
        for snapshot, variable in zip(self.snapshots, self.autoencoder.trainable_variables):
            kept = np.array(snapshot.numpy())
            kept[k] = variable.numpy()
            snapshot.assign(kept)

    def profile(self, x):
        """The loss of each unit of ``x`` under each snapshot, in the last
        axis: ``(batch, n_snapshots)`` for rows, ``(batch, height, width,
        n_snapshots)`` for images."""
        return ops.stack(
            [
                self.unit_losses(x, [snapshot[k] for snapshot in self.snapshots])
                for k in range(self.n_snapshots)
            ],
            axis=-1,
        )

    def anomaly(self, x, *, profile_floor, profile_center, profile_scale, coef, intercept):
        """The predictor's anomaly score of each unit of ``x``: linear in
        its standardised log-profile."""
        log_profile = ops.log(self.profile(x) + profile_floor)
        standard = (log_profile - profile_center) / profile_scale
        return ops.sum(standard * coef, axis=-1) + intercept


class RowProfileNetwork(_Snapshots, DetectorNetwork):
    """A dense autoencoder of rows, with its snapshots.

    ``hidden_units`` are the encoder's widths, the last one being the code;
    the decoder mirrors them and ends in a linear layer as wide as the
    input. A row's loss is its mean squared reconstruction error.
    """

    def __init__(self, n_features, hidden_units, *, activation, n_snapshots):
        super().__init__()
        *hidden, code = hidden_units
        stack = [layers.Dense(width, activation=activation) for width in [*hidden, code]]
        stack += [layers.Dense(width, activation=activation) for width in hidden[::-1]]
        self.autoencoder = keras.Sequential(
            [keras.Input((n_features,)), *stack, layers.Dense(n_features)],
            name="autoencoder",
        )
        self._add_snapshots(n_snapshots)

    def detector_loss(self, x, reconstruction, training):
        return ops.mean(ops.square(reconstruction - x), axis=-1)

    def unit_losses(self, x, weights):
        reconstruction = self.call_with("autoencoder", weights, x)
        return ops.mean(ops.square(reconstruction - x), axis=-1)

    def sample_profile(self, x):
        """The profile of each row, ``(batch, n_snapshots)``."""
        return self.profile(x)

    def score(self, x, **predictor):
        return -self.anomaly(x, **predictor)


class ImageProfileNetwork(_Snapshots, ImageNetwork):
    """A convolutional autoencoder of images, with its snapshots.

    Stride-2 convolutions down to a code (a dense one of ``latent_dim``
    units, or the last level's feature map when ``latent_dim`` is None),
    transposed convolutions back up. A pixel's loss is its squared
    reconstruction error averaged over the channels; an image's, the mean
    over its pixels.
    """

    def __init__(
        self, image_shape, filters, *, kernel_size, activation, latent_dim, n_snapshots
    ):
        super().__init__(image_shape, len(filters))
        stack = conv_encoder(
            filters, kernel_size=kernel_size, activation=activation,
            linear_last=latent_dim is None,
        )
        if latent_dim is not None:
            code_shape = (*self.code_size, filters[-1] if filters else self.n_channels)
            stack += [
                layers.Flatten(),
                layers.Dense(latent_dim),
                layers.Dense(int(np.prod(code_shape)), activation=activation),
                layers.Reshape(code_shape),
            ]
        stack += conv_decoder(
            filters, self.n_channels, kernel_size=kernel_size, activation=activation
        )
        self.autoencoder = keras.Sequential(
            [keras.Input((*self.padded_size, self.n_channels)), *stack],
            name="autoencoder",
        )
        self._add_snapshots(n_snapshots)

    def call(self, x, training=False):
        return self.crop(self.autoencoder(self.pad(x), training=training))

    def detector_loss(self, x, reconstruction, training):
        return ops.mean(ops.square(reconstruction - x), axis=(1, 2, 3))

    def unit_losses(self, x, weights):
        reconstruction = self.crop(self.call_with("autoencoder", weights, self.pad(x)))
        return ops.mean(ops.square(reconstruction - x), axis=-1)

    def sample_profile(self, x):
        """The profile of each image, the mean of its pixels':
        ``(batch, n_snapshots)``."""
        return ops.mean(self.profile(x), axis=(1, 2))

    def pixel_map(self, x, **predictor):
        return self.anomaly(x, **predictor)


def _profiles(network, x):
    return network.profile(x)


def _profiles_scaled(network, center, scale, x, **constants):
    return network.sample_profile((x - center) / scale)


def _current_losses(network, x):
    return network.detector_loss(x, network(x), training=False)


# --------------------------------------------------------------------------
# the estimators' shared part

N_SNAPSHOTS = Parameter(
    "n_snapshots", 10, [Interval(Integral, 2, None, closed="left")], "int >= 2",
    """
    Points of training at which the autoencoder's weights are kept: the
    ends of ``n_snapshots`` epochs evenly spread over the fit, the last
    one included. A sample's profile is its loss under each. At most
    ``epochs``.
    """,
)
HOLDOUT_FRACTION = Parameter(
    "holdout_fraction", 0.2, [Interval(Real, 0.0, 1.0, closed="left")],
    "float in [0, 1)",
    """
    With labelled anomalies only: share of the other training samples
    (rounded up) kept out of the autoencoder's training, whose profiles,
    with those of the labelled anomalies (never trained on either), train
    the predictor, so that it compares profiles of samples the autoencoder
    has not seen, as a new sample's is. ``0`` trains the predictor on the
    training samples' own profiles.
    """,
)

SAMPLER = Parameter(
    "sampler", "uniform", [StrOptions({"uniform", "reinforce"})],
    '{"uniform", "reinforce"}',
    """
    What goes into the autoencoder's training batches. ``"uniform"``: the
    engine's shuffled passes over the training samples. ``"reinforce"``
    (with labelled anomalies only, and ``holdout_fraction > 0``): a learnt
    sampler after the paper's neural batch sampler. Before each epoch,
    the training samples are split into 4 bins by their current loss
    (quartiles); a softmax policy over the bins draws the bin of each
    sample of the epoch's batches, a sample then drawn uniformly from its
    bin (with replacement; an epoch is ``ceil(n / batch_size)`` full
    batches). After the epoch, the reward is the change in the ROC AUC
    that the current loss gives between the labelled anomalies and the
    held-out samples, and REINFORCE, with a running baseline, moves the
    policy towards the draws that preceded a gain (see
    ``sampler_history_``). See Notes for what it adds.
    """,
)


def _never_in_one_pass(detector):
    raise AttributeError(
        f"{type(detector).__name__} has no partial_fit: a loss profile spans "
        "the epochs of a whole fit. Continue training with fit and "
        "warm_start=True."
    )


class _TakeSnapshots(keras.callbacks.Callback):
    """Keep the autoencoder's weights at the end of the given epochs."""

    def __init__(self, network, at_epochs):
        super().__init__()
        self.network = network
        self.at_epochs = list(at_epochs)
        self.taken = []

    def on_epoch_end(self, epoch, logs=None):
        if epoch + 1 in self.at_epochs:
            self.network.take_snapshot(self.at_epochs.index(epoch + 1))
            self.taken.append(epoch + 1)


class _ReinforceSampler(keras.callbacks.Callback):
    """The learnt batch sampler: draws each epoch's training samples from
    a softmax policy over bins of their current loss, and updates the
    policy by REINFORCE after the epoch.

    ``losses`` maps samples to their current loss under the network (a
    :class:`~skanomaly.engine._scoring.ChunkedMapper`); ``X`` are the
    fit's samples, of which ``trained_on`` are the autoencoder's, and the
    separation that rewards the policy is measured between the
    ``anomalies`` and the ``held_out`` ones. ``logits`` and ``history``
    carry the policy over from an earlier fit (a warm start); the draws of
    the fit's ``t``-th epoch in all come from ``RandomState([seed, t])``.
    """

    def __init__(self, losses, X, trained_on, anomalies, held_out, *,
                 logits, history, seed, epochs_before):
        super().__init__()
        self.losses = losses
        self.X = X
        self.trained_on = trained_on
        self.anomalies = anomalies
        self.held_out = held_out
        self.logits = np.array(logits, dtype=np.float64)
        self.history = {name: list(values) for name, values in history.items()}
        self.seed = seed
        self.epoch = epochs_before
        self.stream = None

    # --------------------------------------------------------- the policy
    def start(self, X_train, batch_size):
        """The stream of training batches, its first epoch drawn: for the
        engine's ``_training_data`` hook."""
        if X_train.shape[0] != int(self.trained_on.sum()):  # pragma: no cover - a bug
            raise RuntimeError("the sampler's training samples are not the engine's")
        self.n_draws = math.ceil(X_train.shape[0] / batch_size) * batch_size
        current = self.losses(self.X)
        self.separation = self._separation(current)
        self.stream = IndexedBatches(X_train, self._draw(current[self.trained_on]), batch_size)
        return self.stream.dataset, self.stream.steps

    def _separation(self, losses):
        """ROC AUC of the current loss, labelled anomalies against held-out
        samples (higher loss, more anomalous)."""
        anomalous, held = losses[self.anomalies], losses[self.held_out]
        return float(roc_auc_score(
            np.r_[np.ones(anomalous.size), np.zeros(held.size)], np.r_[anomalous, held]
        ))

    def _probabilities(self, occupied):
        """The policy: a softmax of the logits over the bins that hold a
        sample (all of them unless fewer samples than bins)."""
        logits = np.where(occupied, self.logits, -np.inf)
        weights = np.exp(logits - logits.max())
        return weights / weights.sum()

    def _draw(self, train_losses):
        """The next epoch's table of sample indices: a bin for each draw
        from the policy, then a sample of that bin, uniformly."""
        n = train_losses.shape[0]
        ranks = np.argsort(np.argsort(train_losses, kind="stable"), kind="stable")
        bins = ranks * SAMPLER_BINS // n  # 0 holds the lowest losses
        members = [np.flatnonzero(bins == k) for k in range(SAMPLER_BINS)]
        probabilities = self._probabilities(np.array([m.size > 0 for m in members]))
        rng = np.random.RandomState([self.seed, self.epoch])
        drawn = rng.choice(SAMPLER_BINS, size=self.n_draws, p=probabilities)
        table = np.empty(self.n_draws, dtype=np.int64)
        for k, bin_members in enumerate(members):
            slots = np.flatnonzero(drawn == k)
            if slots.size:
                table[slots] = bin_members[rng.randint(bin_members.size, size=slots.size)]
        self.counts = np.bincount(drawn, minlength=SAMPLER_BINS)
        self.probabilities = probabilities
        return table

    def _running_averages(self):
        """The reward's baseline (its running mean) and the advantage's
        scale (the running mean of its square) after the epochs in
        ``history``, bias-corrected as Adam's; (0, 0) before any."""
        baseline = scale = 0.0
        weight = 0.0
        for reward in self.history["reward"]:
            corrected = baseline / weight if weight else 0.0
            advantage = reward - corrected
            baseline = SAMPLER_DECAY * baseline + (1 - SAMPLER_DECAY) * reward
            scale = SAMPLER_DECAY * scale + (1 - SAMPLER_DECAY) * advantage**2
            weight = SAMPLER_DECAY * weight + (1 - SAMPLER_DECAY)
        if not weight:
            return 0.0, 0.0
        return baseline / weight, scale / weight

    # ------------------------------------------------------------ training
    def on_epoch_end(self, epoch, logs=None):
        current = self.losses(self.X)
        if not np.all(np.isfinite(current)):
            # Training diverged: the engine's guard stops it and says so.
            return
        separation = self._separation(current)
        reward = separation - self.separation
        baseline, _ = self._running_averages()
        self.history["probabilities"].append(self.probabilities.tolist())
        self.history["separation"].append(separation)
        self.history["reward"].append(reward)
        _, scale = self._running_averages()
        advantage = (reward - baseline) / math.sqrt(scale) if scale > 0 else 0.0
        # The gradient of the epoch's log-probability, sum over its draws of
        # onehot(bin) - probabilities, over sqrt(draws) so that the step does
        # not grow with the number of draws.
        gradient = (self.counts - self.n_draws * self.probabilities) / math.sqrt(self.n_draws)
        self.logits = self.logits + SAMPLER_LEARNING_RATE * advantage * gradient
        self.separation = separation
        self.epoch += 1
        self.stream.publish(self._draw(current[self.trained_on]))


class _LossProfileBase(BaseGradientDetector):
    """The loss-profile fit, for rows and for images (see the detectors)."""

    _shared_parameters = (N_SNAPSHOTS, HOLDOUT_FRACTION, SAMPLER)
    _shared_attributes = (
        Attribute(
            "profiles_", "ndarray of shape (n_samples, n_snapshots)",
            "The training samples' loss profiles: the loss of each under "
            "each snapshot (for images, the mean over its pixels).",
        ),
        Attribute(
            "snapshot_epochs_", "ndarray of shape (n_snapshots,)",
            "The epochs (counted over all fits, warm starts included) at "
            "whose end the snapshots were taken.",
        ),
        Attribute(
            "trained_on_", "ndarray of shape (n_samples,), dtype bool",
            "Which training samples the autoencoder trained on (not the "
            "labelled anomalies, nor the held-out samples).",
        ),
        Attribute(
            "supervised_", "bool",
            "Whether the predictor was trained on labelled anomalies; "
            "otherwise the score is the unsupervised profile score.",
        ),
        Attribute(
            "profile_floor_, profile_center_, profile_scale_", "float, ndarray",
            "A profile's standardisation: ``(log(profile + profile_floor_) "
            "- profile_center_) / profile_scale_``.",
        ),
        Attribute(
            "coef_, intercept_", "ndarray of shape (n_snapshots,), float",
            "The predictor: a unit's anomaly score is its standardised "
            "log-profile times ``coef_``, plus ``intercept_``.",
        ),
        Attribute(
            "sampler_logits_", "ndarray of shape (4,)",
            "With ``sampler=\"reinforce\"`` only: the policy's logits over the "
            "bins of current loss, lowest losses first, after the last "
            "epoch; a warm start goes on from them.",
        ),
        Attribute(
            "sampler_history_", "dict of list",
            "With ``sampler=\"reinforce\"`` only, one entry per epoch "
            "(across warm starts): ``\"probabilities\"``, the policy's "
            "probabilities of the bins that the epoch's draws came from; "
            "``\"separation\"``, the ROC AUC of the current loss between the "
            "labelled anomalies and the held-out samples after the epoch; "
            "``\"reward\"``, its change over the epoch.",
        ),
    )
    # Every epoch is a point of the profile: no early stopping, and the
    # labels stratify nothing.
    _early_stopping_monitor = None
    _fit_labels = {1, 0, -1}
    _labels_optional = True

    # ----------------------------------------------------------- fitting
    def _snapshot_schedule(self):
        """Epochs of this fit, counted from 1, at whose end a snapshot is
        taken: evenly spread, the last one at the end."""
        if self.n_snapshots > self.epochs:
            raise ValueError(
                f"{type(self).__name__}: n_snapshots={self.n_snapshots} points "
                f"of training need at least as many epochs; got epochs="
                f"{self.epochs}. Raise epochs or lower n_snapshots."
            )
        steps = np.arange(1, self.n_snapshots + 1) * self.epochs / self.n_snapshots
        return np.ceil(steps - 1e-9).astype(int)

    def _training_callbacks(self, network, X, epochs_done):
        return [self._snapshotter] + ([] if self._sampler is None else [self._sampler])

    def _training_data(self, X, y, groups, batch_size, seed):
        if self._sampler is None:
            return super()._training_data(X, y, groups, batch_size, seed)
        return self._sampler.start(X, batch_size)

    def _make_sampler(self, network, X, y, labelled, trained_on, seed, warm, epochs_before):
        """The learnt batch sampler of ``sampler="reinforce"``, or None."""
        if self.sampler == "uniform":
            return None
        owner = type(self).__name__
        if not labelled:
            raise ValueError(
                f"{owner}: sampler='reinforce' learns which samples to train on "
                "from the separation between the labelled anomalies and the "
                "held-out samples, and y labels no anomaly (1). Give a few "
                "labelled anomalies, or use sampler='uniform'."
            )
        if self.holdout_fraction == 0:
            raise ValueError(
                f"{owner}: sampler='reinforce' measures its reward on held-out "
                "samples, and holdout_fraction=0 holds none out. Set "
                "holdout_fraction > 0, or use sampler='uniform'."
            )
        if self.distribute is not None:
            raise ValueError(
                f"{owner}: sampler='reinforce' sets each epoch's batches after "
                "the one before, and a tf.distribute strategy may read batches "
                "ahead. Set distribute=None, or use sampler='uniform'."
            )
        losses = ChunkedMapper(
            functools.partial(_current_losses, network),
            self._sample_shape_,
            values_per_row=self._values_per_row(),
            eager=self._trains_eagerly(X[trained_on]),
            dtype="float32",
        )
        continued = warm and "sampler_logits_" in vars(self)
        return _ReinforceSampler(
            losses, X, trained_on, y == 1, (y != 1) & ~trained_on,
            logits=self.sampler_logits_ if continued else np.zeros(SAMPLER_BINS),
            history=(
                self.sampler_history_ if continued
                else {"probabilities": [], "separation": [], "reward": []}
            ),
            seed=seed,
            epochs_before=epochs_before,
        )

    def _fit_network(self, network, X, y, *, seed, warm, groups=None):
        owner = type(self).__name__
        schedule = self._snapshot_schedule()
        labelled = y is not None and bool(np.any(y == 1))
        if labelled and np.all(y == 1):
            raise ValueError(
                f"{owner} compares the profiles of the labelled anomalies with "
                "those of the other samples, and every training sample is "
                "labelled 1: give it unlabelled (-1) or normal (0) samples too."
            )
        trained_on = self._autoencoder_samples(len(X), y, labelled, seed)
        saved = network_state(network, self._frozen_) if warm else None
        epochs_before = self.n_epochs_ if warm else 0
        sampler = self._make_sampler(
            network, X, y, labelled, trained_on, seed, warm, epochs_before
        )
        self._snapshotter = _TakeSnapshots(network, schedule)
        self._sampler = sampler
        try:
            # The autoencoder learns without labels, from the samples it
            # trains on; the labels only teach the predictor.
            super()._fit_network(network, X[trained_on], None, seed=seed, warm=warm)
            if self._snapshotter.taken != list(schedule):
                raise ValueError(
                    f"{owner}: training stopped after epoch "
                    f"{self.n_epochs_ - epochs_before} of {self.epochs}, before "
                    f"the snapshots of epochs {schedule.tolist()} were all "
                    "taken; a loss profile needs the whole fit (is a callback "
                    "stopping it early?)."
                )
        except BaseException:
            if warm:
                restore_network_state(network, saved, self._frozen_, owner)
            raise
        finally:
            del self._snapshotter, self._sampler
        self.snapshot_epochs_ = epochs_before + schedule
        self.trained_on_ = trained_on
        if sampler is None:
            # A uniform fit leaves no policy behind, an earlier fit's included.
            vars(self).pop("sampler_logits_", None)
            vars(self).pop("sampler_history_", None)
        else:
            self.sampler_logits_ = sampler.logits
            self.sampler_history_ = sampler.history
        self._fit_predictor(network, X, y if labelled else None, trained_on, seed)

    def _autoencoder_samples(self, n_samples, y, labelled, seed):
        """Which samples the autoencoder trains on: without labelled
        anomalies, all; with them, the others less a held-out share."""
        if not labelled:
            return np.ones(n_samples, dtype=bool)
        others = np.flatnonzero(y != 1)
        # Rounded up: a positive share holds out one sample at least.
        n_held = int(math.ceil(self.holdout_fraction * others.size))
        if others.size - n_held < 2:
            raise ValueError(
                f"{type(self).__name__}: holdout_fraction={self.holdout_fraction} "
                f"of the {others.size} samples not labelled as anomalies holds "
                f"out {n_held} for the predictor and leaves {others.size - n_held} "
                "for the autoencoder, which needs 2 at least. Give more "
                "samples, or a lower holdout_fraction."
            )
        held = np.random.RandomState(seed).permutation(others)[:n_held]
        trained_on = y != 1
        trained_on[held] = False
        return trained_on

    def _fit_predictor(self, network, X, y, trained_on, seed):
        """Standardise the profiles and fit the predictor on them."""
        if y is None:
            normal = np.ones(len(X), dtype=bool)
        elif self.holdout_fraction > 0:
            # The held-out samples, which the autoencoder did not see.
            normal = (y != 1) & ~trained_on
        else:
            normal = y != 1
        reference = self._reference_units(network, X, normal, seed)
        floor = max(1e-3 * float(np.median(reference)), 1e-12)
        log_reference = np.log(reference + floor)
        # Standardised on the units the predictor calls normal.
        center = log_reference.mean(axis=0)
        scale = log_reference.std(axis=0)
        scale = np.where(scale > 0, scale, 1.0)
        self.profile_floor_ = floor
        self.profile_center_ = center
        self.profile_scale_ = scale
        self.supervised_ = y is not None
        if y is None:
            # Unsupervised: the mean of the standardised log-losses, how high
            # a unit's loss stays over the whole of training.
            self.coef_ = np.full(self.n_snapshots, 1.0 / self.n_snapshots)
            self.intercept_ = 0.0
            return
        negatives = (log_reference - center) / scale
        positives = self._positive_units(network, X, y == 1)
        predictor = LogisticRegression(C=1.0, class_weight="balanced")
        predictor.fit(
            np.r_[negatives, positives],
            np.r_[np.zeros(len(negatives)), np.ones(len(positives))],
        )
        self.coef_ = predictor.coef_[0].astype(np.float64)
        self.intercept_ = float(predictor.intercept_[0])

    def _standardised(self, profiles):
        """Profiles (the last axis) standardised as the predictor takes them."""
        return (np.log(profiles + self.profile_floor_) - self.profile_center_) / (
            self.profile_scale_
        )

    def _profile_mapper(self, network, output_shape, output_dtype="float64"):
        """A mapper of the trained network's profiles over scaled samples,
        eager when the network trained eagerly (a tiny fit)."""
        return ChunkedMapper(
            functools.partial(_profiles, network),
            self._sample_shape_,
            output_shape,
            values_per_row=self._values_per_row(),
            eager=network.run_eagerly,
            dtype="float32",
            output_dtype=output_dtype,
            progress=self.verbose,
        )

    def _scoring_constants(self):
        return {
            "profile_floor": np.float64(self.profile_floor_),
            "profile_center": self.profile_center_,
            "profile_scale": self.profile_scale_,
            "coef": self.coef_,
            "intercept": np.float64(self.intercept_),
        }

    def _make_scorer(self):
        scorer = super()._make_scorer()
        self._mappers["loss_profiles"] = self._mapper_of(
            _profiles_scaled, (self.n_snapshots,)
        )
        return scorer

    def loss_profiles(self, X):
        """The loss profile of each sample: its loss under each snapshot.

        Parameters
        ----------
        X : array-like
            Samples of the kind ``fit`` took.

        Returns
        -------
        profiles : ndarray of shape (n_samples, n_snapshots)
            The loss of each sample under each snapshot, in the order of
            training (``snapshot_epochs_``): its mean squared
            reconstruction error over its (scaled) features, or over the
            pixels of an image. The last column is the loss under the
            trained network.
        """
        check_is_fitted(self)
        return self._mappers["loss_profiles"](self._validate_input(X, reset=False))

    @available_if(_never_in_one_pass)
    def partial_fit(self, X, y=None):  # pragma: no cover - never available
        """Not available: a loss profile spans a whole fit."""
        return super().partial_fit(X, y)


# --------------------------------------------------------------------------
# rows


class LossProfileDetector(_LossProfileBase):
    """Loss-profile anomaly detector for rows of features (Chu and Kitani,
    2020).

    A dense autoencoder learns to reconstruct the training data, and its
    weights are kept at ``n_snapshots`` points of training (the ends of
    epochs evenly spread over the fit). A sample's *loss profile* is its
    reconstruction error under each of these snapshots: how its loss went
    as the network learnt. Normal samples' losses fall as the network sees
    more normal data; an anomaly's stays high, or falls later and less.
    The profile of any sample, seen in training or new, is its loss under
    the same snapshots, so new samples are scored as the training ones
    are. A predictor turns a profile into an anomaly score, linear in the
    standardised logarithm of the profile (``profile_center_``,
    ``profile_scale_``), and ``score_samples`` is minus that score:

    * with labels (``fit(X, y)``, ``y`` holding a few ``1`` for labelled
      anomalies, ``0`` for normal and ``-1`` for unlabelled samples), the
      paper's semi-supervised setting: a logistic regression, its classes
      balanced, learns to tell the labelled anomalies' profiles from the
      others'. The labelled anomalies are kept out of the autoencoder's
      training, and so is a share of the other samples
      (``holdout_fraction``), so that the predictor compares profiles of
      samples the autoencoder has not trained on, as a new sample's is
      (``holdout_fraction=0.2`` and the regression's ``C=1``, scikit-learn's
      default, were not tuned on a benchmark);
    * without labelled anomalies (``y=None``, or no ``1`` in ``y``): the
      mean of the standardised log-losses over the snapshots, how high a
      sample's loss stayed over the whole of training compared with the
      training samples' (see Notes).

    Parameters
    ----------
    hidden_units : "auto" or sequence of int, default="auto"
        Widths of the encoder's layers, the last one being the code; the
        decoder mirrors them. ``"auto"`` uses one hidden layer about as
        wide as the input (16 to 128 units) and a code of about
        ``sqrt(n_features)`` units (2 to 32).
    activation : str, default="relu"
        Activation of the hidden layers and the code (any Keras name).

    Attributes
    ----------
    model_ : keras.Model
        The trained network (a ``RowProfileNetwork``), its snapshots
        included.

    See Also
    --------
    ConvLossProfileDetector : The same for images, with anomaly maps.
    AutoEncoder : The autoencoder's final loss alone.
    DeepSAD : Another detector taught by a few labelled anomalies.

    Notes
    -----
    What differs from the paper. Chu and Kitani train an autoencoder on
    images, record the reconstruction loss of the data over successive
    training iterations (the loss profile), and train an anomaly
    classifier on these profiles with a few labelled samples, to detect
    and segment small defects; a reinforcement-learning "neural batch
    sampler" chooses the training batches so as to widen the gap between
    anomalous and normal profiles. Here the profile is taken at the ends
    of epochs rather than after every iteration, from kept weights, so
    that any new sample gets one without training again; the classifier
    is a logistic regression on the log-profile; the batches are, by
    default, the engine's uniform shuffled passes (a much smaller learnt
    sampler is an option, below). The unsupervised score, when no
    anomaly is labelled, is ours (the paper's classifier learns from
    labels). It follows the paper's reasoning, that a normal sample's loss
    falls as the network learns while an anomaly's stays high: the mean
    standardised log-loss over training is a log-area under the profile,
    and the standardisation per snapshot weighs each point of training
    equally, where the raw losses of the first epochs would dominate.

    The paper reports its results on image data sets of textures and
    objects with several kinds of defects (ECCV 2020); we make no claim
    here about reproducing them.

    The batch sampler. The paper's neural batch sampler is a network,
    trained by reinforcement learning, that picks the image patches of
    the autoencoder's training batches; its reward is the negative of the
    predictor's loss, credited to the sampling actions that led to it.
    ``sampler="reinforce"`` is a much smaller version of the idea, on
    whole samples: a softmax policy over 4 bins of the training samples'
    current loss draws each epoch's batches, and after the epoch REINFORCE
    (with a running baseline) rewards it by the change in how well the
    current loss ranks the labelled anomalies above the held-out samples
    (a ROC AUC). It is an option, not the default, because we measured
    no gain from it. In ``benchmarks/loss_profile_sampler.py`` (11 small
    ADBench data sets, 70/30 splits, 5% of the training anomalies
    labelled, 3 seeds) the mean test ROC AUC is 0.747 with it and
    0.730 with uniform batches, but the gap comes from seed 0, on which
    its step size was chosen (mean paired difference +0.054); on seeds 1
    and 2 the mean paired difference is -0.002 (higher on 10
    pairs, lower on 9, tied on 3). The same draws from evenly
    weighted bins, without learning, give 0.731. By the last epoch the
    policy draws most of its samples from one bin, but from a different
    one from seed to seed on the same data set (the benchmark's rows CSV):
    with one to a few labelled anomalies, as there, the reward of an
    epoch is mostly noise. ``trim_fraction`` is a fixed rule on offer
    instead: it leaves each batch's largest losses out of the step, so
    that samples which look anomalous stay unlearnt.

    ``contamination="auto"`` sets ``offset_`` at Tukey's lower fence of the
    training scores. The score is linear in the logarithm of the losses,
    which draws in the long right tail raw losses have, so the fence
    flags fewer training samples than it does for
    :class:`~skanomaly.AutoEncoder`; set a float ``contamination`` for a
    given share. The training samples' scores use the snapshots of a
    network that trained on them, so a new normal sample scores a little
    lower than a training one.

    References
    ----------
    W.-H. Chu and K. M. Kitani, "Neural Batch Sampling with Reinforcement
    Learning for Semi-Supervised Anomaly Detection", ECCV 2020.

    Examples
    --------
    >>> import numpy as np
    >>> from skanomaly import LossProfileDetector
    >>> rng = np.random.RandomState(0)
    >>> X = rng.normal(size=(200, 5))
    >>> detector = LossProfileDetector(epochs=10, n_snapshots=5, random_state=0).fit(X)
    >>> detector.profiles_.shape
    (200, 5)
    >>> detector.predict([[0.0] * 5, [6.0] * 5])
    array([ 1, -1])
    """

    _parameter_constraints: dict = {
        "hidden_units": ["array-like", str],
        "activation": [str],
    }

    def __init__(self, hidden_units="auto", *, activation="relu", **params):
        self.hidden_units = hidden_units
        self.activation = activation
        super().__init__(**params)

    def _build_network(self, sample_shape):
        validate_hidden_units(self.hidden_units)
        (n_features,) = sample_shape
        return RowProfileNetwork(
            n_features,
            resolve_hidden_units(self.hidden_units, n_features),
            activation=self.activation,
            n_snapshots=self.n_snapshots,
        )

    def _trains_eagerly(self, X):
        # Tiny fits train eagerly: tracing the training step, and then the
        # profile's n_snapshots passes, costs more than a few dozen steps.
        n_batches = math.ceil(X.shape[0] / min(self.batch_size, X.shape[0]))
        return self.epochs * n_batches <= MAX_EAGER_STEPS

    def _values_per_row(self):
        (n_features,) = self._sample_shape_
        widths = resolve_hidden_units(self.hidden_units, n_features)
        return max(n_features, *widths) + self.n_snapshots

    def _reference_units(self, network, X, normal, seed):
        self.profiles_ = self._profile_mapper(network, (self.n_snapshots,))(X)
        return self.profiles_[normal]

    def _positive_units(self, network, X, anomalies):
        # The labelled anomalies' profiles were mapped with the others'.
        return self._standardised(self.profiles_[anomalies])


# --------------------------------------------------------------------------
# images


class ConvLossProfileDetector(ConvNetwork, ImageInput, _LossProfileBase):
    """Loss-profile anomaly detector for images, with anomaly maps (Chu and
    Kitani, 2020).

    A convolutional autoencoder learns to reconstruct the training images,
    and its weights are kept at ``n_snapshots`` points of training (the
    ends of epochs evenly spread over the fit). Each pixel's *loss
    profile* is its squared reconstruction error under each snapshot (the
    paper's patch profiles, one a pixel). A predictor turns a pixel's
    profile into its anomaly score, linear in the standardised logarithm
    of the profile: :meth:`anomaly_map` gives it, and ``score_samples`` is
    minus its aggregate over the image (``map_aggregation``).

    * With labels (``fit(X, y)``, ``y`` holding a few ``1`` for images
      known to be defective, ``0`` for normal and ``-1`` for unlabelled
      ones), the paper's semi-supervised setting: a logistic regression,
      its classes balanced, learns to tell defect pixels from normal ones.
      Labels are per image, not per pixel, so the positives are, in each
      labelled image, the ``topk_fraction`` of its pixels whose losses
      stayed highest over training (by the unsupervised score below): the
      pixels most likely to be its defect, as multiple-instance learning
      takes the top instances of a positive bag. The negatives are pixels
      drawn from the held-out normal or unlabelled images. The labelled
      anomalous images, and a share of the others (``holdout_fraction``),
      are kept out of the autoencoder's training, as for
      :class:`LossProfileDetector`.
    * Without labelled anomalies: the mean of a pixel's standardised
      log-losses over the snapshots.

    Parameters
    ----------
    latent_dim : int or None, default=32
        Units of a dense code between the encoder and the decoder; ``None``
        makes the network fully convolutional, its code the last level's
        feature map.

    Attributes
    ----------
    model_ : keras.Model
        The trained network (an ``ImageProfileNetwork``), its snapshots
        included.

    See Also
    --------
    LossProfileDetector : The same for rows of features, with the paper's
        comparison in its Notes.
    ConvAutoEncoder : The autoencoder's final loss alone.

    Notes
    -----
    Input may be ``(n_samples, height, width)`` (grayscale),
    ``(n_samples, height, width, channels)`` or flattened rows (see
    ``image_shape``). A pixel of the anomaly map is the predictor's score
    of its profile (a log-odds with labels, a mean standardised log-loss
    without), so it may be negative; ``profiles_`` holds the training
    images' profiles, each the mean of its pixels' losses under each
    snapshot. The standardisation and the predictor's negatives are at
    most 100,000 pixels drawn evenly from the training images (the
    held-out ones, with labels).

    What differs from the paper is said in :class:`LossProfileDetector`'s
    Notes: epochs rather than iterations, a linear predictor, uniform
    batches by default, and labels per image, with each labelled image's
    top pixels as the predictor's positives. ``sampler="reinforce"``
    draws whole images, binned by their mean loss, rather than the
    paper's patches; what it adds was measured on rows only (no gain, see
    :class:`LossProfileDetector`), not on images.

    References
    ----------
    W.-H. Chu and K. M. Kitani, "Neural Batch Sampling with Reinforcement
    Learning for Semi-Supervised Anomaly Detection", ECCV 2020.

    Examples
    --------
    >>> import numpy as np
    >>> from skanomaly import ConvLossProfileDetector
    >>> rng = np.random.RandomState(0)
    >>> X = np.tile(np.linspace(0, 1, 8), (60, 8, 1))   # 60 horizontal ramps
    >>> X += rng.normal(scale=0.02, size=X.shape)
    >>> detector = ConvLossProfileDetector(epochs=10, n_snapshots=5, random_state=0).fit(X)
    >>> defect = X[:2].copy()
    >>> defect[1, 2:5, 2:5] = 1.0                        # a bright square
    >>> maps = detector.anomaly_map(defect)
    >>> maps.shape
    (2, 8, 8)
    >>> bool(maps[1, 3, 3] > maps[0, 3, 3])
    True
    """

    _parameter_constraints: dict = {
        "latent_dim": [Interval(Integral, 1, None, closed="left"), None],
    }

    def __init__(self, *, latent_dim=32, **params):
        self.latent_dim = latent_dim
        super().__init__(**params)

    def _build_network(self, sample_shape):
        return ImageProfileNetwork(
            sample_shape,
            self._filters_,
            kernel_size=self.kernel_size,
            activation=self.activation,
            latent_dim=self.latent_dim,
            n_snapshots=self.n_snapshots,
        )

    def _values_per_pixel(self):
        return max(super()._values_per_pixel(), self.n_snapshots)

    def _reference_units(self, network, X, normal, seed):
        """The training images' profiles (``profiles_``), and the pixel
        profiles of at most ``MAX_PREDICTOR_UNITS`` pixels drawn evenly
        from the images marked ``normal``."""
        height, width, _ = self._sample_shape_
        per_image = min(height * width, max(1, MAX_PREDICTOR_UNITS // int(normal.sum())))
        rng = np.random.RandomState(seed)
        mapper = self._pixel_profile_mapper(network)
        profiles = np.empty((X.shape[0], self.n_snapshots))
        units = []
        for block in gen_batches(X.shape[0], self._images_per_pass()):
            pixel_profiles = mapper(X[block])
            profiles[block] = pixel_profiles.mean(axis=(1, 2))
            flat = pixel_profiles.reshape(pixel_profiles.shape[0], -1, self.n_snapshots)
            for i in np.flatnonzero(normal[block]):
                drawn = rng.choice(height * width, per_image, replace=False)
                units.append(flat[i, np.sort(drawn)])
        self.profiles_ = profiles
        return np.concatenate(units).astype(np.float64)

    def _positive_units(self, network, X, anomalies):
        """The ``topk_fraction`` of each labelled anomalous image's pixels
        whose losses stayed highest over training (by the unsupervised
        score): the pixels most likely to be the defect."""
        height, width, _ = self._sample_shape_
        k = max(1, math.ceil(self.topk_fraction * height * width))
        mapper = self._pixel_profile_mapper(network)
        X_anomalies = X[anomalies]
        units = []
        for block in gen_batches(X_anomalies.shape[0], self._images_per_pass()):
            standard = self._standardised(mapper(X_anomalies[block]).astype(np.float64))
            flat = standard.reshape(standard.shape[0], -1, self.n_snapshots)
            top = np.argsort(flat.mean(axis=-1), axis=1, kind="stable")[:, -k:]
            kept = np.take_along_axis(flat, top[..., None], axis=1)
            units.append(kept.reshape(-1, self.n_snapshots))
        return np.concatenate(units)

    def _pixel_profile_mapper(self, network):
        height, width, _ = self._sample_shape_
        return self._profile_mapper(
            network, (height, width, self.n_snapshots), output_dtype="float32"
        )

    def _images_per_pass(self):
        height, width, _ = self._sample_shape_
        return max(1, PROFILE_PASS_VALUES // (height * width * self.n_snapshots))
