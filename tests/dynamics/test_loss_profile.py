"""LossProfileDetector and ConvLossProfileDetector: snapshots and profiles,
the predictor, the checks, persistence, errors, and what profiles learn."""

import pickle

import numpy as np
import pytest
from numpy.testing import assert_allclose, assert_array_equal
from sklearn.base import clone
from sklearn.metrics import roc_auc_score
from sklearn.utils import estimator_checks
from sklearn.utils.estimator_checks import parametrize_with_checks

from skanomaly import ConvLossProfileDetector, LossProfileDetector
from skanomaly.engine import keras
from tests.test_common import (
    IMAGE_NON_SQUARE_WIDTH,
    THIRD_LABEL_CHECKS,
    THIRD_LABEL_REASON,
)

TINY = dict(epochs=2, n_snapshots=2, random_state=0)

# ------------------------------------------------------- estimator checks

# The checks that fit with a y of three classes (0, 1, 2): both detectors
# learn from labels and refuse the 2 with a clear error
# (test_the_label_checks_fail_only_for_the_third_label).
ROW_EXPECTED_FAILED = {name: THIRD_LABEL_REASON for name in THIRD_LABEL_CHECKS}
# The score is linear in the logarithm of the losses, which draws in the
# long right tail that raw losses have: on the checks' blobs, after two
# epochs, no training row lies beyond Tukey's fence, so
# check_outliers_train gets a float contamination (as GANomaly and OGNet
# do in tests/test_common.py).
ROW_CHECKED = LossProfileDetector(hidden_units=(4, 2), contamination=0.1, **TINY)


@parametrize_with_checks(
    [ROW_CHECKED], expected_failed_checks=lambda e: ROW_EXPECTED_FAILED, xfail_strict=True
)
def test_sklearn_estimator_checks(estimator, check):
    check(estimator)


def _image_expected_failed_checks(estimator):
    failed = {name: THIRD_LABEL_REASON for name in THIRD_LABEL_CHECKS}
    # Rows of a width that is not a perfect square are refused first.
    failed.update(
        {
            name: (
                f"an image detector needs images: 2-D rows of width {width}, not a "
                "perfect square, have no image shape"
            )
            for name, width in IMAGE_NON_SQUARE_WIDTH.items()
        }
    )
    return failed


IMAGE_CHECKED = ConvLossProfileDetector(latent_dim=2, contamination=0.1, **TINY)


@parametrize_with_checks(
    [IMAGE_CHECKED], expected_failed_checks=_image_expected_failed_checks, xfail_strict=True
)
def test_image_sklearn_estimator_checks(estimator, check):
    check(estimator)


@pytest.mark.parametrize(
    "check_name",
    ["check_estimators_pickle", "check_fit_idempotent", "check_outliers_train"],
)
def test_image_checks_pass_given_an_image_shape(check_name):
    # They failed above only because rows of that width have no image shape.
    width = IMAGE_NON_SQUARE_WIDTH[check_name]
    with_shape = clone(IMAGE_CHECKED).set_params(image_shape=(1, width))
    getattr(estimator_checks, check_name)("ConvLossProfileDetector", with_shape)


class _ThirdLabelUnlabelled(LossProfileDetector):
    """Any label outside {1, 0, -1} taken as unlabelled."""

    def fit(self, X, y=None):
        if y is not None:
            labels = np.asarray(y)
            y = np.where(np.isin(labels, [1, 0, -1]), labels, -1)
        return super().fit(X, y)


@pytest.mark.parametrize("check_name", THIRD_LABEL_CHECKS)
def test_the_label_checks_fail_only_for_the_third_label(check_name):
    check = getattr(estimator_checks, check_name)
    with pytest.raises(Exception) as error:
        check("LossProfileDetector", clone(ROW_CHECKED))
    assert "y also holds 2" in str(error.value.__cause__ or error.value)
    # With that label read as "unlabelled", the check passes.
    check("LossProfileDetector", _ThirdLabelUnlabelled(**ROW_CHECKED.get_params()))


# ------------------------------------------------------------------ data


@pytest.fixture(scope="module")
def X():
    return np.random.RandomState(0).normal(size=(60, 4))


@pytest.fixture(scope="module")
def labelled(X):
    X = X.copy()
    X[:4] += 3.0
    y = -np.ones(len(X), dtype=int)
    y[:3] = 1
    return X, y


