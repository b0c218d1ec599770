"""SlidingWindows: windows of a long series and scores back onto its steps."""

import pickle

import numpy as np
import pandas as pd
import pytest
from numpy.testing import assert_allclose, assert_array_equal
from sklearn.exceptions import NotFittedError
from sklearn.pipeline import make_pipeline
from sklearn.utils.estimator_checks import parametrize_with_checks

from skanomaly.features import SlidingWindows

# scikit-learn's checks expect a transformer to keep the number of rows:
# windows of one step, one every step, do.
@parametrize_with_checks(
    [SlidingWindows(window_length=1)],
    expected_failed_checks=lambda estimator: {
        "check_fit1d": "a 1-D array is a series of one channel, which "
        "SlidingWindows accepts rather than refuses",
    },
)
def test_sklearn_compatible(estimator, check):
    check(estimator)


@pytest.fixture
def series():
    """12 steps of 2 channels: channel b is ten times channel a."""
    a = np.arange(12.0)
    return np.column_stack([a, 10 * a])


def test_windows_are_step_major_rows(series):
    windows = SlidingWindows(window_length=3, stride=4).fit_transform(series)
    # Starts 0, 4, 8 and, to reach the last step, 9.
    assert windows.shape == (4, 6)
    assert_array_equal(windows[0], [0, 0, 1, 10, 2, 20])
    assert_array_equal(windows[1], [4, 40, 5, 50, 6, 60])
    assert_array_equal(windows[-1], [9, 90, 10, 100, 11, 110])
    cube = SlidingWindows(window_length=3, stride=4, flatten=False).fit_transform(series)
    assert cube.shape == (4, 3, 2)
    assert_array_equal(cube.reshape(4, -1), windows)


@pytest.mark.parametrize(
    "n_steps, length, stride, starts",
    [
        (10, 4, 3, [0, 3, 6]),
        (10, 4, 4, [0, 4, 6]),
        (10, 10, 1, [0]),
        (7, 3, 1, [0, 1, 2, 3, 4]),
    ],
)
def test_every_step_is_in_a_window(n_steps, length, stride, starts):
    windows = SlidingWindows(window_length=length, stride=stride)
    assert_array_equal(windows.window_starts(n_steps), starts)
    X = np.arange(float(n_steps))
    assert windows.fit_transform(X).shape == (len(starts), length)
    assert np.isfinite(windows.step_scores(np.ones(len(starts)), n_steps)).all()


def test_a_stride_longer_than_the_window_leaves_gaps():
    windows = SlidingWindows(window_length=2, stride=5)
    assert_array_equal(windows.window_starts(10), [0, 5, 8])
    per_step = windows.step_scores([1.0, 2.0, 3.0], 10)
    assert_array_equal(per_step, [1, 1, np.nan, np.nan, np.nan, 2, 2, np.nan, 3, 3])


def test_one_d_and_pandas_input():
    values = np.sin(np.arange(20.0))
    windows = SlidingWindows(window_length=5, stride=5)
    from_array = windows.fit_transform(values)
    assert windows.n_features_in_ == 1
    assert_array_equal(windows.fit_transform(pd.Series(values, name="v")), from_array)
    assert_array_equal(windows.get_feature_names_out(), [f"v_t{i}" for i in range(5)])
    frame = pd.DataFrame({"a": values, "b": -values})
    windows.fit(frame)
    assert_array_equal(windows.feature_names_in_, ["a", "b"])
    assert list(windows.get_feature_names_out()[:4]) == ["a_t0", "b_t0", "a_t1", "b_t1"]


def test_pandas_output_is_indexed_by_window_start():
    index = pd.date_range("2024-01-01", periods=10, freq="h")
    frame = pd.DataFrame({"a": np.arange(10.0)}, index=index)
    windows = SlidingWindows(window_length=4, stride=3).set_output(transform="pandas")
    out = windows.fit_transform(frame)
    assert list(out.index) == list(index[[0, 3, 6]])
    assert list(out.columns) == ["a_t0", "a_t1", "a_t2", "a_t3"]


@pytest.mark.parametrize(
    "aggregate, expected",
    [
        # Step 2 is in windows 0 and 1; steps 3 and 4 in windows 1 and 2.
        ("mean", [1, 1, 1.5, 2.5, 2.5, 3]),
        ("median", [1, 1, 1.5, 2.5, 2.5, 3]),
        ("max", [1, 1, 2, 3, 3, 3]),
        ("min", [1, 1, 1, 2, 2, 3]),
    ],
)
def test_step_scores_combine_the_windows_of_each_step(aggregate, expected):
    windows = SlidingWindows(window_length=3, stride=2)  # windows at 0, 2, 3
    per_step = windows.step_scores([1.0, 2.0, 3.0], 6, aggregate=aggregate)
    assert_allclose(per_step, expected)


