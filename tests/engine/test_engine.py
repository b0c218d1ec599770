"""The engine every deep detector shares, exercised through AutoEncoder."""

import pickle
import copy
import subprocess
import sys
import warnings

import joblib
import numpy as np
import pytest
from sklearn import config_context
from sklearn.base import clone

from skanomaly import AutoEncoder
from skanomaly.engine import _scoring, keras
from skanomaly.exceptions import TrainingDivergedError


def small(**params):
    base = dict(hidden_units=(8, 2), epochs=3, random_state=0)
    base.update(params)
    return AutoEncoder(**base)


@pytest.fixture
def X():
    return np.random.RandomState(0).normal(size=(120, 6))


def test_history_and_epochs_without_validation(X):
    detector = small(epochs=4, validation_fraction=0.0).fit(X)
    assert detector.n_epochs_ == 4
    assert list(detector.history_) == ["loss"]
    assert len(detector.history_["loss"]) == 4


@pytest.mark.parametrize("steps, expected", [(53, 54), (64, 64), (7, 7)])
def test_an_epoch_runs_its_own_steps_give_or_take_one_a_call(steps, expected):
    # Keras runs whole calls of several steps: calls of 32 would run 64
    # steps for an epoch of 53; even calls of 27 run 54.
    X = np.random.RandomState(0).normal(size=(steps * 4, 3))
    detector = small(epochs=2, batch_size=4, validation_fraction=0.0).fit(X)
    assert int(detector.model_.optimizer.iterations.numpy()) == 2 * expected


def test_early_stopping_stops_and_records_validation_loss(X):
    # A loss that cannot improve for `patience` epochs stops training:
    # with a learning rate of ~0 nothing changes after the first epoch.
    detector = small(
        epochs=50, validation_fraction=0.25, patience=2, learning_rate=1e-12
    ).fit(X)
    assert detector.n_epochs_ < 50
    assert len(detector.history_["val_loss"]) == detector.n_epochs_


def test_early_stopping_keeps_best_weights(X):
    # The network ends with the weights of the epoch of lowest validation
    # loss, not those of the last epoch.
    class RecordWeights(keras.callbacks.Callback):
        def on_train_begin(self, logs=None):
            self.weights = []

        def on_epoch_end(self, epoch, logs=None):
            self.weights.append([w.copy() for w in self.model.get_weights()])

    recorder = RecordWeights()
    detector = small(
        epochs=40, validation_fraction=0.3, patience=3, learning_rate=0.05,
        callbacks=[recorder],
    ).fit(X)
    best = int(np.argmin(detector.history_["val_loss"]))
    final = detector.model_.get_weights()
    for kept, recorded in zip(final, recorder.weights[best]):
        np.testing.assert_array_equal(kept, recorded)


def test_user_callbacks_are_called(X):
    class CountEpochs(keras.callbacks.Callback):
        epochs_seen = 0

        def on_epoch_end(self, epoch, logs=None):
            CountEpochs.epochs_seen += 1

    small(epochs=3, validation_fraction=0.0, callbacks=[CountEpochs()]).fit(X)
    assert CountEpochs.epochs_seen == 3


@pytest.mark.parametrize("verbose, printed", [(0, False), (2, True)])
def test_verbose_controls_keras_output(X, capsys, verbose, printed):
    small(epochs=2, verbose=verbose).fit(X)
    out = capsys.readouterr().out
    assert ("Epoch 1/2" in out) is printed


def test_same_random_state_same_scores(X):
    a = small().fit(X).score_samples(X)
    b = small().fit(X).score_samples(X)
    np.testing.assert_array_equal(a, b)
    c = small(random_state=1).fit(X).score_samples(X)
    assert not np.allclose(a, c)


def test_random_state_instance_and_none(X):
    small(random_state=np.random.RandomState(3)).fit(X)
    small(random_state=None).fit(X)


def test_fit_leaves_global_generators_alone(X):
    import random

    np.random.seed(7)
    random.seed(7)
    expected = (np.random.rand(), random.random())
    np.random.seed(7)
    random.seed(7)
    small().fit(X)
    assert (np.random.rand(), random.random()) == expected


def test_warm_start_continues_training(X):
    detector = small(epochs=2, validation_fraction=0.0, warm_start=True).fit(X)
    weights = [w.copy() for w in detector.model_.get_weights()]
    model = detector.model_
    detector.fit(X)
    assert detector.model_ is model
    assert detector.n_epochs_ == 4
    assert len(detector.history_["loss"]) == 4
    assert not all(
        np.array_equal(a, b) for a, b in zip(weights, detector.model_.get_weights())
    )


