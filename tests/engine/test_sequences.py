"""What every sequence detector shares: input layouts, bad input, scaling,
per-step maps, persistence."""

import pickle

import numpy as np
import pandas as pd
import pytest
import scipy.sparse as sp
from sklearn.base import clone
from sklearn.exceptions import NotFittedError

from skanomaly.utils._validation import check_sequence_shape
from skanomaly import CNNLSTMAutoEncoder, LSTMAutoEncoder, RNNForecaster

# Tiny networks, one batch an epoch, no validation split: these tests check
# the plumbing, not the learning.
TINY = dict(epochs=2, batch_size=256, validation_fraction=0.0, random_state=0)
DETECTORS = {
    "LSTMAutoEncoder": lambda **kw: LSTMAutoEncoder(**{"hidden_units": (4,), **TINY, **kw}),
    "CNNLSTMAutoEncoder": lambda **kw: CNNLSTMAutoEncoder(
        **{"filters": (4,), "lstm_units": (4,), **TINY, **kw}
    ),
    "RNNForecaster": lambda **kw: RNNForecaster(
        **{"hidden_units": (4,), "horizon": 2, **TINY, **kw}
    ),
}
names = pytest.mark.parametrize("name", list(DETECTORS))


@pytest.fixture(scope="module")
def X3():
    """20 sequences of 6 steps and 2 channels, channels on different scales."""
    rng = np.random.RandomState(0)
    X = rng.normal(size=(20, 6, 2))
    X[:, :, 1] = 100.0 + 10.0 * X[:, :, 1]
    return X


@pytest.fixture(scope="module")
def fitted(X3):
    """Each detector fitted once on X3 (3-D input)."""
    return {name: make().fit(X3) for name, make in DETECTORS.items()}


# ----------------------------------------------------------------- layouts


@names
def test_layouts_give_the_same_scores(name, X3, fitted):
    detector = fitted[name]
    scores = detector.score_samples(X3)
    rows = X3.reshape(len(X3), -1)  # step-major: channels of step 0, then 1...
    np.testing.assert_array_equal(detector.score_samples(rows), scores)
    assert detector.sequence_shape_ == (6, 2)
    assert detector.n_features_in_ == 12
    # The same data as rows with sequence_shape trains the same network.
    from_rows = DETECTORS[name](sequence_shape=(6, 2)).fit(rows)
    np.testing.assert_allclose(from_rows.score_samples(X3), scores, rtol=1e-10)


@names
def test_tags_say_three_d_input_is_fine(name):
    tags = DETECTORS[name]().__sklearn_tags__()
    assert tags.input_tags.three_d_array and tags.input_tags.two_d_array


@names
def test_two_d_rows_are_univariate_sequences(name):
    X = pd.DataFrame(
        np.random.RandomState(1).normal(size=(15, 7)), columns=list("abcdefg")
    )
    detector = DETECTORS[name]().fit(X)
    assert detector.sequence_shape_ == (7, 1)
    assert detector.n_features_in_ == 7
    np.testing.assert_array_equal(detector.feature_names_in_, list("abcdefg"))
    scores = detector.score_samples(X)
    np.testing.assert_array_equal(detector.score_samples(X.to_numpy()[:, :, None]), scores)
    with pytest.warns(UserWarning, match="feature names"):
        detector.score_samples(X.to_numpy())
    assert detector.anomaly_map(X).shape == (15, 7)
    assert detector.predict(X).shape == (15,)


@pytest.mark.parametrize("shape", [8, (8,), [8, 1], np.array([8])])
def test_sequence_shape_forms(shape):
    assert check_sequence_shape(shape) == (8, 1)
    assert check_sequence_shape(None) is None


@names
def test_sequence_shape_reads_multivariate_rows(name):
    X = np.random.RandomState(3).normal(size=(12, 8))
    detector = DETECTORS[name](sequence_shape=(4, 2)).fit(X)
    assert detector.sequence_shape_ == (4, 2)
    assert detector.anomaly_map(X).shape == (12, 4)


# --------------------------------------------------------------- bad input


@names
@pytest.mark.parametrize(
    "sequence_shape, match",
    [
        ((5, 2), r"rows of 8 values, but sequence_shape=\(5, 2\).*needs 10"),
        ((0, 8), "sequence_shape must be n_steps or"),
        ((2, 2, 2), "sequence_shape must be n_steps or"),
        ("long", "sequence_shape"),
        ((2.5, 1), "sequence_shape must be n_steps or"),
    ],
)
def test_bad_sequence_shape(name, sequence_shape, match):
    X = np.zeros((10, 8))
    with pytest.raises(ValueError, match=match):
        DETECTORS[name](sequence_shape=sequence_shape).fit(X)


@names
def test_sequence_shape_must_agree_with_3d_input(name, X3):
    with pytest.raises(ValueError, match=r"sequences of shape \(6, 2\).*sequence_shape=\(6, 1\)"):
        DETECTORS[name](sequence_shape=(6, 1)).fit(X3)


