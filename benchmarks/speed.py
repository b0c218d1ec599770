"""Speed and memory of skanomaly's AutoEncoder, side by side in one run.

    python benchmarks/speed.py                 # the full protocol below
    python benchmarks/speed.py --quick         # 10x smaller, for a smoke test

Protocol (synthetic standard-normal rows with 32 features, float64):

* training throughput (samples/s): skanomaly ``AutoEncoder`` against PyOD's
  ``AutoEncoder`` with the same network (32-64-32-64-32, ReLU, no batch
  norm, no dropout), batch size 64, Adam at 1e-3, 2 epochs, on 100,000 rows;
  skanomaly with ``validation_fraction=0`` so both train on every row.
  Target: ratio skanomaly / PyOD >= 1.
* scoring throughput of ``score_samples`` on 1,000,000 rows (target
  300,000 rows/s or more on 2 cores), beside PyOD's ``decision_function``
  and scikit-learn's ``IsolationForest``.
* peak resident memory while scoring 4,000,000 rows, sampled every
  millisecond in a fresh process that already holds the input: target
  under the size of the input plus 500 MB.
* single-row latency (p50 and p99 over 1,000 calls; target p50 under 0.3 ms),
  and, in the same run, skanomaly's through the general trace of its
  scoring function rather than the XLA-compiled one for a single row
  (what the single-row path saves).

The table goes to stdout and, with the command that made it, to
``benchmarks/results/speed.md`` (and ``speed.json``).
"""

import argparse
import json
import platform
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
from sklearn.ensemble import IsolationForest

N_FEATURES = 32
HIDDEN = (64, 32)
BATCH_SIZE = 64
EPOCHS = 2
RESULTS = Path(__file__).resolve().parent / "results"


def skanomaly_autoencoder(epochs=EPOCHS):
    from skanomaly import AutoEncoder

    return AutoEncoder(
        hidden_units=HIDDEN,
        epochs=epochs,
        batch_size=BATCH_SIZE,
        learning_rate=1e-3,
        validation_fraction=0.0,
        random_state=0,
    )


def pyod_autoencoder(epochs=EPOCHS):
    try:
        from pyod.models.auto_encoder import AutoEncoder
    except ImportError:
        return None
    return AutoEncoder(
        hidden_neuron_list=list(HIDDEN),
        epoch_num=epochs,
        batch_size=BATCH_SIZE,
        lr=1e-3,
        batch_norm=False,
        dropout_rate=0.0,
        verbose=0,
        random_state=0,
    )


def timed(fn, *args):
    start = time.perf_counter()
    result = fn(*args)
    return result, time.perf_counter() - start


def latency(score_one, row, n_calls):
    score_one(row)  # warm-up
    times = np.empty(n_calls)
    for i in range(n_calls):
        start = time.perf_counter()
        score_one(row)
        times[i] = time.perf_counter() - start
    return np.percentile(times, 50) * 1e3, np.percentile(times, 99) * 1e3