def test_warm_start_refuses_other_width(X):
    detector = small(warm_start=True).fit(X)
    before = detector.score_samples(X)
    with pytest.raises(ValueError, match="warm_start=True: X has samples of shape"):
        detector.fit(X[:, :4])
    # Nothing of the refused fit is left: the detector scores as before.
    assert detector.n_features_in_ == 6
    np.testing.assert_array_equal(detector.score_samples(X), before)


def test_an_interrupted_warm_start_keeps_the_network_as_it_was(X):
    class Interrupt(keras.callbacks.Callback):
        def on_epoch_end(self, epoch, logs=None):
            raise KeyboardInterrupt

    detector = small(warm_start=True, validation_fraction=0.0).fit(X)
    before = [w.copy() for w in detector.model_.get_weights()]
    iterations = int(detector.model_.optimizer.iterations.numpy())
    scores = detector.score_samples(X)
    detector.set_params(callbacks=[Interrupt()])
    with pytest.raises(KeyboardInterrupt):
        detector.fit(X)
    for kept, weight in zip(detector.model_.get_weights(), before):
        np.testing.assert_array_equal(kept, weight)
    assert int(detector.model_.optimizer.iterations.numpy()) == iterations
    np.testing.assert_array_equal(detector.score_samples(X), scores)


def test_a_failed_first_fit_leaves_the_detector_unfitted(X):
    from sklearn.exceptions import NotFittedError
    from sklearn.utils.validation import check_is_fitted

    detector = small(hidden_units=(8, 0))  # refused when the network is built
    with pytest.raises(ValueError, match="hidden_units"):
        detector.fit(X)
    with pytest.raises(NotFittedError):
        check_is_fitted(detector)


def test_without_warm_start_refit_starts_afresh(X):
    detector = small().fit(X)
    model = detector.model_
    first = detector.score_samples(X)
    detector.fit(X)
    assert detector.model_ is not model
    np.testing.assert_array_equal(detector.score_samples(X), first)


def test_diverging_loss_raises_clear_error():
    X = np.random.RandomState(0).normal(size=(50, 4)) * 1e18
    with pytest.raises(TrainingDivergedError, match="NaN or infinite at epoch"):
        small(scaling=None, validation_fraction=0.0).fit(X)


def test_diverging_refit_leaves_the_detector_unfitted(X):
    from sklearn.exceptions import NotFittedError

    detector = small(validation_fraction=0.0).fit(X)
    detector.set_params(scaling=None)
    with pytest.raises(TrainingDivergedError):
        detector.fit(X * 1e18)
    with pytest.raises(NotFittedError):
        detector.score_samples(X)


def test_diverging_warm_start_keeps_previous_weights(X):
    detector = small(warm_start=True, validation_fraction=0.0).fit(X)
    before = detector.score_samples(X)
    detector.set_params(learning_rate=1e30, optimizer="sgd")
    with pytest.raises(TrainingDivergedError, match="weights from before this fit"):
        detector.fit(X * 1e15)
    np.testing.assert_array_equal(detector.score_samples(X), before)


def test_values_too_large_for_float32_are_refused():
    X = np.random.RandomState(0).normal(size=(20, 3)) * 1e300
    with pytest.raises(ValueError, match="too large for float32"):
        small(scaling=None).fit(X)


def test_scores_are_float64_and_independent_of_batch(X):
    detector = small().fit(X)
    scores = detector.score_samples(X)
    assert scores.dtype == np.float64
    one_by_one = np.array([detector.score_samples(row[None])[0] for row in X[:20]])
    # Single rows went through their own XLA-compiled trace, and agree.
    assert detector._scorer._single_row_fn is not None
    np.testing.assert_allclose(one_by_one, scores[:20], rtol=1e-12)


def test_float32_scoring_does_not_compile_single_rows():
    # In float32, XLA's reordered sums would differ from the batch's scores
    # by more than scikit-learn's tolerance for subset invariance.
    from skanomaly import ConvAutoEncoder

    images = np.random.RandomState(0).uniform(size=(8, 8, 8, 1))
    detector = ConvAutoEncoder(latent_dim=2, epochs=1, validation_fraction=0.0).fit(images)
    detector.score_samples(images[:1])
    assert detector._scorer._single_row_fn is None