BAD_TRAINING = [
    (lambda X: np.where(X > 1.5, np.nan, X), ValueError, "NaN"),
    (lambda X: np.where(X > 1.5, np.inf, X), ValueError, "infinity"),
    (lambda X: np.where(X > 1.5, np.nan, X).reshape(len(X), -1), ValueError, "NaN"),
    (lambda X: X[:0], ValueError, "0 sample"),
    (lambda X: X[:1], ValueError, "1 sample"),
    (lambda X: X[:, :0], ValueError, "empty sequences"),
    (lambda X: X[0, :, 0], ValueError, "Reshape your data"),
    (lambda X: X[:, :, :, None], ValueError, "4-D array"),
    (lambda X: X.astype(str).astype(object) + "x", ValueError, "could not convert"),
    (lambda X: X + 1j, ValueError, "Complex data not supported"),
    (lambda X: sp.csr_matrix(X.reshape(len(X), -1)), TypeError, "Sparse data was passed"),
    (
        lambda X: [list(x[: 4 + i % 2]) for i, x in enumerate(X[:, :, 0])],
        ValueError,
        "equal length",
    ),
]


@names
@pytest.mark.parametrize("corrupt, error, match", BAD_TRAINING)
def test_bad_training_input(name, X3, corrupt, error, match):
    with pytest.raises(error, match=match):
        DETECTORS[name]().fit(corrupt(X3))


@names
def test_bad_scoring_input(name, X3, fitted):
    detector = fitted[name]
    with pytest.raises(NotFittedError):
        DETECTORS[name]().score_samples(X3)
    with pytest.raises(NotFittedError):
        DETECTORS[name]().anomaly_map(X3)
    wrong_length = r"sequences of shape \(5, 2\).*fitted on sequences of shape \(6, 2\)"
    with pytest.raises(ValueError, match=wrong_length):
        detector.score_samples(X3[:, :5])
    with pytest.raises(ValueError, match=r"sequences of shape \(6, 1\).*fitted on"):
        detector.predict(X3[:, :, :1])
    with pytest.raises(ValueError, match="X has 10 features, but .* is expecting 12"):
        detector.decision_function(X3[:, :5].reshape(20, -1))
    with pytest.raises(ValueError, match="NaN"):
        detector.score_samples(np.full((2, 6, 2), np.nan))
    with pytest.raises(ValueError, match="NaN"):
        detector.anomaly_map(np.full((2, 6, 2), np.nan))
    with pytest.raises(ValueError, match="0 sample"):
        detector.predict(X3[:0])
    with pytest.raises(ValueError, match="Reshape your data"):
        detector.predict(X3[0, :, 0])
    # A single sequence is fine at scoring time.
    assert detector.predict(X3[:1]).shape == (1,)


@pytest.mark.parametrize("horizon", [1, 3])
def test_forecaster_needs_more_steps_than_its_horizon(horizon):
    X = np.zeros((10, horizon))
    with pytest.raises(ValueError, match=f"at least {horizon + 1} steps .*horizon={horizon}"):
        DETECTORS["RNNForecaster"](horizon=horizon).fit(X)
    # In the message scikit-learn's checks look for, for rows of one value.
    with pytest.raises(ValueError, match="n_features=1"):
        DETECTORS["RNNForecaster"](horizon=1).fit(np.zeros((10, 1)))
    # The default horizon forecasts 10 steps ahead.
    with pytest.raises(ValueError, match="at least 11 steps"):
        RNNForecaster().fit(np.zeros((10, 10)))


COMMON_BAD_PARAMETERS = [
    ({"dropout": 1.0}, "dropout"),
    ({"epochs": 0}, "epochs"),
    ({"learning_rate": 0.0}, "learning_rate"),
    ({"scaling": "log"}, "scaling"),
    ({"contamination": 0.6}, "contamination"),
]
OWN_BAD_PARAMETERS = {
    "LSTMAutoEncoder": [({"bidirectional": "yes"}, "bidirectional")],
    "CNNLSTMAutoEncoder": [
        ({"bidirectional": "yes"}, "bidirectional"),
        ({"kernel_size": 0}, "kernel_size"),
        ({"pool_size": 0}, "pool_size"),
    ],
    "RNNForecaster": [
        ({"cell": "rnn"}, "cell"),
        ({"horizon": 0}, "horizon"),
        ({"normalize_errors": 1.5}, "normalize_errors"),
    ],
}


@pytest.mark.parametrize(
    "name, params, match",
    [
        (name, params, match)
        for name in DETECTORS
        for params, match in COMMON_BAD_PARAMETERS + OWN_BAD_PARAMETERS[name]
    ],
)
def test_bad_parameters(name, X3, params, match):
    with pytest.raises(ValueError, match=match):
        DETECTORS[name](**params).fit(X3)


@pytest.mark.parametrize(
    "name, params, match",
    [
        ("LSTMAutoEncoder", {"hidden_units": ()}, "hidden_units must be a non-empty"),
        ("LSTMAutoEncoder", {"hidden_units": (4, 0)}, "hidden_units must be a non-empty"),
        ("LSTMAutoEncoder", {"hidden_units": "wide"}, "hidden_units"),
        ("CNNLSTMAutoEncoder", {"filters": (2.5,)}, "filters must be a non-empty"),
        ("CNNLSTMAutoEncoder", {"lstm_units": [True]}, "lstm_units must be a non-empty"),
        ("RNNForecaster", {"hidden_units": (-1,)}, "hidden_units must be a non-empty"),
    ],
)
def test_bad_units(name, params, match, X3):
    with pytest.raises(ValueError, match=match):
        DETECTORS[name](**params).fit(X3)


