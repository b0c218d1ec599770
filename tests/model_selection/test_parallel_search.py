"""Grid searches spread over worker processes: joblib's loky workers pinned
to GPUs round robin (spread_over_gpus), and a Dask cluster that loses a
worker in the middle of a search.

Every search here is tiny (2 candidates x 2 folds of a small AutoEncoder);
what costs time is starting worker processes that import TensorFlow. This
module imports TensorFlow only inside its tests (not at the top), so that
the workers that merely report their environment start quickly.
"""

import os
import signal
import subprocess
import sys
import threading
import time

import joblib
import numpy as np
import pytest
from sklearn.model_selection import GridSearchCV

from skanomaly.metrics import anomaly_roc_auc_scorer
from skanomaly.model_selection import NoveltySplit, _parallel, spread_over_gpus

# Patched by name, so that TensorFlow is imported in this process only.
VISIBLE_GPU_IDS = "skanomaly.engine._devices.visible_gpu_ids"
SCORE_KEYS = ["split0_test_score", "split1_test_score", "mean_test_score"]


@pytest.fixture(scope="module")
def data():
    # Anomalies close to the normals, so that the fold scores are not all
    # 1.0 and an equality of scores says something.
    rng = np.random.RandomState(0)
    X = np.r_[rng.normal(size=(60, 4)), rng.normal(1.5, 1.0, size=(12, 4))]
    y = np.r_[np.zeros(60), np.ones(12)]
    return X, y


def make_search(n_jobs=None):
    from skanomaly import AutoEncoder

    return GridSearchCV(
        AutoEncoder(hidden_units=(4, 2), epochs=2, validation_fraction=0.0, random_state=0),
        {"learning_rate": [1e-3, 3e-2]},
        cv=NoveltySplit(n_splits=2, random_state=0),
        scoring=anomaly_roc_auc_scorer,
        refit=False,
        n_jobs=n_jobs,
    )


@pytest.fixture(scope="module")
def serial(data):
    return make_search().fit(*data).cv_results_


def assert_same_scores(results, expected):
    for key in SCORE_KEYS:
        np.testing.assert_array_equal(results[key], expected[key], err_msg=key)
    # The scores are not trivially equal (all 1.0, say).
    assert len(set(expected["mean_test_score"])) == 2


def worker_environment():
    return (
        os.getpid(),
        os.environ.get("CUDA_VISIBLE_DEVICES"),
        os.environ.get("SKANOMALY_WORKER_SLOT"),
        os.environ.get("TF_NUM_INTRAOP_THREADS"),
    )


# Sent to the workers by value, so that they need not import this module
# (and scikit-learn) to run it: a worker that only reports starts quickly.
worker_environment.__module__ = "__main__"


def environments(n_jobs, n_tasks=40):
    return set(
        joblib.Parallel(n_jobs=n_jobs)(
            joblib.delayed(worker_environment)() for _ in range(n_tasks)
        )
    )


# --------------------------------------------------------- spread_over_gpus
def test_workers_get_gpus_round_robin(monkeypatch):
    # Four GPUs "seen" by this process (CUDA ids, as CUDA_VISIBLE_DEVICES
    # would list them); the workers only set environment variables, so no
    # GPU is needed to check which one each would see.
    monkeypatch.setattr(VISIBLE_GPU_IDS, lambda: ["3", "5", "6", "7"])
    before = {pid for pid, *_ in environments(2)}  # unpinned workers
    with spread_over_gpus(gpus=[0, 3]) as gpu_ids:
        assert gpu_ids == ["3", "7"]
        seen = environments(2)
    by_pid = {}
    for pid, cuda, slot, _ in seen:
        by_pid.setdefault(pid, set()).add((cuda, slot))
    # One GPU per worker, for good, and the one its start order gives it.
    assert all(len(pinned) == 1 for pinned in by_pid.values())
    for (cuda, slot), in by_pid.values():
        assert cuda == gpu_ids[int(slot) % 2]
    assert not before & set(by_pid)
    # Workers from before the block were replaced, not reused.
    assert all(cuda is not None for _, cuda, _, _ in seen)
    # After the block, joblib's workers are unpinned again.
    assert {cuda for _, cuda, _, _ in environments(2)} == {None}


def test_slots_are_taken_once_each(tmp_path):
    assert [_parallel._take_slot(tmp_path) for _ in range(3)] == [0, 1, 2]
    (tmp_path / "1").unlink()  # a freed slot is taken again first
    assert _parallel._take_slot(tmp_path) == 1


def test_worker_initializer_sets_the_environment(tmp_path, monkeypatch):
    assert _parallel.SLOT_VARIABLE == "SKANOMALY_WORKER_SLOT"
    for name in ["CUDA_VISIBLE_DEVICES", "TF_NUM_INTRAOP_THREADS", _parallel.SLOT_VARIABLE]:
        # setenv first, so that the variables _pin_worker sets are removed
        # again after the test (delenv of a missing name records nothing).
        monkeypatch.setenv(name, "")
        monkeypatch.delenv(name)
    monkeypatch.setenv("OMP_NUM_THREADS", "3")
    seen = []
    for _ in range(3):  # three workers, two GPUs: round robin
        _parallel._pin_worker(str(tmp_path), ("0", "1"))
        seen.append((os.environ[_parallel.SLOT_VARIABLE], os.environ["CUDA_VISIBLE_DEVICES"]))
    assert seen == [("0", "0"), ("1", "1"), ("2", "0")]
    assert os.environ["TF_NUM_INTRAOP_THREADS"] == "3"
    _parallel._pin_worker(str(tmp_path), ())  # no GPU: hide them all
    assert os.environ["CUDA_VISIBLE_DEVICES"] == "-1"


