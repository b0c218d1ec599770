"""Few-shot MNIST: meta-learners adapted to an unseen anomaly from 1 or 5 examples, beside a classifier on them and our best unsupervised detector.

    python benchmarks/few_shot.py                                     # the full protocol
    python benchmarks/few_shot.py --seeds 0 --shots 1 --normal-digits 0 1 --anomaly-digits 7 \\
        --epochs 2 --max-train 200 --output /tmp/few_shot_smoke      # a smoke test
    python benchmarks/few_shot.py --detectors PrototypicalDetector Unsupervised

Rerunning a command skips the (seed, detector, task) rows already in the
rows CSV, so an interrupted run goes on where it stopped; ``--fresh``
reruns them, ``--retry-errors`` reruns only the ones that failed.
``--help`` lists the options and the detector names. A run with
``--epochs``, or with another ``--max-train``, ``--normals-per-task``,
``--anomalies-per-task``, ``--support-normals`` or ``--query-anomalies``
than the default, is a smoke test: it must go to another ``--output``, so
that its rows do not mix with the real ones (the script refuses the
default folder for it). Choosing fewer seeds, shots, digits or detectors
is not: those rows are rows of the full protocol.

Protocol

* Data: MNIST from ``../shared/data/mnist/mnist.npz`` (from the repository
  root), read by ``skanomaly.datasets.load_mnist_one_class``: 28x28
  grayscale digits in [0, 1], flattened to 784 features for the dense
  detectors (the two meta-learners and the supervised one).
* A task: one digit is normal, another one the anomaly.
* Meta-training set, for each seed (0, 1, 2), from MNIST's training split
  only: for every ordered pair (a, b) of the digits 0 to 6 with a != b (42
  tasks), 100 images of a labelled -1 (unlabelled, taken as normal) and 10
  images of b labelled 1 (``--normals-per-task``,
  ``--anomalies-per-task``), each drawn without replacement; ``groups`` is
  the task's index. Draws with ``numpy.random.RandomState(seed)``, one
  stream for the whole seed: the 42 tasks first, then the new tasks.
* New tasks: normal digit a in 0 to 6, anomaly digit b in 7, 8 or 9, an
  anomaly no meta-training task holds (21 tasks). Support set, from the
  training split: k labelled anomalies, images of b (k = 1 or 5,
  ``--shots``), and 20 normal images of a (``--support-normals``) that no
  meta-training task of the seed holds (as normal or as anomaly); the
  same draw serves every k, so the 1-shot support set is part of the
  5-shot one and both have the same normals. Query set, from MNIST's test
  split: every test image of a (892 to 1,135) and 100 test images of b
  (``--query-anomalies``, drawn). The support set never depends on the
  detectors, digits or shots run.
* Metric: ROC AUC on the query set, anomalies the positive class, from
  ``score_samples`` (higher is more normal); wall-clock seconds of the
  fit (the meta-training, for a meta-learner), of ``adapt`` and of
  scoring the query set, after one small untimed fit of each detector
  (TensorFlow's one-off start-up left out).
* Detectors, ``random_state=seed``, no progress output, each at k shots
  (``...@k``) but the unsupervised one:

  - ``PrototypicalDetector@k``: skanomaly ``PrototypicalDetector(
    n_support_anomalies=k)``, otherwise at its defaults, fitted once per
    seed and k on the meta-training set with its ``groups``; for each new
    task a deep copy of it is adapted to the support set (``adapt``, the
    normals labelled 0) and scores the query set;
  - ``MAMLDetector@k``: skanomaly ``MAMLDetector(n_support_anomalies=k)``,
    the same way;
  - ``Supervised@k``: the supervised route of ``semi_supervised.py``
    (the same construction, imported from it), ``KerasDetector(
    objective="classification")`` with a dense network (64 then 32 ReLU
    units, a sigmoid output) on standardised pixels, the classes weighted
    to balance, trained on the support set alone: k anomalies labelled 1
    and 20 normals labelled 0;
  - ``Unsupervised``: our best unsupervised detector of one-class MNIST,
    skanomaly ``PaDiM`` on the pretrained SqueezeNet 1.1
    (``../shared/data/weights/squeezenet1_1_imagenet_notop.h5``, the
    digits resized to 64x64 on their way in, ``input_size=64``): 97.1
    mean ROC AUC over the ten digits, trained on all their training images
    (``results/mnist_one_class_full``), where the best of the others
    trained on 2,000 a digit reached 95.2 (``results/mnist_one_class.md``).
    It is trained as ``mnist_one_class.py`` trains it, on 2,000 training
    images of the normal digit a (``--max-train``, the subsample of that
    script, drawn with ``RandomState(seed)``), once per seed and normal
    digit, without labels, and scores the query set of each of a's new
    tasks. Its rows have k = 0 and it is shown beside every k.
* A detector that raises gets a NaN ROC AUC and its error in the
  ``error`` column; the run goes on (a failed meta-training fails each
  of its tasks).

Output, in ``benchmarks/results/`` (``--output``): ``few_shot_rows.csv``,
one row per (seed, detector, task), appended and flushed as each
finishes; ``few_shot.md``, the tables (mean ROC AUC per detector and
anomaly digit at each k, over the normal digits and seeds; the seconds;
the mean over seeds per task) with this command, rewritten after each
(seed, detector), so a partial run has tables.
"""

