"""What the data-set benchmarks share: ``tabular.py`` and ``mvtec_features.py``.

One protocol, written out in each script's docstring: for every seed a
stratified 70/30 train/test split, both parts capped by a stratified
subsample, an unsupervised fit on the training part (anomalies included),
test ROC AUC and average precision, fit and score seconds. This module holds
the pieces: finding and loading the ``.npz`` files, the split, the detector
registry, running one (data set, seed, detector), the rows CSV with its
resume logic, the Markdown report, the plot and the command line.
"""

import argparse
import csv
import gc
import importlib
import inspect
import json
import math
import os
import platform
import re
import shlex
import sys
import time
import warnings
from dataclasses import dataclass
from pathlib import Path

# Before anything imports TensorFlow: keep its C++ log lines off the output.
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import numpy as np  # noqa: E402
from sklearn.model_selection import train_test_split  # noqa: E402

from skanomaly.metrics import (  # noqa: E402
    anomaly_average_precision_score,
    anomaly_roc_auc_score,
)

BENCHMARKS = Path(__file__).resolve().parent
REPO = BENCHMARKS.parent
SHARED_DATA = REPO.parent / "shared" / "data"
RESULTS = BENCHMARKS / "results"

TEST_SIZE = 0.3
DEFAULT_SEEDS = (0, 1, 2)
DEFAULT_MAX_ROWS = 10_000

COLUMNS = [
    "dataset",
    "n_train",
    "n_test",
    "n_features",
    "anomaly_rate",
    "seed",
    "detector",
    "roc_auc",
    "average_precision",
    "fit_seconds",
    "score_seconds",
    "error",
]
KEY = ("dataset", "seed", "detector")


# --------------------------------------------------------------------------
# data


@dataclass(frozen=True)
class DataSet:
    name: str  # the file name without its prefix ("14_glass.npz" -> "glass")
    path: Path


def find_datasets(folder, pattern, prefix):
    """The ``.npz`` files in ``folder`` matching ``pattern``, named without
    the regular expression ``prefix`` (and the extension)."""
    folder = Path(folder)
    if not folder.is_dir():
        raise SystemExit(f"Data folder not found: {folder}")
    found = [
        DataSet(re.sub(f"^{prefix}", "", path.stem), path)
        for path in folder.glob(pattern)
    ]
    if not found:
        raise SystemExit(f"No files matching {pattern!r} in {folder}")
    return sorted(found, key=lambda d: d.name.lower())


def select_datasets(datasets, names):
    """Keep the data sets named in ``names`` (case-insensitive, with or
    without the file's prefix); all of them when ``names`` is empty."""
    if not names:
        return list(datasets)
    by_name = {}
    for data in datasets:
        by_name[data.name.lower()] = data
        by_name[data.path.stem.lower()] = data
    unknown = [n for n in names if n.lower() not in by_name]
    if unknown:
        raise SystemExit(
            f"Unknown data set(s): {', '.join(unknown)}. "
            f"Available: {', '.join(d.name for d in datasets)}"
        )
    selected = []
    for name in names:
        if by_name[name.lower()] not in selected:
            selected.append(by_name[name.lower()])
    return selected


def load(path):
    """``X`` as float64 and ``y`` as int (1 = anomaly) from an ``.npz`` file."""
    with np.load(path) as data:
        X = np.asarray(data["X"], dtype=np.float64)
        y = np.asarray(data["y"]).ravel().astype(np.int64)
    if X.ndim != 2 or X.shape[0] != y.shape[0]:
        raise ValueError(f"{path}: X {X.shape} and y {y.shape} do not match")
    if not set(np.unique(y)) <= {0, 1}:
        raise ValueError(f"{path}: y must hold 0 (normal) and 1 (anomaly)")
    return X, y


def _stratified_cap(X, y, max_rows, seed):
    if X.shape[0] <= max_rows:
        return X, y
    X, _, y, _ = train_test_split(
        X, y, train_size=max_rows, stratify=y, random_state=seed
    )
    return X, y


