"""The engine's extension points, exercised through small detectors written
here as a detector's author would write them: several networks and
optimizers, labels, frozen pretrained parts, a fit that is not gradient
descent."""

import inspect
import pickle

import numpy as np
import pytest
from numpy.testing import assert_allclose, assert_array_equal
from sklearn import config_context
from sklearn.utils.estimator_checks import parametrize_with_checks

from skanomaly import AutoEncoder
from skanomaly.engine import (
    BaseDeepDetector,
    BaseGradientDetector,
    DetectorNetwork,
    TrainingDivergedError,
    keras,
)
from skanomaly.engine._network import trimmed_mean
from skanomaly.engine._training import validation_split

layers = keras.layers
ops = keras.ops


@pytest.fixture
def X():
    return np.random.RandomState(0).normal(size=(96, 6))


def variables_of(detector):
    network = detector.model_
    values = [np.asarray(v) for v in network.variables]
    for part in sorted(network.optimizers, key=str):
        values += [np.asarray(v) for v in network.optimizers[part].variables]
    return values


# ------------------------------------------- several networks, optimizers
class AdversarialNetwork(DetectorNetwork):
    """An autoencoder (the generator) and a critic that tells inputs from
    reconstructions; the generator also learns to fool the critic."""

    trained_parts = ("generator", "critic")

    def __init__(self, n_features, poison_critic=False):
        super().__init__()
        self.generator = keras.Sequential(
            [layers.Dense(4, activation="relu"), layers.Dropout(0.2), layers.Dense(n_features)]
        )
        self.critic = keras.Sequential([layers.Dense(4, activation="relu"), layers.Dense(1)])
        self.poison_critic = poison_critic

    def build(self, input_shape):
        # call() runs the generator only: the critic is built here.
        self.generator.build(input_shape)
        self.critic.build(input_shape)

    def call(self, x, training=False):
        return self.generator(x, training=training)

    def generator_loss(self, x):
        reconstruction = self.generator(x, training=True)
        fooled = ops.mean(ops.softplus(-self.critic(reconstruction)))
        return ops.mean(ops.square(reconstruction - x)) + 0.1 * fooled

    def critic_loss(self, x):
        real = ops.softplus(-self.critic(x))
        fake = ops.softplus(self.critic(self.generator(x)))
        loss = ops.mean(real + fake)
        return loss / 0.0 * 0.0 if self.poison_critic else loss

    def train_step(self, data):
        x, _, _ = keras.utils.unpack_x_y_sample_weight(data)
        return {
            "generator_loss": self.minimize("generator", lambda: self.generator_loss(x)),
            "critic_loss": self.minimize("critic", lambda: self.critic_loss(x)),
        }

    def test_step(self, data):
        x, _, _ = keras.utils.unpack_x_y_sample_weight(data)
        return {"generator_loss": self.generator_loss(x), "critic_loss": self.critic_loss(x)}

    def score(self, x):
        return -ops.mean(ops.square(self(x) - x), axis=-1)


class Adversarial(BaseGradientDetector):
    """A two-network detector.

    Parameters
    ----------
    poison_critic : bool, default=False
        Make the critic's loss NaN.
    """

    _early_stopping_monitor = None
    _trims_losses = False
    _parameter_constraints = {"poison_critic": ["boolean"]}

    def __init__(self, *, poison_critic=False, **params):
        self.poison_critic = poison_critic
        super().__init__(**params)

    def _build_network(self, sample_shape):
        return AdversarialNetwork(sample_shape[0], poison_critic=self.poison_critic)


def test_several_networks_train_each_with_its_own_optimizer(X):
    detector = Adversarial(epochs=3, batch_size=32, random_state=0).fit(X)
    network = detector.model_
    assert set(network.optimizers) == {"generator", "critic"}
    generator, critic = network.optimizers["generator"], network.optimizers["critic"]
    assert generator is not critic
    # 3 epochs of 3 batches each: one step of each optimizer a batch.
    assert int(generator.iterations.numpy()) == int(critic.iterations.numpy()) == 9
    assert set(detector.history_) == {"generator_loss", "critic_loss"}
    assert len(detector.history_["critic_loss"]) == 3
    assert np.isfinite(detector.score_samples(X)).all()


