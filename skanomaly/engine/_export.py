"""Exporting a fitted detector's scoring as a TensorFlow SavedModel or a
LiteRT (TFLite) model, runnable without skanomaly.

The exported functions are the detector's own compiled scoring functions
(the ones ``score_samples`` and ``anomaly_map`` run in chunks), so an
export scores as the detector does: the fitted scaling, the network and,
for detectors on a memory bank or a Gaussian, those constants, all inside.
"""

import copy
import json
import re
import shutil
import tempfile
from pathlib import Path

from ._backend import tf

#: The formats of ``export`` and what each writes.
FORMATS = {
    "saved_model": "a SavedModel directory",
    "litert": "a LiteRT (TFLite) flat buffer file",
}

#: The file (in a SavedModel's assets, beside a LiteRT file) that says what
#: the export takes and returns.
INFO_NAME = "skanomaly_export.json"


def _signatures(detector, batch_size):
    """name -> concrete function of one batch: the score, its difference
    from the threshold, and the anomaly map where the detector has one."""
    scorer = detector._scorer
    offset = tf.constant(detector.offset_, tf.as_dtype(scorer.dtype))
    score = scorer.concrete_function(batch_size)

    def decision_function(x):
        return score(x) - offset

    functions = {
        "score_samples": score,
        "decision_function": tf.function(decision_function).get_concrete_function(
            score.structured_input_signature[0][0]
        ),
    }
    if "anomaly_map" in detector._mappers:
        functions["anomaly_map"] = detector._mappers["anomaly_map"].concrete_function(batch_size)
    return functions


def _info(detector, functions, format, batch_size):
    import skanomaly

    some = next(iter(functions.values()))
    return {
        "detector": type(detector).__name__,
        "skanomaly": skanomaly.__version__,
        "tensorflow": tf.__version__,
        "format": format,
        "input": {
            "name": "x",
            "shape": [batch_size, *detector._sample_shape_],
            "dtype": some.inputs[0].dtype.name,
        },
        "signatures": sorted(functions),
        "offset": float(detector.offset_),
    }


def _write_saved_model(detector, directory, batch_size):
    functions = _signatures(detector, batch_size)
    module = tf.Module()
    # The variables the functions read, tracked so that they are saved
    # with them (the network itself holds optimizers, which are not).
    networks = [detector._scoring_network, *(detector._frozen_ or {}).values()]
    module.held = [variable.value for network in networks for variable in network.variables]
    tf.saved_model.save(
        module,
        str(directory),
        signatures={name: _named_input(function) for name, function in functions.items()},
    )
    return functions


def _named_input(concrete):
    """The signature with its input called ``x`` and its output ``output``."""
    spec = tf.TensorSpec(concrete.inputs[0].shape, concrete.inputs[0].dtype, name="x")
    return tf.function(lambda x: {"output": concrete(x)}, input_signature=[spec]).get_concrete_function()


def export_detector(detector, path, format, batch_size=None):
    """Write ``detector``'s scoring to ``path`` in ``format`` (see
    :data:`FORMATS`), for batches of ``batch_size`` samples (any number
    for None); returns the path written."""
    path = Path(path)
    _check_replaceable(path, format)
    if format == "saved_model":
        if path.exists():
            shutil.rmtree(path)
        functions = _write_saved_model(detector, path, batch_size)
        (path / "assets").mkdir(exist_ok=True)
        (path / "assets" / INFO_NAME).write_text(
            json.dumps(_info(detector, functions, format, batch_size), indent=2)
        )
        return path
    # LiteRT computes in float32: score through the trained network itself.
    as_float32 = _float32_copy(detector)
    with tempfile.TemporaryDirectory() as staging:
        functions = _write_saved_model(as_float32, Path(staging) / "model", batch_size)
        converter = tf.lite.TFLiteConverter.from_saved_model(
            str(Path(staging) / "model"), signature_keys=sorted(functions)
        )
        try:
            flat_buffer = converter.convert()
        except Exception as error:  # the converter raises untyped errors
            raise ValueError(_litert_failure(detector, str(error), batch_size)) from None
    path.write_bytes(flat_buffer)
    path.with_name(path.name + ".json").write_text(
        json.dumps(_info(as_float32, functions, format, batch_size), indent=2)
    )
    return path


def _check_replaceable(path, format):
    """Refuse to write over anything but an earlier export of ``format``
    (or an empty folder, for a SavedModel): ``export(".")`` must not
    delete the user's files."""
    if not path.exists():
        return
    if format == "saved_model":
        earlier = path.is_dir() and (
            not any(path.iterdir()) or (path / "assets" / INFO_NAME).is_file()
        )
    else:
        earlier = path.is_file() and path.with_name(path.name + ".json").is_file()
    if not earlier:
        raise ValueError(
            f"{path} exists and is not an earlier skanomaly export; export "
            "replaces only those. Choose a new path, or remove it first."
        )


def _litert_failure(detector, message, batch_size):
    """What to tell a user whose detector LiteRT's converter refused."""
    missing = sorted(set(re.findall(r"'tf\.(\w+)' op", message)))
    what = f" ({', '.join(missing)})" if missing else ""
    advice = "Export it as a SavedModel instead."
    if "TensorList" in message and batch_size is None:
        # Recurrent layers loop over time with lists of tensors, which
        # LiteRT can lower only for a batch of a fixed size.
        advice = (
            "Its recurrent layers need a fixed batch size in LiteRT: pass "
            "batch_size=1 (or the size you will score), or export it as a "
            "SavedModel."
        )
    return (
        f"{type(detector).__name__} cannot be exported to LiteRT: its "
        f"scoring uses TensorFlow operations that LiteRT's built-in "
        f"operations do not cover{what}. {advice}"
    )


def _float32_copy(detector):
    """A shallow copy of ``detector`` that scores through its float32
    trained network (the copy's own scorer; the detector is left as is)."""
    if detector._scoring_dtype == "float32":
        return detector
    twin = copy.copy(detector)
    twin._scoring_dtype = "float32"
    twin._scorer = twin._make_scorer()
    return twin