def test_float32_scoring_maps_every_batch_at_one_size(monkeypatch):
    # Float32 kernels sum in another order for another batch size (on
    # AVX2-only CPUs, in the seventh digit): a float32 mapper pads every
    # chunk to one size, so a row scores the same alone, in a subset, in
    # another order or in chunks.
    from skanomaly import ConvAutoEncoder

    images = np.random.RandomState(0).uniform(size=(150, 8, 8, 1))
    detector = ConvAutoEncoder(latent_dim=2, epochs=1, validation_fraction=0.0).fit(images)
    mapper = detector._scorer
    assert mapper.fixed_batch
    assert mapper.chunk_rows(1) == mapper.chunk_rows(150) == _scoring.FIXED_CHUNK_ROWS
    calls = []
    traced = mapper._fn
    monkeypatch.setattr(mapper, "_fn", lambda chunk: calls.append(chunk.shape[0]) or traced(chunk))
    together = detector.score_samples(images)  # chunks of 64, 64 and 22 padded to 64
    assert calls == [64, 64, 64]
    alone = np.array([detector.score_samples(image[None])[0] for image in images[:5]])
    np.testing.assert_array_equal(alone, together[:5])
    order = np.random.RandomState(1).permutation(150)
    np.testing.assert_array_equal(detector.score_samples(images[order]), together[order])
    np.testing.assert_array_equal(detector.score_samples(images[60:70]), together[60:70])
    # float64 mappers take chunks as large as working memory allows.
    assert not small().fit(np.ones((10, 6)) + np.arange(6))._scorer.fixed_batch


def test_scoring_in_chunks_matches(X, monkeypatch):
    detector = small().fit(X)
    whole = detector.score_samples(X)
    monkeypatch.setattr(_scoring, "MAX_CHUNK_ROWS", 7)
    assert detector._scorer.chunk_rows(len(X)) == 7
    np.testing.assert_allclose(detector.score_samples(X), whole, rtol=1e-12)
    with config_context(working_memory=1e-5):
        # A tiny working memory still scores, one row at a time (and
        # scikit-learn says it could not keep to the bound).
        with pytest.warns(UserWarning, match="working_memory"):
            assert detector._scorer.chunk_rows(len(X)) == 1
        with pytest.warns(UserWarning, match="working_memory"):
            scores = detector.score_samples(X)
        np.testing.assert_allclose(scores, whole, rtol=1e-12)


def test_pickle_and_joblib_round_trip(X, tmp_path):
    detector = small().fit(X)
    expected = detector.score_samples(X)
    restored = pickle.loads(pickle.dumps(detector))
    np.testing.assert_array_equal(restored.score_samples(X), expected)
    assert restored.offset_ == detector.offset_
    joblib.dump(detector, tmp_path / "detector.joblib")
    loaded = joblib.load(tmp_path / "detector.joblib")
    np.testing.assert_array_equal(loaded.predict(X), detector.predict(X))
    # Pickling leaves the original usable.
    np.testing.assert_array_equal(detector.score_samples(X), expected)


def test_pickling_and_deep_copies_read_the_variables_without_numpy_warnings(X):
    # NumPy 2 warns when it converts a Keras variable through its __array__;
    # a copy of a fitted detector (score_new_tasks makes one) must not.
    detector = small().fit(X)
    with warnings.catch_warnings():
        warnings.simplefilter("error", DeprecationWarning)
        copied = copy.deepcopy(detector)
        pickle.dumps(detector)
    np.testing.assert_array_equal(copied.score_samples(X), detector.score_samples(X))


def test_pickled_detector_scores_identically_in_new_process(X, tmp_path):
    detector = small().fit(X)
    np.save(tmp_path / "X.npy", X)
    with open(tmp_path / "detector.pkl", "wb") as f:
        pickle.dump(detector, f)
    code = (
        "import pickle, numpy as np;"
        f"d = pickle.load(open({str(tmp_path / 'detector.pkl')!r}, 'rb'));"
        f"np.save({str(tmp_path / 'scores.npy')!r}, "
        f"d.score_samples(np.load({str(tmp_path / 'X.npy')!r})))"
    )
    subprocess.run([sys.executable, "-c", code], check=True)
    np.testing.assert_array_equal(
        np.load(tmp_path / "scores.npy"), detector.score_samples(X)
    )