def test_a_detector_that_does_not_stop_early_or_trim_takes_no_such_parameter():
    parameters = inspect.signature(Adversarial).parameters
    assert "epochs" in parameters and "warm_start" in parameters
    for name in ("validation_fraction", "patience", "trim_fraction"):
        assert name not in parameters
        assert name not in Adversarial._parameter_constraints


def test_a_detector_chooses_what_early_stopping_watches(X, monkeypatch):
    monitored = []

    class Recording(keras.callbacks.EarlyStopping):
        def __init__(self, **kwargs):
            monitored.append(kwargs["monitor"])
            super().__init__(**kwargs)

    monkeypatch.setattr(keras.callbacks, "EarlyStopping", Recording)

    class StopsOnTheCritic(Adversarial):
        _early_stopping_monitor = "val_critic_loss"

    assert "validation_fraction" in inspect.signature(StopsOnTheCritic).parameters
    detector = StopsOnTheCritic(epochs=3, validation_fraction=0.25, random_state=0).fit(X)
    assert monitored == ["val_critic_loss"]
    assert len(detector.history_["val_critic_loss"]) == detector.n_epochs_
    Adversarial(epochs=2, random_state=0).fit(X)
    assert monitored == ["val_critic_loss"]  # no early stopping at all


def test_warm_start_after_pickling_continues_exactly_as_without(X):
    detector = Adversarial(epochs=2, batch_size=32, warm_start=True, random_state=0).fit(X)
    restored = pickle.loads(pickle.dumps(detector))
    for kept, saved in zip(variables_of(detector), variables_of(restored)):
        assert_array_equal(kept, saved)
    detector.fit(X)
    restored.fit(X)
    # Every weight, every optimizer's state and the dropout's random state
    # came back: the continued fits are the same, bit for bit.
    for kept, saved in zip(variables_of(detector), variables_of(restored)):
        assert_array_equal(kept, saved)
    assert_array_equal(restored.score_samples(X), detector.score_samples(X))
    assert restored.history_ == detector.history_
    assert restored.n_epochs_ == 4


def test_warm_start_after_pickling_is_exact_for_one_optimizer_too(X):
    detector = AutoEncoder(
        hidden_units=(8, 2), dropout=0.1, noise_std=0.1, epochs=2, warm_start=True,
        validation_fraction=0.0, random_state=0,
    ).fit(X)
    restored = pickle.loads(pickle.dumps(detector))
    detector.fit(X)
    restored.fit(X)
    for kept, saved in zip(variables_of(detector), variables_of(restored)):
        assert_array_equal(kept, saved)
    assert_array_equal(restored.score_samples(X), detector.score_samples(X))


def test_the_divergence_guard_watches_every_logged_loss(X):
    with pytest.raises(TrainingDivergedError, match="'critic_loss' became NaN or infinite"):
        Adversarial(poison_critic=True, epochs=2, random_state=0).fit(X)


def test_a_state_that_does_not_fit_the_network_is_refused(X):
    detector = Adversarial(epochs=1, random_state=0).fit(X)
    state = detector.__getstate__()
    state["_network_state"]["optimizers"]["critic"]["variables"].pop()
    with pytest.raises(ValueError, match="cannot restore the optimizer of critic"):
        pickle.loads(pickle.dumps(_Reduced(state)))


class _Reduced:
    """Pickles as an Adversarial with a given state."""

    def __init__(self, state):
        self.state = state

    def __reduce__(self):
        return (Adversarial.__new__, (Adversarial,), self.state)


# --------------------------------------------------------------- labels
class LabelledNetwork(DetectorNetwork):
    """Deep SAD's loss in miniature: normal and unlabelled samples are pulled
    to the origin of a learned space, labelled anomalies pushed away."""

    def __init__(self):
        super().__init__()
        self.embedding = layers.Dense(3, use_bias=False)

    def call(self, x, training=False):
        return self.embedding(x)

    def detector_loss(self, x, outputs, training, labels=None):
        distance = ops.sum(ops.square(outputs), axis=-1)
        if labels is None:
            return distance
        return ops.where(ops.equal(labels, 1), 1.0 / (distance + 1e-6), distance)

    def score(self, x):
        return -ops.sum(ops.square(self(x)), axis=-1)


