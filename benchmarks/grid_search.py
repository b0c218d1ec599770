"""Wall time of one grid search, serial and spread over processes, in one run.

    python benchmarks/grid_search.py            # the protocol below
    python benchmarks/grid_search.py --quick    # a smoke test: 2 candidates, 2 epochs

Protocol: ADBench's Waveform (3,443 rows x 21 features, 2.9% anomalies,
from ``../shared/data/adbench``; synthetic rows of the same size when it is
missing), ``GridSearchCV`` of an ``AutoEncoder`` (``epochs=20``,
``random_state=0``) over 8 candidates (``hidden_units`` x ``learning_rate``
x ``noise_std``) and 3 ``NoveltySplit`` folds, scored by ROC AUC, without
the final refit: 24 trainings. The same search runs

* serially (``n_jobs=1``), TensorFlow using every core;
* with ``n_jobs=2`` on joblib's default ``"loky"`` backend, as
  ``GridSearchCV(n_jobs=2)`` gives it (TensorFlow in each worker using
  every core);
* with ``n_jobs=2`` inside ``spread_over_gpus()``: on a machine without
  GPUs the same workers on the CPU, TensorFlow limited to
  ``cpu_count() // 2`` threads each;
* on a local Dask cluster of 2 worker processes with 1 thread each
  (``joblib.parallel_config(backend="dask")``, data and folds scattered to
  both workers, as the docs' "Scaling out" page does);
* on a machine with GPUs, also with one worker per GPU and two per GPU,
  pinned round robin by ``spread_over_gpus()``.

Every parallel time includes starting the workers and TensorFlow in them,
as a user waits for it; the Dask cluster's own start is timed apart. Each
row says whether its scores equal the serial search's exactly. The table
goes to stdout and, with the command that made it, to
``benchmarks/results/grid_search.md`` (and ``grid_search.csv``).
"""

import argparse
import csv
import os
import platform
import sys
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import joblib  # noqa: E402
import numpy as np  # noqa: E402
from sklearn.model_selection import GridSearchCV  # noqa: E402

from skanomaly.metrics import anomaly_roc_auc_scorer  # noqa: E402
from skanomaly.model_selection import NoveltySplit, spread_over_gpus  # noqa: E402

BENCHMARKS = Path(__file__).resolve().parent
RESULTS = BENCHMARKS / "results"
WAVEFORM = BENCHMARKS.parent.parent / "shared" / "data" / "adbench" / "41_Waveform.npz"
GRID = {
    "hidden_units": [(32, 4), (64, 8)],
    "learning_rate": [1e-3, 3e-3],
    "noise_std": [0.0, 0.1],
}
QUICK_GRID = {"hidden_units": [(32, 4)], "learning_rate": [1e-3, 3e-3]}
COLUMNS = ["mode", "workers", "tf_threads", "seconds", "speed_up", "same_scores", "load_before"]


def load_data():
    if WAVEFORM.is_file():
        with np.load(WAVEFORM) as data:
            return np.asarray(data["X"], float), np.asarray(data["y"], int), "ADBench Waveform"
    rng = np.random.RandomState(0)
    X = np.vstack([rng.normal(size=(3343, 21)), rng.normal(1.5, 1.0, size=(100, 21))])
    y = np.r_[np.zeros(3343, int), np.ones(100, int)]
    return X, y, "synthetic (Waveform missing)"


def make_search(quick, n_jobs=None):
    from skanomaly import AutoEncoder

    return GridSearchCV(
        AutoEncoder(epochs=2 if quick else 20, random_state=0),
        QUICK_GRID if quick else GRID,
        cv=NoveltySplit(n_splits=3, random_state=0),
        scoring=anomaly_roc_auc_scorer,
        refit=False,
        n_jobs=n_jobs,
    )


def load_average():
    """The machine's 1-minute load average: how busy the shared cores were."""
    return os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")


def timed_search(search, X, y):
    start = time.perf_counter()
    search.fit(X, y)
    return time.perf_counter() - start, search.cv_results_["mean_test_score"]


