"""Sliding windows over one long series, and back to one score per step."""

import warnings
from numbers import Integral

import numpy as np
from sklearn.base import BaseEstimator, TransformerMixin, _fit_context
from sklearn.utils._param_validation import Interval
from sklearn.utils._set_output import _get_output_config
from sklearn.utils.validation import (
    _check_feature_names_in,
    check_is_fitted,
    validate_data,
)

__all__ = ["SlidingWindows"]

_AGGREGATES = {
    "mean": np.nanmean,
    "median": np.nanmedian,
    "max": np.nanmax,
    "min": np.nanmin,
}


def _is_pandas(X):
    """Whether ``X`` is a pandas DataFrame or Series (without importing
    pandas)."""
    return hasattr(X, "iloc") and hasattr(X, "index")


class SlidingWindows(TransformerMixin, BaseEstimator):
    """Cut one long series into overlapping windows, one window a row.

    A long recording (a sensor stream, an ECG, a machine log turned into
    numbers) of shape ``(n_steps, n_channels)`` becomes windows of
    ``window_length`` steps, one every ``stride`` steps: rows that a
    sequence detector (``sequence_shape=(window_length, n_channels)``) or
    any other detector can score. :meth:`step_scores` maps the window
    scores back onto the time steps, so that the anomaly can be found in
    the recording.

    Parameters
    ----------
    window_length : int, default=64
        Steps in a window.
    stride : int, default=1
        Steps between the starts of two windows. With ``stride <
        window_length`` windows overlap.
    flatten : bool, default=True
        Return 2-D rows of ``window_length * n_channels`` values, step-major
        (the channels of a window's first step, then those of its second...),
        which every scikit-learn estimator accepts and sequence detectors
        read with ``sequence_shape=(window_length, n_channels)``. ``False``
        returns a 3-D array ``(n_windows, window_length, n_channels)``.
        With ``set_output(transform="pandas")`` the flattened windows of a
        DataFrame come as a DataFrame indexed by each window's first step.

    Attributes
    ----------
    n_features_in_ : int
        Number of channels (columns) of the series seen in ``fit``.
    feature_names_in_ : ndarray of shape (`n_features_in_`,)
        Names of the columns, for DataFrame input.

    See Also
    --------
    skanomaly.LSTMAutoEncoder : A detector for the windows.

    Notes
    -----
    Windows start at steps ``0, stride, 2 * stride, ...``; when the last of
    them ends before the series does, one more window is added that ends
    at the last step, so that the end of the series is always scored. A
    series of ``n_steps`` steps thus gives ``ceil((n_steps - window_length)
    / stride) + 1`` windows (:meth:`window_starts` lists them). With
    ``stride <= window_length`` every step is in a window; with a longer
    stride the steps between windows are not, and :meth:`step_scores`
    gives them NaN.

    ``fit`` learns only the number of channels (and their names); the
    windows of a series depend on that series alone, so ``transform`` may
    be called on a series of any length of at least ``window_length``
    steps. A 2-D input is a series with one row a time step and one column
    a channel; a 1-D input or a pandas Series is one channel.

    Examples
    --------
    >>> import numpy as np
    >>> from skanomaly.features import SlidingWindows
    >>> series = np.arange(10.0)
    >>> windows = SlidingWindows(window_length=4, stride=3)
    >>> windows.fit_transform(series)
    array([[0., 1., 2., 3.],
           [3., 4., 5., 6.],
           [6., 7., 8., 9.]])

    Scores of the windows (a detector's, say) back onto the steps, the mean
    over the windows that hold each step:

    >>> windows.step_scores([1.0, 2.0, 3.0], series)
    array([1. , 1. , 1. , 1.5, 2. , 2. , 2.5, 3. , 3. , 3. ])

    With a detector on windows of a long series, pandas input keeps its time
    index:

    >>> import pandas as pd
    >>> from sklearn.pipeline import make_pipeline
    >>> from sklearn.neighbors import LocalOutlierFactor
    >>> t = pd.date_range("2024-01-01", periods=300, freq="min")
    >>> signal = pd.DataFrame({"value": np.sin(np.arange(300) / 5.0)}, index=t)
    >>> signal.iloc[200:204] += 3.0  # a glitch at 03:20
    >>> windows = SlidingWindows(window_length=20, stride=5)
    >>> detector = make_pipeline(windows, LocalOutlierFactor(novelty=True))
    >>> scores = detector.fit(signal.iloc[:150]).score_samples(signal)
    >>> per_minute = windows.step_scores(scores, signal)
    >>> per_minute.idxmin()
    Timestamp('2024-01-01 03:20:00')
    """

    _parameter_constraints: dict = {
        "window_length": [Interval(Integral, 1, None, closed="left")],
        "stride": [Interval(Integral, 1, None, closed="left")],
        "flatten": ["boolean"],
    }

    def __init__(self, window_length=64, *, stride=1, flatten=True):
        self.window_length = window_length
        self.stride = stride
        self.flatten = flatten

    # ------------------------------------------------------------- fitting
    @_fit_context(prefer_skip_nested_validation=True)
    def fit(self, X, y=None):
        """Record the number of channels (and their names) of ``X``.

        Parameters
        ----------
        X : array-like of shape (n_steps, n_channels) or (n_steps,)
            One series: a row per time step, a column per channel (a
            DataFrame with a time index, say).
        y : None
            Ignored.

        Returns
        -------
        self : object
            The fitted transformer.
        """
        self._validate_series(X, reset=True)
        return self

    def transform(self, X):
        """Cut ``X`` into windows.

        Parameters
        ----------
        X : array-like of shape (n_steps, n_channels) or (n_steps,)
            One series with the channels seen in ``fit``, at least
            ``window_length`` steps long.

        Returns
        -------
        windows : ndarray of shape (n_windows, window_length * n_channels) \
                or (n_windows, window_length, n_channels)
            The windows, flattened step-major unless ``flatten=False``.
        """
        check_is_fitted(self)
        series = self._validate_series(X, reset=False)
        starts = self._starts(series.shape[0])
        windows = np.lib.stride_tricks.sliding_window_view(
            series, self.window_length, axis=0
        )[starts]
        # sliding_window_view puts the window axis last: (n, channels, length).
        windows = np.ascontiguousarray(windows.transpose(0, 2, 1))
        if not self.flatten:
            return windows
        windows = windows.reshape(windows.shape[0], -1)
        if _get_output_config("transform", self)["dense"] == "pandas":
            # scikit-learn would give the windows the index of the series,
            # which is longer: index them by their first step instead.
            import pandas as pd

            index = X.index[starts] if _is_pandas(X) else pd.RangeIndex(len(starts))
            return pd.DataFrame(windows, index=index, columns=self.get_feature_names_out())
        return windows

    def get_feature_names_out(self, input_features=None):
        """Names of the output columns: ``<channel>_t<step>``.

        Parameters
        ----------
        input_features : array-like of str or None, default=None
            Channel names; ``feature_names_in_`` when fitted on a
            DataFrame, else ``x0, x1, ...``.

        Returns
        -------
        feature_names_out : ndarray of str objects
            ``window_length * n_channels`` names, step-major: all channels
            of step 0, then of step 1...
        """
        check_is_fitted(self)
        channels = _check_feature_names_in(self, input_features)
        return np.asarray(
            [f"{name}_t{step}" for step in range(self.window_length) for name in channels],
            dtype=object,
        )

    # --------------------------------------------------- windows and steps
    def window_starts(self, X):
        """First step of each window of ``X``.

        Parameters
        ----------
        X : array-like of shape (n_steps, n_channels) or (n_steps,), or int
            The series (or its number of steps).

        Returns
        -------
        starts : ndarray of int of shape (n_windows,)
            Window ``i`` covers steps ``starts[i]`` to ``starts[i] +
            window_length - 1``.
        """
        return self._starts(self._n_steps(X))

    def step_scores(self, window_scores, X, *, aggregate="mean"):
        """Map the scores of the windows of ``X`` back onto its time steps.

        Parameters
        ----------
        window_scores : array-like of shape (n_windows,) or \
                (n_windows, window_length)
            One score per window (``score_samples`` of a detector, say), or
            one per step of each window (a sequence detector's
            ``anomaly_map``), in the order of :meth:`transform`.
        X : array-like of shape (n_steps, n_channels) or (n_steps,), or int
            The series that was cut into these windows (or its number of
            steps): it gives the steps and, for pandas input, the index.
        aggregate : {"mean", "median", "max", "min"}, default="mean"
            How the scores of the windows that hold a step are combined.
            With normality scores (higher is more normal) ``"min"`` keeps
            the worst window of each step; with anomaly scores ``"max"``.

        Returns
        -------
        scores : ndarray of shape (n_steps,) or pandas.Series
            One score per time step; a Series with the index of ``X`` when
            ``X`` is a DataFrame or a Series.
        """
        if aggregate not in _AGGREGATES:
            raise ValueError(
                f"aggregate must be one of {sorted(_AGGREGATES)}; got {aggregate!r}."
            )
        n_steps = self._n_steps(X)
        starts = self._starts(n_steps)
        scores = np.asarray(window_scores, dtype=np.float64)
        if scores.ndim not in (1, 2) or scores.shape[0] != starts.shape[0] or (
            scores.ndim == 2 and scores.shape[1] != self.window_length
        ):
            raise ValueError(
                f"window_scores must have shape ({starts.shape[0]},) or "
                f"({starts.shape[0]}, {self.window_length}): a series of "
                f"{n_steps} steps gives {starts.shape[0]} windows of "
                f"{self.window_length} steps; got shape {scores.shape}."
            )
        if scores.ndim == 1:
            scores = np.repeat(scores[:, None], self.window_length, axis=1)
        # One row per window, NaN outside it; combine over windows.
        table = np.full((starts.shape[0], n_steps), np.nan)
        steps = starts[:, None] + np.arange(self.window_length)
        table[np.arange(starts.shape[0])[:, None], steps] = scores
        with warnings.catch_warnings():
            # Steps in no window (stride > window_length) are NaN on purpose.
            warnings.simplefilter("ignore", RuntimeWarning)
            per_step = _AGGREGATES[aggregate](table, axis=0)
        if _is_pandas(X):
            import pandas as pd

            return pd.Series(per_step, index=X.index, name="score")
        return per_step

    # ------------------------------------------------------------- helpers
    def _starts(self, n_steps):
        length = self.window_length
        if n_steps < length:
            raise ValueError(
                f"The series has {n_steps} time step{'s' if n_steps != 1 else ''}, "
                f"fewer than window_length={length}: it holds no window."
            )
        starts = np.arange(0, n_steps - length + 1, self.stride)
        if starts[-1] + length < n_steps:
            starts = np.append(starts, n_steps - length)
        return starts

    def _n_steps(self, X):
        if isinstance(X, Integral) and not isinstance(X, bool):
            return int(X)
        if hasattr(X, "shape"):
            return int(X.shape[0])
        return len(X)

    def _validate_series(self, X, reset):
        """``X`` as a 2-D float array, a row per time step."""
        if not hasattr(X, "ndim"):
            X = np.asarray(X)
        if X.ndim == 1:
            # A 1-D array or a pandas Series: a series of one channel.
            if not reset and self.n_features_in_ != 1:
                raise ValueError(
                    f"X is 1-D, a series of one channel, but {type(self).__name__} "
                    f"was fitted on {self.n_features_in_} channels. Reshape your "
                    f"data to (n_steps, {self.n_features_in_})."
                )
            X = X.to_frame() if hasattr(X, "to_frame") else np.reshape(X, (-1, 1))
        return validate_data(
            self,
            X,
            reset=reset,
            dtype=[np.float64, np.float32],
            ensure_all_finite="allow-nan",
        )

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.allow_nan = True
        return tags
