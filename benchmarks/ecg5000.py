"""ECG5000 benchmark: sequence detectors beside dense, classical and PyOD ones.

    python benchmarks/ecg5000.py                                  # the full protocol
    python benchmarks/ecg5000.py --folds 0 --detectors sklearn    # a smoke test
    python benchmarks/ecg5000.py --detectors CNNLSTMAutoEncoder --fresh
    python benchmarks/ecg5000.py path/to/ecg5000 --output /tmp/bench

Rerunning a command skips the (detector, fold) rows already in the rows CSV,
so an interrupted run goes on where it stopped; ``--fresh`` reruns them.
``--help`` lists the options and the detector names.

Protocol

* Data: ECG5000's training split in ``../shared/data/ecg5000`` (from the
  repository root), read by ``skanomaly.datasets.load_ecg5000``: 500
  heartbeats of 140 values, each z-normalised in the archive; class 1 is
  normal (292 beats), classes 2 to 5 are anomalies (208 beats).
* Novelty detection, 5-fold: ``NoveltySplit(n_splits=5, random_state=0)``
  cuts the normal beats into 5 folds; each detector trains on the normal
  beats of 4 folds (233 or 234 beats, no anomaly) and is tested on the
  normal beats of the fifth (58 or 59) together with all 208 anomalies.
* Detectors, all in the same run, on the raw beats, ``random_state=0``
  where they take one, no progress output: skanomaly ``LSTMAutoEncoder``,
  ``CNNLSTMAutoEncoder`` and ``RNNForecaster`` at their defaults (each beat
  a univariate sequence of 140 steps), skanomaly's dense ``AutoEncoder`` at
  its defaults (each beat a row of 140 features); scikit-learn
  ``IsolationForest()`` and ``OneClassSVM()`` (``gamma="scale"``); PyOD
  ``AutoEncoder`` at its defaults (``verbose=0``), left out with a note
  when PyOD is not installed.
* Metrics on each test fold, anomalies the positive class: ROC AUC of
  ``score_samples`` (PyOD: ``decision_function``, higher is more anomalous,
  read with ``score_convention="anomaly"``); F1 of the anomaly class at the
  best threshold on the fold's own scores (``best_f1_threshold``: an oracle
  threshold, an upper bound on what a threshold chosen without labels
  gets) and the accuracy at that threshold; F1 of ``predict`` (the
  detector's own threshold, ``contamination`` at its default; PyOD's
  ``contamination=0.1``); fit and score wall-clock seconds.
* Table: mean and standard deviation over the 5 folds.
* The figure ``ecg5000_beats.png``: the ``CNNLSTMAutoEncoder`` of fold 0;
  the normal and the abnormal test beat of median score among the normal
  and abnormal beats of that fold, with their reconstructions and the
  per-step squared errors (``anomaly_map``).

Output, in ``benchmarks/results/`` (``--output``): ``ecg5000_rows.csv``, one
row per (detector, fold), appended as each finishes; ``ecg5000.md``, the
table with this command; ``ecg5000_beats.png``.
"""

import argparse
import csv
import gc
import math
import os
import platform
import shlex
import sys
import time
import warnings
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import _protocol  # noqa: E402  (sets TF_CPP_MIN_LOG_LEVEL before TensorFlow)
import numpy as np  # noqa: E402

from skanomaly.datasets import load_ecg5000  # noqa: E402
from skanomaly.metrics import (  # noqa: E402
    anomaly_f1_score,
    anomaly_roc_auc_score,
    best_f1_threshold,
)
from skanomaly.model_selection import NoveltySplit  # noqa: E402

DEFAULT_DATA = _protocol.SHARED_DATA / "ecg5000"
RESULTS = _protocol.RESULTS
N_FOLDS = 5
SPLIT_SEED = 0
SEED = 0
PLOT_DETECTOR = "skanomaly.CNNLSTMAutoEncoder"
COLUMNS = [
    "detector",
    "fold",
    "n_train",
    "n_test",
    "roc_auc",
    "f1_best",
    "accuracy_best",
    "f1_predict",
    "fit_seconds",
    "score_seconds",
    "error",
]
METRICS = ["roc_auc", "f1_best", "accuracy_best", "f1_predict", "fit_seconds"]


# --------------------------------------------------------------------------
# detectors: (name, library, make, convention)