def test_step_scores_of_per_step_maps_keep_the_steps():
    windows = SlidingWindows(window_length=3, stride=2)  # windows at 0, 2, 3
    maps = np.array([[0.0, 1.0, 2.0], [2.0, 3.0, 4.0], [3.0, 4.0, 5.0]])
    # Step 2 is the last of window 0 (2.0) and the first of window 1 (2.0).
    assert_allclose(windows.step_scores(maps, 6), [0, 1, 2, 3, 4, 5])


def test_step_scores_keep_the_index_of_pandas_input():
    index = pd.date_range("2024-01-01", periods=6, freq="D")
    frame = pd.DataFrame({"a": np.zeros(6)}, index=index)
    per_step = SlidingWindows(window_length=3, stride=3).step_scores([1.0, 2.0], frame)
    assert isinstance(per_step, pd.Series)
    assert per_step.index.equals(index)
    assert_allclose(per_step.to_numpy(), [1, 1, 1, 2, 2, 2])


def test_bad_input(series):
    windows = SlidingWindows(window_length=5)
    with pytest.raises(NotFittedError):
        windows.transform(series)
    windows.fit(series)
    with pytest.raises(ValueError, match="4 time steps, fewer than window_length=5"):
        windows.transform(series[:4])
    with pytest.raises(ValueError, match="X has 1 features, but SlidingWindows is expecting 2"):
        windows.transform(series[:, :1])
    with pytest.raises(ValueError, match=r"1-D, a series of one channel.*fitted on 2 channels"):
        windows.transform(series[:, 0])
    with pytest.raises(ValueError, match="infinity"):
        windows.transform(np.where(series > 50, np.inf, series))
    with pytest.raises(ValueError, match="window_length"):
        SlidingWindows(window_length=0).fit(series)
    with pytest.raises(ValueError, match="stride"):
        SlidingWindows(stride=0).fit(series)
    with pytest.raises(ValueError, match=r"window_scores must have shape \(8,\) or \(8, 5\)"):
        windows.step_scores(np.zeros(7), series)
    with pytest.raises(ValueError, match="aggregate must be one of"):
        windows.step_scores(np.zeros(8), series, aggregate="sum")


def test_missing_values_pass_through(series):
    gappy = series.copy()
    gappy[3, 0] = np.nan
    windows = SlidingWindows(window_length=2).fit_transform(gappy)
    assert np.isnan(windows[2, 2]) and np.isnan(windows[3, 0])
    assert np.isfinite(np.delete(windows, [2, 3], axis=0)).all()


def test_pickle(series):
    windows = SlidingWindows(window_length=3, stride=2).fit(series)
    restored = pickle.loads(pickle.dumps(windows))
    assert_array_equal(restored.transform(series), windows.transform(series))


def test_finds_a_glitch_in_a_long_recording():
    """The issue's use case: where in a long recording is the anomaly?"""
    from skanomaly import RNNForecaster

    rng = np.random.RandomState(0)
    steps = np.arange(1200)
    signal = np.column_stack(
        [np.sin(steps / 4.0), np.cos(steps / 7.0)]
    ) + 0.05 * rng.normal(size=(1200, 2))
    signal[900:905, 0] += 2.0  # a glitch in channel 0
    index = pd.date_range("2024-01-01", periods=1200, freq="s")
    recording = pd.DataFrame(signal, index=index, columns=["a", "b"])

    windows = SlidingWindows(window_length=24, stride=4)
    detector = RNNForecaster(
        hidden_units=(8,), horizon=2, epochs=10, batch_size=64, learning_rate=1e-2,
        sequence_shape=(24, 2), random_state=0,
    )
    pipeline = make_pipeline(windows, detector).fit(recording.iloc[:800])
    maps = detector.anomaly_map(windows.transform(recording))
    per_second = windows.step_scores(maps, recording)
    assert per_second.index.equals(index)
    # The worst second is in the glitch (or the step after it).
    assert index[900] <= per_second.idxmax() <= index[905]
    scores = windows.step_scores(pipeline.score_samples(recording), recording, aggregate="min")
    assert index[880] <= scores.idxmin() <= index[925]