import argparse
import copy
import csv
import math
import os
import platform
import shlex
import sys
import time
import warnings
from dataclasses import dataclass
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import _protocol  # noqa: E402  (sets TF_CPP_MIN_LOG_LEVEL before TensorFlow)
import numpy as np  # noqa: E402

# skanomaly.datasets imports TensorFlow: without its C++ start-up lines.
_protocol._import_tensorflow_quietly()

from mnist_one_class import DEFAULT_DATA, WEIGHTS, _subsample  # noqa: E402
from semi_supervised import _keras_classifier  # noqa: E402

from skanomaly.datasets import load_mnist_one_class  # noqa: E402
from skanomaly.metrics import anomaly_roc_auc_score  # noqa: E402

RESULTS = _protocol.RESULTS
STEM = "few_shot"
META_DIGITS = tuple(range(7))  # the normal digits, and the meta-training anomalies
NEW_DIGITS = (7, 8, 9)  # the anomalies of the new tasks, never meta-trained on
N_PIXELS = 28 * 28

# The protocol's sizes; another value of any of them makes a smoke test.
DEFAULTS = {
    "normals_per_task": 100,
    "anomalies_per_task": 10,
    "support_normals": 20,
    "query_anomalies": 100,
    "max_train": 2000,
}

COLUMNS = [
    "seed", "shots", "detector", "normal_digit", "anomaly_digit",
    "n_fit", "n_support", "n_query", "epochs",
    "roc_auc", "fit_seconds", "adapt_seconds", "score_seconds", "error",
]
KEY = ("seed", "detector", "normal_digit", "anomaly_digit")


# --------------------------------------------------------------------------
# detectors


@dataclass(frozen=True)
class Detector:
    """A detector of the comparison.

    ``kind`` says how it meets a new task: ``"meta"`` is fitted once per
    seed on the meta-training tasks and adapted to each new task's support
    set; ``"supervised"`` is fitted on each support set alone;
    ``"unsupervised"`` is fitted once per seed and normal digit, on that
    digit's training images, without labels.
    """

    base: str  # the name without its shots: "PrototypicalDetector"
    kind: str
    shots: int  # labelled anomalies in the support set; 0 without labels
    make: object  # make(seed, epochs) -> an unfitted estimator

    @property
    def name(self):
        return self.base if self.shots == 0 else f"{self.base}@{self.shots}"

    def matches(self, token):
        return token.lower() in (self.name.lower(), self.base.lower())


def _meta_learner(class_name, shots):
    def make(seed, epochs):
        import skanomaly

        # Imported here: a class skanomaly lacks fails its own rows only.
        cls = getattr(skanomaly, class_name)
        params = {"n_support_anomalies": shots, "random_state": seed, "verbose": 0}
        if epochs is not None:
            params["epochs"] = epochs
        return cls(**params)

    return make


def _supervised(seed, epochs):
    estimator = _keras_classifier(seed, N_PIXELS)
    if epochs is not None:
        estimator.set_params(epochs=epochs)
    return estimator


def _padim(seed, epochs):
    import skanomaly

    # 28x28 digits are below the 31x31 SqueezeNet's stride-16 layers need.
    return skanomaly.PaDiM(weights=str(WEIGHTS), input_size=64, random_state=seed)


META_LEARNERS = ("PrototypicalDetector", "MAMLDetector")
LABELLED = (*META_LEARNERS, "Supervised")
UNSUPERVISED = "Unsupervised"
KINDS = {"PrototypicalDetector": "meta", "MAMLDetector": "meta",
         "Supervised": "supervised", UNSUPERVISED: "unsupervised"}


