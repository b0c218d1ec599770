"""Bad files and bad arguments: ``load``, ``export`` and the command line.

Hypothesis generates random bytes, cut and corrupted copies of a saved
file, zip archives of garbage JSON, bad export formats and batch sizes, and
junk tables for ``skanomaly fit`` and ``skanomaly score``. ``load`` must
refuse a file it cannot read with a ValueError that names the file;
``export`` must refuse a bad argument with a ValueError naming it; the
command line must exit with status 2 and one line on stderr, or 0 with
finite scores.
"""

import contextlib
import io
import json
import warnings
import zipfile

import numpy as np
import pandas as pd
import pytest
from hypothesis import strategies as st
from sklearn.base import BaseEstimator
from sklearn.ensemble import IsolationForest
from sklearn.exceptions import NotFittedError

from skanomaly import load, save
from skanomaly.__main__ import main
from skanomaly.engine._export import FORMATS
from tests.test_bad_input import SETTINGS, _assert_clear_error, _check_with


# ------------------------------------------------------------ load
@pytest.fixture(scope="module")
def saved(tmp_path_factory):
    """A small saved forest: its bytes and its members."""
    path = tmp_path_factory.mktemp("saved") / "forest.skanomaly"
    rng = np.random.RandomState(0)
    save(IsolationForest(n_estimators=2, random_state=0).fit(rng.rand(20, 2)), path)
    with zipfile.ZipFile(path) as archive:
        members = {name: archive.read(name) for name in archive.namelist()}
    return path.read_bytes(), members


def _zip_of(members):
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        for name, data in members.items():
            archive.writestr(name, data)
    return buffer.getvalue()


def _assert_load_refuses(path):
    """``load(path)`` raises a ValueError that names the file (or loads an
    estimator: a corruption that left it intact, or a state that lacks
    parameters, test_load_refuses_a_state_without_parameters's bug)."""
    try:
        loaded = load(path)
    except ValueError as error:
        assert str(path) in str(error), f"the error does not name the file: {error}"
        _assert_clear_error(error, "load")
        return
    except Exception as error:
        raise AssertionError(
            f"load raised {type(error).__module__}.{type(error).__name__}, not a "
            f"ValueError naming the file: {str(error)[:300]}"
        ) from error
    assert isinstance(loaded, BaseEstimator), type(loaded)


def test_load_refuses_random_bytes(tmp_path):
    path = tmp_path / "random.skanomaly"

    def run(data):
        path.write_bytes(data)
        _assert_load_refuses(path)

    # With a zip's signature, a reader looks further before giving up.
    strategy = st.one_of(st.binary(max_size=600), st.binary(max_size=600).map(lambda b: b"PK\x03\x04" + b))
    _check_with(SETTINGS, strategy, [b"", b"PK\x05\x06" + b"\x00" * 18], run, 20)


def test_load_refuses_a_cut_file(saved, tmp_path):
    data, _ = saved
    path = tmp_path / "cut.skanomaly"

    def run(length):
        path.write_bytes(data[:length])
        _assert_load_refuses(path)

    _check_with(SETTINGS, st.integers(0, len(data) - 1), [0, 10, len(data) // 2, len(data) - 1], run, 15)


def test_load_refuses_a_corrupted_file(saved, tmp_path):
    data, _ = saved
    path = tmp_path / "corrupted.skanomaly"

    def run(case):
        position, flip = case
        corrupted = bytearray(data)
        corrupted[position % len(data)] ^= flip
        path.write_bytes(bytes(corrupted))
        _assert_load_refuses(path)

    # Bytes 28-29 of a zip are its first entry's extra-field length: the
    # reader then inflates from the wrong place.
    examples = [(28, 0xFF), (29, 0xFF)]
    _check_with(SETTINGS, st.tuples(st.integers(0, 10**6), st.integers(1, 255)), examples, run, 15)


_json = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=8),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner, max_size=3),
    max_leaves=8,
)
#: The tags the file's tree is written with, so that garbage reaches the
#: decoder's branches rather than failing at the first lookup.
_TAGS = ["array", "strings", "tuple", "dict", "float", "dtype", "scalar_type",
         "random_state", "estimator", "object"]
_CLASSES = ["sklearn.ensemble:IsolationForest", "skanomaly:AutoEncoder", "sklearn:__class__",
            "skanomaly.base:tukey_lower_fence", "os:system", "nocolon", "sklearn.tree._tree:Tree"]
