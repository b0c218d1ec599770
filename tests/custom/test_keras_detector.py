"""KerasDetector: a user's own Keras model as a detector."""

import pickle
import subprocess
import sys
import textwrap

import numpy as np
import pytest
from numpy.testing import assert_allclose, assert_array_equal
from sklearn.base import clone
from sklearn.metrics import roc_auc_score
from sklearn.model_selection import GridSearchCV
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from skanomaly import KerasDetector
from skanomaly.engine import keras
from skanomaly.metrics import anomaly_roc_auc_scorer
from skanomaly.model_selection import NoveltySplit

layers = keras.layers
ops = keras.ops


def autoencoder(sample_shape, units=2):
    """A dense autoencoder for samples of any shape."""
    size = int(np.prod(sample_shape))
    return keras.Sequential(
        [
            keras.Input(sample_shape),
            layers.Flatten(),
            layers.Dense(units, activation="tanh"),
            layers.Dense(size),
            layers.Reshape(sample_shape),
        ]
    )


def classifier(sample_shape, units=8):
    return keras.Sequential(
        [
            keras.Input(sample_shape),
            layers.Dense(units, activation="relu"),
            layers.Dense(1, activation="sigmoid"),
        ]
    )


@pytest.fixture(scope="module")
def subspace():
    """Normal rows on a 2-d plane of 8-d space; anomalies off the plane but
    within the normals' ranges, so that no feature alone, and no distance
    from the mean, gives them away (measured below)."""
    rng = np.random.RandomState(0)
    basis = np.linalg.qr(rng.normal(size=(8, 2)))[0].T

    def plane(n):
        return rng.normal(size=(n, 2)) @ basis * 3.0 + 0.05 * rng.normal(size=(n, 8))

    normal = plane(400)
    anomalies = plane(40)
    anomalies += rng.normal(size=anomalies.shape) * 1.5  # off the plane
    X_test = np.vstack([plane(200), anomalies])
    y_test = np.r_[np.zeros(200), np.ones(40)].astype(int)
    return normal, X_test, y_test


def test_reconstruction_learns_what_distance_from_the_mean_misses(subspace):
    X_train, X_test, y_test = subspace
    detector = KerasDetector(autoencoder, epochs=60, random_state=0).fit(X_train)
    auc = roc_auc_score(y_test, -detector.score_samples(X_test))
    center = X_train.mean(axis=0)
    trivial = roc_auc_score(y_test, np.linalg.norm(X_test - center, axis=1))
    # Measured: 0.99 for the autoencoder, 0.69 for the distance to the mean.
    assert auc > 0.95
    assert trivial < 0.8


def test_model_arguments_are_routed_tuned_and_cloned(subspace):
    X_train, X_test, y_test = subspace
    detector = KerasDetector(autoencoder, model__units=3, epochs=2, random_state=0)
    assert detector.get_params()["model__units"] == 3
    assert detector.set_params(model__units=5).model__units == 5
    assert clone(detector).get_params()["model__units"] == 5
    fitted = detector.fit(X_train)
    assert fitted.model_.model.layers[1].units == 5
    X = np.vstack([X_train[:150], X_test[-20:]])
    y = np.r_[np.zeros(150), np.ones(20)].astype(int)
    search = GridSearchCV(
        make_pipeline(StandardScaler(), KerasDetector(autoencoder, epochs=60, random_state=0)),
        {"kerasdetector__model__units": [1, 4]},
        cv=NoveltySplit(n_splits=2, random_state=0),
        scoring=anomaly_roc_auc_scorer,
    ).fit(X, y)
    # Measured mean ROC AUC: 0.93 with one unit, 0.96 with four.
    assert search.best_params_ == {"kerasdetector__model__units": 4}
    assert search.best_estimator_[-1].model__units == 4


def test_a_model_instance_is_copied_at_each_fit(subspace):
    X_train, _, _ = subspace
    model = autoencoder((8,), units=2)
    before = [w.copy() for w in model.get_weights()]
    first = KerasDetector(model, epochs=3, random_state=0).fit(X_train)
    second = KerasDetector(model, epochs=3, random_state=0).fit(X_train)
    for untouched, weight in zip(model.get_weights(), before):
        assert_array_equal(untouched, weight)
    assert first.model_.model is not model
    assert_array_equal(first.score_samples(X_train), second.score_samples(X_train))
    with pytest.raises(ValueError, match="model__ parameters"):
        KerasDetector(model, model__units=3).fit(X_train)