def _ramps(rng, n, side=8):
    images = np.tile(np.linspace(0.0, 1.0, side), (n, side, 1))
    return images + rng.normal(scale=0.02, size=images.shape)


# ------------------------------------------------- snapshots and profiles


def test_snapshots_are_spread_over_the_epochs_the_last_at_the_end(X):
    detector = LossProfileDetector(hidden_units=(4, 2), epochs=7, n_snapshots=3, random_state=0)
    detector.fit(X)
    assert_array_equal(detector.snapshot_epochs_, [3, 5, 7])
    assert detector.profiles_.shape == (60, 3)
    # The last snapshot is the trained network: its losses are the final
    # reconstruction errors.
    scaled = (X - detector.scaling_center_) / detector.scaling_scale_
    final = np.mean((keras.ops.convert_to_numpy(detector.model_(scaled)) - scaled) ** 2, axis=1)
    assert_allclose(detector.profiles_[:, -1], final, rtol=1e-4)
    # New samples get profiles under the same snapshots; the training
    # samples' own agree with those kept in training.
    assert_allclose(detector.loss_profiles(X), detector.profiles_, rtol=1e-4)
    # Losses fall as the network learns, on average.
    assert detector.profiles_[:, 0].mean() > detector.profiles_[:, -1].mean()


def test_without_labels_the_score_is_the_mean_standardised_log_loss(X):
    detector = LossProfileDetector(hidden_units=(4, 2), epochs=4, n_snapshots=4, random_state=0)
    detector.fit(X)
    assert not detector.supervised_
    assert detector.trained_on_.all()
    profiles = detector.loss_profiles(X[:5])
    standard = (
        np.log(profiles + detector.profile_floor_) - detector.profile_center_
    ) / detector.profile_scale_
    assert_allclose(detector.score_samples(X[:5]), -standard.mean(axis=1), rtol=1e-6)
    # Labels without a labelled anomaly leave it unsupervised, and y of -1
    # only gives the same fit as no y.
    unlabelled = clone(detector).fit(X, -np.ones(len(X), dtype=int))
    assert not unlabelled.supervised_
    assert_array_equal(unlabelled.score_samples(X), detector.score_samples(X))


def test_labelled_anomalies_and_a_held_out_share_are_kept_out_of_training(labelled):
    X, y = labelled
    detector = LossProfileDetector(hidden_units=(4, 2), **TINY).fit(X, y)
    assert detector.supervised_
    # 3 labelled anomalies and ceil(0.2 * 57) = 12 other samples held out.
    assert not detector.trained_on_[:3].any()
    assert (~detector.trained_on_).sum() == 3 + 12
    all_trained = LossProfileDetector(hidden_units=(4, 2), holdout_fraction=0.0, **TINY)
    assert (~all_trained.fit(X, y).trained_on_).sum() == 3
    # The score is the predictor's: minus a linear function of the
    # standardised log-profile.
    standard = (
        np.log(detector.loss_profiles(X) + detector.profile_floor_) - detector.profile_center_
    ) / detector.profile_scale_
    expected = -(standard @ detector.coef_ + detector.intercept_)
    assert_allclose(detector.score_samples(X), expected, rtol=1e-5, atol=1e-6)


def test_images_get_profiles_maps_and_scores():
    rng = np.random.RandomState(0)
    X = _ramps(rng, 30)
    detector = ConvLossProfileDetector(latent_dim=4, epochs=4, n_snapshots=2, random_state=0)
    detector.fit(X)
    assert detector.profiles_.shape == (30, 2)
    assert_allclose(detector.loss_profiles(X), detector.profiles_, rtol=1e-4)
    maps = detector.anomaly_map(X[:3])
    assert maps.shape == (3, 8, 8)
    # score_samples is minus the mean of the map (map_aggregation="mean").
    assert_allclose(detector.score_samples(X[:3]), -maps.mean(axis=(1, 2)), rtol=1e-5)


def test_warm_start_takes_new_snapshots_over_the_continued_fit(X):
    detector = LossProfileDetector(hidden_units=(4, 2), warm_start=True, **TINY).fit(X)
    first = detector.profiles_.copy()
    detector.fit(X)
    assert_array_equal(detector.snapshot_epochs_, [3, 4])
    assert detector.n_epochs_ == 4
    assert detector.profiles_[:, -1].mean() < first[:, -1].mean()