def split(X, y, seed, max_rows=DEFAULT_MAX_ROWS):
    """Stratified 70/30 split, then each part capped at ``max_rows`` by a
    stratified subsample with the same seed."""
    X_train, X_test, y_train, y_test = train_test_split(
        X, y, test_size=TEST_SIZE, stratify=y, random_state=seed
    )
    X_train, y_train = _stratified_cap(X_train, y_train, max_rows, seed)
    X_test, y_test = _stratified_cap(X_test, y_test, max_rows, seed)
    return X_train, X_test, y_train, y_test


# --------------------------------------------------------------------------
# detectors


@dataclass(frozen=True)
class Detector:
    """A detector of the comparison, made fresh for each (data set, seed).

    ``convention`` says how it is scored: ``"normality"`` calls
    ``score_samples`` (scikit-learn's convention, higher is more normal),
    ``"anomaly"`` calls ``decision_function`` (PyOD's, higher is more
    anomalous).

    ``label_share`` None fits without labels; a share in (0, 1] fits on
    ``labels(partial)``, where ``partial`` (from :func:`partial_labels`)
    marks that share of the training anomalies 1 and every other row -1.
    Such a detector's name ends in ``@<share>%`` (``DeepSAD@5%``).
    """

    name: str
    library: str
    make: object  # make(seed, n_features) -> an unfitted estimator
    convention: str
    label_share: object = None  # float in (0, 1], or None for no labels
    labels: object = None  # labels(partial) -> the y given to fit

    def matches(self, token):
        token = token.lower()
        short = self.name.split(".", 1)[1].lower()
        return token in (
            self.name.lower(), self.library.lower(), short, short.split("@", 1)[0]
        )

    def fit(self, estimator, X_train, y_train, seed):
        """Fit ``estimator``, on labels when the detector takes them."""
        if self.label_share is None:
            return estimator.fit(X_train)
        return estimator.fit(X_train, self.labels(partial_labels(y_train, self.label_share, seed)))


def partial_labels(y, share, seed):
    """What a user would know of ``y``: ``share`` of its anomalies (at least
    one), drawn with ``numpy.random.RandomState(seed)``, labelled 1, and
    every other row -1 (unlabelled, anomalies included)."""
    anomalies = np.flatnonzero(y == 1)
    n_labelled = max(1, int(round(share * anomalies.size)))
    labels = -np.ones(len(y), dtype=int)
    labels[np.random.RandomState(seed).choice(anomalies, n_labelled, replace=False)] = 1
    return labels


def _with_supported(cls, **kwargs):
    """``cls(**kwargs)`` keeping only the arguments its signature takes."""
    params = inspect.signature(cls).parameters
    return cls(**{k: v for k, v in kwargs.items() if k in params})


def _skanomaly(class_name):
    def make(seed, n_features):
        import skanomaly

        return _with_supported(
            getattr(skanomaly, class_name), random_state=seed, verbose=0
        )

    return make


def _isolation_forest(seed, n_features):
    from sklearn.ensemble import IsolationForest

    return IsolationForest(random_state=seed)


def _ocsvm(seed, n_features):
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler
    from sklearn.svm import OneClassSVM

    return make_pipeline(StandardScaler(), OneClassSVM())


def _lof(seed, n_features):
    from sklearn.neighbors import LocalOutlierFactor
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    return make_pipeline(StandardScaler(), LocalOutlierFactor(novelty=True))


_PYOD_MODULES = {
    "AutoEncoder": "pyod.models.auto_encoder",
    "VAE": "pyod.models.vae",
    "DeepSVDD": "pyod.models.deep_svdd",
    "ECOD": "pyod.models.ecod",
}


def _pyod(class_name):
    def make(seed, n_features):
        cls = getattr(importlib.import_module(_PYOD_MODULES[class_name]), class_name)
        kwargs = {"verbose": 0, "random_state": seed}
        if "n_features" in inspect.signature(cls).parameters:
            kwargs["n_features"] = n_features  # PyOD's DeepSVDD requires it
        return _with_supported(cls, **kwargs)

    return make