# ------------------------------------------------------ scaling and scores


@names
def test_each_channel_is_scaled_over_all_steps(name, X3, fitted):
    detector = fitted[name]
    np.testing.assert_allclose(detector.scaling_center_, X3.mean(axis=(0, 1)))
    np.testing.assert_allclose(detector.scaling_scale_, X3.std(axis=(0, 1)))
    # Rescaling a channel does not change the scores.
    shifted = X3.copy()
    shifted[:, :, 1] = 3.0 * shifted[:, :, 1] - 50.0
    refit = clone(detector).fit(shifted)
    np.testing.assert_allclose(
        refit.score_samples(shifted), detector.score_samples(X3), rtol=1e-5
    )


def _scoring_tolerance(detector):
    """The documented precision of a detector's scores: float64 scoring does
    not depend on the batch; float32 (the CNN-LSTM's) to the seventh digit."""
    return 1e-12 if type(detector)._scoring_dtype == "float64" else 1e-6


@names
def test_scores_do_not_depend_on_the_batch(name, X3, fitted):
    detector = fitted[name]
    rtol = _scoring_tolerance(detector)
    together = detector.score_samples(X3)
    alone = np.array([detector.score_samples(X3[i : i + 1])[0] for i in range(5)])
    np.testing.assert_allclose(alone, together[:5], rtol=rtol)
    maps = detector.anomaly_map(X3)
    np.testing.assert_allclose(detector.anomaly_map(X3[:1]), maps[:1], rtol=rtol)
    assert maps.shape == (20, 6)
    assert np.all(maps >= 0)


@pytest.mark.parametrize("name", ["LSTMAutoEncoder", "CNNLSTMAutoEncoder"])
def test_autoencoder_map_and_reconstruction(name, X3, fitted):
    detector = fitted[name]
    rtol = max(1e-10, _scoring_tolerance(detector))
    maps = detector.anomaly_map(X3)
    np.testing.assert_allclose(-maps.mean(axis=1), detector.score_samples(X3), rtol=rtol)
    reconstruction = detector.reconstruct(X3)
    assert reconstruction.shape == X3.shape
    # In input units: the per-step map is the scaled squared error.
    scaled = (reconstruction - X3) / detector.scaling_scale_
    np.testing.assert_allclose(
        (scaled**2).mean(axis=-1), maps, rtol=max(1e-8, 10 * rtol), atol=rtol * maps.max()
    )
    rows = detector.reconstruct(X3.reshape(20, -1))
    np.testing.assert_allclose(rows, reconstruction.reshape(20, -1))


def test_tiny_fits_train_eagerly_and_others_through_a_graph(X3, fitted):
    # 2 epochs x 1 batch x 6 steps: eager. 6 epochs x 2 batches x 6 steps: a graph.
    assert fitted["LSTMAutoEncoder"].model_.run_eagerly
    bigger = DETECTORS["LSTMAutoEncoder"](batch_size=10, epochs=6).fit(X3)
    assert not bigger.model_.run_eagerly
    # It survives pickling, for warm starts.
    assert pickle.loads(pickle.dumps(fitted["LSTMAutoEncoder"])).model_.run_eagerly


@names
def test_trimming_leaves_out_the_worst_fitted_sequences(name, X3, fitted):
    network = fitted[name].model_
    detector = fitted[name]
    x = ((X3 - detector.scaling_center_) / detector.scaling_scale_).astype("float32")
    per_sequence = np.asarray(network.detector_loss(x, network(x), training=False))
    assert per_sequence.shape == (20,)
    try:
        network.trim_fraction = 0.25
        trimmed = float(network.compute_loss(x, y_pred=network(x), training=True))
    finally:
        network.trim_fraction = 0.0
    np.testing.assert_allclose(trimmed, np.sort(per_sequence)[:15].mean(), rtol=1e-5)


# -------------------------------------------------------------- persistence


@names
def test_pickle_round_trip(name, X3, fitted):
    detector = fitted[name]
    restored = pickle.loads(pickle.dumps(detector))
    np.testing.assert_array_equal(restored.score_samples(X3), detector.score_samples(X3))
    np.testing.assert_array_equal(restored.anomaly_map(X3), detector.anomaly_map(X3))
    np.testing.assert_array_equal(restored.predict(X3), detector.predict(X3))


@names
def test_warm_start_continues_and_keeps_the_scaling(name, X3):
    detector = DETECTORS[name](warm_start=True).fit(X3)
    center = detector.scaling_center_.copy()
    detector.fit(X3 + 1.0)
    assert detector.n_epochs_ == 4
    np.testing.assert_array_equal(detector.scaling_center_, center)
    with pytest.raises(ValueError, match="warm_start=True"):
        detector.fit(X3[:, :5])
