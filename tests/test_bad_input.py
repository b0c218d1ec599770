"""Bad input to every public estimator: a clear error or a sound answer.

Hypothesis generates bad scoring input for one fitted instance of each
estimator (the tiny instances of tests/utils/test_persistence.py, fitted
once per module): NaN and infinities at random positions, empty arrays, a
single sample, arrays of the wrong rank or width, object arrays of text,
complex numbers, huge and tiny magnitudes, and data frames with renamed,
reordered, extra or non-numeric columns. Bad training input (and bad
labels and tasks) go to a few estimators, fitting being slow.

Each call must either raise a ValueError or TypeError whose message is the
library's own (no TensorFlow error, text or trace in it), or return finite
outputs of the right shape: never a TensorFlow error, never a silent NaN.
"""

import warnings

import numpy as np
import pandas as pd
import pytest
import scipy.sparse
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st
from sklearn.base import clone

from skanomaly.utils import all_estimators
from tests.utils.test_persistence import _estimators, _rows

#: Hypothesis for slow code under test: few examples, no deadline, the same
#: examples run after run (so that CI is reproducible).
SETTINGS = dict(
    deadline=None,
    derandomize=True,
    database=None,
    print_blob=False,
    suppress_health_check=[
        HealthCheck.too_slow,
        HealthCheck.function_scoped_fixture,
        HealthCheck.data_too_large,
        HealthCheck.filter_too_much,
    ],
)

#: Text of TensorFlow's errors that must never reach a user.
TF_MARKERS = ("tensorflow", "traceback", "invalidargumenterror", "graph execution error", "opkernel")
#: Modules whose exceptions must never reach a user.
TF_MODULES = ("tensorflow", "keras", "tf_keras", "absl")

#: Values planted at random positions of otherwise good input.
SPECIAL_VALUES = [np.nan, np.inf, -np.inf, 0.0, -0.0, 1e-300, -1e-300, 5e-324, 1e-8, 1e6, -1e6]
#: Magnitudes that overflow float32 (1e39), or float64 once squared.
HUGE_VALUES = [1e20, -1e20, 1e39, -1e39, 1e100, 1e300, -1e300, np.finfo(np.float64).max]


# ------------------------------------------------------------ the estimators
def _dense_autoencoder(sample_shape):
    """A user's model for KerasDetector (its case in the persistence table is
    None: a function cannot be saved)."""
    from skanomaly.engine import keras

    return keras.Sequential(
        [keras.Input(sample_shape), keras.layers.Dense(4), keras.layers.Dense(sample_shape[0])]
    )


def _cases():
    """cls -> (unfitted estimator, data factory), for every estimator the
    persistence table has an instance of, and KerasDetector."""
    from skanomaly import KerasDetector

    cases = {cls: case for cls, case in _estimators().items() if case is not None}
    cases[KerasDetector] = (
        KerasDetector(_dense_autoencoder, epochs=2, random_state=0),
        lambda _: (_rows(), {}),
    )
    return cases


def _name(cls):
    return cls.__name__


ALL_CLASSES = sorted((cls for _, cls in all_estimators()), key=_name)
#: ImageLoader reads paths, not arrays: test_image_loader_* cover it.
ARRAY_CLASSES = [cls for cls in ALL_CLASSES if cls.__name__ != "ImageLoader"]
#: A few of each kind (rows, sequences, images, labels, tasks, a wrapper, a
#: frozen backbone, a user's model) and every cheap transformer: fitting is slow.
FIT_CLASSES = [
    "AutoEncoder", "LSTMAutoEncoder", "ConvAutoEncoder", "DeepSAD", "PrototypicalDetector",
    "ConformalThreshold", "PatchCore", "KerasDetector", "HOGTransformer", "SlidingWindows",
    "ColourSegmenter", "ImageResizer", "PatchExtractor", "PretrainedFeatures",
]
#: Fitted on a data frame too, for the checks of column names.
FRAME_CLASSES = [
    "AutoEncoder", "LSTMAutoEncoder", "ConvAutoEncoder", "PatchCore", "ConformalThreshold",
    "HOGTransformer", "SlidingWindows", "ImageResizer",
]