def registry():
    """Every detector of the comparison, in table order."""
    return [
        Detector("skanomaly.AutoEncoder", "skanomaly", _skanomaly("AutoEncoder"), "normality"),
        Detector("skanomaly.VAE", "skanomaly", _skanomaly("VAE"), "normality"),
        Detector("skanomaly.DeepSVDD", "skanomaly", _skanomaly("DeepSVDD"), "normality"),
        Detector("skanomaly.GradCon", "skanomaly", _skanomaly("GradCon"), "normality"),
        Detector("sklearn.IsolationForest", "sklearn", _isolation_forest, "normality"),
        Detector("sklearn.OCSVM", "sklearn", _ocsvm, "normality"),
        Detector("sklearn.LOF", "sklearn", _lof, "normality"),
        Detector("pyod.AutoEncoder", "pyod", _pyod("AutoEncoder"), "anomaly"),
        Detector("pyod.VAE", "pyod", _pyod("VAE"), "anomaly"),
        Detector("pyod.DeepSVDD", "pyod", _pyod("DeepSVDD"), "anomaly"),
        Detector("pyod.ECOD", "pyod", _pyod("ECOD"), "anomaly"),
    ]


def select_detectors(detectors, tokens):
    """Keep the detectors that a token names: the display name
    (``pyod.ECOD``), the name after the dot (``AutoEncoder`` picks both
    autoencoders) or the library (``sklearn``); case-insensitive."""
    if not tokens:
        return list(detectors)
    unknown = [t for t in tokens if not any(d.matches(t) for d in detectors)]
    if unknown:
        raise SystemExit(
            f"Unknown detector(s): {', '.join(unknown)}. "
            f"Available: {', '.join(d.name for d in detectors)}"
        )
    return [d for d in detectors if any(d.matches(t) for t in tokens)]


def _import_tensorflow_quietly():
    """Import TensorFlow with file descriptor 2 sent to /dev/null: its C++
    start-up lines ("Could not find cuda drivers", ...) come before any log
    level applies. Python errors still surface, once stderr is back."""
    sys.stderr.flush()
    saved = os.dup(2)
    devnull = os.open(os.devnull, os.O_WRONLY)
    try:
        os.dup2(devnull, 2)
        import tensorflow  # noqa: F401
        import keras  # noqa: F401
    finally:
        os.dup2(saved, 2)
        os.close(saved)
        os.close(devnull)


def drop_unavailable(detectors):
    """Leave out PyOD's detectors, with a note, when PyOD cannot be imported."""
    if not any(d.library == "pyod" for d in detectors):
        return detectors
    try:
        for module in _PYOD_MODULES.values():
            importlib.import_module(module)
    except ImportError as exc:
        print(
            f"Note: PyOD is not usable ({exc}); skipping its detectors "
            "(pip install -e '.[benchmarks]')."
        )
        return [d for d in detectors if d.library != "pyod"]
    return detectors


# --------------------------------------------------------------------------
# one (data set, seed, detector)


def _one_line(text, limit=300):
    text = " ".join(str(text).split())
    return text if len(text) <= limit else text[: limit - 3] + "..."


def run_one(detector, seed, X_train, X_test, y_test, y_train=None):
    """Fit on ``X_train`` (and, for a detector that takes labels, on part
    of ``y_train``), score ``X_test``; never raises.

    Returns the metrics, the seconds, the error (empty when none) and the
    warnings raised on the way. A detector that raises gets NaN metrics;
    the seconds measured before the error are kept.
    """
    result = {
        "roc_auc": math.nan,
        "average_precision": math.nan,
        "fit_seconds": math.nan,
        "score_seconds": math.nan,
        "error": "",
    }
    estimator = None
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            estimator = detector.make(seed, X_train.shape[1])
            start = time.perf_counter()
            detector.fit(estimator, X_train, y_train, seed)
            result["fit_seconds"] = time.perf_counter() - start
            start = time.perf_counter()
            if detector.convention == "normality":
                scores = estimator.score_samples(X_test)
            else:
                scores = estimator.decision_function(X_test)
            result["score_seconds"] = time.perf_counter() - start
            result["roc_auc"] = anomaly_roc_auc_score(
                y_test, scores, score_convention=detector.convention
            )
            result["average_precision"] = anomaly_average_precision_score(
                y_test, scores, score_convention=detector.convention
            )
        except Exception as exc:  # noqa: BLE001 - recorded, the run goes on
            result["roc_auc"] = result["average_precision"] = math.nan
            result["error"] = _one_line(f"{type(exc).__name__}: {exc}")
    del estimator
    if detector.library == "skanomaly":
        import keras

        keras.backend.clear_session()
    gc.collect()
    messages = sorted({_one_line(f"{w.category.__name__}: {w.message}", 160) for w in caught})
    return result, messages