class Labelled(BaseGradientDetector):
    """A detector that learns from a few labelled anomalies."""

    _fit_labels = {-1, 0, 1}
    _needs_anomaly_labels = True

    def __init__(self, **params):
        super().__init__(**params)

    def _build_network(self, sample_shape):
        return LabelledNetwork()


@pytest.fixture
def labelled():
    """Normals and unlabelled samples, and a few labelled anomalies that
    differ from them in one feature only."""
    rng = np.random.RandomState(0)
    X = rng.normal(size=(120, 6))
    y = np.r_[np.zeros(60), -np.ones(50), np.ones(10)].astype(int)
    X[y == 1, 2] += 3.0
    return X, y


def test_labels_reach_the_training_step(labelled):
    X, y = labelled
    detector = Labelled(epochs=30, learning_rate=0.01, random_state=0).fit(X, y)
    scores = detector.score_samples(X)
    # Pushed away from the origin: the labelled anomalies score lowest.
    assert scores[y == 1].max() < np.median(scores[y != 1])


@pytest.mark.parametrize(
    "y, match",
    [
        (None, "learns from labels and requires y to be passed"),
        (np.zeros(119), "y has 119 labels but X has 120 samples"),
        (np.r_[np.zeros(119), 2], "takes the labels 1 \\(anomaly\\), 0 \\(normal\\), -1 \\(unlabelled\\); y also holds 2"),
        (np.r_[np.zeros(119), 0.5], "y also holds 0.5"),
        (np.full(120, "a"), "y must hold the labels"),
        (np.zeros((120, 2)), "1-D array"),
        (np.r_[np.zeros(60), -np.ones(60)], "needs at least one labelled anomaly"),
    ],
)
def test_unusable_labels_get_a_clear_error(labelled, y, match):
    X, _ = labelled
    with pytest.raises(ValueError, match=match):
        Labelled(epochs=1).fit(X, y)


class OptionallyLabelled(Labelled):
    """Learns from labels when given them, without them otherwise."""

    _needs_anomaly_labels = False
    _labels_optional = True


def test_a_detector_with_optional_labels_fits_without_them(labelled):
    X, y = labelled
    seen = []

    class Recording(OptionallyLabelled):
        def _init_network(self, network, X, y):
            seen.append(y)

    Recording(epochs=1, random_state=0).fit(X)
    assert seen[-1] is None
    Recording(epochs=1, validation_fraction=0.0, random_state=0).fit(X, y)
    assert_array_equal(seen[-1], y)
    # Given, they are checked as any detector's.
    with pytest.raises(ValueError, match="y also holds 2"):
        OptionallyLabelled(epochs=1).fit(X, np.r_[y[:-1], 2])


def test_detectors_that_do_not_learn_from_labels_ignore_them(X):
    plain = AutoEncoder(hidden_units=(4, 2), epochs=2, random_state=0).fit(X)
    given = AutoEncoder(hidden_units=(4, 2), epochs=2, random_state=0).fit(
        X, np.array(["whatever"] * len(X))
    )
    assert_array_equal(given.score_samples(X), plain.score_samples(X))


def test_the_validation_split_is_stratified_on_the_labels():
    labels = np.r_[np.ones(10), np.zeros(60), -np.ones(30)].astype(int)
    train, val = validation_split(100, 0.2, np.random.RandomState(0), labels=labels)
    assert np.bincount(labels[val] + 1).tolist() == [6, 12, 2]
    assert np.intersect1d(train, val).size == 0
    assert np.union1d(train, val).size == 100
    # Without labels: the plain shuffled split, as before.
    train, val = validation_split(100, 0.2, np.random.RandomState(0))
    assert len(val) == 20


