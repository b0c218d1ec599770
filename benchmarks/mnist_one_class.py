"""One-class MNIST: the image detectors beside pixel and HOG baselines.

    python benchmarks/mnist_one_class.py                                   # the full protocol
    python benchmarks/mnist_one_class.py --max-train 2000                  # the committed results
    python benchmarks/mnist_one_class.py --classes 0 --epochs 1 --max-train 200 --max-test 1000
    python benchmarks/mnist_one_class.py --detectors MemAE MNAD --classes 8 9

Rerunning a command skips the (detector, digit) rows already in the rows
CSV, so an interrupted run goes on where it stopped; ``--fresh`` reruns
them. ``--help`` lists the options and the detector names. A run with
``--epochs`` or ``--max-test``, or another ``--max-train``, is a smoke
test: send it to another ``--output`` so its rows do not mix with the
real ones.

Protocol

* Data: MNIST from ``../shared/data/mnist/mnist.npz`` (from the repository
  root), read by ``skanomaly.datasets.load_mnist_one_class``: 28x28
  grayscale digits in [0, 1].
* For each digit (the usual one-class protocol of Deep SVDD, MemAE, OCGAN
  and GEOM): train on the training images of that digit, unsupervised;
  test on the whole test set (10,000 images), every other digit an
  anomaly. The full protocol trains on all of them (5,421 to 6,742 a
  digit); the committed results, from 2 CPU cores shared with other jobs,
  train on 2,000 of them a digit (``--max-train 2000``, a subsample drawn
  with ``numpy.random.RandomState(0)``): about a third of the images; the
  run took 46 minutes for the ten digits and six detectors.
* Detectors, all in the same run, ``random_state=0`` where they take one,
  no progress output: skanomaly ``ConvAutoEncoder``, ``MemAE`` and ``MNAD``
  on the images, at their defaults (50 epochs at most, early stopping on
  10% of the training images, per-image score = minus the mean of the
  anomaly map); skanomaly's dense ``AutoEncoder`` on the 784 pixels, at its
  defaults; HOG + One-Class SVM, ``make_hog_ocsvm(pixels_per_cell=(4, 4),
  cells_per_block=(2, 2))`` (a cell of 8 pixels leaves 28x28 digits a
  single block); scikit-learn ``IsolationForest()`` on the 784 pixels;
  skanomaly ``PaDiM`` on the pretrained SqueezeNet 1.1 (ImageNet weights
  from ``../shared/data/weights/squeezenet1_1_imagenet_notop.h5``), the
  digits resized to 64x64 on their way into it (``input_size=64``: 28x28 is
  below the 31x31 its stride-16 layers need), otherwise at its defaults;
  skanomaly's adversarial ``GANomaly`` and ``OGNet`` on the images, at
  their defaults (GANomaly: 50 epochs at most, early stopping on its
  generator's non-adversarial loss, the latent distance as the score;
  OGNet: 50 epochs, then 75 steps of its discriminator, whose logit is the
  score; the engine then ran whole calls of 32 steps, so its rows' phase
  two ran 96 steps, and its epochs of more than 32 steps up to a call
  more, as did the image detectors' before it: fixed on 2026-12-02). Their rows come from a later run than the others' (the same
  protocol and machine). Those of ``ConvGradCon`` and
  ``ConvLossProfileDetector`` come from a run on 2026-12-02, on another
  2-core machine (their seconds do not compare with the others') and after
  that fix; ``SynthesizeCompare``'s from the run after it. All at their
  defaults (SynthesizeCompare: ``ColourSegmenter`` with 4 segments, 50
  epochs, minus the mean of the top 5% of its discrepancy map;
  ConvGradCon: 50 epochs at most with early stopping, reconstruction
  error plus 0.12 times the gradient loss; ConvLossProfileDetector: 50
  epochs, 10 snapshots, no labels, so the mean standardised log-loss
  over the snapshots).
* Metric: test ROC AUC, anomalies the positive class, from
  ``score_samples`` (higher is more normal); fit and score wall-clock
  seconds on this machine (after one small untimed fit of each deep
  detector, so that TensorFlow's one-off start-up is left out).
* References, mean ROC AUC over the ten digits as the papers report it:
  Deep SVDD 94.8 (Ruff et al., 2018), MemAE 97.5 (Gong et al., 2019),
  OCGAN 97.5 (Perera et al., 2019), GEOM 98.0 (Golan and El-Yaniv, 2018).
  GANomaly (Akcay et al., 2018) reports MNIST on another protocol, one
  digit the anomaly and the nine others normal, so its figures are not
  comparable; OGNet's (Zaheer et al., 2020) MNIST figures are not quoted
  here: we could not read them.

Output, in ``benchmarks/results/`` (``--output``):
``mnist_one_class_rows.csv``, one row per (detector, digit), appended as
each finishes; ``mnist_one_class.md``, the table (ROC AUC per digit and
detector, the mean over digits, mean fit and score seconds) with this
command.
"""