def detectors(shots):
    """The detectors of the comparison at each number of ``shots``, in
    table order, the unsupervised one last."""
    found = []
    for k in shots:
        for base in LABELLED:
            make = _supervised if base == "Supervised" else _meta_learner(base, k)
            found.append(Detector(base, KINDS[base], k, make))
    return found + [Detector(UNSUPERVISED, "unsupervised", 0, _padim)]


def select(available, tokens):
    """The detectors named by ``tokens`` (a full name such as
    ``Supervised@5``, or a name without its shots for every k),
    case-insensitive; all when empty."""
    if not tokens:
        return list(available)
    unknown = [t for t in tokens if not any(d.matches(t) for d in available)]
    if unknown:
        raise SystemExit(
            f"Unknown detector(s): {', '.join(unknown)}. "
            f"Available: {', '.join(d.name for d in available)}"
        )
    return [d for d in available if any(d.matches(t) for t in tokens)]


# --------------------------------------------------------------------------
# data and tasks


@dataclass
class Mnist:
    train: dict  # digit -> its training images, (n, 28, 28) float32 in [0, 1]
    X_test: np.ndarray  # (10000, 28, 28)
    digits_test: np.ndarray


def load_mnist(path):
    """Every digit's training images and the test set."""
    train = {}
    for digit in range(10):
        data = load_mnist_one_class(digit, path=path, download_if_missing=False)
        train[digit] = data.X_train
    # Every call returns the same test set.
    return Mnist(train, data.X_test, np.asarray(data.digits_test))


@dataclass
class Tasks:
    """One seed's draw: the meta-training set and the new tasks' indices."""

    X_meta: np.ndarray  # (n, 784)
    y_meta: np.ndarray  # -1 normal (unlabelled), 1 anomaly
    groups_meta: np.ndarray
    support_anomalies: dict  # (a, b) -> indices into train[b], the first k used
    support_normals: dict  # (a, b) -> indices into train[a]
    query_anomalies: dict  # (a, b) -> indices into the test set


def draw_tasks(mnist, seed, sizes):
    """The meta-training set and the new tasks' support and query draws
    of ``seed``, always for every task, so that they never depend on which
    tasks, shots or detectors are run."""
    rng = np.random.RandomState(seed)
    n_train = {d: len(images) for d, images in mnist.train.items()}
    n_test = {d: int(np.sum(mnist.digits_test == d)) for d in NEW_DIGITS}
    fewest = min(n_train[d] for d in META_DIGITS)
    for option, wanted, have in [
        ("--normals-per-task", sizes["normals_per_task"], fewest),
        ("--anomalies-per-task", sizes["anomalies_per_task"], fewest),
        ("--query-anomalies", sizes["query_anomalies"], min(n_test.values())),
    ]:
        if wanted > have:
            raise SystemExit(f"{option} {wanted} is more than the {have} images a digit has.")
    X, y, groups = [], [], []
    used = {d: [] for d in META_DIGITS}  # meta-training images of each digit
    pairs = [(a, b) for a in META_DIGITS for b in META_DIGITS if a != b]
    for task, (a, b) in enumerate(pairs):
        normals = rng.choice(n_train[a], sizes["normals_per_task"], replace=False)
        anomalies = rng.choice(n_train[b], sizes["anomalies_per_task"], replace=False)
        used[a].append(normals)
        used[b].append(anomalies)
        X += [mnist.train[a][normals], mnist.train[b][anomalies]]
        y += [np.full(len(normals), -1), np.ones(len(anomalies), dtype=int)]
        groups.append(np.full(len(normals) + len(anomalies), task))

    support_anomalies, support_normals, query_anomalies = {}, {}, {}
    for a in META_DIGITS:
        pool = np.setdiff1d(np.arange(n_train[a]), np.concatenate(used[a]))
        if len(pool) < sizes["support_normals"]:
            raise SystemExit(
                f"Only {len(pool)} training images of {a} are outside the "
                f"meta-training tasks, fewer than --support-normals "
                f"{sizes['support_normals']}: lower --normals-per-task."
            )
        for b in NEW_DIGITS:
            # Whole permutations, cut afterwards: the draw does not depend
            # on k, on the support or query sizes.
            support_anomalies[a, b] = rng.permutation(n_train[b])
            support_normals[a, b] = rng.permutation(pool)[: sizes["support_normals"]]
            tests = np.flatnonzero(mnist.digits_test == b)
            query_anomalies[a, b] = rng.permutation(tests)[: sizes["query_anomalies"]]
    X = np.concatenate(X).reshape(-1, N_PIXELS)
    return Tasks(X, np.concatenate(y), np.concatenate(groups),
                 support_anomalies, support_normals, query_anomalies)


