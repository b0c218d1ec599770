"""What importing skanomaly and fitting a detector do to the process."""

import json
import os
import subprocess
import sys
import textwrap
import warnings

import numpy as np
import pytest

from skanomaly import AutoEncoder
from skanomaly.engine import _seeding, keras
from skanomaly.engine._backend import _NATIVE_NOISE, quiet_native_logs, tf


def _run(code, env_drop=(), env_set=None):
    import os

    env = {k: v for k, v in os.environ.items() if k not in env_drop}
    env.update(env_set or {})
    out = subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code)],
        check=True, capture_output=True, text=True, env=env,
    ).stdout
    return json.loads(out.strip().splitlines()[-1])


IMPORT_AND_FIT = """
    import json, os, logging
    before = dict(os.environ)
    import skanomaly.engine
    import tensorflow as tf
    after_import = dict(os.environ)
    filters = list(tf.get_logger().filters)
    import numpy as np
    from skanomaly import AutoEncoder
    AutoEncoder(hidden_units=(4, 2), epochs=1, random_state=0).fit(np.zeros((20, 3)))
    print(json.dumps({
        "changed_by_import": sorted(k for k in set(before) | set(after_import)
                                    if before.get(k) != after_import.get(k)),
        "changed_by_fit": sorted(k for k in set(before) | set(os.environ)
                                 if before.get(k) != os.environ.get(k)),
        "filters_after_import": len(filters),
        "filters_after_fit": len(tf.get_logger().filters),
        "backend": skanomaly.engine.keras.backend.backend(),
    }))
"""


def test_importing_and_fitting_leave_the_environment_alone():
    result = _run(
        IMPORT_AND_FIT,
        env_drop=("TF_CPP_MIN_LOG_LEVEL", "KERAS_BACKEND", "TF_FORCE_GPU_ALLOW_GROWTH"),
    )
    assert result["changed_by_import"] == []
    assert result["changed_by_fit"] == []
    # The retracing filter is on TensorFlow's logger only during a fit.
    assert result["filters_after_import"] == 0
    assert result["filters_after_fit"] == 0
    assert result["backend"] == "tensorflow"


def test_what_the_user_set_is_kept():
    user = {"TF_CPP_MIN_LOG_LEVEL": "0", "KERAS_BACKEND": "tensorflow",
            "TF_FORCE_GPU_ALLOW_GROWTH": "false"}
    result = _run(
        IMPORT_AND_FIT.replace(
            '"backend":', '"values": {k: os.environ.get(k) for k in %r}, "backend":' % list(user)
        ),
        env_set=user,
    )
    assert result["values"] == user
    assert result["changed_by_import"] == result["changed_by_fit"] == []


def test_importing_and_fitting_print_no_native_start_up_notes():
    # Without the filter, TensorFlow's C++ core prints "Could not find cuda
    # drivers", oneDNN's note and "failed call to cuInit" here (no GPU).
    env = {k: v for k, v in os.environ.items() if k != "TF_CPP_MIN_LOG_LEVEL"}
    code = """
        import numpy as np
        import skanomaly
        skanomaly.AutoEncoder(hidden_units=(4, 2), epochs=1, random_state=0).fit(np.zeros((20, 3)))
    """
    done = subprocess.run([sys.executable, "-c", textwrap.dedent(code)], check=True,
                          capture_output=True, text=True, env=env)
    assert _NATIVE_NOISE.search(done.stderr) is None, done.stderr
    assert "cuda" not in done.stderr.lower() and "oneDNN" not in done.stderr


def test_the_native_filter_drops_the_notes_and_keeps_the_rest(capfd):
    with quiet_native_logs():
        os.write(2, b"I0000 00:00:1 1 port.cc:153] oneDNN custom operations are on. ...\n")
        os.write(2, b"I0000 00:00:1 1 cudart_stub.cc:31] Could not find cuda drivers\n")
        os.write(2, b"E0000 00:00:1 1 some_kernel.cc:12] a real error\n")
        print("a Python warning", file=sys.stderr)
    err = capfd.readouterr().err
    assert "oneDNN" not in err and "cuda drivers" not in err
    assert "a real error" in err and "a Python warning" in err


def test_another_keras_backend_is_refused_clearly():
    code = """
        import json
        try:
            import skanomaly.engine
        except ImportError as error:
            print(json.dumps({"error": str(error)}))
    """
    # Keras' NumPy backend needs nothing more installed.
    result = _run(code, env_set={"KERAS_BACKEND": "numpy"})
    assert "need Keras on the TensorFlow backend" in result["error"]


def test_the_retracing_filter_is_there_during_a_fit_only():
    seen = []

    class Look(keras.callbacks.Callback):
        def on_train_begin(self, logs=None):
            seen.append(len(tf.get_logger().filters))

    before = len(tf.get_logger().filters)
    AutoEncoder(hidden_units=(4, 2), epochs=1, callbacks=[Look()], random_state=0).fit(
        np.random.RandomState(0).normal(size=(20, 3))
    )
    assert seen == [before + 1]
    assert len(tf.get_logger().filters) == before


def test_a_keras_without_its_seed_generator_is_said(monkeypatch):
    from keras.src.random import seed_generator

    monkeypatch.delattr(seed_generator, "python_random")
    monkeypatch.setattr(_seeding, "_warned_moved", False)
    with pytest.warns(RuntimeWarning, match="keeps its default seeds elsewhere"):
        with _seeding.own_default_seeds(0):
            pass
    # Said once a process.
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        with _seeding.own_default_seeds(0):
            pass