_tagged = st.recursive(
    _json,
    lambda inner: st.dictionaries(st.sampled_from(_TAGS), inner, min_size=1, max_size=1)
    | st.tuples(st.sampled_from(_CLASSES), inner).map(list),
    max_leaves=8,
)


# A state without sklearn's version, as garbage has, makes it warn.
@pytest.mark.filterwarnings("ignore::sklearn.exceptions.InconsistentVersionWarning")
def test_load_refuses_garbage_json_in_a_zip(saved, tmp_path):
    _, members = saved
    path = tmp_path / "garbage.skanomaly"

    def run(case):
        estimator, keep_arrays = case
        manifest = {"format": 1, "versions": {"skanomaly": "0.0.0"}, "estimator": estimator}
        garbage = {"estimator.json": json.dumps(manifest)}
        if keep_arrays:
            garbage["arrays.npz"] = members["arrays.npz"]
        path.write_bytes(_zip_of(garbage))
        _assert_load_refuses(path)

    state = st.dictionaries(st.sampled_from(["estimator"]), st.tuples(
        st.sampled_from(_CLASSES),
        st.dictionaries(st.just("dict"), st.lists(st.tuples(st.text(max_size=8), _tagged).map(list),
                                                   max_size=3)),
    ).map(list), min_size=1)
    examples = [
        ({}, True), (5, True), ({"estimator": 5}, False),
        ({"estimator": ["nocolon", {"dict": []}]}, True),
        ({"estimator": ["os:system", {"dict": []}]}, True),
        ({"estimator": ["sklearn.ensemble:IsolationForest", {"dict": [["a", {"array": "a99"}]]}]}, True),
        ({"estimator": ["sklearn.ensemble:IsolationForest", {"dict": [["a", {"float": "x"}]]}]}, True),
    ]
    _check_with(SETTINGS, st.tuples(st.one_of(_tagged, state), st.booleans()), examples, run, 25)


def _npz_bytes(**arrays):
    buffer = io.BytesIO()
    np.savez(buffer, **arrays)
    return buffer.getvalue()


def _npy_bytes():
    buffer = io.BytesIO()
    np.save(buffer, np.zeros(3))
    return buffer.getvalue()


@pytest.mark.parametrize(
    "name, data",
    [
        ("estimator.json", b"[]"),
        ("estimator.json", b"null"),
        ("estimator.json", b'{"format": 1, "versions": []}'),
        ("estimator.json", b"\xff\xfe{"),
        ("estimator.json", b"[" * 100000 + b"]" * 100000),
        ("arrays.npz", b"garbage"),
        ("arrays.npz", "an npy"),
        ("arrays.npz", "objects"),
        ("estimator.json", b"{not json"),
        ("arrays.npz", None),
        ("arrays.npz", "empty"),
    ],
    ids=[
        "json list", "json null", "versions list", "json not utf-8", "json nested deep",
        "npz garbage", "npz is an npy", "npz of objects", "json syntax", "npz missing",
        "npz empty",
    ],
)
def test_load_refuses_a_bad_member(saved, tmp_path, name, data):
    _, members = saved
    members = dict(members)
    if data is None:
        del members[name]
    elif data == "an npy":
        members[name] = _npy_bytes()
    elif data == "objects":
        members[name] = _npz_bytes(a0=np.array([{}], dtype=object))
    elif data == "empty":
        members[name] = _npz_bytes()
    else:
        members[name] = data
    path = tmp_path / "bad.skanomaly"
    path.write_bytes(_zip_of(members))
    _assert_load_refuses(path)


@pytest.mark.filterwarnings("ignore::sklearn.exceptions.InconsistentVersionWarning")
def test_load_refuses_a_state_without_parameters(tmp_path):
    path = tmp_path / "empty_state.skanomaly"
    manifest = {"format": 1, "versions": {"skanomaly": "0.0.0"},
                "estimator": {"estimator": ["sklearn.ensemble:IsolationForest", {"dict": []}]}}
    path.write_bytes(_zip_of({"estimator.json": json.dumps(manifest), "arrays.npz": _npz_bytes()}))
    with pytest.raises(ValueError, match=str(path)):
        load(path)


# ------------------------------------------------------------ export
@pytest.fixture(scope="module")
def detector():
    from skanomaly import AutoEncoder

    return AutoEncoder(hidden_units=(2,), epochs=1, random_state=0).fit(
        np.random.RandomState(0).normal(size=(20, 3))
    )


def _assert_refused(call, *words):
    with pytest.raises(ValueError) as caught:
        call()
    _assert_clear_error(caught.value, "export")
    for word in words:
        assert word in str(caught.value), str(caught.value)