# ------------------------------------------------ persistence, determinism


def test_pickle_round_trip_scores_identically_and_continues_identically(labelled):
    X, y = labelled
    detector = LossProfileDetector(hidden_units=(4, 2), warm_start=True, **TINY).fit(X, y)
    restored = pickle.loads(pickle.dumps(detector))
    assert_array_equal(restored.score_samples(X), detector.score_samples(X))
    assert_array_equal(restored.loss_profiles(X), detector.loss_profiles(X))
    # A warm start after the round trip goes on as the original does.
    assert_array_equal(restored.fit(X, y).score_samples(X), detector.fit(X, y).score_samples(X))


def test_image_pickle_round_trip_maps_identically():
    rng = np.random.RandomState(0)
    X = _ramps(rng, 20)
    detector = ConvLossProfileDetector(latent_dim=2, **TINY).fit(X)
    restored = pickle.loads(pickle.dumps(detector))
    assert_array_equal(restored.anomaly_map(X), detector.anomaly_map(X))
    assert_array_equal(restored.score_samples(X), detector.score_samples(X))


def test_same_random_state_same_scores(labelled):
    X, y = labelled
    runs = [LossProfileDetector(hidden_units=(4, 2), **TINY).fit(X, y) for _ in range(2)]
    assert_array_equal(runs[0].score_samples(X), runs[1].score_samples(X))
    assert_array_equal(runs[0].trained_on_, runs[1].trained_on_)
    rng = np.random.RandomState(0)
    images = _ramps(rng, 20)
    labels = np.r_[np.ones(2), -np.ones(18)].astype(int)
    maps = [
        ConvLossProfileDetector(latent_dim=2, **TINY).fit(images, labels).anomaly_map(images)
        for _ in range(2)
    ]
    assert_array_equal(maps[0], maps[1])


# ----------------------------------------------------------------- errors


@pytest.mark.parametrize(
    "params, match",
    [
        ({"n_snapshots": 1}, "n_snapshots"),
        ({"n_snapshots": 2.5}, "n_snapshots"),
        ({"holdout_fraction": 1.0}, "holdout_fraction"),
        ({"holdout_fraction": -0.1}, "holdout_fraction"),
        ({"hidden_units": (0,)}, "hidden_units"),
    ],
)
def test_bad_parameters(X, params, match):
    with pytest.raises(ValueError, match=match):
        LossProfileDetector(**{**TINY, **params}).fit(X)


def test_more_snapshots_than_epochs_is_refused(X):
    with pytest.raises(ValueError, match="n_snapshots=3 points of training need at least"):
        LossProfileDetector(epochs=2, n_snapshots=3).fit(X)
    assert not hasattr(LossProfileDetector(epochs=2, n_snapshots=3), "profiles_")


@pytest.mark.parametrize(
    "labels, match",
    [
        (np.ones(60, dtype=int), "every training sample is labelled 1"),
        (np.r_[np.full(59, -1), 2], "y also holds 2"),
        (np.ones(59, dtype=int), "y has 59 labels but X has 60"),
    ],
)
def test_labels_it_cannot_use_are_refused(X, labels, match):
    with pytest.raises(ValueError, match=match):
        LossProfileDetector(**TINY).fit(X, labels)


def test_a_held_out_share_that_leaves_too_few_to_train_on_is_refused():
    X = np.random.RandomState(0).normal(size=(6, 3))
    y = np.r_[1, 1, 1, -1, -1, -1].astype(int)
    with pytest.raises(ValueError, match="holdout_fraction=0.5 of the 3 samples"):
        LossProfileDetector(holdout_fraction=0.5, **TINY).fit(X, y)
    # A smaller share holds out one sample, and the fit goes on.
    detector = LossProfileDetector(holdout_fraction=0.1, **TINY).fit(X, y)
    assert (~detector.trained_on_[3:]).sum() == 1


def test_it_has_no_partial_fit(X):
    detector = LossProfileDetector(**TINY)
    assert not hasattr(detector, "partial_fit")
    with pytest.raises(AttributeError) as error:
        detector.partial_fit(X)
    assert "warm_start=True" in str(error.value.__cause__)


class _StopAfterOneEpoch(keras.callbacks.Callback):
    def on_epoch_end(self, epoch, logs=None):
        self.model.stop_training = True


