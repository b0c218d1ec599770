"""Exporting a detector's scoring as a SavedModel or a LiteRT model."""

import json
import subprocess
import sys

import numpy as np
import pytest
from numpy.testing import assert_allclose, assert_array_equal
from sklearn.exceptions import NotFittedError

from skanomaly import AutoEncoder, ConvAutoEncoder, LSTMAutoEncoder, PaDiM, SynthesizeCompare
from skanomaly.engine._backend import tf

# tf.lite.Interpreter warns that it moves to the ai_edge_litert package,
# which runs the same files; the tests use the one TensorFlow brings.
pytestmark = pytest.mark.filterwarnings("ignore:.*tf.lite.Interpreter is deprecated")

FAST = dict(epochs=2, random_state=0)
#: LiteRT computes in float32: its scores within this share of the largest
#: |score| of the detector's (measured: about 2e-7 for these detectors).
LITERT_RTOL = 1e-5


@pytest.fixture(scope="module")
def rows():
    rng = np.random.RandomState(0)
    X = rng.normal(size=(60, 6))
    return AutoEncoder(hidden_units=(8, 2), **FAST).fit(X), X


@pytest.fixture(scope="module")
def images():
    X = np.random.RandomState(0).rand(12, 8, 8)
    return ConvAutoEncoder(latent_dim=2, validation_fraction=0.0, **FAST).fit(X), X


@pytest.fixture(scope="module")
def sequences():
    X = np.random.RandomState(0).rand(16, 12)
    return LSTMAutoEncoder(hidden_units=(4,), validation_fraction=0.0, **FAST).fit(X), X


def _run_saved_model(path, name, x):
    signature = tf.saved_model.load(str(path)).signatures[name]
    dtype = signature.structured_input_signature[1]["x"].dtype
    return signature(x=tf.constant(x, dtype))["output"].numpy()


def _run_litert(path, name, x):
    interpreter = tf.lite.Interpreter(model_path=str(path))
    return interpreter.get_signature_runner(name)(x=np.asarray(x, np.float32))["output"]


def _close_in_float32(got, expected):
    assert_allclose(got, expected, rtol=0, atol=LITERT_RTOL * np.abs(expected).max())


#: A float32 detector scores in batches of one size (64 rows); the
#: SavedModel takes the batch as given, and float32 kernels sum in another
#: order for another batch size (measured: 6.5e-8 of the largest score).
SAVED_FLOAT32_RTOL = 1e-6


def _as_the_detector(detector, got, expected):
    """The SavedModel's output against the detector's: equal in float64, to
    float32 rounding otherwise."""
    if detector._scoring_dtype == "float64":
        assert_array_equal(got, expected)
    else:
        assert_allclose(got, expected, rtol=0, atol=SAVED_FLOAT32_RTOL * np.abs(expected).max())


@pytest.mark.parametrize("case", ["rows", "images"])
def test_both_exports_score_as_the_detector(case, request, tmp_path):
    detector, X = request.getfixturevalue(case)
    x = detector._validate_input(X, reset=False)
    saved = detector.export(tmp_path / "model")
    litert = detector.export(tmp_path / "model.tflite", format="litert")

    # The SavedModel runs the detector's own compiled scoring functions.
    _as_the_detector(detector, _run_saved_model(saved, "score_samples", x), detector.score_samples(X))
    # Less the offset in the scores' own precision (float32 for images).
    _close_in_float32(_run_saved_model(saved, "decision_function", x), detector.decision_function(X))
    _close_in_float32(_run_litert(litert, "score_samples", x), detector.score_samples(X))
    _close_in_float32(_run_litert(litert, "decision_function", x), detector.decision_function(X))
    if case == "images":
        maps = detector.anomaly_map(X)
        _as_the_detector(detector, _run_saved_model(saved, "anomaly_map", x), maps)
        _close_in_float32(_run_litert(litert, "anomaly_map", x), maps)