@pytest.fixture(scope="module")
def fitted(tmp_path_factory):
    """``fitted(cls, frame=False)``: the estimator fitted once per module, its
    training input as an array, and the keyword arguments of its fit."""
    cache = {}
    folder = tmp_path_factory.mktemp("bad_input")
    cases = _cases()

    def get(cls, frame=False):
        if cls not in cases:
            pytest.skip(
                f"{cls.__name__} has no instance in tests/utils/test_persistence."
                "_estimators(); add it there to test it here"
            )
        key = (cls, frame)
        if key not in cache:
            estimator, data = cases[cls]
            X, fit_params = data(folder)
            estimator = clone(estimator)
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                if frame:
                    estimator.fit(_as_frame(np.asarray(X)), **fit_params)
                else:
                    estimator.fit(X, **fit_params)
            cache[key] = estimator, X if cls.__name__ == "ImageLoader" else np.asarray(X), fit_params
        return cache[key]

    return get


def _as_frame(X):
    return pd.DataFrame(X, columns=[f"x{i}" for i in range(X.shape[1])])


def _by_name(names):
    return [cls for cls in ALL_CLASSES if cls.__name__ in names]


def test_every_public_estimator_is_covered():
    # Without an instance, the tests below skip an estimator.
    missing = {cls for _, cls in all_estimators()} - set(_cases())
    assert not missing, f"add an instance to tests/utils/test_persistence._estimators(): {missing}"
    assert {cls.__name__ for cls in _by_name(FIT_CLASSES)} == set(FIT_CLASSES)
    assert {cls.__name__ for cls in _by_name(FRAME_CLASSES)} == set(FRAME_CLASSES)


# ------------------------------------------------------------ what must hold
def _assert_clear_error(error, what):
    """The error is the library's own: no TensorFlow type, text or trace."""
    chain, seen = [], error
    while seen is not None and seen not in chain:
        chain.append(seen)
        seen = seen.__cause__ if seen.__cause__ is not None else (
            None if seen.__suppress_context__ else seen.__context__
        )
    for link in chain:
        module = type(link).__module__
        assert not module.startswith(TF_MODULES), (
            f"{what} raised {type(error).__name__} from {module}.{type(link).__name__}: {link}"
        )
    message = str(error)
    assert message.strip(), f"{what} raised {type(error).__name__} with no message"
    found = [marker for marker in TF_MARKERS if marker in message.lower()]
    assert not found, f"{what}: the message shows TensorFlow's error {found}: {message[:500]}"


def _holds_nan(X):
    """Whether X holds a missing value (unknown counts as yes)."""
    try:
        return bool(np.isnan(np.asarray(X, dtype=np.float64)).any())
    except (TypeError, ValueError):
        return True


def _n_samples(X):
    return X.shape[0] if hasattr(X, "shape") and len(X.shape) else len(X)


def _outcome(estimator, method, X):
    """Call ``estimator.method(X)``: refused with a clear ValueError or
    TypeError ("refused"), or finite outputs of the right shape ("answered")."""
    what = f"{type(estimator).__name__}.{method}"
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            out = getattr(estimator, method)(X)
    except (ValueError, TypeError) as error:
        _assert_clear_error(error, what)
        return "refused"
    except Exception as error:
        raise AssertionError(
            f"{what} raised {type(error).__module__}.{type(error).__name__}, not a "
            f"ValueError or TypeError: {str(error)[:500]}"
        ) from error
    if method == "transform":
        allows_nan = estimator.__sklearn_tags__().input_tags.allow_nan
        for array in out if isinstance(out, list) else [out]:
            array = np.asarray(array)
            if array.dtype.kind in "fc" and not (allows_nan and _holds_nan(X)):
                assert np.isfinite(array).all(), f"{what} returned non-finite values"
        return "answered"
    out = np.asarray(out)
    n = _n_samples(X)
    assert out.shape[0] == n, f"{what} returned {out.shape[0]} rows for {n} samples"
    if method in ("score_samples", "decision_function"):
        assert out.shape == (n,), f"{what} returned shape {out.shape}"
    assert np.issubdtype(out.dtype, np.floating), f"{what} returned {out.dtype}"
    assert np.isfinite(out).all(), (
        f"{what} returned non-finite values silently: {out.ravel()[:8]}"
    )
    return "answered"


def _methods(estimator):
    if not hasattr(estimator, "score_samples"):
        return ["transform"]
    return [m for m in ("score_samples", "decision_function", "anomaly_map", "reconstruct")
            if hasattr(estimator, m)]


# ------------------------------------------------------------ bad inputs
def _planted(X, n, positions, values, scale):
    bad = np.array(X[:n], dtype=np.float64) * scale
    for position, value in zip(positions, values):
        bad.flat[position % bad.size] = value
    return bad