def test_classification_learns_from_a_few_labels_with_class_weights():
    rng = np.random.RandomState(0)
    X = rng.normal(size=(400, 6))
    y = (X[:, 0] + X[:, 1] > 2.3).astype(int)  # about 5% anomalies
    X_test = rng.normal(size=(400, 6))
    y_test = (X_test[:, 0] + X_test[:, 1] > 2.3).astype(int)
    detector = KerasDetector(
        classifier, objective="classification", epochs=100, learning_rate=0.01,
        random_state=0,
    ).fit(X, y)
    assert y.mean() < 0.05
    # Each class weighs half of the training part of the data: an anomaly
    # weighs about twenty times as much as a normal sample.
    weights = detector.model_.class_weights.numpy()
    assert weights[1] > 10 * weights[0]
    # Measured 0.99: the boundary is a line in two of the six features.
    assert roc_auc_score(y_test, -detector.score_samples(X_test)) > 0.95
    # score = -P(anomaly); the "auto" threshold is a probability of 0.5.
    assert detector.offset_ == -0.5
    probability = -detector.score_samples(X_test)
    assert ((probability >= 0) & (probability <= 1)).all()
    assert_array_equal(detector.predict(X_test) == -1, probability > 0.5)


@pytest.mark.parametrize(
    "y, match",
    [
        (None, "learns from labels"),
        (np.zeros(50), "needs at least one labelled anomaly"),
        (np.r_[np.zeros(49), -1], "takes the labels 1 \\(anomaly\\), 0 \\(normal\\); y also holds -1"),
        (np.ones(50), "needs normal samples"),
        (np.zeros(10), "y has 10 labels but X has 50"),
    ],
)
def test_classification_refuses_labels_it_cannot_use(y, match):
    X = np.random.RandomState(0).normal(size=(50, 3))
    with pytest.raises(ValueError, match=match):
        KerasDetector(classifier, objective="classification", epochs=1).fit(X, y)


def test_reconstruction_ignores_labels(subspace):
    X_train, _, _ = subspace
    plain = KerasDetector(autoencoder, epochs=2, random_state=0).fit(X_train)
    given = KerasDetector(autoencoder, epochs=2, random_state=0).fit(
        X_train, np.full(len(X_train), 7)
    )
    assert_array_equal(given.score_samples(X_train), plain.score_samples(X_train))


def two_outputs(sample_shape):
    inputs = keras.Input(sample_shape)
    return keras.Model(inputs, [layers.Dense(8)(inputs), layers.Dense(8)(inputs)])


def absolute_error(x, outputs):
    return ops.mean(ops.abs(outputs - x), axis=-1)


def minus_absolute_error(x, outputs):
    return -absolute_error(x, outputs)


def labelled_absolute_error(x, outputs, labels):
    # Unlearn the labelled anomalies: their error is rewarded.
    error = absolute_error(x, outputs)
    return ops.where(ops.equal(labels, 1), -0.1 * error, error)


def test_a_custom_loss_and_score(subspace):
    X_train, X_test, y_test = subspace
    detector = KerasDetector(
        autoencoder, objective="custom", loss=absolute_error,
        score_function=minus_absolute_error, epochs=60, random_state=0,
    ).fit(X_train)
    scores = detector.score_samples(X_test)
    outputs = detector.model_.model(
        ((X_test - detector.scaling_center_) / detector.scaling_scale_).astype("float32")
    )
    scaled = (X_test - detector.scaling_center_) / detector.scaling_scale_
    assert_allclose(scores, -np.abs(np.asarray(outputs) - scaled).mean(axis=1), rtol=1e-5)
    assert roc_auc_score(y_test, -scores) > 0.95
    # A loss that takes labels makes the detector learn from them.
    labelled = KerasDetector(
        autoencoder, objective="custom", loss=labelled_absolute_error,
        score_function=minus_absolute_error, epochs=2, random_state=0,
    )
    with pytest.raises(ValueError, match="learns from labels"):
        labelled.fit(X_train)
    y = np.r_[-np.ones(len(X_train) - 5), np.ones(5)].astype(int)
    labelled.fit(X_train, y)


@pytest.mark.parametrize(
    "params, error, match",
    [
        ({"model": None}, ValueError, "needs a model"),
        ({"objective": "custom"}, ValueError, "needs both loss and score_function"),
        ({"loss": absolute_error}, ValueError, "are for objective='custom'"),
        ({"model": lambda shape: "a model"}, TypeError, "must return a Keras model"),
        ({"model": classifier}, ValueError, "output has the shape of its input"),
        ({"objective": "classification"}, ValueError, "one probability a sample"),
        ({"model": autoencoder((3,))}, ValueError, "does not take samples of shape \\(8,\\)"),
        ({"objective": "anything"}, ValueError, "objective"),
        ({"model": two_outputs}, ValueError, "one output tensor; it returns a list"),
    ],
)
def test_bad_models_and_objectives_get_clear_errors(subspace, params, error, match):
    X_train, _, _ = subspace
    y = np.r_[np.zeros(390), np.ones(10)].astype(int)
    with pytest.raises(error, match=match):
        KerasDetector(**{"model": autoencoder, "epochs": 1, **params}).fit(X_train, y)