def support_set(mnist, tasks, a, b, shots):
    """The task's support set: ``shots`` anomalies (1), then its normals
    (0), as images."""
    anomalies = mnist.train[b][tasks.support_anomalies[a, b][:shots]]
    normals = mnist.train[a][tasks.support_normals[a, b]]
    X = np.concatenate([anomalies, normals])
    return X, np.r_[np.ones(len(anomalies), dtype=int), np.zeros(len(normals), dtype=int)]


def query_set(mnist, tasks, a, b):
    """Every test image of ``a`` (0) and the drawn test images of ``b`` (1)."""
    normals = np.flatnonzero(mnist.digits_test == a)
    anomalies = tasks.query_anomalies[a, b]
    X = mnist.X_test[np.r_[normals, anomalies]]
    return X, np.r_[np.zeros(len(normals), dtype=int), np.ones(len(anomalies), dtype=int)]


def flat(images):
    return images.reshape(len(images), -1)


# --------------------------------------------------------------------------
# running


def _one_line(exc, limit=300):
    text = " ".join(f"{type(exc).__name__}: {exc}".split())
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _clear_keras():
    import keras

    keras.backend.clear_session()


def _result(fit_seconds=math.nan, error=""):
    return {"roc_auc": math.nan, "fit_seconds": fit_seconds, "adapt_seconds": math.nan,
            "score_seconds": math.nan, "error": error}


def _score(estimator, X_query, y_query, result):
    start = time.perf_counter()
    scores = estimator.score_samples(X_query)
    result["score_seconds"] = time.perf_counter() - start
    result["roc_auc"] = anomaly_roc_auc_score(y_query, scores)


def run_meta(det, seed, epochs, mnist, tasks, todo, emit):
    """Meta-train once, then adapt a copy to each task of ``todo`` and
    score its query set."""
    fit_seconds, error, estimator = math.nan, "", None
    try:
        estimator = det.make(seed, epochs)
        start = time.perf_counter()
        estimator.fit(tasks.X_meta, tasks.y_meta, groups=tasks.groups_meta)
        fit_seconds = time.perf_counter() - start
    except Exception as exc:  # noqa: BLE001 - recorded, the run goes on
        error = "meta-training: " + _one_line(exc)
    for a, b in todo:
        X_support, y_support = support_set(mnist, tasks, a, b, det.shots)
        X_query, y_query = query_set(mnist, tasks, a, b)
        result = _result(fit_seconds, error)
        if not error:
            try:
                # A copy for each task: adapting may change what it learnt.
                adapted = copy.deepcopy(estimator)
                start = time.perf_counter()
                adapted.adapt(flat(X_support), y_support)
                result["adapt_seconds"] = time.perf_counter() - start
                _score(adapted, flat(X_query), y_query, result)
            except Exception as exc:  # noqa: BLE001 - recorded, the run goes on
                result["error"] = _one_line(exc)
            adapted = None
        emit(a, b, len(tasks.X_meta), len(X_support), len(X_query), result)
    del estimator
    _clear_keras()


def run_supervised(det, seed, epochs, mnist, tasks, todo, emit):
    """Fit on each task's support set alone, score its query set."""
    for a, b in todo:
        X_support, y_support = support_set(mnist, tasks, a, b, det.shots)
        X_query, y_query = query_set(mnist, tasks, a, b)
        result = _result()
        try:
            estimator = det.make(seed, epochs)
            start = time.perf_counter()
            estimator.fit(flat(X_support), y_support)
            result["fit_seconds"] = time.perf_counter() - start
            _score(estimator, flat(X_query), y_query, result)
        except Exception as exc:  # noqa: BLE001 - recorded, the run goes on
            result["error"] = _one_line(exc)
        estimator = None
        _clear_keras()
        emit(a, b, len(X_support), len(X_support), len(X_query), result)


