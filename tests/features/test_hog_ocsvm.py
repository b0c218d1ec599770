import pickle

import numpy as np
import pytest
from numpy.testing import assert_allclose, assert_array_equal
from sklearn.base import clone
from sklearn.datasets import load_digits
from sklearn.metrics import roc_auc_score
from sklearn.model_selection import GridSearchCV, StratifiedKFold
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import StandardScaler
from sklearn.svm import OneClassSVM

from skanomaly.features import HOGTransformer, make_hog_ocsvm

HOG_PARAMS = dict(pixels_per_cell=(4, 4), cells_per_block=(2, 2))


@pytest.fixture(scope="module")
def digits():
    return load_digits()


def _novelty_split(y, digit):
    """Train on the first half of one digit; test on everything else."""
    normal = np.flatnonzero(y == digit)
    train = normal[: len(normal) // 2]
    test = np.setdiff1d(np.arange(len(y)), train)
    return train, test


def test_pipeline_structure_and_parameters():
    detector = make_hog_ocsvm(
        orientations=6,
        pixels_per_cell=(4, 4),
        cells_per_block=(1, 1),
        image_shape=(8, 8),
        nu=0.2,
        kernel="linear",
        gamma=0.5,
    )
    assert isinstance(detector, Pipeline)
    assert list(detector.named_steps) == [
        "hogtransformer",
        "standardscaler",
        "oneclasssvm",
    ]
    hog, scaler, svm = (step for _, step in detector.steps)
    assert isinstance(hog, HOGTransformer)
    assert isinstance(scaler, StandardScaler)
    assert isinstance(svm, OneClassSVM)
    params = detector.get_params()
    assert params["hogtransformer__orientations"] == 6
    assert params["hogtransformer__pixels_per_cell"] == (4, 4)
    assert params["hogtransformer__cells_per_block"] == (1, 1)
    assert params["hogtransformer__image_shape"] == (8, 8)
    assert params["oneclasssvm__nu"] == 0.2
    assert params["oneclasssvm__kernel"] == "linear"
    assert params["oneclasssvm__gamma"] == 0.5
    assert detector.memory is None


def test_outlier_conventions(digits):
    X, y = digits.data, digits.target
    detector = make_hog_ocsvm(**HOG_PARAMS).fit(X[y == 0])
    scores = detector.score_samples(X)
    decision = detector.decision_function(X)
    labels = detector.predict(X)
    assert_allclose(decision, scores - detector[-1].offset_)
    assert set(np.unique(labels)) == {-1, 1}
    assert_array_equal(labels, np.where(decision < 0, -1, 1))
    # normal images score higher than the others
    assert scores[y == 0].mean() > scores[y != 0].mean()


def test_learns_something(digits):
    # measured ROC AUC: 0.977 (train on half of the zeros, test on the
    # other zeros and all the other digits, 1797 - 89 images)
    X, y = digits.data, digits.target
    train, test = _novelty_split(y, digit=0)
    detector = make_hog_ocsvm(**HOG_PARAMS).fit(X[train])
    anomaly_score = -detector.score_samples(X[test])
    auc = roc_auc_score(y[test] != 0, anomaly_score)
    assert auc > 0.93


def test_images_and_rows_give_the_same_scores(digits):
    y = digits.target
    rows = make_hog_ocsvm(**HOG_PARAMS).fit(digits.data[y == 3])
    images = make_hog_ocsvm(**HOG_PARAMS).fit(digits.images[y == 3])
    assert_allclose(
        rows.score_samples(digits.data[:50]),
        images.score_samples(digits.images[:50]),
    )


def test_pickle_and_clone(digits):
    X, y = digits.data, digits.target
    detector = make_hog_ocsvm(**HOG_PARAMS).fit(X[y == 1])
    restored = pickle.loads(pickle.dumps(detector))
    assert_array_equal(restored.score_samples(X[:40]), detector.score_samples(X[:40]))
    cloned = clone(detector)
    assert not hasattr(cloned[0], "image_shape_")
    assert cloned.get_params()["oneclasssvm__nu"] == 0.1


def _auroc(estimator, X, y):
    """Scorer: ROC AUC of the anomaly score, y == 1 for an anomaly."""
    return roc_auc_score(y, -estimator.score_samples(X))


def test_grid_search_over_nu(digits):
    X, y = digits.data, digits.target
    # zeros as the normal class, a few sevens as planted anomalies
    zeros = np.flatnonzero(y == 0)
    sevens = np.flatnonzero(y == 7)[:20]
    idx = np.concatenate([zeros, sevens])
    X_mix, y_mix = X[idx], (y[idx] == 7).astype(int)

    search = GridSearchCV(
        make_hog_ocsvm(**HOG_PARAMS),
        param_grid={"oneclasssvm__nu": [0.05, 0.2, 0.5]},
        scoring=_auroc,
        cv=StratifiedKFold(n_splits=3, shuffle=True, random_state=0),
    )
    search.fit(X_mix, y_mix)
    assert search.best_params_["oneclasssvm__nu"] in (0.05, 0.2, 0.5)
    assert np.all(np.isfinite(search.cv_results_["mean_test_score"]))
    assert search.best_score_ > 0.8
    assert isinstance(search.best_estimator_, Pipeline)
    assert search.best_estimator_.predict(X[:10]).shape == (10,)


def test_memory_gives_the_same_scores(tmp_path, digits):
    X, y = digits.data, digits.target
    cached = make_hog_ocsvm(memory=str(tmp_path), **HOG_PARAMS).fit(X[y == 2])
    plain = make_hog_ocsvm(**HOG_PARAMS).fit(X[y == 2])
    assert_allclose(cached.score_samples(X[:30]), plain.score_samples(X[:30]))