def test_export_refuses_a_bad_format(detector, tmp_path):
    def run(format):
        _assert_refused(lambda: detector.export(tmp_path / "e", format), "format")

    strategy = st.one_of(
        st.text(max_size=12), st.none(), st.integers(), st.floats(), st.binary(max_size=4),
        st.sampled_from(["SavedModel", "tflite", "onnx", " saved_model", "LITERT", "saved-model"]),
    ).filter(lambda f: f not in FORMATS)
    _check_with(SETTINGS, strategy, ["onnx", None, ""], run, 15)


def test_export_refuses_an_unhashable_format(detector, tmp_path):
    _assert_refused(lambda: detector.export(tmp_path / "e", ["saved_model"]), "format")


def test_export_refuses_a_bad_batch_size(detector, tmp_path):
    def run(case):
        format, batch_size = case
        _assert_refused(
            lambda: detector.export(tmp_path / "e", format, batch_size=batch_size), "batch_size"
        )

    strategy = st.tuples(
        st.sampled_from(sorted(FORMATS)),
        st.one_of(
            st.integers(max_value=0), st.floats(), st.text(max_size=3),
            st.sampled_from([np.float64(2.0), "1", b"1", [1], 2.5]),
        ),
    )
    _check_with(SETTINGS, strategy, [("saved_model", 0), ("litert", -1), ("saved_model", 1.5)], run, 15)


def test_export_refuses_a_bool_batch_size(detector, tmp_path):
    _assert_refused(lambda: detector.export(tmp_path / "e", batch_size=True), "batch_size")


def test_export_of_an_unfitted_detector_says_so(tmp_path):
    from skanomaly import AutoEncoder

    with pytest.raises(NotFittedError):
        AutoEncoder().export(tmp_path / "e")


def test_export_does_not_delete_a_users_folder(detector, tmp_path):
    folder = tmp_path / "my_work"
    folder.mkdir()
    (folder / "thesis.tex").write_text("years of work")
    try:
        detector.export(folder)
    except ValueError:
        pass
    assert (folder / "thesis.tex").exists()


# ------------------------------------------------------------ command line
def _run_cli(args):
    """The exit status and the lines written to stderr (warnings aside)."""
    out, err = io.StringIO(), io.StringIO()
    with warnings.catch_warnings(), contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        warnings.simplefilter("ignore")
        status = main(args)
    return status, err.getvalue().strip().splitlines()


def _assert_cli_outcome(args, output=None):
    status, lines = _run_cli(args)
    if status == 2:
        assert len(lines) == 1, f"{len(lines)} stderr lines: {lines[:5]}"
        assert lines[0].startswith(f"skanomaly {args[0]}: error: "), lines[0]
        _assert_clear_error(ValueError(lines[0]), f"skanomaly {args[0]}")
        return "refused"
    assert status == 0, status
    assert not lines, lines
    if output is not None:
        scores = pd.read_csv(output)
        assert np.isfinite(scores["score"]).all(), f"non-finite scores written: {scores['score'].tolist()}"
        assert np.isfinite(scores["decision"]).all()
    return "done"


_cells = st.one_of(
    st.floats(min_value=-1e6, max_value=1e6),
    st.integers(-10, 10),
    st.sampled_from(["", "nan", "NaN", "inf", "-inf", "1e400", "NA", "True", "x", " 1 ", "1,5", '"']),
    st.text(max_size=4),
)
_names = st.one_of(st.sampled_from(["a", "b", "c"]), st.text(max_size=4))


@st.composite
def _tables(draw):
    """CSV text: a header of 0-4 names (the model's a, b, c among them),
    then 0-5 rows of junk cells, sometimes ragged."""
    names = draw(st.lists(_names, min_size=0, max_size=4))
    rows = draw(st.lists(st.lists(_cells, min_size=0, max_size=5), max_size=5))
    frame = pd.DataFrame([row[: len(names)] + [""] * (len(names) - len(row)) for row in rows],
                         columns=names if names else None)
    text = frame.to_csv(index=False) if names else "\n".join(",".join(map(str, r)) for r in rows)
    return text


@pytest.fixture(scope="module")
def cli_model(tmp_path_factory):
    folder = tmp_path_factory.mktemp("cli")
    rng = np.random.RandomState(0)
    pd.DataFrame(rng.normal(size=(40, 3)), columns=["a", "b", "c"]).to_csv(folder / "good.csv", index=False)
    status, _ = _run_cli(["fit", "AutoEncoder", str(folder / "good.csv"), "-o", str(folder / "model"),
                          "--param", "epochs=2", "--param", "hidden_units=(2,)",
                          "--param", "random_state=0", "--quiet"])
    assert status == 0
    return folder


