"""Device placement, GPU memory growth and tf.distribute in the engine.

No test needs a GPU: GPUs are faked by patching TensorFlow's device lists
(TensorFlow's soft placement then runs "GPU" work on the CPU), and the
multi-device test configures two logical CPUs in a fresh process.
"""

import pickle
import subprocess
import sys
import textwrap

import numpy as np
import pytest
from sklearn.base import clone

from skanomaly import AutoEncoder
from skanomaly.engine import _devices
from skanomaly.engine._backend import tf


def small(**params):
    base = dict(hidden_units=(4, 2), epochs=2, random_state=0)
    base.update(params)
    return AutoEncoder(**base)


@pytest.fixture
def X():
    return np.random.RandomState(0).normal(size=(40, 4))


@pytest.fixture
def two_gpus(monkeypatch):
    """TensorFlow in this process "sees" two GPUs."""
    real = tf.config.list_logical_devices

    def logical_devices(device_type=None):
        if device_type == "GPU":
            return [tf.config.LogicalDevice(f"/device:GPU:{i}", "GPU") for i in range(2)]
        return real(device_type)

    monkeypatch.setattr(tf.config, "list_logical_devices", logical_devices)
    monkeypatch.delenv("CUDA_VISIBLE_DEVICES", raising=False)


@pytest.fixture
def no_gpu(monkeypatch):
    real = tf.config.list_logical_devices
    monkeypatch.setattr(
        tf.config,
        "list_logical_devices",
        lambda device_type=None: [] if device_type == "GPU" else real(device_type),
    )


# ------------------------------------------------------------- device
@pytest.mark.parametrize("device", ["tpu", "gpu:", "GPU:0", "gpu:-1", "cuda", 0])
def test_malformed_device_is_an_invalid_parameter(X, device):
    with pytest.raises(ValueError, match=r"'device' parameter of AutoEncoder .*'gpu:N'"):
        small(device=device).fit(X)


def test_missing_gpu_error_names_the_devices_that_exist(X, two_gpus, monkeypatch):
    with pytest.raises(
        ValueError,
        match=r"device='gpu:2' asks for GPU number 2, but TensorFlow in this "
        r"process sees only 'cpu', 'gpu:0', 'gpu:1'\. Use device='auto'",
    ):
        small(device="gpu:2").fit(X)
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "4,6")
    with pytest.raises(ValueError, match=r"\(CUDA_VISIBLE_DEVICES='4,6'\)"):
        small(device="gpu:2").fit(X)


def test_gpu_without_any_gpu_is_refused(X, no_gpu):
    with pytest.raises(ValueError, match=r"device='gpu' asks for a GPU, but .* only 'cpu'\."):
        small(device="gpu").fit(X)


def test_devices_train_the_same_network(X, two_gpus):
    # On this CPU-only machine "gpu:1" is placed on the CPU (soft
    # placement): the scores are those of the default placement.
    detector = small(device="gpu:1").fit(X)
    assert detector._scoring_device == "/GPU:1"
    expected = small().fit(X).score_samples(X)
    np.testing.assert_array_equal(detector.score_samples(X), expected)


def test_fitted_detector_scores_where_its_gpu_is_missing(X, two_gpus, monkeypatch):
    detector = small(device="gpu:1").fit(X)
    expected = detector.score_samples(X)
    data = pickle.dumps(detector)
    monkeypatch.setattr(tf.config, "list_logical_devices", lambda device_type=None: [])
    restored = pickle.loads(data)  # say, on a laptop without GPUs
    assert restored._scoring_device is None
    np.testing.assert_array_equal(restored.score_samples(X), expected)


def test_check_device_names():
    assert _devices.check_device("auto", "X") is None
    assert _devices.check_device("cpu", "X") == "/CPU:0"


# ------------------------------------------------------- memory growth
class FakeGPU:
    def __init__(self, name):
        self.name = name