def run_dask(quick, X, y):
    import logging

    from dask.distributed import Client, LocalCluster

    start = time.perf_counter()
    cluster = LocalCluster(
        n_workers=2, threads_per_worker=1, processes=True, host="127.0.0.1",
        dashboard_address=None, silence_logs=logging.ERROR,
    )
    client = Client(cluster)
    startup = time.perf_counter() - start
    search = make_search(quick, n_jobs=-1)
    splits = list(search.cv.split(X, y))
    search.set_params(cv=splits)
    scatter = [X, y] + [indices for split in splits for indices in split]
    try:
        with joblib.parallel_config(backend="dask", scatter=scatter):
            seconds, scores = timed_search(search, X, y)
    finally:
        client.close()
        cluster.close()
    return seconds, scores, startup


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="2 candidates, 2 epochs")
    parser.add_argument("--output", default=str(RESULTS), help="results folder")
    args = parser.parse_args(argv)
    X, y, data_name = load_data()
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    rows = []

    def add(mode, workers, tf_threads, load, seconds, scores):
        serial_seconds, serial_scores = (rows[0][3], rows[0][6]) if rows else (seconds, scores)
        same = bool(np.array_equal(scores, serial_scores))
        rows.append([mode, workers, tf_threads, seconds, serial_seconds / seconds, same, scores, load])
        print(f"{mode}: {seconds:.1f} s (load average {load:.1f} before)", flush=True)

    load = load_average()
    seconds, scores = timed_search(make_search(args.quick), X, y)
    add("serial (n_jobs=1)", 1, cores, load, seconds, scores)
    load = load_average()
    seconds, scores = timed_search(make_search(args.quick, n_jobs=2), X, y)
    add("n_jobs=2 (loky)", 2, cores, load, seconds, scores)
    load = load_average()
    with spread_over_gpus() as gpu_ids:
        seconds, scores = timed_search(make_search(args.quick, n_jobs=2), X, y)
    where = f"GPUs {gpu_ids}" if gpu_ids else "CPU"
    add(f"n_jobs=2 in spread_over_gpus() ({where})", 2, max(cores // 2, 1), load, seconds, scores)
    load = load_average()
    seconds, scores, dask_startup = run_dask(args.quick, X, y)
    add("Dask LocalCluster, 2 workers x 1 thread", 2, cores, load, seconds, scores)
    for per_gpu in (1, 2) if gpu_ids else ():
        n_jobs = per_gpu * len(gpu_ids)
        load = load_average()
        with spread_over_gpus():
            seconds, scores = timed_search(make_search(args.quick, n_jobs=n_jobs), X, y)
        add(f"{per_gpu} worker(s) per GPU, pinned round robin", n_jobs,
            max(cores // n_jobs, 1), load, seconds, scores)
    load_after = load_average()

    grid = QUICK_GRID if args.quick else GRID
    n_candidates = int(np.prod([len(v) for v in grid.values()]))
    command = "python benchmarks/grid_search.py" + (" --quick" if args.quick else "")
    import dask
    import sklearn
    import tensorflow as tf

    lines = [
        f"Command: `{command}` ({time.strftime('%Y-%m-%d')}, {platform.machine()}, "
        f"{cores} cores, Python {platform.python_version()}, TensorFlow {tf.__version__}, "
        f"scikit-learn {sklearn.__version__}, joblib {joblib.__version__}, "
        f"dask {dask.__version__})",
        "",
        f"One `GridSearchCV` of an `AutoEncoder` on {data_name} ({X.shape[0]:,} x "
        f"{X.shape[1]}): {n_candidates} candidates x 3 `NoveltySplit` folds = "
        f"{3 * n_candidates} trainings of {2 if args.quick else 20} epochs, no refit. "
        "Parallel times include starting the workers and TensorFlow in them; "
        f"the Dask cluster itself took {dask_startup:.1f} s more to start. "
        "GPUs: " + (", ".join(gpu_ids) if gpu_ids else "none on this machine, so no per-GPU rows."),
        "",
        "| mode | workers | TensorFlow threads per worker | wall time (s) | speed-up vs serial "
        "| same scores as serial | load average before |",
        "|---|---|---|---|---|---|---|",
    ]
    for mode, workers, threads, seconds, speed_up, same, _, load in rows:
        lines.append(
            f"| {mode} | {workers} | {threads} | {seconds:.1f} | {speed_up:.2f} | "
            f"{'yes' if same else 'no'} | {load:.1f} |"
        )
    lines += [
        "",
        f"Timed on a shared {cores}-core machine, where another engineer's jobs ran "
        "at times. The last column is the 1-minute load average just before each "
        f"mode ({load_after:.1f} at the end); it includes the tail of this run's "
        "previous mode, so it only bounds how busy the cores were. Each mode ran "
        "once; expect a few seconds of noise on each time.",
    ]
    table = "\n".join(lines)
    print(table)

    output = Path(args.output)
    output.mkdir(parents=True, exist_ok=True)
    suffix = "_quick" if args.quick else ""
    (output / f"grid_search{suffix}.md").write_text(table + "\n")
    with open(output / f"grid_search{suffix}.csv", "w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(COLUMNS + ["command"])
        for row in rows:
            writer.writerow(
                [*row[:3], f"{row[3]:.2f}", f"{row[4]:.3f}", row[5], f"{row[7]:.2f}", command]
            )


if __name__ == "__main__":
    sys.exit(main())