def test_warm_start_after_unpickling_keeps_optimizer_state(X):
    detector = small(warm_start=True, validation_fraction=0.0).fit(X)
    restored = pickle.loads(pickle.dumps(detector))
    iterations = int(detector.model_.optimizer.iterations.numpy())
    assert int(restored.model_.optimizer.iterations.numpy()) == iterations
    detector.fit(X)
    restored.fit(X)
    np.testing.assert_allclose(
        restored.score_samples(X), detector.score_samples(X), rtol=1e-6
    )


def test_clone_gives_unfitted_copy_with_same_params(X):
    detector = small(noise_std=0.1).fit(X)
    copy = clone(detector)
    assert copy.get_params() == detector.get_params()
    assert not hasattr(copy, "model_")


def test_optimizer_instance_is_not_changed(X):
    optimizer = keras.optimizers.SGD(learning_rate=0.01)
    detector = small(optimizer=optimizer).fit(X)
    assert detector.model_.optimizer is not optimizer
    assert int(optimizer.iterations.numpy()) == 0


@pytest.mark.parametrize("optimizer", ["adam", "adamw", "rmsprop", "sgd"])
def test_named_optimizers(X, optimizer):
    detector = small(optimizer=optimizer, learning_rate=0.01).fit(X)
    assert type(detector.model_.optimizer).__name__.lower() == optimizer


@pytest.mark.parametrize("scaling", ["standard", "robust", "minmax", None])
def test_scalings(X, scaling):
    detector = small(scaling=scaling).fit(X)
    assert np.isfinite(detector.score_samples(X)).all()


def test_robust_scaling_falls_back_on_features_with_no_spread():
    rng = np.random.RandomState(0)
    # A mostly-zero feature has an IQR of zero; a constant one no spread at all.
    X = np.c_[rng.normal(size=100), (rng.rand(100) > 0.9), np.ones(100)]
    detector = small(scaling="robust").fit(X)
    assert np.all(detector.scaling_scale_ > 0)
    assert detector.scaling_scale_[2] == 1.0
    assert np.isfinite(detector.score_samples(X)).all()


def test_raw_features_of_very_different_scales(planted):
    from sklearn.metrics import roc_auc_score

    X_train, X_test, y_test = planted
    scales = np.logspace(-3, 4, X_train.shape[1])
    detector = small(hidden_units=(16, 3), epochs=30).fit(X_train * scales)
    auc = roc_auc_score(y_test, -detector.score_samples(X_test * scales))
    assert auc > 0.95


def test_trimmed_mean_leaves_out_the_largest_values():
    from skanomaly.engine._network import trimmed_mean

    values = keras.ops.convert_to_tensor(np.array([5.0, 1.0, 3.0, 100.0, 2.0]))
    assert float(trimmed_mean(values, 0.0)) == pytest.approx(22.2)
    # floor(0.2 * 5) = 1 value left out: the 100.
    assert float(trimmed_mean(values, 0.2)) == pytest.approx(2.75)
    # floor(0.49 * 5) = 2 left out; at least one value is always kept.
    assert float(trimmed_mean(values, 0.49)) == pytest.approx(2.0)
    one = keras.ops.convert_to_tensor(np.array([7.0]))
    assert float(trimmed_mean(one, 0.49)) == pytest.approx(7.0)


@pytest.mark.parametrize("trim_fraction", [-0.1, 0.5, 1.0])
def test_trim_fraction_out_of_range_is_refused(X, trim_fraction):
    with pytest.raises(ValueError, match="trim_fraction"):
        small(trim_fraction=trim_fraction).fit(X)


def test_trimming_makes_training_robust_to_contamination():
    # 10% of the training data is a tight cluster of anomalies, which an
    # autoencoder trained on the plain mean learns to reconstruct best of
    # all (measured: ROC AUC 0.0 for seeds 0-2). Their losses are the
    # largest at first, so trimming 20% of each batch never learns them
    # (measured: 1.0).
    from skanomaly.metrics import anomaly_roc_auc_score

    rng = np.random.RandomState(0)
    X = rng.normal(size=(600, 6))
    X[:60] = 4.0 + 0.1 * rng.normal(size=(60, 6))
    y = np.r_[np.ones(60), np.zeros(540)]

    def auc(trim_fraction):
        detector = AutoEncoder(
            hidden_units=(16, 2), epochs=30, validation_fraction=0.0,
            scaling=None, trim_fraction=trim_fraction, random_state=0,
        ).fit(X)
        return anomaly_roc_auc_score(y, detector.score_samples(X))

    assert auc(0.0) < 0.5
    assert auc(0.2) > 0.9