#: Parameters that make a fit as short as it gets, where a detector has them
#: (two epochs: a loss profile takes two snapshots at least, one an epoch).
SHORTEST_FIT = {"epochs": 2, "epoch_num": 2, "warm_up_epochs": 1, "n_snapshots": 2}


def shortest_fit(estimator):
    """``estimator`` set to the shortest fit it allows (see SHORTEST_FIT),
    for an untimed warm-up."""
    params = estimator.get_params()
    return estimator.set_params(**{k: v for k, v in SHORTEST_FIT.items() if k in params})


def warm_up(detectors):
    """One small untimed fit of each deep detector, so that the timed runs
    leave out the process's one-off start-up (TensorFlow's and PyTorch's
    first graph, kernels and allocations), which would otherwise fall on
    whichever data set comes first."""
    rng = np.random.RandomState(0)
    X_train, X_test = rng.normal(size=(64, 4)), rng.normal(size=(32, 4))
    y_train = np.r_[np.zeros(56, dtype=int), np.ones(8, dtype=int)]
    for detector in detectors:
        if detector.library not in ("skanomaly", "pyod"):
            continue
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            try:
                estimator = detector.make(0, X_train.shape[1])
                shortest_fit(estimator)
                detector.fit(estimator, X_train, y_train, 0)
                if detector.convention == "normality":
                    estimator.score_samples(X_test)
                else:
                    estimator.decision_function(X_test)
            except Exception:  # noqa: BLE001 - the timed run will record it
                pass


# --------------------------------------------------------------------------
# the rows CSV


def _format(value):
    if isinstance(value, float):
        return "" if math.isnan(value) else repr(round(value, 6))
    return str(value)


def read_rows(path):
    """The rows of the CSV as dicts of strings; ``[]`` when absent."""
    path = Path(path)
    if not path.exists() or path.stat().st_size == 0:
        return []
    with path.open(newline="") as f:
        reader = csv.DictReader(f)
        if reader.fieldnames != COLUMNS:
            raise SystemExit(
                f"{path} has columns {reader.fieldnames}, expected {COLUMNS}; "
                "move it away or pick another --output."
            )
        return list(reader)


def _key(row):
    return (row["dataset"], int(row["seed"]), row["detector"])