import argparse
import csv
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

from skanomaly.datasets import load_mnist_one_class  # noqa: E402
from skanomaly.metrics import anomaly_roc_auc_score  # noqa: E402

DEFAULT_DATA = _protocol.SHARED_DATA / "mnist" / "mnist.npz"
WEIGHTS = _protocol.SHARED_DATA / "weights" / "squeezenet1_1_imagenet_notop.h5"
RESULTS = _protocol.RESULTS
SEED = 0
STEM = "mnist_one_class"
COLUMNS = [
    "detector", "digit", "n_train", "n_test", "epochs", "roc_auc",
    "fit_seconds", "score_seconds", "error",
]
REFERENCES = [
    ("Deep SVDD (Ruff et al., 2018)", 94.8),
    ("MemAE (Gong et al., 2019)", 97.5),
    ("OCGAN (Perera et al., 2019)", 97.5),
    ("GEOM (Golan and El-Yaniv, 2018)", 98.0),
]


# --------------------------------------------------------------------------
# detectors: name -> (make(epochs), input): "images" or "pixels" (rows)


def _skanomaly(class_name):
    def make(epochs):
        import skanomaly

        params = {"random_state": SEED, "verbose": 0}
        if epochs is not None:
            params["epochs"] = epochs
        return getattr(skanomaly, class_name)(**params)

    return make


def _padim(epochs):
    import skanomaly

    # 28x28 digits are below the smallest image SqueezeNet's stride-16
    # layers take (31x31): they are resized to 64x64 on their way in.
    return skanomaly.PaDiM(weights=str(WEIGHTS), input_size=64, random_state=SEED)


def _hog_ocsvm(epochs):
    from skanomaly.features import make_hog_ocsvm

    return make_hog_ocsvm(pixels_per_cell=(4, 4), cells_per_block=(2, 2))


def _isolation_forest(epochs):
    from sklearn.ensemble import IsolationForest

    return IsolationForest(random_state=SEED)


DETECTORS = {
    "skanomaly.ConvAutoEncoder": (_skanomaly("ConvAutoEncoder"), "images"),
    "skanomaly.MemAE": (_skanomaly("MemAE"), "images"),
    "skanomaly.MNAD": (_skanomaly("MNAD"), "images"),
    "skanomaly.GANomaly": (_skanomaly("GANomaly"), "images"),
    "skanomaly.OGNet": (_skanomaly("OGNet"), "images"),
    "skanomaly.SynthesizeCompare": (_skanomaly("SynthesizeCompare"), "images"),
    "skanomaly.ConvGradCon": (_skanomaly("ConvGradCon"), "images"),
    "skanomaly.ConvLossProfileDetector": (_skanomaly("ConvLossProfileDetector"), "images"),
    "skanomaly.AutoEncoder": (_skanomaly("AutoEncoder"), "pixels"),
    "skanomaly.PaDiM": (_padim, "images"),
    "HOG+OCSVM": (_hog_ocsvm, "images"),
    "sklearn.IsolationForest": (_isolation_forest, "pixels"),
}


def select(tokens):
    """The detectors named by ``tokens``: the full name or the part after
    the dot, case-insensitive; all when empty."""
    if not tokens:
        return list(DETECTORS)

    def matches(name, token):
        token = token.lower()
        return token in (name.lower(), name.split(".", 1)[-1].lower())

    unknown = [t for t in tokens if not any(matches(n, t) for n in DETECTORS)]
    if unknown:
        raise SystemExit(
            f"Unknown detector(s): {', '.join(unknown)}. Available: {', '.join(DETECTORS)}"
        )
    return [n for n in DETECTORS if any(matches(n, t) for t in tokens)]