def _values(pool):
    """``(n, positions, values, scale)``: rows of the training input with
    values of ``pool`` planted at random positions."""
    return st.tuples(
        st.integers(1, 6),
        st.lists(st.integers(0, 10**6), min_size=0, max_size=4),
        st.lists(st.sampled_from(pool), min_size=1, max_size=4),
        st.sampled_from([1.0, 1e-300, 1e-30, -1.0]),
    )


SHAPE_CHANGES = [
    "empty", "one sample", "1-D", "scalar", "extra axis", "two extra axes",
    "fewer features", "more features", "no features", "transposed", "ragged",
    "nested empty", "None", "a string", "a dict", "sparse",
]


def _reshaped(X, change, k):
    """The training input with its shape spoiled by ``change``."""
    X = X[: max(k, 1) + 1]
    if change == "empty":
        return X[:0]
    if change == "one sample":
        return X[:1]
    if change == "1-D":
        return X[0].ravel()
    if change == "scalar":
        return float(X.flat[0])
    if change == "extra axis":
        return X[..., np.newaxis]
    if change == "two extra axes":
        return X[..., np.newaxis, np.newaxis]
    if change == "fewer features":
        return X[..., : max(X.shape[-1] - k, 1)]
    if change == "more features":
        return np.concatenate([X, X[..., :k]], axis=-1)
    if change == "no features":
        return X[..., :0]
    if change == "transposed":
        return X.reshape(len(X), -1).T
    if change == "ragged":
        rows = [list(row) for row in X.reshape(len(X), -1)]
        rows[-1] = rows[-1][:-k]
        return rows
    if change == "nested empty":
        return [[]] * k
    if change == "None":
        return None
    if change == "a string":
        return "X.csv"
    if change == "a dict":
        return {"x0": list(X.reshape(len(X), -1)[:, 0])}
    if change == "sparse":
        return scipy.sparse.csr_matrix(X.reshape(len(X), -1))
    raise AssertionError(change)


DTYPE_CHANGES = [
    "numeric text", "words", "complex", "bool", "int8", "uint8", "float16", "float32",
    "longdouble", "None", "bytes", "datetime", "decimal", "nested lists", "list",
]


def _retyped(X, change, word, k):
    """The training input as ``change``: another dtype, or objects."""
    X = X[: k + 1]
    if change == "numeric text":
        return X.astype(str).astype(object)
    if change == "words":
        bad = X.astype(object)
        bad.flat[k % bad.size] = word
        return bad
    if change == "complex":
        return X + 1j
    if change == "bool":
        return X > np.median(X)
    if change in ("int8", "uint8", "float16", "float32", "longdouble"):
        return (X * 10).astype(change) if change.endswith("int8") else X.astype(change)
    if change == "None":
        bad = X.astype(object)
        bad.flat[k % bad.size] = None
        return bad
    if change == "bytes":
        return X.astype("S8")
    if change == "datetime":
        return np.full(X.shape, np.datetime64("2024-01-01"))
    if change == "decimal":
        from decimal import Decimal

        return np.vectorize(lambda v: Decimal(str(v)), otypes=[object])(X)
    if change == "nested lists":
        bad = X.astype(object)
        bad.flat[k % bad.size] = [1.0, 2.0]
        return bad
    if change == "list":
        return X.tolist()
    raise AssertionError(change)


FRAME_CHANGES = [
    "as fitted", "renamed", "reordered", "extra number column", "extra text column",
    "dropped column", "text column", "categorical text", "nullable with NA", "nullable Int64",
    "bool column", "mixed name types", "duplicate names", "multi-index columns",
    "sparse column", "datetime column", "object numbers", "series",
]


