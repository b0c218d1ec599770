"""Every public estimator against scikit-learn's checks and the contract.

Deep detectors run with tiny networks and two epochs: the checks test the
API, not the learning (each detector's own tests do that).
"""

import numpy as np
import pytest
import scipy.sparse as sp
from sklearn.exceptions import NotFittedError
from sklearn.model_selection import GridSearchCV
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler
from sklearn.utils.estimator_checks import parametrize_with_checks

from skanomaly import VAE, AutoEncoder, DeepSVDD, HOGTransformer
from skanomaly.metrics import anomaly_roc_auc_scorer
from skanomaly.model_selection import NoveltySplit
from skanomaly.utils import all_estimators

FAST = dict(epochs=2, random_state=0)

DETECTORS = [
    AutoEncoder(hidden_units=(8, 2), **FAST),
    AutoEncoder(hidden_units=(8, 2), noise_std=0.1, sparsity=1e-3, contamination=0.1, **FAST),
    VAE(hidden_units=(8,), latent_dim=2, **FAST),
    VAE(hidden_units=(8,), latent_dim=2, score_type="reconstruction_probability", **FAST),
    DeepSVDD(hidden_units=(8, 4), **FAST),
    DeepSVDD(hidden_units=(8, 4), objective="soft-boundary", **FAST),
]
DEEP_CLASSES = [AutoEncoder, VAE, DeepSVDD]


@parametrize_with_checks(DETECTORS)
def test_sklearn_compatible(estimator, check):
    check(estimator)


def test_every_public_estimator_is_checked():
    # HOGTransformer runs the same checks in tests/features/test_hog.py.
    checked = {type(e) for e in DETECTORS} | {HOGTransformer}
    assert {cls for _, cls in all_estimators()} == checked


@pytest.fixture(scope="module")
def X():
    return np.random.RandomState(0).normal(size=(40, 4))


def fast(cls):
    return cls(**FAST)


BAD_INPUTS = [
    (lambda X: np.where(X > 1.5, np.nan, X), ValueError, "NaN"),
    (lambda X: np.where(X > 1.5, np.inf, X), ValueError, "infinity"),
    (lambda X: X[:0], ValueError, "0 sample"),
    (lambda X: X[:1], ValueError, "1 sample"),
    (lambda X: X[:, 0], ValueError, "Expected a 2-dimensional container|Expected 2D"),
    (lambda X: X[:, :, None], ValueError, "dim 3"),
    (lambda X: X.astype(str).astype(object) + "x", ValueError, "could not convert"),
    (lambda X: X + 1j, ValueError, "Complex data not supported"),
    (lambda X: sp.csr_matrix(X), TypeError, "Sparse data was passed"),
]


@pytest.mark.parametrize("cls", DEEP_CLASSES)
@pytest.mark.parametrize("corrupt, error, match", BAD_INPUTS)
def test_bad_training_input(cls, X, corrupt, error, match):
    with pytest.raises(error, match=match):
        fast(cls).fit(corrupt(X))


@pytest.mark.parametrize("cls", DEEP_CLASSES)
def test_bad_scoring_input(cls, X):
    detector = fast(cls)
    with pytest.raises(NotFittedError):
        detector.score_samples(X)
    detector.fit(X)
    with pytest.raises(ValueError, match="X has 3 features, but .* is expecting 4"):
        detector.score_samples(X[:, :3])
    with pytest.raises(ValueError, match="NaN"):
        detector.decision_function(np.full((2, 4), np.nan))
    with pytest.raises(ValueError, match="0 sample"):
        detector.predict(X[:0])
    # A single row is fine at scoring time.
    assert detector.predict(X[:1]).shape == (1,)


@pytest.mark.parametrize("cls", DEEP_CLASSES)
def test_learns_planted_anomalies_at_defaults(cls, planted):
    from sklearn.metrics import roc_auc_score

    X_train, X_test, y_test = planted
    detector = cls(random_state=0).fit(X_train)
    auc = roc_auc_score(y_test, -detector.score_samples(X_test))
    # Anomalies 4 sd away on all 8 features; measured 1.00 for each detector.
    assert auc > 0.97


def test_grid_search_with_novelty_split_in_parallel():
    rng = np.random.RandomState(0)
    X = np.vstack([rng.normal(size=(150, 6)), rng.normal(3.0, 1.0, size=(15, 6))])
    y = np.r_[np.zeros(150), np.ones(15)].astype(int)

    def search(n_jobs):
        return GridSearchCV(
            make_pipeline(StandardScaler(), AutoEncoder(epochs=5, random_state=0)),
            {
                "autoencoder__hidden_units": [(16, 4), (8, 2)],
                "autoencoder__noise_std": [0.0, 0.1],
            },
            cv=NoveltySplit(n_splits=3, random_state=0),
            scoring=anomaly_roc_auc_scorer,
            n_jobs=n_jobs,
        ).fit(X, y)

    parallel = search(n_jobs=2)
    serial = search(n_jobs=1)
    # Clones trained in worker processes give the serial run's scores.
    np.testing.assert_allclose(
        parallel.cv_results_["mean_test_score"], serial.cv_results_["mean_test_score"]
    )
    assert parallel.best_score_ > 0.9
    labels = parallel.best_estimator_.predict(np.vstack([np.zeros((1, 6)), np.full((1, 6), 6.0)]))
    np.testing.assert_array_equal(labels, [1, -1])