def run_one(name, epochs, X_train, X_test, y_test):
    """Fit, score and measure; never raises."""
    make, kind = DETECTORS[name]
    if kind == "pixels":
        X_train, X_test = X_train.reshape(len(X_train), -1), X_test.reshape(len(X_test), -1)
    result = {"roc_auc": math.nan, "fit_seconds": math.nan, "score_seconds": math.nan, "error": ""}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            estimator = make(epochs)
            start = time.perf_counter()
            estimator.fit(X_train)
            result["fit_seconds"] = time.perf_counter() - start
            start = time.perf_counter()
            scores = estimator.score_samples(X_test)
            result["score_seconds"] = time.perf_counter() - start
            result["roc_auc"] = anomaly_roc_auc_score(y_test, scores)
        except Exception as exc:  # noqa: BLE001 - recorded, the run goes on
            result["error"] = " ".join(f"{type(exc).__name__}: {exc}".split())[:300]
    if name.startswith("skanomaly."):
        import keras

        keras.backend.clear_session()
    return result


def warm_up(names):
    """One small untimed fit of each deep detector (TensorFlow's start-up)."""
    rng = np.random.RandomState(0)
    X = rng.uniform(size=(32, 28, 28)).astype(np.float32)
    for name in names:
        if not name.startswith("skanomaly."):
            continue
        make, kind = DETECTORS[name]
        data = X.reshape(32, -1) if kind == "pixels" else X
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            _protocol.shortest_fit(make(1)).fit(data).score_samples(data)


# --------------------------------------------------------------------------
# rows and report


def read_rows(path):
    if not path.exists() or path.stat().st_size == 0:
        return []
    with path.open(newline="") as f:
        reader = csv.DictReader(f)
        if reader.fieldnames != COLUMNS:
            raise SystemExit(f"{path} has columns {reader.fieldnames}, expected {COLUMNS}.")
        return list(reader)


