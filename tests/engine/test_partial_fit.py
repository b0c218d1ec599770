"""partial_fit: a first call starts the detector, later ones continue it on
one more batch, with the first scaling kept and the threshold following the
data; a drifting stream is followed."""

import pickle

import numpy as np
import pytest
from numpy.testing import assert_array_equal

from skanomaly import AutoEncoder, DeepSAD, PaDiM


def drifting_batch(rng, t, n=200):
    """Correlated pairs of features whose mean moves from 0 to 6 over 20
    batches (t = 0 to 19)."""
    cov = np.array([[1, .9, 0, 0], [.9, 1, 0, 0], [0, 0, 1, .9], [0, 0, .9, 1]])
    return rng.multivariate_normal(np.full(4, 6.0 * t / 19), cov, size=n)


def test_the_detector_follows_a_drifting_stream():
    # Measured: of new samples at the stream's end, a detector fitted on the
    # first batch flags 1.00, the one trained batch by batch 0.04; it flags
    # 0.15 of samples like the first batch, which the stream has left.
    rng = np.random.RandomState(0)
    stream = [drifting_batch(rng, t) for t in range(20)]
    first_only = AutoEncoder(hidden_units=(8, 2), epochs=30, random_state=0).fit(stream[0])
    online = AutoEncoder(hidden_units=(8, 2), random_state=0)
    for batch in stream:
        for _ in range(3):
            online.partial_fit(batch)
    now, then = drifting_batch(rng, 19, 1000), drifting_batch(rng, 0, 1000)
    assert np.mean(first_only.predict(now) == -1) > 0.9
    assert np.mean(online.predict(now) == -1) < 0.1
    assert np.mean(online.predict(then) == -1) > 2 * np.mean(online.predict(now) == -1)
    assert online.n_epochs_ == 60 and len(online.history_["loss"]) == 60


def test_the_first_call_sets_the_scaling_and_later_calls_keep_it():
    rng = np.random.RandomState(0)
    first, second = rng.normal(size=(50, 3)), 5.0 + rng.normal(size=(50, 3))
    detector = AutoEncoder(hidden_units=(4, 2), random_state=0).partial_fit(first)
    center = detector.scaling_center_.copy()
    weights = [w.copy() for w in detector.model_.get_weights()]
    detector.partial_fit(second)
    assert_array_equal(detector.scaling_center_, center)
    assert any(not np.array_equal(a, b)
               for a, b in zip(weights, detector.model_.get_weights()))
    # The threshold is set from the last batch's scores.
    scores = detector.score_samples(second)
    q1, q3 = np.percentile(scores, [25, 75])
    assert detector.offset_ == pytest.approx(q1 - 1.5 * (q3 - q1))
    # One pass a call, no validation share held out.
    assert detector.n_epochs_ == 2 and "val_loss" not in detector.history_


def test_a_first_call_is_one_pass_of_fit_and_a_pickle_goes_on_alike():
    X = np.random.RandomState(0).normal(size=(64, 3))
    once = AutoEncoder(hidden_units=(4, 2), random_state=0).partial_fit(X)
    fitted = AutoEncoder(hidden_units=(4, 2), epochs=1, validation_fraction=0.0,
                         random_state=0).fit(X)
    assert_array_equal(once.score_samples(X), fitted.score_samples(X))
    restored = pickle.loads(pickle.dumps(once))
    assert_array_equal(restored.partial_fit(X).score_samples(X),
                       once.partial_fit(X).score_samples(X))


class _NeverEqual:
    def __eq__(self, other):
        return False


def test_passes_reuse_the_train_function_and_score_as_if_compiled_afresh():
    rng = np.random.RandomState(0)
    stream = [rng.normal(size=(n, 4)) for n in (100, 110, 90, 100)]
    online = AutoEncoder(hidden_units=(4, 2), random_state=0)
    online.partial_fit(stream[0])
    traced = online.model_.train_function
    online.partial_fit(stream[1])
    assert online.model_.train_function is traced  # as many steps: reused
    online.partial_fit(stream[2]).partial_fit(stream[3])
    # Each pass compiled afresh gives the same network.
    fresh = AutoEncoder(hidden_units=(4, 2), random_state=0).partial_fit(stream[0])
    for batch in stream[1:]:
        fresh.model_.one_pass_compile = _NeverEqual()
        fresh.partial_fit(batch)
    assert_array_equal(online.score_samples(stream[0]), fresh.score_samples(stream[0]))
    # What the trace depends on compiles again: another trim fraction, a fit.
    traced = online.model_.train_function
    online.set_params(trim_fraction=0.2).partial_fit(stream[3])
    assert online.model_.train_function is not traced
    online.set_params(warm_start=True).fit(stream[3])
    assert online.model_.one_pass_compile is None


def test_labels_reach_a_detector_that_learns_from_them():
    rng = np.random.RandomState(0)
    X = np.vstack([rng.normal(size=(90, 3)), 4 + rng.normal(size=(10, 3))])
    y = np.r_[-np.ones(90), np.ones(10)].astype(int)
    detector = DeepSAD(hidden_units=(8, 4), random_state=0).partial_fit(X, y).partial_fit(X, y)
    assert detector.n_epochs_ == 2
    with pytest.raises(ValueError, match="DeepSAD takes the labels"):
        detector.partial_fit(X, np.full(100, 2))


def test_a_batch_with_other_features_is_refused_and_the_detector_kept():
    X = np.random.RandomState(0).normal(size=(40, 3))
    detector = AutoEncoder(hidden_units=(4, 2), random_state=0).partial_fit(X)
    scores = detector.score_samples(X)
    with pytest.raises(ValueError, match="X has 2 features, but AutoEncoder is expecting 3"):
        detector.partial_fit(X[:, :2])
    with pytest.raises(ValueError, match="NaN"):
        detector.partial_fit(np.where(X > 1, np.nan, X))
    assert_array_equal(detector.score_samples(X), scores)
    assert detector.n_epochs_ == 1


def test_detectors_not_trained_by_gradient_descent_do_not_offer_it():
    assert not hasattr(PaDiM(), "partial_fit")


def test_a_fit_of_few_steps_trains_alike_one_step_a_call_or_one_epoch_a_call(monkeypatch):
    from skanomaly.engine import _gradient

    X = np.random.RandomState(0).normal(size=(120, 4))
    params = dict(hidden_units=(4, 2), epochs=3, batch_size=32, random_state=0)
    few = AutoEncoder(**params).fit(X)  # 3 x 4 steps: one step a call
    monkeypatch.setattr(_gradient, "FEW_STEPS", 0)
    whole_epochs = AutoEncoder(**params).fit(X)
    assert_array_equal(few.score_samples(X), whole_epochs.score_samples(X))