TABLE_EXAMPLES = [
    "", "a,b,c\n", "a,b,c\n1,2,\n3,4,5\n", "a,b,c\n1,x,3\n", "a,b,c\n1,2,3,4\n", 'a,b,c\n"1,2\n',
    "a,b,c\n1e400,1,2\n", "c,b,a\n1,2,3\n", "a,a,b\n1,2,3\n", "\n\n", "a,b,c\nTrue,False,True\n",
]


def test_fit_on_a_junk_table_exits_clearly(tmp_path):
    data = tmp_path / "junk.csv"

    def run(text):
        data.write_text(text)
        _assert_cli_outcome(["fit", "IsolationForest", str(data), "-o", str(tmp_path / "m"),
                             "--param", "n_estimators=3", "--quiet"])

    _check_with(SETTINGS, _tables(), TABLE_EXAMPLES, run, 15)


def test_fit_a_deep_detector_on_a_junk_table_exits_clearly(tmp_path):
    data = tmp_path / "junk.csv"

    def run(text):
        data.write_text(text)
        _assert_cli_outcome(["fit", "AutoEncoder", str(data), "-o", str(tmp_path / "m"),
                             "--param", "epochs=1", "--param", "hidden_units=(2,)", "--quiet"])

    examples = ["a,b\n1,2\n", "a,b\n1,2\n3,nan\n", "a,b\nx,1\n2,3\n", "a,b\n1e300,1\n-1e300,2\n"]
    _check_with(SETTINGS, _tables(), examples, run, 4)


def test_score_a_junk_table_exits_clearly_or_writes_finite_scores(cli_model):
    data, output = cli_model / "junk.csv", cli_model / "scores.csv"

    def run(text):
        data.write_text(text)
        _assert_cli_outcome(["score", str(cli_model / "model"), str(data), "-o", str(output), "--quiet"],
                            output)

    _check_with(SETTINGS, _tables(), TABLE_EXAMPLES + ["a,b,c\n1,2,3\n"], run, 20)


def test_score_huge_values_exits_clearly_or_writes_finite_scores(cli_model):
    data, output = cli_model / "huge.csv", cli_model / "scores.csv"
    data.write_text("a,b,c\n1e300,1e300,-1e300\n1,2,3\n")
    _assert_cli_outcome(["score", str(cli_model / "model"), str(data), "-o", str(output), "--quiet"],
                        output)


def test_score_with_a_junk_model_exits_clearly(cli_model, tmp_path):
    model = tmp_path / "junk_model"

    def run(data):
        model.write_bytes(data)
        _assert_cli_outcome(["score", str(model), str(cli_model / "good.csv"), "-o",
                             str(tmp_path / "s.csv"), "--quiet"])

    _check_with(SETTINGS, st.binary(max_size=200), [b"", b"PK\x03\x04"], run, 8)


def test_fit_on_a_folder_of_junk_images_exits_clearly(tmp_path):
    folder = tmp_path / "images"
    folder.mkdir()

    def run(contents):
        for old in folder.iterdir():
            old.unlink()
        for i, data in enumerate(contents):
            (folder / f"{i}.png").write_bytes(data)
        _assert_cli_outcome(["fit", "IsolationForest", str(folder), "-o", str(tmp_path / "m"), "--quiet"])

    _check_with(SETTINGS, st.lists(st.binary(max_size=64), max_size=3), [[], [b""], [b"\x89PNG"]], run, 6)


@pytest.mark.parametrize("command", ["fit", "score"])
def test_an_output_path_that_is_a_folder_exits_clearly(cli_model, tmp_path, command):
    model = cli_model / "model"
    args = (["fit", "IsolationForest", str(cli_model / "good.csv")] if command == "fit"
            else ["score", str(model), str(cli_model / "good.csv")])
    assert _assert_cli_outcome([*args, "-o", str(tmp_path), "--quiet"]) == "refused"


def test_score_with_a_corrupted_model_exits_clearly(cli_model, tmp_path):
    corrupted = bytearray((cli_model / "model").read_bytes())
    corrupted[28] ^= 0xFF
    model = tmp_path / "corrupted"
    model.write_bytes(bytes(corrupted))
    _assert_cli_outcome(["score", str(model), str(cli_model / "good.csv"), "-o", str(tmp_path / "s.csv"),
                         "--quiet"])