def test_trimming_never_drops_a_labelled_anomaly():
    losses = keras.ops.convert_to_tensor(np.array([1.0, 9.0, 2.0, 8.0, 3.0]))
    anomaly = keras.ops.convert_to_tensor(np.array([False, True, False, True, False]))
    # 40% of 5 values left out: the two largest, unless they are anomalies'.
    assert float(trimmed_mean(losses, 0.4)) == pytest.approx(2.0)
    assert float(trimmed_mean(losses, 0.4, keep=anomaly)) == pytest.approx((9 + 8 + 1) / 3)
    # Never more left out than there are other values: 2 would be, 1 is.
    almost_all = keras.ops.convert_to_tensor(np.array([True, True, True, True, False]))
    assert float(trimmed_mean(losses, 0.49, keep=almost_all)) == pytest.approx(20 / 4)


def test_a_labelled_fit_trims_only_unlabelled_and_normal_losses(labelled):
    X, y = labelled
    detector = Labelled(epochs=1, trim_fraction=0.3, random_state=0).fit(X, y)
    network = detector.model_
    x = keras.ops.convert_to_tensor(X.astype("float32"))
    outputs = network(x)
    per_sample = np.asarray(network.detector_loss(x, outputs, True, labels=y))
    loss = float(network.compute_loss(x, y, outputs, training=True))
    others = np.sort(per_sample[y != 1])
    kept = np.r_[per_sample[y == 1], others[: len(others) - int(0.3 * len(y))]]
    assert loss == pytest.approx(kept.mean(), rel=1e-5)


# ------------------------------------------------------- frozen parts
def _backbone(sample_shape):
    return keras.Sequential(
        [keras.Input(sample_shape), layers.Dense(4, use_bias=False, name="projection")]
    )


class FeatureNetwork(DetectorNetwork):
    """A small autoencoder of the features of a frozen backbone."""

    def __init__(self, backbone):
        super().__init__()
        self.backbone = backbone
        self.encoder = layers.Dense(2, activation="relu")
        self.decoder = layers.Dense(4)

    def call(self, x, training=False):
        features = self.backbone(x, training=False)
        return features, self.decoder(self.encoder(features))

    def detector_loss(self, x, outputs, training):
        features, reconstruction = outputs
        return ops.mean(ops.square(reconstruction - features), axis=-1)

    def score(self, x):
        return -self.detector_loss(x, self(x), False)


class OnBackbone(BaseGradientDetector):
    """A head trained on a frozen, pretrained backbone.

    Parameters
    ----------
    weights : str, default=None
        Path of the backbone's pretrained weights (a ``.npy`` file).
    """

    _scoring_dtype = "float32"
    _frozen_parameters = ("weights",)
    _parameter_constraints = {"weights": [str, None]}

    def __init__(self, weights=None, **params):
        self.weights = weights
        super().__init__(**params)

    def _frozen_networks(self, sample_shape, pretrained):
        backbone = _backbone(sample_shape)
        if pretrained:
            backbone.set_weights([np.load(self.weights)])
        return {"backbone": backbone}

    def _build_network(self, sample_shape):
        return FeatureNetwork(self._frozen_["backbone"])


@pytest.fixture
def weights_file(tmp_path):
    path = tmp_path / "backbone.npy"
    np.save(path, np.random.RandomState(1).normal(size=(6, 4)).astype("float32"))
    return path


def test_a_frozen_part_is_never_updated_nor_copied(X, weights_file):
    detector = OnBackbone(str(weights_file), epochs=3, random_state=0).fit(X)
    backbone = detector._frozen_["backbone"]
    assert_array_equal(backbone.get_weights()[0], np.load(weights_file))
    assert not backbone.trainable
    assert detector.model_.backbone is backbone
    # Scored with the trained network itself, not a float64 copy.
    assert detector._scoring_network is detector.model_


def test_a_frozen_part_is_pickled_once_and_restored_without_its_file(X, weights_file):
    detector = OnBackbone(str(weights_file), epochs=2, random_state=0).fit(X)
    state = detector.__getstate__()
    assert_array_equal(state["_frozen_weights"]["backbone"][0], np.load(weights_file))
    # The network's own state leaves the backbone out.
    assert len(state["_network_state"]["variables"]) == len(detector.model_.variables) - 1
    data = pickle.dumps(detector)
    weights_file.unlink()  # a new machine, without the weights file
    restored = pickle.loads(data)
    assert_array_equal(restored.score_samples(X), detector.score_samples(X))
    assert restored.model_.backbone is restored._frozen_["backbone"]