def test_a_sequence_detector_exports_and_needs_a_fixed_batch_in_litert(sequences, tmp_path):
    detector, X = sequences
    x = detector._validate_input(X, reset=False)
    saved = detector.export(tmp_path / "model")
    _as_the_detector(detector, _run_saved_model(saved, "score_samples", x), detector.score_samples(X))
    _as_the_detector(detector, _run_saved_model(saved, "anomaly_map", x), detector.anomaly_map(X))

    with pytest.raises(ValueError, match="recurrent layers need a fixed batch size.*batch_size=1"):
        detector.export(tmp_path / "model.tflite", format="litert")
    litert = detector.export(tmp_path / "model.tflite", format="litert", batch_size=1)
    one_at_a_time = np.concatenate([_run_litert(litert, "score_samples", row[None]) for row in x])
    _close_in_float32(one_at_a_time, detector.score_samples(X))


def test_the_export_says_what_it_takes(rows, images, tmp_path):
    detector, _ = images
    saved = detector.export(tmp_path / "model")
    info = json.loads((saved / "assets" / "skanomaly_export.json").read_text())
    assert info["input"] == {"name": "x", "shape": [None, 8, 8, 1], "dtype": "float32"}
    assert info["signatures"] == ["anomaly_map", "decision_function", "score_samples"]
    assert info["offset"] == detector.offset_

    detector, _ = rows
    litert = detector.export(tmp_path / "rows.tflite", format="litert", batch_size=4)
    info = json.loads((tmp_path / "rows.tflite.json").read_text())
    assert info["input"] == {"name": "x", "shape": [4, 6], "dtype": "float32"}
    assert info["signatures"] == ["decision_function", "score_samples"]
    assert litert.stat().st_size > 0


def test_a_saved_model_runs_without_skanomaly(rows, tmp_path):
    detector, X = rows
    saved = detector.export(tmp_path / "model")
    np.save(tmp_path / "x.npy", detector._validate_input(X, reset=False))
    script = (
        "import sys; sys.modules['skanomaly'] = None\n"  # importing it would fail
        "import numpy as np, tensorflow as tf\n"
        f"model = tf.saved_model.load({str(saved)!r})\n"
        f"x = tf.constant(np.load({str(tmp_path / 'x.npy')!r}))\n"
        f"np.save({str(tmp_path / 'scores.npy')!r}, model.signatures['score_samples'](x=x)['output'].numpy())\n"
    )
    subprocess.run([sys.executable, "-c", script], check=True, capture_output=True)
    assert_array_equal(np.load(tmp_path / "scores.npy"), detector.score_samples(X))


def test_an_operation_litert_lacks_is_named(tmp_path):
    X = np.random.RandomState(0).rand(8, 8, 8)
    detector = PaDiM(weights=None, input_size=32, n_features=10, random_state=0).fit(X)
    # Its input is resized with antialiasing on the way into the backbone.
    with pytest.raises(ValueError, match=r"PaDiM cannot be exported to LiteRT.*ScaleAndTranslate.*SavedModel"):
        detector.export(tmp_path / "model.tflite", format="litert")
    saved = detector.export(tmp_path / "model")
    x = detector._validate_input(X, reset=False)
    _as_the_detector(detector, _run_saved_model(saved, "score_samples", x), detector.score_samples(X))


def test_bad_export_arguments(rows, tmp_path):
    detector, _ = rows
    with pytest.raises(NotFittedError):
        AutoEncoder().export(tmp_path / "model")
    with pytest.raises(ValueError, match=r"format must be one of \['litert', 'saved_model'\], got 'onnx'"):
        detector.export(tmp_path / "model", format="onnx")
    with pytest.raises(ValueError, match="batch_size must be None or a positive integer, got 0"):
        detector.export(tmp_path / "model", batch_size=0)


def test_a_detector_that_scores_outside_its_network_is_not_exported(rows, tmp_path):
    detector, X = rows

    class Postprocessed(AutoEncoder):
        def _score_samples(self, X):
            return np.tanh(super()._score_samples(X))

    other = Postprocessed(hidden_units=(8, 2), **FAST).fit(X)
    with pytest.raises(ValueError, match="not computed by its network alone"):
        other.export(tmp_path / "model")

    # Its network takes the images with a segmentation made by scikit-learn.
    images = np.random.RandomState(0).rand(8, 8, 8)
    segmenting = SynthesizeCompare(filters=(4,), epochs=1, random_state=0).fit(images)
    with pytest.raises(ValueError, match="SynthesizeCompare cannot be exported"):
        segmenting.export(tmp_path / "model")