def test_a_fit_stopped_before_its_snapshots_is_refused(X):
    detector = LossProfileDetector(
        epochs=4, n_snapshots=2, callbacks=[_StopAfterOneEpoch()], random_state=0
    )
    with pytest.raises(ValueError, match="after epoch 1 of 4, before the snapshots of epochs"):
        detector.fit(X)
    assert not hasattr(detector, "model_")


# --------------------------------------------------------------- learning


def _scaled_rows(rng, n_normal, n_anomalies, basis):
    """Rows on a 2-d plane of 8-d space at magnitudes from 0.5 to 4 (noise
    growing with them), and anomalies of magnitude 0.5 to 1 that leave the
    plane. Big normal rows reconstruct worse than small anomalies, and the
    anomalies lie nearer the mean than most normal rows, but an anomaly's
    loss falls less over training, relative to where it started."""
    scale = np.exp(rng.uniform(np.log(0.5), np.log(4.0), size=(n_normal, 1)))
    plane = rng.normal(size=(n_normal, 2)) @ basis
    normal = scale * (plane + 0.1 * rng.normal(size=(n_normal, 8)))
    scale = np.exp(rng.uniform(np.log(0.5), np.log(1.0), size=(n_anomalies, 1)))
    anomalies = scale * (
        0.7 * rng.normal(size=(n_anomalies, 2)) @ basis + 0.5 * rng.normal(size=(n_anomalies, 8))
    )
    return normal, anomalies


def test_a_few_labels_teach_it_the_profile_of_an_anomaly():
    # Measured (seed 0 for the data and the detector): distance from the
    # mean 0.380, the same autoencoder's final loss 0.816, the profile
    # predictor 0.905 (seeds 1 and 2: 0.370 / 0.827 / 0.902 and 0.363 /
    # 0.843 / 0.949). The predictor weighs the late losses against the
    # early ones.
    rng = np.random.RandomState(0)
    basis = np.linalg.qr(rng.normal(size=(8, 2)))[0].T
    normal, anomalies = _scaled_rows(rng, 300, 16, basis)
    X = np.r_[normal, anomalies]
    y = -np.ones(len(X), dtype=int)
    y[300:306] = 1
    test_normal, test_anomalies = _scaled_rows(rng, 200, 100, basis)
    X_test = np.r_[test_normal, test_anomalies]
    y_test = np.r_[np.zeros(200), np.ones(100)]
    detector = LossProfileDetector(random_state=0).fit(X, y)
    trivial = roc_auc_score(y_test, np.linalg.norm(X_test - X.mean(axis=0), axis=1))
    final = roc_auc_score(y_test, detector.loss_profiles(X_test)[:, -1])
    profile = roc_auc_score(y_test, -detector.score_samples(X_test))
    assert trivial < 0.5
    assert profile > 0.85
    assert profile > final + 0.05
    assert detector.coef_[-1] > 0 > detector.coef_[0]


def _stripes(rng, n, side=16):
    """Horizontal stripes of period 8 at a random phase, a little noise."""
    rows = np.arange(side)[None, :, None]
    phase = rng.uniform(0.0, 2.0 * np.pi, size=(n, 1, 1))
    images = 0.5 + 0.4 * np.sin(2.0 * np.pi * rows / 8.0 + phase) * np.ones((1, 1, side))
    return images + 0.03 * rng.normal(size=(n, side, side))


def _with_defects(rng, images):
    """Each image with a 4x4 patch of grey noise where its stripes were."""
    images = images.copy()
    corners = rng.randint(2, images.shape[1] - 6, size=(len(images), 2))
    for image, (top, left) in zip(images, corners):
        image[top : top + 4, left : left + 4] = 0.5 + 0.15 * rng.normal(size=(4, 4))
    return images, corners