def _framed(X, change, word, k):
    """The training input as a data frame, its columns spoiled by ``change``."""
    # Enough rows for a sliding window of 4 steps.
    n = k + 4
    frame = _as_frame(X[:n].reshape(n, -1) if X.ndim > 2 else X[:n])
    column = frame.columns[k % frame.shape[1]]
    if change == "as fitted":
        return frame
    if change == "renamed":
        return frame.rename(columns={column: word or "renamed"})
    if change == "reordered":
        return frame[list(frame.columns[::-1])]
    if change == "extra number column":
        return frame.assign(extra=1.0)
    if change == "extra text column":
        return frame.assign(extra=word)
    if change == "dropped column":
        return frame.drop(columns=column)
    if change == "text column":
        return frame.assign(**{column: word})
    if change == "categorical text":
        return frame.assign(**{column: pd.Categorical([word] * len(frame))})
    if change == "nullable with NA":
        values = pd.array(frame[column], dtype="Float64")
        values[0] = pd.NA
        return frame.assign(**{column: values})
    if change == "nullable Int64":
        return frame.assign(**{column: pd.array(np.arange(len(frame)), dtype="Int64")})
    if change == "bool column":
        return frame.assign(**{column: frame[column] > 0})
    if change == "mixed name types":
        return frame.set_axis([0, *frame.columns[1:]], axis=1)
    if change == "duplicate names":
        return frame.set_axis([frame.columns[0]] * 2 + list(frame.columns[2:]), axis=1)
    if change == "multi-index columns":
        return frame.set_axis(pd.MultiIndex.from_arrays([frame.columns, frame.columns]), axis=1)
    if change == "sparse column":
        return frame.assign(**{column: pd.arrays.SparseArray(frame[column].to_numpy())})
    if change == "datetime column":
        return frame.assign(**{column: pd.Timestamp("2024-01-01")})
    if change == "object numbers":
        return frame.astype(object)
    if change == "series":
        return frame.iloc[0]
    raise AssertionError(change)


_words = st.text(max_size=6)


def _check_with(settings_kwargs, strategy, examples, run, max_examples):
    """Run ``run(case)`` over the explicit ``examples`` and ``strategy``."""

    @settings(max_examples=max_examples, **settings_kwargs)
    @given(case=strategy)
    def check(case):
        run(case)

    for case in examples:
        check = example(case=case)(check)
    check()


# ------------------------------------------------------------ scoring
@pytest.mark.parametrize("cls", ARRAY_CLASSES, ids=_name)
def test_nan_inf_and_tiny_values_are_refused_or_scored(cls, fitted):
    estimator, X, _ = fitted(cls)
    methods = _methods(estimator)

    def run(case):
        method, (n, positions, values, scale) = case
        _outcome(estimator, method, _planted(X, n, positions, values, scale))

    examples = [
        (methods[0], (3, [1], [np.nan], 1.0)),
        (methods[0], (3, [2], [-np.inf], 1.0)),
        (methods[0], (2, [], [0.0], 1e-300)),
    ]
    _check_with(
        SETTINGS, st.tuples(st.sampled_from(methods), _values(SPECIAL_VALUES)), examples, run, 6
    )


@pytest.mark.parametrize("cls", ARRAY_CLASSES, ids=_name)
def test_huge_values_are_refused_or_scored_finite(cls, fitted):
    estimator, X, _ = fitted(cls)
    methods = _methods(estimator)

    def run(case):
        method, (n, positions, values, scale) = case
        _outcome(estimator, method, _planted(X, n, positions, values, scale))

    examples = [
        (methods[0], (4, [], [0.0], 1e300)),  # every value huge
        (methods[0], (4, [3], [1e39], 1.0)),  # one value beyond float32
        (methods[0], (1, [0], [1e20], 1.0)),
        (methods[0], (1, [0, 2], [1e20, np.finfo(np.float64).max], 1.0)),
    ]
    strategy = st.tuples(
        st.sampled_from(methods),
        st.tuples(
            st.integers(1, 6),
            st.lists(st.integers(0, 10**6), min_size=0, max_size=4),
            st.lists(st.sampled_from(HUGE_VALUES), min_size=1, max_size=4),
            st.sampled_from([1.0, 1e30, 1e300]),
        ),
    )
    _check_with(SETTINGS, strategy, examples, run, 8)


@pytest.mark.parametrize("cls", ARRAY_CLASSES, ids=_name)
def test_bad_shapes_are_refused_or_scored(cls, fitted):
    estimator, X, _ = fitted(cls)
    methods = _methods(estimator)

    def run(case):
        method, change, k = case
        _outcome(estimator, method, _reshaped(X, change, k))

    examples = [(methods[0], change, 1) for change in SHAPE_CHANGES]
    strategy = st.tuples(st.sampled_from(methods), st.sampled_from(SHAPE_CHANGES), st.integers(1, 3))
    _check_with(SETTINGS, strategy, examples, run, 4)


@pytest.mark.parametrize("cls", ARRAY_CLASSES, ids=_name)
def test_bad_dtypes_are_refused_or_scored(cls, fitted):
    estimator, X, _ = fitted(cls)
    methods = _methods(estimator)

    def run(case):
        method, change, word, k = case
        _outcome(estimator, method, _retyped(X, change, word, k))

    examples = [(methods[0], change, "a", 1) for change in DTYPE_CHANGES]
    strategy = st.tuples(
        st.sampled_from(methods), st.sampled_from(DTYPE_CHANGES), _words, st.integers(0, 3)
    )
    _check_with(SETTINGS, strategy, examples, run, 4)