def write_rows(path, rows):
    def cell(value):
        if isinstance(value, float):
            return "" if math.isnan(value) else repr(round(value, 6))
        return "" if value is None else str(value)

    tmp = path.with_suffix(".tmp")
    with tmp.open("w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=COLUMNS, lineterminator="\n")
        writer.writeheader()
        for row in rows:
            writer.writerow({k: cell(row[k]) for k in COLUMNS})
    os.replace(tmp, path)


def report(rows, names, digits, command, data_shown):
    """The tables of every detector with rows in ``rows``, not only of the
    ``names`` this run adds, so that a run of a few detectors keeps the
    others' earlier rows in the report."""
    import pandas as pd

    earlier = {r["detector"] for r in rows} - set(names)
    names = [n for n in DETECTORS if n in names or n in earlier]

    frame = pd.DataFrame(rows, columns=COLUMNS)
    for column in ("digit", "roc_auc", "fit_seconds", "score_seconds"):
        frame[column] = pd.to_numeric(frame[column], errors="coerce")
    frame["error"] = frame["error"].fillna("")
    frame = frame[frame["digit"].isin(digits) & frame["detector"].isin(names)]
    frame = frame.drop_duplicates(["detector", "digit"], keep="last")
    valid = frame[frame["error"] == ""]

    lines = [
        "# One-class MNIST",
        "",
        f"Command: `{command}`"
        + (
            "; the rows of the detectors it did not select come from earlier "
            "runs of the same protocol."
            if earlier else ""
        ),
        "",
        f"Run {time.strftime('%Y-%m-%d %H:%M')}, {platform.machine()}, "
        f"{_protocol._cpu_count()} cores, Python {platform.python_version()}; "
        f"{_protocol._versions()}. Data: `{data_shown}`.",
        "",
        "## " + PROTOCOL.split("\n", 1)[0].strip(),
        "",
        PROTOCOL.split("\n", 1)[1].strip(),
        "",
        "## Test ROC AUC (x 100) per normal digit",
        "",
        "| detector | " + " | ".join(str(d) for d in digits)
        + " | **mean** | fit (s) | score (s) |",
        "|---|" + "---:|" * (len(digits) + 3),
    ]
    for name in names:
        own = valid[valid["detector"] == name].set_index("digit")
        cells = []
        for digit in digits:
            if digit in own.index:
                cells.append(f"{100 * own.at[digit, 'roc_auc']:.1f}")
            else:
                failed = frame[(frame["detector"] == name) & (frame["digit"] == digit)]
                cells.append("error" if not failed.empty else "–")
        complete = len(own) == len(digits)
        mean = f"{100 * own['roc_auc'].mean():.1f}" if len(own) else "–"
        if len(own) and not complete:
            mean += "*"
        fit = f"{own['fit_seconds'].mean():.1f}" if len(own) else "–"
        score = f"{own['score_seconds'].mean():.1f}" if len(own) else "–"
        lines.append(f"| {name} | " + " | ".join(cells) + f" | **{mean}** | {fit} | {score} |")
    lines += [
        "",
        "Seconds are the mean over the digits, wall clock, for one digit's "
        "training set and the test images. A mean marked * is over the "
        "digits done so far.",
        "",
        "References (mean over the ten digits, from the papers):",
        "",
    ]
    lines += [f"* {ref}: {value:.1f}" for ref, value in REFERENCES]
    errors = frame[frame["error"] != ""]
    if not errors.empty:
        lines += ["", "## Errors", "", "| detector | digit | error |", "|---|---:|---|"]
        for _, row in errors.iterrows():
            lines.append(f"| {row['detector']} | {int(row['digit'])} | {row['error']} |")
    lines.append("")
    return "\n".join(lines)


PROTOCOL = "Protocol" + __doc__.split("\nProtocol", 1)[1].split("\nOutput,", 1)[0]


def _subsample(n, cap, seed):
    """Sorted indices of a seeded subsample of ``cap`` out of ``n`` (all when
    ``cap`` is None)."""
    if cap is None or cap >= n:
        return np.arange(n)
    return np.sort(np.random.RandomState(seed).choice(n, cap, replace=False))


def main(argv=None):
    parser = argparse.ArgumentParser(
        description=__doc__.split("\n")[0],
        epilog="Detectors: " + ", ".join(DETECTORS),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--data", default=str(DEFAULT_DATA),
                        help=f"the mnist.npz file (default: {DEFAULT_DATA})")
    parser.add_argument("--classes", nargs="+", type=int, default=list(range(10)),
                        metavar="DIGIT", help="normal digits to run (default: all ten)")
    parser.add_argument("--detectors", nargs="+", metavar="NAME",
                        help="only these: the full name or the part after the dot")
    parser.add_argument("--epochs", type=int, default=None,
                        help="epochs of the deep detectors (default: their own)")
    parser.add_argument("--max-train", type=int, default=None,
                        help="at most this many training images a digit (2000: the committed results)")
    parser.add_argument("--max-test", type=int, default=None,
                        help="at most this many test images (smoke tests)")
    parser.add_argument("--output", default=str(RESULTS),
                        help=f"results folder (default: {RESULTS})")
    parser.add_argument("--fresh", action="store_true", help="rerun rows already in the CSV")
    args = parser.parse_args(argv)
    argv = sys.argv[1:] if argv is None else list(argv)
    command = shlex.join(["python", "benchmarks/mnist_one_class.py", *argv])
    digits = sorted(set(args.classes))
    if not set(digits) <= set(range(10)):
        parser.error("--classes must be digits, 0 to 9")
    names = select(args.detectors)

    _protocol._import_tensorflow_quietly()
    output = Path(args.output)
    output.mkdir(parents=True, exist_ok=True)
    csv_path = output / f"{STEM}_rows.csv"
    rows = read_rows(csv_path)
    if args.fresh:
        rows = [r for r in rows if not (r["detector"] in names and int(r["digit"]) in digits)]
        write_rows(csv_path, rows)
    done = {(r["detector"], int(r["digit"])) for r in rows}

    warm_up([n for n in names if any((n, d) not in done for d in digits)])
    try:
        data_shown = Path(args.data).resolve().relative_to(_protocol.REPO.parent)
        data_shown = f"../{data_shown}"
    except ValueError:
        data_shown = args.data
    start_all = time.perf_counter()
    for digit in digits:
        data = load_mnist_one_class(digit, path=args.data, download_if_missing=False)
        train = _subsample(len(data.X_train), args.max_train, SEED)
        test = _subsample(len(data.X_test), args.max_test, SEED)
        X_train, X_test, y_test = data.X_train[train], data.X_test[test], data.y_test[test]
        for name in names:
            if (name, digit) in done:
                continue
            result = run_one(name, args.epochs, X_train, X_test, y_test)
            rows.append({"detector": name, "digit": digit, "n_train": len(X_train),
                         "n_test": len(X_test), "epochs": args.epochs, **result})
            write_rows(csv_path, rows)
            status = (
                f"ERROR {result['error']}" if result["error"]
                else f"ROC AUC {result['roc_auc']:.4f}, fit {result['fit_seconds']:.1f} s, "
                f"score {result['score_seconds']:.1f} s"
            )
            print(f"digit {digit} {name:26s} {status}", flush=True)
        text = report(rows, names, digits, command, data_shown)
        (output / f"{STEM}.md").write_text(text)
    print(f"Done in {time.perf_counter() - start_all:.0f} s; see {output / (STEM + '.md')}")


if __name__ == "__main__":
    main()