def test_images_labelled_defects_teach_it_maps_that_find_them():
    # Measured (seeds 0, 1, 2 for the data and the detector): ROC AUC of
    # the image score 1.000 each time, against 0.302, 0.393 and 0.344 for
    # the distance from the mean image; the map's largest pixel lies in or
    # next to the defect in 30 of 30 test images each time. The images'
    # final mean loss ranks them perfectly too (1.000): these defects do
    # not need the profile, the test shows that the labelled images teach
    # a predictor that finds them.
    rng = np.random.RandomState(0)
    defective, _ = _with_defects(rng, _stripes(rng, 10))
    X = np.r_[_stripes(rng, 200), defective]
    y = -np.ones(len(X), dtype=int)
    y[200:206] = 1
    anomalies, corners = _with_defects(rng, _stripes(rng, 30))
    X_test = np.r_[_stripes(rng, 60), anomalies]
    y_test = np.r_[np.zeros(60), np.ones(30)]
    detector = ConvLossProfileDetector(
        epochs=50, batch_size=32, map_aggregation="topk_mean", random_state=0
    ).fit(X, y)
    assert detector.supervised_
    distances = np.linalg.norm((X_test - X.mean(axis=0)).reshape(90, -1), axis=1)
    trivial = roc_auc_score(y_test, distances)
    auc = roc_auc_score(y_test, -detector.score_samples(X_test))
    assert trivial < 0.5
    assert auc > 0.95
    maps = detector.anomaly_map(anomalies)
    peaks = np.array([np.unravel_index(m.argmax(), m.shape) for m in maps])
    found = np.all((peaks >= corners - 1) & (peaks <= corners + 4), axis=1)
    assert found.mean() > 0.8


def test_auto_contamination_is_tukeys_fence_of_the_training_scores(X):
    from skanomaly.base import tukey_lower_fence

    detector = LossProfileDetector(hidden_units=(4, 2), **TINY).fit(X)
    assert detector.offset_ == pytest.approx(tukey_lower_fence(detector.score_samples(X)))


# ------------------------------------------------ the reinforcement sampler

REINFORCE = dict(hidden_units=(4, 2), sampler="reinforce", epochs=4, n_snapshots=2, random_state=0)


@pytest.fixture(scope="module")
def subtle(X):
    # Labelled anomalies hardly apart, so that the separation, and so the
    # reward, changes from epoch to epoch.
    X = X.copy()
    X[:4] *= 1.5
    y = -np.ones(len(X), dtype=int)
    y[:3] = 1
    return X, y


def test_the_sampler_records_its_policy_epoch_by_epoch(subtle):
    X, y = subtle
    detector = LossProfileDetector(**REINFORCE).fit(X, y)
    history = detector.sampler_history_
    assert sorted(history) == ["probabilities", "reward", "separation"]
    assert all(len(values) == 4 for values in history.values())
    # The first epoch draws evenly from the 4 bins; the policy then moves.
    assert_allclose(history["probabilities"][0], [0.25] * 4)
    assert_allclose(np.sum(history["probabilities"], axis=1), 1.0)
    assert detector.sampler_logits_.shape == (4,)
    # Each reward is the change of the separation over its epoch.
    assert_allclose(history["reward"][1:], np.diff(history["separation"]))
    assert np.any(np.asarray(history["reward"]) != 0)
    assert np.any(detector.sampler_logits_ != 0)
    # The separation is the ROC AUC of the last epoch's loss (the profile's
    # last point) between the labelled anomalies and the held-out samples.
    losses = detector.loss_profiles(X)[:, -1]
    held_out = (y != 1) & ~detector.trained_on_
    expected = roc_auc_score(
        np.r_[np.ones(3), np.zeros(held_out.sum())], np.r_[losses[y == 1], losses[held_out]]
    )
    assert history["separation"][-1] == pytest.approx(expected, abs=1e-6)
    # The predictor is fitted as with uniform batches.
    assert detector.supervised_ and detector.coef_.shape == (2,)


class _Stream:
    def publish(self, indices):
        self.published = np.asarray(indices)