def test_unknown_gpu_index_is_refused(monkeypatch):
    monkeypatch.setattr(VISIBLE_GPU_IDS, lambda: ["0", "1"])
    with pytest.raises(ValueError, match=r"gpus=\[2\]: \[2\] not among .*indices 0, 1"):
        with spread_over_gpus(gpus=[2]):
            pass


def test_importing_the_helper_does_not_start_tensorflow():
    # A worker imports this module to run its initializer, which must set
    # CUDA_VISIBLE_DEVICES before TensorFlow is loaded.
    code = (
        "import sys, skanomaly.model_selection; "
        "assert 'tensorflow' not in sys.modules, 'tensorflow imported'"
    )
    subprocess.run([sys.executable, "-c", code], check=True)


def test_search_in_cpu_workers_matches_the_serial_search(data, serial):
    # On a machine without GPUs (CI) the same code runs on the CPU: the
    # workers see no GPU, and the scores are those of the serial search.
    with spread_over_gpus() as gpu_ids:
        if gpu_ids:
            pytest.skip("this machine has GPUs")
        results = make_search(n_jobs=2).fit(*data).cv_results_
        seen = environments(2, n_tasks=4)
    assert_same_scores(results, serial)
    assert {cuda for _, cuda, _, _ in seen} == {"-1"}


# ---------------------------------------------------------------- Dask
def test_fits_are_reproducible_beside_threads_that_use_random(data):
    # A Dask worker's event loop draws from Python's global `random` while
    # tasks run; Keras seeds initial weights from it. The engine draws them
    # from a generator of its own, so such a thread changes nothing
    # (without that, the weights differ nearly every time).
    import random

    from skanomaly import AutoEncoder

    X = data[0]

    def scores():
        detector = AutoEncoder(hidden_units=(4, 2), epochs=1, random_state=0)
        return detector.fit(X).score_samples(X)

    quiet = scores()
    stop = threading.Event()

    def draw():
        while not stop.is_set():
            random.random()
            time.sleep(0)

    drawing = threading.Thread(target=draw)
    drawing.start()
    try:
        busy = scores()
    finally:
        stop.set()
        drawing.join()
    np.testing.assert_array_equal(busy, quiet)


@pytest.fixture(scope="module")
def client():
    distributed = pytest.importorskip("distributed")
    import logging

    cluster = distributed.LocalCluster(
        n_workers=2,
        threads_per_worker=1,
        processes=True,
        host="127.0.0.1",
        dashboard_address=None,
        silence_logs=logging.ERROR,
    )
    client = distributed.Client(cluster)
    # Import TensorFlow in the workers up front, as a long-lived cluster has.
    client.run(lambda: __import__("skanomaly").AutoEncoder)
    yield client
    client.close()
    cluster.close()


def test_dask_search_matches_the_serial_search_despite_a_killed_worker(
    data, serial, client
):
    X, y = data
    victim = sorted(client.scheduler_info()["workers"])[0]
    pid = client.run(os.getpid, workers=[victim])[victim]
    killed = {}

    def copied_everywhere():
        # The recipe's premise: every scattered array is on every worker. On
        # a loaded machine the copies can trail the first tasks; killing
        # the one worker that holds an array then loses it, which no recipe
        # can recover from.
        holders = client.who_has()
        n_workers = len(client.scheduler_info()["workers"])
        arrays = [key for key in holders if str(key).startswith("ndarray-")]
        return bool(arrays) and all(len(holders[key]) == n_workers for key in arrays)

    def kill_victim_once_busy():
        # Kill the worker process while it holds a task of the search, so
        # that Dask must run that task again on another worker.
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            busy = client.processing(workers=[victim]).get(victim)
            if busy and copied_everywhere():
                killed["tasks"] = list(busy)
                os.kill(pid, signal.SIGKILL)
                return
            time.sleep(0.01)

    # The documented recipe: the data and the splits are copied to every
    # worker up front (joblib would otherwise put each on one worker, and
    # losing that worker would lose them).
    search = make_search(n_jobs=-1)
    splits = list(search.cv.split(X, y))
    search.set_params(cv=splits)
    scatter = [X, y, *(indices for split in splits for indices in split)]
    killer = threading.Thread(target=kill_victim_once_busy)
    killer.start()
    with joblib.parallel_config(backend="dask", scatter=scatter):
        results = search.fit(X, y).cv_results_
    killer.join()
    assert killed.get("tasks"), "the worker to kill never received a task"
    assert pid not in client.run(os.getpid).values()  # it was replaced
    assert_same_scores(results, serial)