@pytest.fixture
def growth_calls(monkeypatch):
    calls = []
    gpus = [FakeGPU("/physical_device:GPU:0"), FakeGPU("/physical_device:GPU:1")]
    real = tf.config.list_physical_devices
    monkeypatch.setattr(
        tf.config,
        "list_physical_devices",
        lambda device_type=None: gpus if device_type == "GPU" else real(device_type),
    )
    monkeypatch.setattr(
        tf.config.experimental,
        "set_memory_growth",
        lambda gpu, enable: calls.append((gpu.name, enable)),
    )
    monkeypatch.setattr(_devices, "_growth_done", False)
    monkeypatch.delenv("TF_FORCE_GPU_ALLOW_GROWTH", raising=False)
    return calls


def test_memory_growth_is_enabled_once_on_every_gpu(growth_calls):
    _devices.enable_memory_growth()
    _devices.enable_memory_growth()
    assert growth_calls == [
        ("/physical_device:GPU:0", True),
        ("/physical_device:GPU:1", True),
    ]


def test_memory_growth_can_be_turned_off(growth_calls, monkeypatch):
    monkeypatch.setenv("TF_FORCE_GPU_ALLOW_GROWTH", "false")
    _devices.enable_memory_growth()
    assert growth_calls == []


def test_memory_growth_after_gpus_started_is_left_alone(growth_calls, monkeypatch):
    def started(gpu, enable):
        raise RuntimeError("Physical devices cannot be modified after being initialized")

    monkeypatch.setattr(tf.config.experimental, "set_memory_growth", started)
    _devices.enable_memory_growth()  # no error


def test_a_fit_turns_memory_growth_on(growth_calls, X):
    # Where it matters: before a detector first places anything, not at import.
    AutoEncoder(hidden_units=(4, 2), epochs=1, random_state=0).fit(X)
    assert growth_calls == [
        ("/physical_device:GPU:0", True),
        ("/physical_device:GPU:1", True),
    ]


def test_a_users_memory_growth_setting_is_left_to_tensorflow(growth_calls, monkeypatch):
    monkeypatch.setenv("TF_FORCE_GPU_ALLOW_GROWTH", "true")
    _devices.enable_memory_growth()
    assert growth_calls == []


@pytest.mark.parametrize(
    "cuda, visible, expected",
    [
        (None, [0, 1], ["0", "1"]),
        ("2,5", [0, 1], ["2", "5"]),
        ("2,5", [1], ["5"]),  # GPU 0 hidden with tf.config.set_visible_devices
        (" 3 ,GPU-8f2a", [0, 1], ["3", "GPU-8f2a"]),
    ],
)
def test_visible_gpu_ids_are_cuda_ids(monkeypatch, cuda, visible, expected):
    monkeypatch.setattr(
        tf.config,
        "get_visible_devices",
        lambda device_type=None: [FakeGPU(f"/physical_device:GPU:{i}") for i in visible],
    )
    if cuda is None:
        monkeypatch.delenv("CUDA_VISIBLE_DEVICES", raising=False)
    else:
        monkeypatch.setenv("CUDA_VISIBLE_DEVICES", cuda)
    assert _devices.visible_gpu_ids() == expected


# ---------------------------------------------------------- distribute
def test_replica_batches_split_evenly():
    tf.random.set_seed(0)  # the shuffle's seeds also depend on this one
    x = np.arange(11, dtype=np.float32)
    dataset, steps = _devices.replica_dataset(x, 4, 2, shuffle_seed=0)
    assert steps == 3  # 10 of the 11 samples a pass, in batches of 4, 4, 2
    batches = [b.numpy() for b in dataset.take(8 * steps)]
    assert [len(b) for b in batches] == [4, 4, 2] * 8
    passes = [np.concatenate(batches[i : i + 3]) for i in range(0, 24, 3)]
    assert all(len(set(p)) == 10 for p in passes)
    # Another sample is left out at some pass: all of them are used.
    assert len(set(np.concatenate(passes))) == 11


def test_replica_batches_need_a_sample_per_replica():
    with pytest.raises(ValueError, match="3 samples cannot be split over 4 replicas"):
        _devices.replica_dataset(np.zeros(3), 8, 4)


