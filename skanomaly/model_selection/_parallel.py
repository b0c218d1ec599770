"""Parallel model selection over the GPUs of one machine.

The worker side of this module (``_pin_worker``) must not import
TensorFlow: it runs first in each new worker process and sets
``CUDA_VISIBLE_DEVICES``, which CUDA reads once, when TensorFlow first
touches the GPUs. So this module imports only the standard library and
joblib at the top, and ``skanomaly`` imports its deep detectors lazily.
"""

import contextlib
import os
import tempfile

import joblib

__all__ = ["spread_over_gpus"]

#: Set in each worker: its slot number (0, 1, 2, ... in start order).
SLOT_VARIABLE = "SKANOMALY_WORKER_SLOT"


def _take_slot(folder):
    """The lowest free slot number in ``folder``, taken atomically.

    Creating a file with O_EXCL either succeeds or fails as a whole on
    every platform, so workers that start together never share a slot.
    """
    slot = 0
    while True:
        path = os.path.join(folder, str(slot))
        try:
            os.close(os.open(path, os.O_CREAT | os.O_EXCL | os.O_WRONLY))
            return slot
        except FileExistsError:
            slot += 1
        except OSError:  # the folder is gone: the context has exited
            return os.getpid()


def _pin_worker(folder, gpu_ids):
    """Run first in each new worker: show it one GPU, round robin."""
    slot = _take_slot(folder)
    os.environ[SLOT_VARIABLE] = str(slot)
    # "-1" hides every GPU: no GPU to spread over means CPU workers.
    os.environ["CUDA_VISIBLE_DEVICES"] = gpu_ids[slot % len(gpu_ids)] if gpu_ids else "-1"
    # joblib limits OpenMP and BLAS threads in its workers to
    # cpu_count // n_jobs; TensorFlow reads its own variable instead, so
    # without this every worker would run as many threads as there are cores.
    threads = os.environ.get("OMP_NUM_THREADS")
    if threads:
        os.environ.setdefault("TF_NUM_INTRAOP_THREADS", threads)


def _resolve_gpu_ids(gpus):
    from ..engine._devices import visible_gpu_ids

    visible = visible_gpu_ids()
    if gpus is None:
        return visible
    gpus = list(gpus)
    bad = [g for g in gpus if not isinstance(g, int) or not 0 <= g < len(visible)]
    if bad:
        seen = ", ".join(str(i) for i in range(len(visible))) or "none"
        raise ValueError(
            f"gpus={gpus!r}: {bad!r} not among the GPUs this process sees "
            f"(indices {seen}; CUDA ids {visible!r})."
        )
    return [visible[g] for g in gpus]


@contextlib.contextmanager
def spread_over_gpus(gpus=None):
    """Give each joblib worker process one GPU of this machine, round robin.

    Inside the ``with`` block, scikit-learn's process-based parallelism
    (``GridSearchCV(n_jobs=k)``, ``cross_validate(n_jobs=k)``, anything on
    joblib's default ``"loky"`` backend) starts fresh worker processes, and
    each of them sees only one GPU: the first worker the first GPU, the
    second the second, and so on, wrapping around when there are more
    workers than GPUs (workers that share a GPU take its memory as they
    need it). A deep detector with ``device="auto"`` then trains on its
    worker's GPU. On a machine without GPUs, the workers run on the CPU, so
    the same code runs everywhere.

    Parameters
    ----------
    gpus : sequence of int, default=None
        Indices of the GPUs to spread over, among those this process sees
        (after ``CUDA_VISIBLE_DEVICES``). ``None`` takes them all; ``[]``
        keeps every worker on the CPU.

    Yields
    ------
    gpu_ids : list of str
        The CUDA ids the workers are spread over, in round-robin order
        (empty when they run on the CPU). ``n_jobs = 2 * len(gpu_ids)`` runs
        two trainings on each GPU.

    Notes
    -----
    Each worker sets ``CUDA_VISIBLE_DEVICES`` to its GPU's id first thing,
    before TensorFlow touches a GPU in it. joblib keeps its worker processes
    for reuse between parallel calls; a worker started earlier may already
    have set up every GPU, so inside the block joblib is given new worker
    settings, which makes it replace such workers with new ones (and the
    pinned workers are replaced again after the block). A worker that dies
    or idles out is replaced by one that takes the next GPU in turn.

    Each worker also limits TensorFlow's thread pool to the number of
    threads joblib gives it for OpenMP and BLAS (``cpu_count() // n_jobs``
    unless set), so that CPU workers do not oversubscribe the cores.

    The parent process keeps all its GPUs: ``GridSearchCV`` refits the best
    candidate there. For a cluster of machines, use Dask instead (see the
    "Scaling out" page of the documentation).

    Examples
    --------
    A search in two worker processes, each with one GPU where there are
    GPUs (any estimator works: a deep detector with ``device="auto"``
    trains on its worker's GPU, see the "Scaling out" page):

    >>> import numpy as np
    >>> from sklearn.ensemble import IsolationForest
    >>> from sklearn.model_selection import GridSearchCV
    >>> from skanomaly.metrics import anomaly_roc_auc_scorer
    >>> from skanomaly.model_selection import NoveltySplit, spread_over_gpus
    >>> rng = np.random.RandomState(0)
    >>> X = np.r_[rng.normal(size=(60, 4)), rng.normal(5, 1, size=(6, 4))]
    >>> y = np.r_[np.zeros(60), np.ones(6)]
    >>> search = GridSearchCV(
    ...     IsolationForest(random_state=0),
    ...     {"n_estimators": [10, 20]},
    ...     cv=NoveltySplit(n_splits=2, random_state=0),
    ...     scoring=anomaly_roc_auc_scorer,
    ... )
    >>> with spread_over_gpus() as gpu_ids:
    ...     search = search.set_params(n_jobs=max(2, len(gpu_ids))).fit(X, y)
    >>> float(search.best_score_)
    1.0
    """
    gpu_ids = tuple(_resolve_gpu_ids(gpus))
    with tempfile.TemporaryDirectory(prefix="skanomaly-workers-") as folder:
        # New initializer arguments make joblib start new workers rather
        # than reuse ones that may have set up every GPU already.
        with joblib.parallel_config(
            backend="loky", initializer=_pin_worker, initargs=(folder, gpu_ids)
        ):
            yield list(gpu_ids)