def _skanomaly(class_name):
    def make():
        import skanomaly

        return getattr(skanomaly, class_name)(random_state=SEED, verbose=0)

    return make


def _isolation_forest():
    from sklearn.ensemble import IsolationForest

    return IsolationForest(random_state=SEED)


def _ocsvm():
    from sklearn.svm import OneClassSVM

    return OneClassSVM()


def _pyod_autoencoder():
    from pyod.models.auto_encoder import AutoEncoder

    return AutoEncoder(random_state=SEED, verbose=0)


DETECTORS = [
    ("skanomaly.LSTMAutoEncoder", "skanomaly", _skanomaly("LSTMAutoEncoder"), "normality"),
    ("skanomaly.CNNLSTMAutoEncoder", "skanomaly", _skanomaly("CNNLSTMAutoEncoder"), "normality"),
    ("skanomaly.RNNForecaster", "skanomaly", _skanomaly("RNNForecaster"), "normality"),
    ("skanomaly.AutoEncoder", "skanomaly", _skanomaly("AutoEncoder"), "normality"),
    ("sklearn.IsolationForest", "sklearn", _isolation_forest, "normality"),
    ("sklearn.OneClassSVM", "sklearn", _ocsvm, "normality"),
    ("pyod.AutoEncoder", "pyod", _pyod_autoencoder, "anomaly"),
]


def _select(tokens):
    if not tokens:
        return list(DETECTORS)

    def matches(detector, token):
        name, library = detector[0].lower(), detector[1].lower()
        token = token.lower()
        return token in (name, library, name.split(".", 1)[1])

    unknown = [t for t in tokens if not any(matches(d, t) for d in DETECTORS)]
    if unknown:
        raise SystemExit(
            f"Unknown detector(s): {', '.join(unknown)}. "
            f"Available: {', '.join(d[0] for d in DETECTORS)}"
        )
    return [d for d in DETECTORS if any(matches(d, t) for t in tokens)]


def _drop_unavailable(detectors):
    if not any(d[1] == "pyod" for d in detectors):
        return detectors
    try:
        import pyod.models.auto_encoder  # noqa: F401
    except ImportError as exc:
        print(
            f"Note: PyOD is not usable ({exc}); skipping its AutoEncoder "
            "(pip install -e '.[benchmarks]')."
        )
        return [d for d in detectors if d[1] != "pyod"]
    return detectors


# --------------------------------------------------------------------------
# one (detector, fold)


def run_one(detector, X_train, X_test, y_test):
    """Fit, score and measure; never raises. Returns the row's metrics and
    the fitted estimator (None after an error)."""
    name, library, make, convention = detector
    result = {metric: math.nan for metric in METRICS + ["score_seconds"]}
    result["error"] = ""
    estimator = None
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            estimator = make()
            start = time.perf_counter()
            estimator.fit(X_train)
            result["fit_seconds"] = time.perf_counter() - start
            start = time.perf_counter()
            scores = (
                estimator.score_samples(X_test)
                if convention == "normality"
                else estimator.decision_function(X_test)
            )
            result["score_seconds"] = time.perf_counter() - start
            result["roc_auc"] = anomaly_roc_auc_score(
                y_test, scores, score_convention=convention
            )
            threshold, result["f1_best"] = best_f1_threshold(
                y_test, scores, score_convention=convention
            )
            flagged = scores <= threshold if convention == "normality" else scores >= threshold
            result["accuracy_best"] = float(np.mean(flagged == (y_test == 1)))
            # skanomaly and scikit-learn predict +1/-1, PyOD 0/1.
            result["f1_predict"] = anomaly_f1_score(y_test, estimator.predict(X_test))
        except Exception as exc:  # noqa: BLE001 - recorded, the run goes on
            estimator = None
            result["error"] = " ".join(f"{type(exc).__name__}: {exc}".split())[:300]
    return result, estimator


# --------------------------------------------------------------------------
# rows, report, figure


def read_rows(path):
    if not path.exists() or path.stat().st_size == 0:
        return []
    with path.open(newline="") as f:
        reader = csv.DictReader(f)
        if reader.fieldnames != COLUMNS:
            raise SystemExit(f"{path} has columns {reader.fieldnames}, expected {COLUMNS}.")
        return list(reader)