def test_device_and_distribute_together_are_refused(X):
    strategy = tf.distribute.OneDeviceStrategy("/cpu:0")
    with pytest.raises(ValueError, match="Leave device='auto' when distribute"):
        small(device="cpu", distribute=strategy).fit(X)


def test_distribute_must_be_a_strategy(X):
    with pytest.raises(ValueError, match="'distribute' parameter of AutoEncoder"):
        small(distribute="mirrored").fit(X)


def test_strategy_is_cloned_and_dropped_by_pickle(X):
    strategy = tf.distribute.OneDeviceStrategy("/cpu:0")
    detector = small(distribute=strategy).fit(X)
    expected = detector.score_samples(X)
    # clone copies the strategy (GridSearchCV with n_jobs=1 keeps it).
    copy = clone(detector)
    assert isinstance(copy.distribute, tf.distribute.OneDeviceStrategy)
    with pytest.warns(UserWarning, match="distribute=None"):
        restored = pickle.loads(pickle.dumps(detector))
    assert restored.distribute is None
    assert detector.distribute is strategy  # the original keeps it
    np.testing.assert_array_equal(restored.score_samples(X), expected)


def test_warm_start_moves_the_network_to_a_new_strategy(X):
    strategy = tf.distribute.OneDeviceStrategy("/cpu:0")
    detector = small(distribute=strategy, warm_start=True, validation_fraction=0.0)
    detector.fit(X)
    assert detector.model_.distribute_strategy is strategy
    detector.set_params(distribute=None).fit(X)
    assert detector.model_.distribute_strategy is tf.distribute.get_strategy()
    # Weights and optimizer state were carried over.
    assert detector.n_epochs_ == 4
    assert int(detector.model_.optimizer.iterations.numpy()) == 2 * 2


MIRRORED = textwrap.dedent(
    """
    import json, sys
    import numpy as np
    import tensorflow as tf

    # Two logical CPUs stand for two GPUs; this must come before anything
    # starts TensorFlow's runtime.
    (cpu,) = tf.config.list_physical_devices("CPU")
    tf.config.set_logical_device_configuration(
        cpu, [tf.config.LogicalDeviceConfiguration()] * 2
    )
    from skanomaly import AutoEncoder

    strategy = tf.distribute.MirroredStrategy(["/cpu:0", "/cpu:1"])
    # 46 training samples in batches of 32 and 14, which split evenly; 19
    # validation samples, which do not (Keras' distributed loop fails on a
    # first batch that does not split evenly; the engine leaves one out).
    X = np.random.RandomState(0).normal(size=(65, 6))
    params = dict(hidden_units=(8, 2), epochs=2, batch_size=32, learning_rate=0.01,
                  validation_fraction=0.3, trim_fraction=0.0, random_state=0)
    one = AutoEncoder(**params).fit(X)
    two = AutoEncoder(**params, distribute=strategy).fit(X)
    json.dump({
        "one": one.score_samples(X).tolist(), "two": two.score_samples(X).tolist(),
        "one_history": one.history_, "two_history": two.history_,
        "replicas": strategy.num_replicas_in_sync,
    }, sys.stdout)
    """
)


def test_mirrored_training_on_two_devices_matches_one_device():
    # Same batches, same seeds: only the order of float32 sums differs
    # (measured: 4e-8 relative on the scores), so 1e-5 is a safe bound. Without each
    # replica's loss divided by the number of replicas, the gradients and
    # the recorded losses would be twice as large.
    out = subprocess.run(
        [sys.executable, "-c", MIRRORED], check=True, capture_output=True, text=True
    ).stdout
    import json

    result = json.loads(out)
    assert result["replicas"] == 2
    np.testing.assert_allclose(result["two"], result["one"], rtol=1e-5)
    np.testing.assert_allclose(
        result["two_history"]["loss"], result["one_history"]["loss"], rtol=1e-5
    )
    # 18 of the 19 validation samples: close, not equal.
    np.testing.assert_allclose(
        result["two_history"]["val_loss"], result["one_history"]["val_loss"], rtol=0.1
    )