def peak_memory_while_scoring(n_rows):
    """Resident memory (MB) around scoring ``n_rows``, in a fresh process.

    The child fits on a small sample, makes the input, and samples its
    resident set size every millisecond while scoring: the peak minus the
    size just before is what scoring needed beyond the input.
    """
    code = f"""
import json, threading, time, numpy as np, psutil
from benchmarks.speed import skanomaly_autoencoder
rng = np.random.RandomState(0)
detector = skanomaly_autoencoder(epochs=1).fit(rng.normal(size=(2000, {N_FEATURES})))
detector.score_samples(rng.normal(size=(10, {N_FEATURES})))
X = rng.normal(size=({n_rows}, {N_FEATURES}))
process = psutil.Process()
before = process.memory_info().rss
peak, done = [before], threading.Event()
def watch():
    while not done.is_set():
        peak[0] = max(peak[0], process.memory_info().rss)
        time.sleep(0.001)
watcher = threading.Thread(target=watch)
watcher.start()
detector.score_samples(X)
done.set()
watcher.join()
print(json.dumps({{"before_mb": before / 2**20, "peak_mb": peak[0] / 2**20,
                   "input_mb": X.nbytes / 2**20}}))
"""
    root = Path(__file__).resolve().parents[1]
    out = subprocess.run(
        [sys.executable, "-c", code], cwd=root, check=True, capture_output=True, text=True
    ).stdout
    return json.loads(out.strip().splitlines()[-1])


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="10x smaller sizes")
    parser.add_argument("--output", default=str(RESULTS), help="results folder")
    args = parser.parse_args(argv)
    scale = 10 if args.quick else 1
    n_train, n_score, n_memory = 100_000 // scale, 1_000_000 // scale, 4_000_000 // scale
    n_calls = 1000 // scale

    rng = np.random.RandomState(0)
    X_train = rng.normal(size=(n_train, N_FEATURES))
    X_score = rng.normal(size=(n_score, N_FEATURES))
    row = X_score[:1]
    rows = []

    sk = skanomaly_autoencoder()
    sk.fit(X_train[:1000])  # import and first trace out of the timing
    _, sk_fit = timed(sk.fit, X_train)
    _, sk_score = timed(sk.score_samples, X_score)
    sk_p50, sk_p99 = latency(sk.score_samples, row, n_calls)
    # The same detector with single rows sent through the general trace.
    sk._scorer._compile_single_row = False
    general_p50, general_p99 = latency(sk.score_samples, row, n_calls)
    sk._scorer._compile_single_row = True
    rows.append(("skanomaly AutoEncoder", n_train * EPOCHS / sk_fit, n_score / sk_score, sk_p50, sk_p99))

    pyod = pyod_autoencoder()
    if pyod is not None:
        pyod_autoencoder(epochs=1).fit(X_train[:1000])
        _, py_fit = timed(pyod.fit, X_train)
        _, py_score = timed(pyod.decision_function, X_score)
        py_p50, py_p99 = latency(pyod.decision_function, row, n_calls)
        rows.append(("PyOD AutoEncoder", n_train * EPOCHS / py_fit, n_score / py_score, py_p50, py_p99))

    forest = IsolationForest(random_state=0)
    _, if_fit = timed(forest.fit, X_train)
    _, if_score = timed(forest.score_samples, X_score)
    if_p50, if_p99 = latency(forest.score_samples, row, n_calls)
    rows.append(("IsolationForest (100 trees)", n_train / if_fit, n_score / if_score, if_p50, if_p99))

    memory = peak_memory_while_scoring(n_memory)
    extra_mb = memory["peak_mb"] - memory["before_mb"]

    command = "python benchmarks/speed.py" + (" --quick" if args.quick else "")
    lines = [
        f"Command: `{command}` ({time.strftime('%Y-%m-%d')}, {platform.machine()}, "
        f"{_cpu_count()} cores, Python {platform.python_version()})",
        "",
        f"Training on {n_train:,} x {N_FEATURES} rows ({EPOCHS} epochs, batch {BATCH_SIZE}), "
        f"scoring {n_score:,} rows, latency of one row over {n_calls:,} calls.",
        "",
        "| detector | training (samples/s) | scoring (rows/s) | latency p50 (ms) | latency p99 (ms) |",
        "|---|---|---|---|---|",
    ]
    for name, train_rate, score_rate, p50, p99 in rows:
        lines.append(f"| {name} | {train_rate:,.0f} | {score_rate:,.0f} | {p50:.3f} | {p99:.3f} |")
    lines.append("")
    if pyod is not None:
        lines.append(
            f"Training throughput ratio skanomaly / PyOD: {rows[0][1] / rows[1][1]:.2f} "
            f"(target >= 1.0); scoring ratio: {rows[0][2] / rows[1][2]:.2f}."
        )
    else:
        lines.append("PyOD is not installed (pip install -e '.[benchmarks]'): no ratio.")
    lines.append(
        f"Single row through the general trace instead of the XLA-compiled one: "
        f"p50 {general_p50:.3f} ms, p99 {general_p99:.3f} ms "
        f"(compiled: {sk_p50:.3f} and {sk_p99:.3f})."
    )
    lines.append(
        f"Scoring {n_memory:,} rows ({memory['input_mb']:.0f} MB of input) raised the "
        f"peak resident memory by {extra_mb:.0f} MB beyond the input "
        f"(target < 500 MB): {memory['before_mb']:.0f} MB before scoring, "
        f"{memory['peak_mb']:.0f} MB at the peak."
    )
    table = "\n".join(lines)
    print(table)

    output = Path(args.output)
    output.mkdir(parents=True, exist_ok=True)
    suffix = "_quick" if args.quick else ""
    (output / f"speed{suffix}.md").write_text(table + "\n")
    (output / f"speed{suffix}.json").write_text(
        json.dumps(
            {
                "command": command,
                "rows": [dict(zip(["detector", "train_rate", "score_rate", "p50_ms", "p99_ms"], r)) for r in rows],
                "memory": memory,
                "general_trace_latency_ms": {"p50": general_p50, "p99": general_p99},
            },
            indent=2,
        )
    )


def _cpu_count():
    import os

    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()


if __name__ == "__main__":
    main()