def rewrite_rows(path, rows):
    """Replace the CSV by ``rows`` (atomically)."""
    tmp = Path(path).with_suffix(".tmp")
    with tmp.open("w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=COLUMNS, lineterminator="\n")
        writer.writeheader()
        writer.writerows(rows)
    os.replace(tmp, path)


def append_row(path, row):
    """Append one row (header first on a new file) and flush it to disk."""
    path = Path(path)
    new = not path.exists() or path.stat().st_size == 0
    with path.open("a", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=COLUMNS, lineterminator="\n")
        if new:
            writer.writeheader()
        writer.writerow({k: _format(row[k]) for k in COLUMNS})
        f.flush()
        os.fsync(f.fileno())


# --------------------------------------------------------------------------
# the report


def _versions():
    out = []
    for module in ("skanomaly", "sklearn", "keras", "tensorflow", "pyod", "torch"):
        try:
            out.append(f"{module} {importlib.import_module(module).__version__}")
        except Exception:  # noqa: BLE001 - not installed
            pass
    return ", ".join(out)


def _cpu_count():
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()


# --------------------------------------------------------------------------
# selection scripts (*_select.py): candidate defaults on part of the data


def chosen_candidates(argv, candidates, script):
    """The candidates named on the command line (all when none), and the
    command line as it is shown in the report."""
    names = argv or list(candidates)
    unknown = [n for n in names if n not in candidates]
    if unknown:
        raise SystemExit(f"Unknown candidates {unknown}; known: {list(candidates)}")
    return names, shlex.join(["python", f"benchmarks/{script}", *argv])


def candidate_call(candidate, candidates):
    """How a candidate makes its detector, as code: ``Class(name=value)``."""
    class_name, params = candidates.get(candidate, ("?", {}))
    return f"{class_name}({', '.join(f'{k}={v!r}' for k, v in params.items())})"


def read_candidate_rows(path):
    """The rows a selection script has stored (a JSON list), or none."""
    return json.loads(path.read_text()) if path.exists() else []


def store_candidate_row(path, rows, row):
    """``rows`` with ``row`` in place of its candidate's earlier one, written
    to ``path``; returned."""
    rows = [r for r in rows if r["candidate"] != row["candidate"]] + [row]
    path.write_text(json.dumps(rows, indent=1) + "\n")
    return rows


def machine_line():
    """The last line of a selection report."""
    return (
        f"Machine: {_cpu_count()} cores; {_versions()}. Timings are "
        "wall clock and vary with what else runs on the machine."
    )


def _frame(rows, datasets, seeds, detectors):
    """The selected rows as a DataFrame (numbers parsed, duplicates dropped)."""
    import pandas as pd

    frame = pd.DataFrame(rows, columns=COLUMNS)
    if frame.empty:
        return frame
    frame["seed"] = frame["seed"].astype(int)
    for column in ("roc_auc", "average_precision", "fit_seconds", "score_seconds"):
        frame[column] = pd.to_numeric(frame[column], errors="coerce")
    frame["error"] = frame["error"].fillna("")
    frame = frame[
        frame["dataset"].isin([d.name for d in datasets])
        & frame["seed"].isin(list(seeds))
        & frame["detector"].isin([d.name for d in detectors])
    ]
    return frame.drop_duplicates(list(KEY), keep="last")


def _metric_table(frame, metric, dataset_names, detector_names, n_seeds):
    """Markdown lines: data set x detector of the mean over seeds, then the
    mean and the average rank; also the per-detector means (for the plot)."""
    import pandas as pd

    valid = frame[frame["error"] == ""]
    means = valid.pivot_table(index="dataset", columns="detector", values=metric, aggfunc="mean")
    counts = valid.pivot_table(index="dataset", columns="detector", values=metric, aggfunc="count")
    tried = frame.pivot_table(index="dataset", columns="detector", values="seed", aggfunc="count")
    means = means.reindex(index=dataset_names, columns=detector_names)
    counts = counts.reindex(index=dataset_names, columns=detector_names).fillna(0)
    tried = tried.reindex(index=dataset_names, columns=detector_names).fillna(0)

    lines = [
        "| data set | " + " | ".join(detector_names) + " |",
        "|---|" + "---:|" * len(detector_names),
    ]
    for name in dataset_names:
        cells = []
        for det in detector_names:
            value = means.at[name, det]
            if pd.notna(value):
                mark = "*" if counts.at[name, det] < n_seeds else ""
                cells.append(f"{value:.3f}{mark}")
            else:
                cells.append("error" if tried.at[name, det] > 0 else "–")
        lines.append(f"| {name} | " + " | ".join(cells) + " |")

    column_means = means.mean(axis=0)  # each detector over its own data sets
    ranks = means.rank(axis=1, ascending=False, method="average").mean(axis=0)
    lines.append(
        "| **mean** | "
        + " | ".join("–" if pd.isna(column_means[d]) else f"{column_means[d]:.3f}" for d in detector_names)
        + " |"
    )
    lines.append(
        "| **average rank** | "
        + " | ".join("–" if pd.isna(ranks[d]) else f"{ranks[d]:.2f}" for d in detector_names)
        + " |"
    )
    return lines, column_means, means.notna().sum(axis=0)


def write_report(
    output, stem, title, command, protocol, data_folder, rows, datasets, seeds, detectors,
    max_rows=DEFAULT_MAX_ROWS,
):
    """Write ``<stem>.md`` and ``<stem>_roc_auc.png`` from the rows of the
    current selection; return the Markdown text."""
    frame = _frame(rows, datasets, seeds, detectors)
    detector_names = [d.name for d in detectors]
    n_seeds = len(seeds)
    n_expected = len(datasets) * n_seeds
    seeds_text = ", ".join(str(s) for s in seeds)
    seeds_words = ("seeds " if n_seeds > 1 else "seed ") + seeds_text

    lines = [
        f"# {title}",
        "",
        f"Command: `{command}`",
        "",
        f"Run {time.strftime('%Y-%m-%d %H:%M')}, {platform.machine()}, {_cpu_count()} cores, "
        f"Python {platform.python_version()}; {_versions()}. Data: `{data_folder}`; "
        f"{seeds_words}; at most {max_rows:,} training and {max_rows:,} test rows.",
        "",
        "## " + protocol.strip().split("\n", 1)[0].strip(),
        "",
        protocol.strip().split("\n", 1)[-1].strip(),
        "",
    ]
    if frame.empty:
        lines += ["No results yet.", ""]
        text = "\n".join(lines)
        Path(output, f"{stem}.md").write_text(text)
        return text

    dataset_names = [d.name for d in datasets if d.name in set(frame["dataset"])]
    valid = frame[frame["error"] == ""]
    done = valid.groupby("detector").size().reindex(detector_names).fillna(0).astype(int)
    present = frame.groupby("detector").size().reindex(detector_names).fillna(0).astype(int)
    complete = (
        valid.groupby(["detector", "dataset"]).size().ge(n_seeds).groupby("detector").sum()
        .reindex(detector_names).fillna(0).astype(int)
    )
    errors = frame[frame["error"] != ""]
    partial = bool((present < n_expected).any())
    n_errors = errors.groupby("detector").size().reindex(detector_names).fillna(0).astype(int)

    lines += [
        f"## Results\n\nMean over {seeds_words} of the test score; one row per data set, "
        "one column per detector. A `*` marks a mean over fewer seeds than asked "
        "for (not run yet, or an error), `error` a cell where every seed failed, "
        "`–` one not run. **mean**: each detector's mean over the data sets it has; "
        "**average rank**: detectors ranked on each data set by the mean "
        "(1 = best, ties averaged), averaged over the data sets.",
        "",
    ]
    if partial or not errors.empty:
        lines += [
            ("**Partial run**" if partial else "**Complete run, with errors**")
            + f": {len(datasets)} data sets x {n_seeds} {seeds_words.split()[0]} make "
            f"{n_expected} runs per detector. "
            + "; ".join(
                f"{d}: {complete[d]}/{len(datasets)} data sets complete, "
                f"{present[d]}/{n_expected} runs done"
                + (f" ({n_errors[d]} failed)" if n_errors[d] else "")
                for d in detector_names
            )
            + ". (A data set is complete for a detector when every seed ran "
            "without error.) Means and ranks over unequal sets of data sets "
            "are not directly comparable.",
            "",
        ]

    lines += ["## ROC AUC (test)", ""]
    auc_lines, auc_means, auc_counts = _metric_table(
        frame, "roc_auc", dataset_names, detector_names, n_seeds
    )
    lines += auc_lines + ["", "## Average precision (test)", ""]
    ap_lines, _, _ = _metric_table(
        frame, "average_precision", dataset_names, detector_names, n_seeds
    )
    lines += ap_lines + ["", "## Seconds", ""]

    lines += [
        "Mean over the runs without error (each one data set and seed, at most "
        "the capped training and test sizes).",
        "",
        "| detector | mean fit (s) | mean score (s) | total fit + score (s) | runs | errors |",
        "|---|---:|---:|---:|---:|---:|",
    ]
    for det in detector_names:
        rows_det = valid[valid["detector"] == det]
        n_err = int((errors["detector"] == det).sum())
        if rows_det.empty:
            lines.append(f"| {det} | – | – | – | 0 | {n_err} |")
            continue
        fit, score = rows_det["fit_seconds"], rows_det["score_seconds"]
        lines.append(
            f"| {det} | {fit.mean():.2f} | {score.mean():.3f} | "
            f"{fit.sum() + score.sum():.0f} | {len(rows_det)} | {n_err} |"
        )
    lines.append("")

    if not errors.empty:
        lines += ["## Errors", "", "| data set | seed | detector | error |", "|---|---:|---|---|"]
        for _, row in errors.iterrows():
            lines.append(
                f"| {row['dataset']} | {row['seed']} | {row['detector']} | "
                f"{row['error'].replace('|', '/')} |"
            )
        lines.append("")

    text = "\n".join(lines)
    Path(output, f"{stem}.md").write_text(text)
    _plot(
        Path(output, f"{stem}_roc_auc.png"),
        title,
        auc_means.dropna(),
        auc_counts,
        seeds_words,
        {d.name: d.library for d in detectors},
    )
    return text


_COLOURS = {"skanomaly": "tab:blue", "sklearn": "tab:orange", "pyod": "tab:green"}


def _plot(path, title, means, counts, seeds_words, libraries):
    """Horizontal bars: each detector's mean ROC AUC over its data sets."""
    if means.empty:
        return
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    means = means.sort_values()
    labels = [f"{d} ({counts[d]})" for d in means.index]
    fig, ax = plt.subplots(figsize=(7.5, 0.42 * len(means) + 2.0))
    ax.barh(labels, means.values, color=[_COLOURS.get(libraries[d], "grey") for d in means.index])
    for y, value in enumerate(means.values):
        ax.text(value + 0.003, y, f"{value:.3f}", va="center", fontsize=8)
    low = min(0.5, float(means.min()) - 0.05)
    ax.set_xlim(max(0.0, low), float(means.max()) + 0.05)
    ax.axvline(0.5, color="grey", lw=0.8, ls="--")
    ax.set_xlabel("mean test ROC AUC")
    handles = [
        plt.Rectangle((0, 0), 1, 1, color=colour)
        for lib, colour in _COLOURS.items() if lib in set(libraries.values())
    ]
    fig.legend(
        handles, [lib for lib in _COLOURS if lib in set(libraries.values())],
        loc="lower center", ncol=3, fontsize=8, frameon=False,
    )
    ax.set_title(
        f"{title}\nmean over the data sets done (number in brackets), {seeds_words}",
        fontsize=9,
    )
    fig.tight_layout(rect=(0, 0.35 / fig.get_figheight(), 1, 1))
    fig.savefig(path, dpi=120)
    plt.close(fig)


# --------------------------------------------------------------------------
# the command line and the loop


def build_parser(doc, default_data, what):
    parser = argparse.ArgumentParser(
        description=doc.split("\n")[0],
        epilog="Detectors: " + ", ".join(d.name for d in registry()),
    )
    parser.add_argument(
        "data",
        nargs="?",
        default=str(default_data),
        help=f"folder of the {what} .npz files (default: {default_data})",
    )
    parser.add_argument(
        "--datasets",
        nargs="+",
        metavar="NAME",
        help="only these data sets, by the name after the prefix (case-insensitive)",
    )
    parser.add_argument(
        "--seeds", nargs="+", type=int, default=list(DEFAULT_SEEDS), metavar="SEED",
        help="split seeds, also the detectors' random_state (default: 0 1 2)",
    )
    parser.add_argument(
        "--detectors",
        nargs="+",
        metavar="NAME",
        help="only these detectors: a display name (pyod.ECOD), the part after "
        "the dot (AutoEncoder: both) or a library (skanomaly, sklearn, pyod)",
    )
    parser.add_argument("--output", default=str(RESULTS), help=f"results folder (default: {RESULTS})")
    parser.add_argument(
        "--max-rows",
        type=int,
        default=DEFAULT_MAX_ROWS,
        help="cap on training and on test rows (default: %(default)s); not part of "
        "the resume key, so use another --output for another cap",
    )
    parser.add_argument(
        "--fresh",
        action="store_true",
        help="rerun the selected (data set, seed, detector) rows even if present",
    )
    parser.add_argument(
        "--retry-errors",
        action="store_true",
        help="rerun the selected rows that are present with an error",
    )
    return parser


def _shown_path(path):
    """``path`` relative to the repository root when it is near it."""
    relative = os.path.relpath(Path(path).resolve(), REPO)
    return relative if relative.count("..") <= 1 else str(Path(path).resolve())


def run(
    *, script, stem, title, doc, default_data, pattern, prefix, what, argv=None,
    extra_detectors=(), detectors=None,
):
    """Parse the command line and run the benchmark it asks for, on
    ``detectors`` (by default the :func:`registry`'s) and
    ``extra_detectors`` after them."""
    parser = build_parser(doc, default_data, what)
    args = parser.parse_args(argv)
    argv = sys.argv[1:] if argv is None else list(argv)
    command = shlex.join(["python", script, *argv])
    if args.max_rows < 2:
        parser.error("--max-rows must be at least 2")

    datasets = select_datasets(find_datasets(args.data, pattern, prefix), args.datasets)
    detectors = drop_unavailable(
        select_detectors(
            [*(registry() if detectors is None else detectors), *extra_detectors],
            args.detectors,
        )
    )
    if not detectors:
        raise SystemExit("No detector left to run.")
    seeds = list(dict.fromkeys(args.seeds))
    if any(d.library == "skanomaly" for d in detectors):
        _import_tensorflow_quietly()
    protocol = "Protocol" + doc.split("\nProtocol", 1)[-1] if "\nProtocol" in doc else doc

    output = Path(args.output)
    output.mkdir(parents=True, exist_ok=True)
    csv_path = output / f"{stem}_rows.csv"
    rows = read_rows(csv_path)

    selection = {(d.name, s, det.name) for d in datasets for s in seeds for det in detectors}
    if args.fresh or args.retry_errors:
        keep = [
            r for r in rows
            if _key(r) not in selection or not (args.fresh or r["error"])
        ]
        if len(keep) < len(rows):
            print(f"Dropping {len(rows) - len(keep)} rows to rerun them.")
            rewrite_rows(csv_path, keep)
            rows = keep
    done = {_key(r) for r in rows}
    todo = len(selection - done)
    print(
        f"{len(datasets)} data sets x {len(seeds)} seeds x {len(detectors)} detectors: "
        f"{len(selection) - todo} runs already in {csv_path}, {todo} to run."
    )

    def report():
        return write_report(
            output, stem, title, command, protocol, _shown_path(args.data),
            read_rows(csv_path), datasets, seeds, detectors, args.max_rows,
        )

    # Smallest data sets first, so that a partial run has many complete ones.
    sizes = {}
    for data in datasets:
        with np.load(data.path) as npz:
            sizes[data.name] = npz["X"].shape
    order = sorted(datasets, key=lambda d: (min(sizes[d.name][0], 2 * args.max_rows), sizes[d.name][1]))

    start_all = time.perf_counter()
    if todo:
        print("Warming up: one small untimed fit of each deep detector.", flush=True)
        warm_up(detectors)
    for data in order:
        pending = [
            (seed, det) for seed in seeds for det in detectors
            if (data.name, seed, det.name) not in done
        ]
        if not pending:
            continue
        X, y = load(data.path)
        print(
            f"\n{data.name}: {X.shape[0]:,} rows x {X.shape[1]} features, "
            f"{y.mean():.2%} anomalies",
            flush=True,
        )
        for seed in seeds:
            todo_seed = [det for s, det in pending if s == seed]
            if not todo_seed:
                continue
            X_train, X_test, y_train, y_test = split(X, y, seed, args.max_rows)
            for det in todo_seed:
                result, messages = run_one(det, seed, X_train, X_test, y_test, y_train)
                row = {
                    "dataset": data.name,
                    "n_train": X_train.shape[0],
                    "n_test": X_test.shape[0],
                    "n_features": X.shape[1],
                    "anomaly_rate": float(y.mean()),
                    "seed": seed,
                    "detector": det.name,
                    **result,
                }
                append_row(csv_path, row)
                if result["error"]:
                    status = f"ERROR {result['error']}"
                else:
                    status = (
                        f"AUC {result['roc_auc']:.3f}  AP {result['average_precision']:.3f}  "
                        f"fit {result['fit_seconds']:7.2f}s  score {result['score_seconds']:6.2f}s"
                    )
                print(f"  seed {seed}  {det.name:<24} {status}", flush=True)
                for message in messages[:3]:
                    print(f"      warning: {message}", flush=True)
            del X_train, X_test, y_train, y_test
        del X, y
        gc.collect()
        report()

    text = report()
    print(f"\nDone in {time.perf_counter() - start_all:.0f} s.\n")
    marker = "## Results"
    print(marker + text.split(marker, 1)[1] if marker in text else text)
    print(f"\nRows: {csv_path}\nReport: {output / (stem + '.md')}")