def run_unsupervised(det, seed, epochs, mnist, tasks, todo, emit, max_train):
    """Fit on each normal digit's training images (a seeded subsample),
    score the query sets of its tasks in ``todo``."""
    for a in sorted({a for a, _ in todo}):
        images = mnist.train[a][_subsample(len(mnist.train[a]), max_train, seed)]
        fit_seconds, error, estimator = math.nan, "", None
        try:
            estimator = det.make(seed, epochs)
            start = time.perf_counter()
            estimator.fit(images)
            fit_seconds = time.perf_counter() - start
        except Exception as exc:  # noqa: BLE001 - recorded, the run goes on
            error = "fit: " + _one_line(exc)
        for b in [b for a_, b in todo if a_ == a]:
            X_query, y_query = query_set(mnist, tasks, a, b)
            result = _result(fit_seconds, error)
            if not error:
                try:
                    _score(estimator, X_query, y_query, result)
                except Exception as exc:  # noqa: BLE001 - recorded, the run goes on
                    result["error"] = _one_line(exc)
            emit(a, b, len(images), 0, len(X_query), result)
        estimator = None
        _clear_keras()


RUNNERS = {"meta": run_meta, "supervised": run_supervised, "unsupervised": run_unsupervised}


def warm_up(selected):
    """One small untimed fit of each kind of detector, so that the timed
    runs leave out TensorFlow's one-off start-up (graphs, kernels, the
    pretrained weights' first load)."""
    rng = np.random.RandomState(0)
    X = rng.uniform(size=(80, 28, 28)).astype(np.float32)
    y = np.r_[np.ones(10, dtype=int), -np.ones(30, dtype=int)]
    y_meta, groups = np.r_[y, y], np.repeat([0, 1], 40)
    y_support = np.r_[np.ones(5, dtype=int), np.zeros(20, dtype=int)]
    seen = set()
    for det in selected:
        if det.base in seen:
            continue
        seen.add(det.base)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            try:
                estimator = det.make(0, 1)
                if det.kind == "meta":
                    estimator.fit(flat(X), y_meta, groups=groups)
                    estimator.adapt(flat(X[:25]), y_support)
                    estimator.score_samples(flat(X))
                elif det.kind == "supervised":
                    estimator.fit(flat(X[:25]), y_support).score_samples(flat(X))
                else:
                    estimator.fit(X[:16]).score_samples(X[:8])
            except Exception:  # noqa: BLE001 - the timed run records it
                pass
        _clear_keras()


# --------------------------------------------------------------------------
# the rows CSV


def read_rows(path):
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


def _cell(value):
    if isinstance(value, float):
        return "" if math.isnan(value) else repr(round(value, 6))
    return "" if value is None else str(value)


