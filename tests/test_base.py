"""The outlier contract of skanomaly.base, on a minimal detector."""

import numpy as np
import pytest
from sklearn.utils.estimator_checks import parametrize_with_checks

from skanomaly.base import BaseDetector, tukey_lower_fence


class DistanceToMean(BaseDetector):
    """Minus the distance to the training mean: the smallest detector."""

    def __init__(self, contamination="auto"):
        self.contamination = contamination

    def _fit(self, X, y):
        self.mean_ = X.mean(axis=0)
        return None

    def _score_samples(self, X):
        return -np.linalg.norm(X - self.mean_, axis=1)


@parametrize_with_checks([DistanceToMean(), DistanceToMean(contamination=0.1)])
def test_sklearn_compatible(estimator, check):
    check(estimator)


@pytest.fixture
def X():
    return np.random.RandomState(0).normal(size=(200, 3))


def test_decision_function_is_score_minus_offset(X):
    detector = DistanceToMean().fit(X)
    np.testing.assert_allclose(
        detector.decision_function(X), detector.score_samples(X) - detector.offset_
    )
    np.testing.assert_array_equal(
        detector.predict(X), np.where(detector.decision_function(X) < 0, -1, 1)
    )


@pytest.mark.parametrize("contamination", [0.01, 0.1, 0.25, 0.5])
def test_float_contamination_flags_that_share_of_training_data(X, contamination):
    detector = DistanceToMean(contamination=contamination).fit(X)
    share = (detector.predict(X) == -1).mean()
    assert share == pytest.approx(contamination, abs=1 / len(X))
    assert detector.offset_ == np.percentile(detector.score_samples(X), 100 * contamination)


def test_auto_contamination_is_tukeys_lower_fence(X):
    detector = DistanceToMean().fit(X)
    scores = detector.score_samples(X)
    q1, q3 = np.percentile(scores, [25, 75])
    assert detector.offset_ == pytest.approx(q1 - 1.5 * (q3 - q1))
    # On Gaussian data the fence flags few samples, and a far one always.
    assert (detector.predict(X) == -1).mean() < 0.05
    far = DistanceToMean().fit(np.vstack([X, [[10.0, 10.0, 10.0]]]))
    assert far.predict([[10.0, 10.0, 10.0]])[0] == -1


def test_tukey_lower_fence():
    assert tukey_lower_fence([1.0, 2.0, 3.0, 4.0, 5.0]) == -1.0
    assert tukey_lower_fence([0.0, 0.0, 1.0, 1.0], k=3.0) == -3.0


@pytest.mark.parametrize("contamination", [0.0, -0.1, 0.51, 2, "none"])
def test_bad_contamination(X, contamination):
    with pytest.raises(ValueError, match="contamination"):
        DistanceToMean(contamination=contamination).fit(X)


def test_non_finite_training_scores_are_refused(X):
    class Broken(DistanceToMean):
        def _score_samples(self, X):
            return np.full(len(X), np.nan)

    with pytest.raises(ValueError, match="non-finite scores on its training data"):
        Broken().fit(X)


def test_pandas_input_records_feature_names(X):
    pd = pytest.importorskip("pandas")
    frame = pd.DataFrame(X, columns=["a", "b", "c"])
    detector = DistanceToMean().fit(frame)
    assert list(detector.feature_names_in_) == ["a", "b", "c"]
    with pytest.raises(ValueError, match="feature names"):
        detector.score_samples(frame[["c", "b", "a"]])


def test_plain_float_rows_score_as_any_other_input_and_bad_ones_are_refused(X):
    # Plain float arrays skip scikit-learn's validation (a fast path for
    # scoring a few rows); every other input still goes through it.
    detector = DistanceToMean().fit(X)
    expected = detector.score_samples(X.tolist())
    np.testing.assert_array_equal(detector.score_samples(X), expected)
    np.testing.assert_allclose(detector.score_samples(X.astype(np.float32)), expected,
                               rtol=1e-6)
    np.testing.assert_array_equal(detector.score_samples(X[:1]), expected[:1])
    with pytest.raises(ValueError, match="NaN"):
        detector.score_samples(np.where(X > 2, np.nan, X))
    with pytest.raises(ValueError, match="infinity"):
        detector.score_samples(np.where(X > 2, np.inf, X))
    with pytest.raises(ValueError, match="X has 2 features, but DistanceToMean is expecting 3"):
        detector.score_samples(X[:, :2])
    with pytest.raises(ValueError, match="0 sample"):
        detector.score_samples(X[:0])
    with pytest.raises(ValueError, match="Expected 2D array"):
        detector.score_samples(X[0])


def test_rows_without_the_fitted_feature_names_still_warn(X):
    pd = pytest.importorskip("pandas")
    detector = DistanceToMean().fit(pd.DataFrame(X, columns=["a", "b", "c"]))
    with pytest.warns(UserWarning, match="does not have valid feature names"):
        detector.score_samples(X)