def write_rows(path, rows):
    tmp = path.with_suffix(".tmp")
    with tmp.open("w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=COLUMNS, lineterminator="\n")
        writer.writeheader()
        for row in rows:
            writer.writerow(
                {
                    k: (repr(round(v, 6)) if isinstance(v, float) and not math.isnan(v)
                        else "" if isinstance(v, float) else v)
                    for k, v in row.items()
                }
            )
    os.replace(tmp, path)


def report(rows, detectors, folds, command, data_shown):
    import pandas as pd

    frame = pd.DataFrame(rows, columns=COLUMNS)
    for column in METRICS + ["score_seconds", "fold"]:
        frame[column] = pd.to_numeric(frame[column], errors="coerce")
    frame["error"] = frame["error"].fillna("")
    frame = frame[frame["fold"].isin(folds)]
    lines = [
        "# ECG5000 benchmark",
        "",
        f"Command: `{command}`",
        "",
        f"Run {time.strftime('%Y-%m-%d %H:%M')}, {platform.machine()}, "
        f"{_protocol._cpu_count()} cores (shared with other jobs), Python "
        f"{platform.python_version()}; {_protocol._versions()}. Data: `{data_shown}`.",
        "",
        "## " + PROTOCOL.split("\n", 1)[0].strip(),
        "",
        PROTOCOL.split("\n", 1)[1].strip(),
        "",
        f"## Results (mean ± sd over {len(folds)} fold{'s' if len(folds) > 1 else ''})",
        "",
        "| detector | ROC AUC | F1 (best threshold) | accuracy (best threshold) "
        "| F1 (predict) | fit (s) | folds |",
        "|---|---:|---:|---:|---:|---:|---:|",
    ]
    summary = []
    for name, *_ in detectors:
        done = frame[(frame["detector"] == name) & (frame["error"] == "")]
        if done.empty:
            failed = frame[(frame["detector"] == name) & (frame["error"] != "")]
            cell = "error" if not failed.empty else "–"
            lines.append(f"| {name} | {cell} | | | | | 0 |")
            continue
        cells = []
        for metric in METRICS:
            mean, sd = done[metric].mean(), done[metric].std(ddof=0)
            digits = 1 if metric == "fit_seconds" else 3
            cells.append(f"{mean:.{digits}f} ± {sd:.{digits}f}")
        lines.append(f"| {name} | " + " | ".join(cells) + f" | {len(done)} |")
        summary.append((name, done["roc_auc"].mean()))
    errors = frame[frame["error"] != ""]
    if not errors.empty:
        lines += ["", "## Errors", "", "| detector | fold | error |", "|---|---:|---|"]
        for _, row in errors.iterrows():
            lines.append(f"| {row['detector']} | {int(row['fold'])} | {row['error']} |")
    lines.append("")
    return "\n".join(lines), summary


def plot_beats(path, detector, X_test, y_test):
    """Median-scored normal and abnormal test beats, their reconstructions
    and per-step errors."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    scores = detector.score_samples(X_test)
    picks = []
    for label in (0, 1):
        members = np.flatnonzero(y_test == label)
        order = members[np.argsort(scores[members])]
        picks.append(order[len(order) // 2])
    beats = X_test[picks]
    reconstruction = detector.reconstruct(beats)
    errors = detector.anomaly_map(beats)
    top = max(errors.max(), 1e-12) * 1.1

    fig, axes = plt.subplots(2, 2, figsize=(9, 5), sharex=True,
                             gridspec_kw={"height_ratios": [2, 1]})
    for column, (title, beat, rec, err, score) in enumerate(
        zip(("normal beat (class 1)", "abnormal beat (classes 2-5)"),
            beats, reconstruction, errors, scores[picks])
    ):
        ax = axes[0, column]
        ax.plot(beat, color="black", lw=1.5, label="beat")
        ax.plot(rec, color="tab:blue", lw=1.2, ls="--", label="reconstruction")
        ax.set_title(f"{title}, score {score:.3f}", fontsize=10)
        ax.legend(fontsize=8, loc="lower right")
        ax = axes[1, column]
        ax.fill_between(np.arange(len(err)), err, color="tab:red", alpha=0.6)
        ax.set_ylim(0, top)
        ax.set_xlabel("step")
    axes[0, 0].set_ylabel("value")
    axes[1, 0].set_ylabel("squared error\n(scaled)")
    fig.suptitle(
        "ECG5000, CNNLSTMAutoEncoder trained on normal beats (fold 0): the "
        "median-scored normal and abnormal test beats",
        fontsize=10,
    )
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


# --------------------------------------------------------------------------
# main

PROTOCOL = "Protocol" + __doc__.split("\nProtocol", 1)[1].split("\nOutput,", 1)[0]


def main(argv=None):
    parser = argparse.ArgumentParser(
        description=__doc__.split("\n")[0],
        epilog="Detectors: " + ", ".join(d[0] for d in DETECTORS),
    )
    parser.add_argument("data", nargs="?", default=str(DEFAULT_DATA),
                        help=f"ECG5000 file or folder (default: {DEFAULT_DATA})")
    parser.add_argument("--detectors", nargs="+", metavar="NAME",
                        help="only these: a display name, the part after the dot, or a library")
    parser.add_argument("--folds", nargs="+", type=int, default=list(range(N_FOLDS)),
                        metavar="K", help="only these folds, 0 to 4 (default: all)")
    parser.add_argument(
        "--output", default=str(RESULTS), help=f"results folder (default: {RESULTS})"
    )
    parser.add_argument("--fresh", action="store_true", help="rerun rows already in the CSV")
    parser.add_argument("--no-plot", action="store_true", help="skip the figure")
    args = parser.parse_args(argv)
    argv = sys.argv[1:] if argv is None else list(argv)
    command = shlex.join(["python", "benchmarks/ecg5000.py", *argv])
    if not set(args.folds) <= set(range(N_FOLDS)):
        parser.error(f"--folds must be between 0 and {N_FOLDS - 1}")

    detectors = _drop_unavailable(_select(args.detectors))
    folds = sorted(set(args.folds))
    # Before PyOD or skanomaly import it: keep TensorFlow's C++ start-up
    # lines off the output.
    _protocol._import_tensorflow_quietly()
    X, y = load_ecg5000(args.data)
    splits = list(NoveltySplit(n_splits=N_FOLDS, random_state=SPLIT_SEED).split(X, y))
    print(f"ECG5000: {len(X)} beats x {X.shape[1]} steps, {int(y.sum())} anomalies.")

    output = Path(args.output)
    output.mkdir(parents=True, exist_ok=True)
    csv_path = output / "ecg5000_rows.csv"
    rows = read_rows(csv_path)
    selected = {(d[0], k) for d in detectors for k in folds}
    if args.fresh:
        rows = [r for r in rows if (r["detector"], int(r["fold"])) not in selected]
        write_rows(csv_path, rows)
    done = {(r["detector"], int(r["fold"])) for r in rows}

    plot_source = None
    start_all = time.perf_counter()
    for fold in folds:
        train, test = splits[fold]
        for detector in detectors:
            name = detector[0]
            if (name, fold) in done:
                continue
            result, estimator = run_one(detector, X[train], X[test], y[test])
            if name == PLOT_DETECTOR and fold == 0 and estimator is not None:
                plot_source = estimator
            rows.append({"detector": name, "fold": fold, "n_train": len(train),
                         "n_test": len(test), **result})
            write_rows(csv_path, rows)
            status = (
                f"ERROR {result['error']}" if result["error"] else
                f"AUC {result['roc_auc']:.4f}  F1* {result['f1_best']:.3f}  "
                f"acc* {result['accuracy_best']:.3f}  F1 {result['f1_predict']:.3f}  "
                f"fit {result['fit_seconds']:6.1f}s"
            )
            print(f"  fold {fold}  {name:<30} {status}", flush=True)
            del estimator
            if detector[1] == "skanomaly":
                import keras

                keras.backend.clear_session()
            gc.collect()

    if not args.no_plot and any(d[0] == PLOT_DETECTOR for d in detectors):
        train, test = splits[0]
        if plot_source is None:
            print(f"Fitting {PLOT_DETECTOR} on fold 0 for the figure.", flush=True)
            plot_source = [d for d in DETECTORS if d[0] == PLOT_DETECTOR][0][2]().fit(X[train])
        plot_beats(output / "ecg5000_beats.png", plot_source, X[test], y[test])

    text, summary = report(rows, detectors, folds, command, _protocol._shown_path(args.data))
    (output / "ecg5000.md").write_text(text)
    print(f"\nDone in {time.perf_counter() - start_all:.0f} s.\n")
    print(text.split("## Results", 1)[1] if "## Results" in text else text)
    print(f"Rows: {csv_path}\nReport: {output / 'ecg5000.md'}")


if __name__ == "__main__":
    main()