@pytest.mark.parametrize(
    "cls, frame",
    # PatchExtractor takes images, never a table.
    [(cls, False) for cls in ARRAY_CLASSES if cls.__name__ != "PatchExtractor"]
    + [(cls, True) for cls in _by_name(FRAME_CLASSES)],
    ids=lambda value: value.__name__ if isinstance(value, type) else (
        "fitted on a frame" if value else "fitted on an array"
    ),
)
def test_odd_data_frames_are_refused_or_scored(cls, frame, fitted):
    estimator, X, _ = fitted(cls, frame=frame)
    methods = _methods(estimator)
    outcomes = {}

    def run(case):
        method, change, word, k = case
        outcomes[change] = _outcome(estimator, method, _framed(X, change, word, k))

    examples = [(methods[0], change, "zz", 1) for change in FRAME_CHANGES]
    strategy = st.tuples(
        st.sampled_from(methods), st.sampled_from(FRAME_CHANGES), _words, st.integers(1, 3)
    )
    _check_with(SETTINGS, strategy, examples, run, 4)
    if frame:
        # Fitted on named columns, it checks them.
        assert outcomes["as fitted"] == "answered"
        for change in ("renamed", "reordered", "dropped column", "extra number column"):
            assert outcomes[change] == "refused", change


def test_image_loader_refuses_bad_paths_clearly(fitted, tmp_path):
    (cls,) = _by_name({"ImageLoader"})
    estimator, good_paths, _ = fitted(cls)
    (tmp_path / "text.png").write_text("not an image")
    (tmp_path / "empty.png").write_bytes(b"")
    (tmp_path / "cut.png").write_bytes(good_paths[0].read_bytes()[:60])
    entries = {
        "good": good_paths[0], "good as str": str(good_paths[0]),
        "missing": tmp_path / "missing.png", "text": tmp_path / "text.png",
        "empty": tmp_path / "empty.png", "truncated": tmp_path / "cut.png", "folder": tmp_path,
        "None": None, "number": 3, "nan": np.nan, "nested": [good_paths[0]], "bytes": b"a.png",
    }

    def run(names):
        X = [entries[name] for name in names]
        try:
            out = estimator.transform(X)
        except FileNotFoundError as error:
            assert "missing" in names, error
            _assert_clear_error(error, "ImageLoader.transform")
            return
        except (ValueError, TypeError) as error:
            _assert_clear_error(error, "ImageLoader.transform")
            return
        assert len(out) == len(X) and all(np.isfinite(image).all() for image in out)

    examples = [[name] for name in entries] + [[]]
    _check_with(SETTINGS, st.lists(st.sampled_from(sorted(entries)), max_size=3), examples, run, 8)
    # Not a list of paths at all.
    for X in (None, str(good_paths[0]), np.zeros((2, 3)), 5):
        with pytest.raises((ValueError, TypeError)) as caught:
            estimator.transform(X)
        _assert_clear_error(caught.value, "ImageLoader.transform")


# ------------------------------------------------------------ fitting
def _fit_outcome(estimator, X, fit_params):
    """Fit ``estimator`` on ``X``: refused clearly, or fitted with finite
    outputs on its own training input."""
    what = f"{type(estimator).__name__}.fit"
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            estimator.fit(X, **fit_params)
    except (ValueError, TypeError) as error:
        _assert_clear_error(error, what)
        return "refused"
    except Exception as error:
        raise AssertionError(
            f"{what} raised {type(error).__module__}.{type(error).__name__}, not a "
            f"ValueError or TypeError: {str(error)[:500]}"
        ) from error
    if hasattr(estimator, "offset_"):
        assert np.isfinite(estimator.offset_), f"{what}: offset_ is {estimator.offset_}"
    method = _methods(estimator)[0]
    outcome = _outcome(estimator, method, X)
    # A stateless transformer's fit may leave the checks to transform (a
    # clear error there is fine); a detector scores what it was fitted on.
    assert outcome == "answered" or method == "transform", f"{what} accepted X, {method} did not"
    return "fitted"


def _fit_params_for(fit_params, X):
    """The per-sample fit arguments cut to the samples of ``X``."""
    try:
        n = _n_samples(X)
    except TypeError:
        return fit_params
    return {key: np.asarray(value)[:n] for key, value in fit_params.items()}