def rewrite_rows(path, rows):
    tmp = path.with_suffix(".tmp")
    with tmp.open("w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=COLUMNS, lineterminator="\n")
        writer.writeheader()
        writer.writerows(rows)
    os.replace(tmp, path)


def append_row(path, row):
    new = not path.exists() or path.stat().st_size == 0
    with path.open("a", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=COLUMNS, lineterminator="\n")
        if new:
            writer.writeheader()
        writer.writerow({k: _cell(row[k]) for k in COLUMNS})
        f.flush()
        os.fsync(f.fileno())


def _key(row):
    return (int(row["seed"]), row["detector"], int(row["normal_digit"]), int(row["anomaly_digit"]))


# --------------------------------------------------------------------------
# the report


def _order(names):
    """Table order: the labelled detectors by shots, then the unsupervised one."""
    def rank(name):
        base, _, k = name.partition("@")
        known = (*LABELLED, UNSUPERVISED)
        return (int(k or 10**6), known.index(base) if base in known else len(known), name)

    return sorted(names, key=rank)


def report(rows, command, data_shown):
    """The Markdown report of every row of the CSV."""
    import pandas as pd

    lines = [
        "# Few-shot MNIST: unseen anomalies from 1 and 5 labelled examples",
        "",
        f"Command: `{command}`",
        "",
        f"Run {time.strftime('%Y-%m-%d %H:%M')}, {platform.machine()}, "
        f"{_protocol._cpu_count()} cores, Python {platform.python_version()}; "
        f"{_protocol._versions()}. Data: `{data_shown}`.",
        "",
        "## " + PROTOCOL.split("\n", 1)[0].strip(),
        "",
        PROTOCOL.split("\n", 1)[1].strip(),
        "",
    ]
    frame = pd.DataFrame(rows, columns=COLUMNS)
    if frame.empty:
        return "\n".join(lines + ["No results yet.", ""])
    for column in ("seed", "shots", "normal_digit", "anomaly_digit"):
        frame[column] = frame[column].astype(int)
    for column in ("roc_auc", "fit_seconds", "adapt_seconds", "score_seconds"):
        frame[column] = pd.to_numeric(frame[column], errors="coerce")
    frame["error"] = frame["error"].fillna("")
    frame = frame.drop_duplicates(list(KEY), keep="last")
    valid = frame[frame["error"] == ""]
    seeds = sorted(frame["seed"].unique())
    normals = sorted(frame["normal_digit"].unique())
    anomalies = sorted(frame["anomaly_digit"].unique())
    names = _order(frame["detector"].unique())
    shots = sorted(k for k in frame["shots"].unique() if k > 0)
    base = {n: n.partition("@")[0] for n in names}

    def expected(mask):
        """The (seed, task) runs of ``mask`` that any detector has."""
        return len(frame[mask][["seed", "normal_digit", "anomaly_digit"]].drop_duplicates())

    def cell(name, mask):
        tried = frame[(frame["detector"] == name) & mask]
        values = valid[(valid["detector"] == name) & mask]["roc_auc"]
        if values.empty:
            return "error" if not tried.empty else "–"
        return f"{100 * values.mean():.1f}" + ("*" if len(values) < expected(mask) else "")

    everything = frame["anomaly_digit"] >= 0
    lines += [
        "## Query ROC AUC (x 100)",
        "",
        f"Mean over the tasks and seeds done: seeds {', '.join(map(str, seeds))}; "
        f"normal digits {', '.join(map(str, normals))}; one column per anomaly "
        "digit (over the normal digits), **all** over every task. **sd**: the "
        "standard deviation over seeds of each seed's mean over the tasks. "
        "**runs**: (seed, task) runs without error, out of those any detector "
        "has. `*` marks a mean over fewer runs than that (not run yet, or an "
        "error), `error` a cell whose runs all failed, `–` one not run. "
        "`Unsupervised` takes no labels: the same runs appear at each k.",
        "",
    ]
    for k in shots:
        shown = [n for n in names if n.endswith(f"@{k}")] + [n for n in names if "@" not in n]
        lines += [
            f"### k = {k} labelled anomal{'y' if k == 1 else 'ies'} in the support set",
            "",
            "| detector | " + " | ".join(f"anomaly {b}" for b in anomalies)
            + " | **all** | sd | runs |",
            "|---|" + "---:|" * (len(anomalies) + 3),
        ]
        for name in shown:
            cells = [cell(name, frame["anomaly_digit"] == b) for b in anomalies]
            own = valid[valid["detector"] == name]
            by_seed = own.groupby("seed")["roc_auc"].mean()
            sd = f"{100 * by_seed.std():.1f}" if len(by_seed) > 1 else "–"
            lines.append(
                f"| {name} | " + " | ".join(cells) + f" | **{cell(name, everything)}** | "
                f"{sd} | {len(own)}/{expected(everything)} |"
            )
        lines.append("")

    lines += [
        "## Seconds",
        "",
        "Wall clock, mean over the runs without error. **fit**: one fit, its "
        "count in **fits**: a meta-training on the 42 tasks for a "
        "meta-learner (once per seed and k), a fit on one support set for "
        "`Supervised`, a fit on one normal digit's training images for "
        "`Unsupervised` (once per seed and digit). **adapt**: one new task's "
        "support set. **score**: one query set.",
        "",
        "| detector | fit (s) | fits | adapt (s) | score (s) |",
        "|---|---:|---:|---:|---:|",
    ]
    units = {"meta": ["seed"], "supervised": ["seed", "normal_digit", "anomaly_digit"],
             "unsupervised": ["seed", "normal_digit"]}
    for name in names:
        own = valid[valid["detector"] == name]
        if own.empty:
            lines.append(f"| {name} | – | 0 | – | – |")
            continue
        fits = own.drop_duplicates(units[KINDS.get(base[name], "supervised")])["fit_seconds"]
        adapt = own["adapt_seconds"].mean()
        lines.append(
            f"| {name} | {fits.mean():.1f} | {len(fits)} | "
            + ("–" if math.isnan(adapt) else f"{adapt:.3f}")
            + f" | {own['score_seconds'].mean():.2f} |"
        )
    lines.append("")

    lines += [
        "## Per task (x 100, mean over seeds)",
        "",
        "| normal | anomaly | " + " | ".join(names) + " |",
        "|---:|---:|" + "---:|" * len(names),
    ]
    for a, b in sorted(set(zip(frame["normal_digit"], frame["anomaly_digit"]))):
        task = (frame["normal_digit"] == a) & (frame["anomaly_digit"] == b)
        lines.append(f"| {a} | {b} | " + " | ".join(cell(n, task) for n in names) + " |")
    lines.append("")

    errors = frame[frame["error"] != ""]
    if not errors.empty:
        lines += ["## Errors", "", "| detector | runs | error |", "|---|---:|---|"]
        grouped = errors.groupby(["detector", "error"], sort=False).size()
        for (name, error), count in grouped.items():
            lines.append(f"| {name} | {count} | {error.replace('|', '/')} |")
        lines.append("")
    return "\n".join(lines)


PROTOCOL = "Protocol" + __doc__.split("\nProtocol", 1)[1].split("\nOutput,", 1)[0]


# --------------------------------------------------------------------------
# the command line and the loop


def _digits(allowed, what):
    def parse(text):
        value = int(text)
        if value not in allowed:
            raise argparse.ArgumentTypeError(
                f"{what} must be among {', '.join(map(str, allowed))}; got {value}"
            )
        return value

    return parse


def _positive(text):
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1; got {value}")
    return value


def build_parser():
    parser = argparse.ArgumentParser(
        description=__doc__.split("\n")[0],
        epilog="Detectors: PrototypicalDetector@K, MAMLDetector@K, Supervised@K "
        "(K from --shots; a name without @K picks every K) and Unsupervised "
        "(PaDiM on the pretrained SqueezeNet). With the default shots: "
        + ", ".join(d.name for d in detectors((1, 5))) + ".",
    )
    parser.add_argument("--data", default=str(DEFAULT_DATA),
                        help=f"the mnist.npz file (default: {DEFAULT_DATA})")
    parser.add_argument("--seeds", nargs="+", type=int, default=[0, 1, 2], metavar="SEED",
                        help="seeds of the draws and the detectors' random_state (default: 0 1 2)")
    parser.add_argument("--shots", nargs="+", type=_positive, default=[1, 5], metavar="K",
                        help="labelled anomalies in a new task's support set (default: 1 5)")
    parser.add_argument("--detectors", nargs="+", metavar="NAME",
                        help="only these (see below); default: all")
    parser.add_argument("--normal-digits", nargs="+", type=_digits(META_DIGITS, "a normal digit"),
                        default=list(META_DIGITS), metavar="DIGIT",
                        help="new tasks' normal digits (default: 0 to 6)")
    parser.add_argument("--anomaly-digits", nargs="+",
                        type=_digits(NEW_DIGITS, "an anomaly digit"),
                        default=list(NEW_DIGITS), metavar="DIGIT",
                        help="new tasks' anomaly digits (default: 7 8 9)")
    parser.add_argument("--normals-per-task", type=_positive, default=DEFAULTS["normals_per_task"],
                        help="unlabelled normal images of a meta-training task "
                        "(default: %(default)s)")
    parser.add_argument("--anomalies-per-task", type=_positive,
                        default=DEFAULTS["anomalies_per_task"],
                        help="labelled anomalies of a meta-training task (default: %(default)s)")
    parser.add_argument("--support-normals", type=_positive, default=DEFAULTS["support_normals"],
                        help="normal images in a new task's support set (default: %(default)s)")
    parser.add_argument("--query-anomalies", type=_positive, default=DEFAULTS["query_anomalies"],
                        help="test images of the anomaly digit in a query set "
                        "(default: %(default)s)")
    parser.add_argument("--max-train", type=_positive, default=DEFAULTS["max_train"],
                        help="training images of the normal digit for Unsupervised "
                        "(default: %(default)s; more than a digit has takes them all)")
    parser.add_argument("--epochs", type=_positive, default=None,
                        help="epochs of the meta-learners and Supervised (default: "
                        "their own); a smoke test")
    parser.add_argument("--output", default=str(RESULTS),
                        help=f"results folder (default: {RESULTS})")
    parser.add_argument("--fresh", action="store_true",
                        help="rerun the selected rows even if present")
    parser.add_argument("--retry-errors", action="store_true",
                        help="rerun the selected rows that are present with an error")
    return parser


def main(argv=None):
    parser = build_parser()
    args = parser.parse_args(argv)
    argv = sys.argv[1:] if argv is None else list(argv)
    command = shlex.join(["python", "benchmarks/few_shot.py", *argv])
    sizes = {name: getattr(args, name) for name in DEFAULTS}
    smoke = args.epochs is not None or sizes != DEFAULTS
    output = Path(args.output)
    if smoke and output.resolve() == RESULTS.resolve():
        parser.error(
            "--epochs, or a size other than the protocol's, makes a smoke test: "
            "send it to another --output than benchmarks/results"
        )
    seeds = list(dict.fromkeys(args.seeds))
    shots = sorted(set(args.shots))
    selected = select(detectors(shots), args.detectors)
    todo_tasks = [(a, b) for a in sorted(set(args.normal_digits))
                  for b in sorted(set(args.anomaly_digits))]

    output.mkdir(parents=True, exist_ok=True)
    csv_path = output / f"{STEM}_rows.csv"
    md_path = output / f"{STEM}.md"
    rows = read_rows(csv_path)
    selection = {(s, d.name, a, b) for s in seeds for d in selected for a, b in todo_tasks}
    if args.fresh or args.retry_errors:
        keep = [r for r in rows if _key(r) not in selection or not (args.fresh or r["error"])]
        if len(keep) < len(rows):
            print(f"Dropping {len(rows) - len(keep)} rows to rerun them.")
            rewrite_rows(csv_path, keep)
            rows = keep
    done = {_key(r) for r in rows}
    print(f"{len(seeds)} seeds x {len(selected)} detectors x {len(todo_tasks)} tasks: "
          f"{len(selection & done)} runs already in {csv_path}, "
          f"{len(selection - done)} to run.", flush=True)

    try:
        data_shown = "../" + str(Path(args.data).resolve().relative_to(_protocol.REPO.parent))
    except ValueError:
        data_shown = args.data

    def write_report():
        md_path.write_text(report(read_rows(csv_path), command, data_shown))

    start_all = time.perf_counter()
    if selection - done:
        mnist = load_mnist(args.data)
        fewest = min(len(mnist.train[b]) for b in NEW_DIGITS)
        if max(shots) > fewest:
            parser.error(f"--shots must be at most {fewest}, the training images of a digit")
        print("Warming up: one small untimed fit of each detector.", flush=True)
        warm_up([d for d in selected if any((s, d.name, a, b) not in done
                                            for s in seeds for a, b in todo_tasks)])
    for seed in seeds:
        tasks = None
        for det in selected:
            todo = [(a, b) for a, b in todo_tasks if (seed, det.name, a, b) not in done]
            if not todo:
                continue
            if tasks is None:
                tasks = draw_tasks(mnist, seed, sizes)

            def emit(a, b, n_fit, n_support, n_query, result, det=det):
                row = {"seed": seed, "shots": det.shots, "detector": det.name,
                       "normal_digit": a, "anomaly_digit": b, "n_fit": n_fit,
                       "n_support": n_support, "n_query": n_query,
                       # PaDiM does not train by epochs: --epochs leaves it as it is.
                       "epochs": None if det.kind == "unsupervised" else args.epochs,
                       **result}
                append_row(csv_path, row)
                status = (
                    f"ERROR {result['error']}" if result["error"]
                    else f"ROC AUC {result['roc_auc']:.4f}  fit {result['fit_seconds']:6.1f} s"
                    + ("" if math.isnan(result["adapt_seconds"])
                       else f"  adapt {result['adapt_seconds']:.3f} s")
                    + f"  score {result['score_seconds']:.2f} s"
                )
                print(f"seed {seed}  {det.name:22s} {a} vs {b}  {status}", flush=True)

            runner = RUNNERS[det.kind]
            extra = {"max_train": args.max_train} if det.kind == "unsupervised" else {}
            with warnings.catch_warnings(record=True) as caught:
                warnings.simplefilter("always")
                runner(det, seed, args.epochs, mnist, tasks, todo, emit, **extra)
            messages = sorted({" ".join(f"{w.category.__name__}: {w.message}".split())[:160]
                               for w in caught})
            for message in messages[:3]:
                print(f"      warning: {message}", flush=True)
            write_report()
    write_report()
    print(f"Done in {time.perf_counter() - start_all:.0f} s; see {md_path}")


if __name__ == "__main__":
    main()