def test_reinforce_moves_the_policy_towards_the_draws_before_a_gain():
    from skanomaly.dynamics import _loss_profile

    # 8 training samples (2 a bin), 2 anomalies, 2 held-out samples; the
    # losses stand in for the network's, the anomalies' rising after the
    # first epoch so that the separation goes from 0.5 to 1.
    trained_on = np.r_[np.ones(8, bool), np.zeros(4, bool)]
    anomalies = np.r_[np.zeros(8, bool), True, True, False, False]
    held_out = np.r_[np.zeros(10, bool), True, True]
    before = np.r_[np.arange(8.0), 1.0, 2.0, 1.0, 2.0]
    after = np.r_[np.arange(8.0), 3.0, 4.0, 1.0, 2.0]
    losses = iter([after])  # what the network gives after the epoch
    sampler = _loss_profile._ReinforceSampler(
        lambda X: next(losses), np.zeros((12, 1)), trained_on, anomalies, held_out,
        logits=np.zeros(4), history={"probabilities": [], "separation": [], "reward": []},
        seed=0, epochs_before=0,
    )
    sampler.n_draws = 8
    table = sampler._draw(before[trained_on])
    counts = sampler.counts
    # Each draw is a sample of the bin drawn: bin k holds samples 2k, 2k+1.
    assert_array_equal(np.bincount(table // 2, minlength=4), counts)
    sampler.separation = sampler._separation(before)
    assert sampler.separation == 0.5
    sampler.stream = _Stream()
    sampler.on_epoch_end(0)
    assert sampler.history["reward"] == [0.5]
    # The first advantage is the reward over its own scale, 1: the logits
    # take a step along the epoch's log-probability gradient.
    step = _loss_profile.SAMPLER_LEARNING_RATE * (counts - 8 * 0.25) / np.sqrt(8)
    assert_allclose(sampler.logits, step)
    # The next epoch's draws were published, from the moved policy.
    assert sampler.stream.published.shape == (8,)
    assert_allclose(sampler.probabilities, np.exp(step) / np.exp(step).sum())


def test_the_sampler_is_reproducible_and_survives_a_pickle_round_trip(subtle):
    X, y = subtle
    runs = [LossProfileDetector(warm_start=True, **REINFORCE).fit(X, y) for _ in range(2)]
    assert_array_equal(runs[0].score_samples(X), runs[1].score_samples(X))
    assert_array_equal(runs[0].sampler_logits_, runs[1].sampler_logits_)
    restored = pickle.loads(pickle.dumps(runs[0]))
    assert_array_equal(restored.sampler_logits_, runs[0].sampler_logits_)
    # A warm start goes on from the policy, after the round trip as before.
    restored.fit(X, y)
    runs[0].fit(X, y)
    assert_array_equal(restored.score_samples(X), runs[0].score_samples(X))
    assert_array_equal(restored.sampler_logits_, runs[0].sampler_logits_)
    assert len(runs[0].sampler_history_["reward"]) == 8
    # A different seed draws other batches.
    other = LossProfileDetector(**{**REINFORCE, "random_state": 1}).fit(X, y)
    assert not np.array_equal(other.sampler_logits_, runs[1].sampler_logits_)


def test_a_uniform_fit_leaves_no_policy_behind(labelled):
    X, y = labelled
    detector = LossProfileDetector(**REINFORCE).fit(X, y)
    detector.set_params(sampler="uniform").fit(X, y)
    assert not hasattr(detector, "sampler_logits_")
    assert not hasattr(detector, "sampler_history_")


def test_images_can_be_sampled_too():
    rng = np.random.RandomState(0)
    images = _ramps(rng, 24)
    images[:3, 2:5, 2:5] = 1.0
    labels = np.r_[np.ones(3), -np.ones(21)].astype(int)
    params = dict(latent_dim=2, sampler="reinforce", epochs=3, n_snapshots=2, random_state=0)
    maps = []
    for _ in range(2):
        detector = ConvLossProfileDetector(**params).fit(images, labels)
        maps.append(detector.anomaly_map(images))
    assert_array_equal(maps[0], maps[1])
    assert len(detector.sampler_history_["separation"]) == 3


@pytest.mark.parametrize(
    "params, labels, match",
    [
        ({}, None, "y labels no anomaly"),
        ({}, "unlabelled", "y labels no anomaly"),
        ({"holdout_fraction": 0.0}, "labelled", "holdout_fraction=0 holds none out"),
        ({"sampler": "greedy"}, "labelled", "sampler"),
    ],
)
def test_the_sampler_refuses_what_it_cannot_use(labelled, params, labels, match):
    X, y = labelled
    y = {None: None, "unlabelled": -np.ones(len(X), dtype=int), "labelled": y}[labels]
    detector = LossProfileDetector(**{**REINFORCE, **params})
    with pytest.raises(ValueError, match=match):
        detector.fit(X, y)
    assert not hasattr(detector, "model_")


def test_the_sampler_refuses_a_distribute_strategy(labelled):
    from skanomaly.engine._backend import tf

    X, y = labelled
    strategy = tf.distribute.OneDeviceStrategy("/cpu:0")
    detector = LossProfileDetector(distribute=strategy, **REINFORCE)
    with pytest.raises(ValueError, match="a tf.distribute strategy may read batches ahead"):
        detector.fit(X, y)