FIT_CHANGES = ["values", "huge", "shape", "dtype", "constant"]


@pytest.mark.parametrize("cls", _by_name(FIT_CLASSES), ids=_name)
def test_bad_training_input_is_refused_or_fitted(cls, fitted):
    prototype, X, fit_params = fitted(cls)
    X = X[:16] if X.ndim == 2 and X.shape[0] > 16 and not fit_params else X
    estimator = clone(prototype)
    if "epochs" in estimator.get_params():
        estimator.set_params(epochs=1)

    def run(case):
        change, values, shape_change, dtype_change, word, k = case
        if change == "values":
            bad = _planted(X, len(X), *values[1:])
        elif change == "huge":
            bad = X * 1e300
        elif change == "shape":
            bad = _reshaped(X, shape_change, k)
        elif change == "dtype":
            bad = _retyped(X, dtype_change, word, len(X) - 1)
        else:
            bad = np.zeros_like(X)
        _fit_outcome(clone(estimator), bad, _fit_params_for(fit_params, bad))

    strategy = st.tuples(
        st.sampled_from(FIT_CHANGES), _values(SPECIAL_VALUES + HUGE_VALUES),
        st.sampled_from(SHAPE_CHANGES), st.sampled_from(DTYPE_CHANGES), _words, st.integers(1, 3),
    )
    base = ("values", (0, [2], [np.nan], 1.0), "one sample", "words", "a", 1)
    examples = [
        base,
        ("shape", *base[1:]),
        ("dtype", *base[1:]),
        ("huge", *base[1:]),
    ]
    _check_with(SETTINGS, strategy, examples, run, 2)


LABEL_VALUES = [1, 0, -1, 2, -2, np.nan, np.inf, 0.5, "a", None, True]


@pytest.mark.parametrize("cls", _by_name({"DeepSAD", "DevNet"}), ids=_name)
def test_bad_labels_are_refused_or_fitted(cls, fitted):
    prototype, X, fit_params = fitted(cls)
    estimator = clone(prototype).set_params(epochs=1)
    y_good = np.asarray(fit_params["y"])

    def run(case):
        kind, values, length = case
        if kind == "planted":
            y = y_good.astype(object)
            for i, value in enumerate(values):
                y[(7 * i + 3) % len(y)] = value
        elif kind == "length":
            y = y_good[: max(len(y_good) - length, 0)]
        elif kind == "2-D":
            y = y_good.reshape(-1, 1)
        elif kind == "no anomalies":
            y = np.where(y_good == 1, -1, y_good)
        else:
            y = None
        _fit_outcome(clone(estimator), X, {"y": y})

    strategy = st.tuples(
        st.sampled_from(["planted", "length", "2-D", "no anomalies", "none"]),
        st.lists(st.sampled_from(LABEL_VALUES), min_size=1, max_size=3),
        st.integers(1, 40),
    )
    examples = [
        ("planted", ["a"], 1), ("planted", [np.nan], 1), ("planted", [2], 1),
        ("length", [1], 5), ("2-D", [1], 1), ("no anomalies", [1], 1), ("none", [1], 1),
    ]
    _check_with(SETTINGS, strategy, examples, run, 2)


@pytest.mark.parametrize("cls", _by_name({"PrototypicalDetector", "MAMLDetector"}), ids=_name)
def test_bad_tasks_are_refused_or_fitted(cls, fitted):
    prototype, X, fit_params = fitted(cls)
    estimator = clone(prototype).set_params(epochs=1)
    groups_good = np.asarray(fit_params["groups"])

    def run(case):
        kind, value, length = case
        if kind == "planted":
            groups = groups_good.astype(object)
            groups[3] = value
        elif kind == "length":
            groups = groups_good[:-length]
        elif kind == "one task":
            groups = np.zeros_like(groups_good)
        else:
            groups = groups_good.reshape(-1, 1)
        _fit_outcome(clone(estimator), X, {"y": fit_params["y"], "groups": groups})

    strategy = st.tuples(
        st.sampled_from(["planted", "length", "one task", "2-D"]),
        st.sampled_from([np.nan, None, "a", 1.5, -1, 10**12]),
        st.integers(1, 40),
    )
    examples = [("planted", np.nan, 1), ("length", None, 3), ("one task", None, 1),
                ("2-D", None, 1), ("planted", None, 1)]
    _check_with(SETTINGS, strategy, examples, run, 2)