def test_frozen_parts_are_built_once_while_their_parameters_hold(X, weights_file, tmp_path):
    detector = OnBackbone(str(weights_file), epochs=1, random_state=0).fit(X)
    backbone = detector._frozen_["backbone"]
    detector.set_params(epochs=2).fit(X)
    assert detector._frozen_["backbone"] is backbone
    other = tmp_path / "other.npy"
    np.save(other, np.ones((6, 4), dtype="float32"))
    detector.set_params(weights=str(other)).fit(X)
    assert detector._frozen_["backbone"] is not backbone
    assert_array_equal(detector._frozen_["backbone"].get_weights()[0], 1.0)


def test_frozen_parts_are_never_copied_to_float64(X, weights_file):
    class Float64OnBackbone(OnBackbone):
        _scoring_dtype = "float64"

    with pytest.raises(TypeError, match="frozen networks and scores in float64"):
        Float64OnBackbone(str(weights_file), epochs=1).fit(X)


# ---------------------------------------------- fits without gradients
class NearestNeighbourNetwork(DetectorNetwork):
    """Distances in the space of a frozen random projection."""

    def __init__(self, projection):
        super().__init__()
        self.projection = projection

    def call(self, x, training=False):
        return self.projection(x, training=False)

    def score(self, x, bank):
        features = self(x)
        distances = ops.sum(ops.square(features[:, None, :] - bank[None, :, :]), axis=-1)
        return -ops.min(distances, axis=-1)


def _features(network, x):
    return network(x)


class MemoryBank(BaseDeepDetector):
    """Nearest-neighbour distance to a memory bank of training features."""

    _scoring_dtype = "float32"

    def __init__(self, **params):
        super().__init__(**params)

    def _frozen_networks(self, sample_shape, pretrained):
        return {"projection": _backbone(sample_shape)}

    def _build_network(self, sample_shape):
        return NearestNeighbourNetwork(self._frozen_["projection"])

    def _fit_network(self, network, X, y, *, seed, warm):
        self.memory_bank_ = self._map_in_chunks(network, _features, X, (4,))

    def _scoring_constants(self):
        return {"bank": self.memory_bank_}


def test_a_fit_without_gradients_takes_no_training_parameter():
    parameters = set(inspect.signature(MemoryBank).parameters)
    assert parameters == {"scaling", "verbose", "random_state", "device", "contamination"}


def test_a_memory_bank_is_a_fitted_attribute_scored_and_pickled(X):
    detector = MemoryBank(random_state=0).fit(X[:60])
    assert detector.memory_bank_.shape == (60, 4)
    scores = detector.score_samples(X)
    # A training sample is its own nearest neighbour.
    assert_allclose(scores[:60], 0.0, atol=1e-5)
    assert (scores[60:] < -1e-3).all()
    restored = pickle.loads(pickle.dumps(detector))
    assert_array_equal(restored.memory_bank_, detector.memory_bank_)
    assert_array_equal(restored.score_samples(X), scores)
    # Same random_state, same projection, same scores.
    assert_array_equal(MemoryBank(random_state=0).fit(X[:60]).score_samples(X), scores)


def test_extraction_runs_in_chunks_under_the_working_memory(X):
    whole = MemoryBank(random_state=0).fit(X).memory_bank_
    with config_context(working_memory=1e-4):
        with pytest.warns(UserWarning, match="working_memory"):
            chunked = MemoryBank(random_state=0).fit(X).memory_bank_
    # One row a chunk against chunks of many: float32 kernels sum in another
    # order for another batch size, so the features agree to float32
    # rounding of the largest values, not of each feature, however small.
    assert_allclose(chunked, whole, rtol=1e-6, atol=1e-6 * np.abs(whole).max())


def test_extraction_shows_progress(X, capsys):
    MemoryBank(verbose=1, random_state=0).fit(X)
    assert "96/96" in capsys.readouterr().out


@parametrize_with_checks(
    [
        Adversarial(epochs=2, random_state=0),
        MemoryBank(random_state=0),
    ]
)
def test_detectors_written_on_the_engine_pass_the_estimator_checks(estimator, check):
    check(estimator)