class Subclassed(keras.Model):
    def __init__(self):
        super().__init__()
        self.dense = layers.Dense(8)

    def call(self, x):
        return self.dense(x)


def test_a_model_that_cannot_be_copied_asks_for_a_function(subspace):
    X_train, _, _ = subspace
    model = Subclassed()
    model(np.zeros((1, 8)))
    with pytest.raises(TypeError, match="Pass a function that builds it"):
        KerasDetector(model, epochs=1).fit(X_train)


def conv_autoencoder(sample_shape):
    return keras.Sequential(
        [
            keras.Input(sample_shape),
            layers.Conv2D(4, 3, strides=2, padding="same", activation="relu"),
            layers.Conv2DTranspose(sample_shape[-1], 3, strides=2, padding="same"),
        ]
    )


def test_images_are_scaled_per_channel():
    rng = np.random.RandomState(0)
    X = rng.uniform(size=(40, 8, 8, 2))
    X[..., 1] *= 100.0
    detector = KerasDetector(conv_autoencoder, epochs=2, random_state=0).fit(X)
    assert detector.sample_shape_ == (8, 8, 2)
    assert detector.scaling_center_.shape == (2,)
    assert detector.score_samples(X).shape == (40,)
    with pytest.raises(ValueError, match="samples of shape \\(8, 8, 1\\)"):
        detector.score_samples(X[..., :1])


def test_warm_start_and_pickle(subspace):
    X_train, _, _ = subspace
    detector = KerasDetector(autoencoder, epochs=2, warm_start=True, random_state=0).fit(X_train)
    restored = pickle.loads(pickle.dumps(detector))
    detector.fit(X_train)
    restored.fit(X_train)
    assert_array_equal(restored.score_samples(X_train), detector.score_samples(X_train))
    assert restored.n_epochs_ == 4


def test_pickled_detector_scores_identically_in_a_new_process(tmp_path, subspace):
    # The model function must be importable where the detector is loaded.
    (tmp_path / "my_models.py").write_text(textwrap.dedent(
        """
        import keras

        def autoencoder(sample_shape, units=2):
            return keras.Sequential([
                keras.Input(sample_shape),
                keras.layers.Dense(units, activation="tanh"),
                keras.layers.Dense(sample_shape[0]),
            ])
        """
    ))
    X_train, X_test, _ = subspace
    sys.path.insert(0, str(tmp_path))
    try:
        from my_models import autoencoder as importable

        detector = KerasDetector(importable, model__units=3, epochs=3, random_state=0)
        detector.fit(X_train)
        (tmp_path / "detector.pkl").write_bytes(pickle.dumps(detector))
    finally:
        sys.path.remove(str(tmp_path))
        sys.modules.pop("my_models", None)
    np.save(tmp_path / "X.npy", X_test)
    code = (
        f"import sys, pickle, numpy as np; sys.path.insert(0, {str(tmp_path)!r});"
        f"d = pickle.loads(open({str(tmp_path / 'detector.pkl')!r}, 'rb').read());"
        f"np.save({str(tmp_path / 'scores.npy')!r}, d.score_samples(np.load({str(tmp_path / 'X.npy')!r})))"
    )
    subprocess.run([sys.executable, "-c", code], check=True)
    assert_array_equal(np.load(tmp_path / "scores.npy"), detector.score_samples(X_test))


@pytest.mark.parametrize(
    "corrupt, error, match",
    [
        (lambda X: np.where(X > 1.5, np.nan, X), ValueError, "NaN"),
        (lambda X: np.where(X > 1.5, np.inf, X), ValueError, "infinity"),
        (lambda X: X[:0], ValueError, "0 sample"),
        (lambda X: X[:1], ValueError, "1 sample"),
        (lambda X: X[:, 0], ValueError, "Expected 2D|Reshape your data"),
        (lambda X: X + 1j, ValueError, "Complex data not supported"),
        (lambda X: X[:, :, None][:, :0], ValueError, "empty samples"),
    ],
)
def test_bad_training_input(subspace, corrupt, error, match):
    X_train, _, _ = subspace
    with pytest.raises(error, match=match):
        KerasDetector(autoencoder, epochs=1).fit(corrupt(X_train))


def test_bad_scoring_input(subspace):
    X_train, _, _ = subspace
    detector = KerasDetector(autoencoder, epochs=1, random_state=0).fit(X_train)
    with pytest.raises(ValueError, match="X has 3 features, but KerasDetector is expecting 8"):
        detector.score_samples(X_train[:, :3])
    with pytest.raises(ValueError, match="samples of shape \\(8, 1\\)"):
        detector.score_samples(X_train[:, :, None])
    with pytest.raises(ValueError, match="NaN"):
        detector.predict(np.full((2, 8), np.nan))
