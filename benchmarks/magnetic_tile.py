"""Magnetic Tile Defects: image and pixel-level scores of the image detectors.

    python benchmarks/magnetic_tile.py                                 # the full protocol
    python benchmarks/magnetic_tile.py --epochs 1 --max-train 40 --image-size 64 \\
        --output /tmp/mt_smoke                                         # a smoke test
    python benchmarks/magnetic_tile.py --detectors MemAE MNAD

Rerunning a command skips the detectors already in the rows CSV, so an
interrupted run goes on where it stopped; ``--fresh`` reruns them. ``--help``
lists the options and the detector names. A run with ``--epochs``,
``--max-train`` or another ``--image-size`` is a smoke test: send it to
another ``--output``.

Protocol

* Data: the Magnetic Tile Defects data set (Huang et al., The Visual
  Computer, 2020) in ``../shared/data/magnetic_tile`` (from the repository
  root), read by ``skanomaly.datasets.load_magnetic_tile`` with
  ``image_size=128``: every grayscale photo resized to 128x128 (with
  anti-aliasing), every defect mask resized by nearest neighbour. The tiles
  vary in size and aspect ratio; resizing squashes them.
* Split: a fixed 70% of the 952 defect-free tiles (``MT_Free``), drawn
  with ``numpy.random.RandomState(0)``, to train on (666 tiles, no label
  used); the other 286 defect-free tiles and all 392 defective ones
  (blowholes, breaks, cracks, frays, uneven surfaces) to test on.
* Detectors, all in the same run, ``random_state=0`` where they take one,
  no progress output: skanomaly ``ConvAutoEncoder`` (squared error),
  ``ConvAutoEncoder(loss="ssim")`` (AE-SSIM), ``MemAE`` and ``MNAD``, at
  their defaults (50 epochs at most, early stopping on 10% of the training
  tiles) but with ``map_aggregation="topk_mean"`` (an image's score is
  minus the mean of its 5% most anomalous pixels: defects are small);
  ``PatchSVDD`` (trained from scratch) at its defaults; on the pretrained
  SqueezeNet 1.1 (its ImageNet weights from
  ``../shared/data/weights/squeezenet1_1_imagenet_notop.h5``, ``--weights``),
  ``PatchCore``, ``PaDiM``, ``StudentTeacher``, ``ReverseDistillation`` and
  ``TransferHead`` at their defaults (and ``TransferHead`` with its
  backbone's last fire module trained too, ``unfreeze_layers=3``), and the
  simplest transfer-learning
  baseline, the distance to the nearest training tile in the space of
  SqueezeNet's ``fire9`` features averaged over the image
  (``PretrainedFeatures`` then a 1-nearest-neighbour distance), which gives
  no map; HOG + One-Class SVM, ``make_hog_ocsvm()`` (cells of 8x8 pixels,
  blocks of 3x3 cells), as the baseline, which gives no map. In a later run
  (the same protocol and machine): the adversarial ``GANomaly``, ``OGNet``
  and ``SynthesizeCompare`` and the training-dynamics ``ConvGradCon`` and
  ``ConvLossProfileDetector``, at their defaults (each with its own score:
  GANomaly's latent distance, OGNet's discriminator logit,
  SynthesizeCompare's top-5% mean of its discrepancy map, ConvGradCon's
  reconstruction error plus its gradient loss, ConvLossProfileDetector's
  mean standardised log-loss over 10 snapshots, without labels). All these
  rows predate 2026-12-02, when the engine still ran whole calls of 32
  steps: OGNet's 75 steps of phase two ran as 96, and an epoch of more
  than 32 steps ran up to a call more than it held.
* Metrics on the test tiles: image ROC AUC (a defective tile the positive
  class, from ``score_samples``); pixel ROC AUC (``pixel_roc_auc_score``,
  the pixels of all test tiles pooled) and AUPRO up to a false positive
  rate of 0.3 (``aupro_score``), from ``anomaly_map`` at 128x128 against
  the resized masks; per defect class, the image ROC AUC of that class
  against the defect-free test tiles; fit wall-clock seconds and peak
  memory, and images per second of ``score_samples`` and of
  ``anomaly_map``, on this machine (after one small untimed fit of each
  deep detector).
* The figure: one test tile of each defect class (the one whose defect is
  the median in size), its mask's outline, and each deep detector's map.

Output, in ``benchmarks/results/`` (``--output``):
``magnetic_tile_rows.csv``, one row per detector; ``magnetic_tile.md``, the
tables with this command; ``magnetic_tile_maps.png``, the figure, drawn
only by a run that ran every detector it names (the maps are not stored).
"""

import argparse
import csv
import json
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
from sklearn.base import BaseEstimator  # noqa: E402

from skanomaly.datasets import load_magnetic_tile  # noqa: E402
from skanomaly.metrics import (  # noqa: E402
    anomaly_roc_auc_score,
    aupro_score,
    pixel_roc_auc_score,
)

DEFAULT_DATA = _protocol.SHARED_DATA / "magnetic_tile"
WEIGHTS = _protocol.SHARED_DATA / "weights" / "squeezenet1_1_imagenet_notop.h5"
RESULTS = _protocol.RESULTS
SEED = 0
TRAIN_SHARE = 0.7
IMAGE_SIZE = 128
STEM = "magnetic_tile"
COLUMNS = [
    "detector", "image_size", "n_train", "n_test", "epochs", "image_roc_auc",
    "pixel_roc_auc", "aupro", "per_class_roc_auc", "fit_seconds",
    "score_seconds", "map_seconds", "fit_peak_mb", "error",
]


# --------------------------------------------------------------------------
# detectors: name -> make(epochs)


def _skanomaly(class_name, **params):
    def make(epochs):
        import skanomaly

        cls = getattr(skanomaly, class_name)
        own = {"random_state": SEED, "verbose": 0, **params}
        if epochs is not None and "epochs" in cls().get_params():
            own["epochs"] = epochs
        return cls(**own)

    return make


def _pretrained(class_name, **params):
    """A detector on the pretrained SqueezeNet 1.1, its ImageNet weights
    read from ``WEIGHTS``."""
    return _skanomaly(class_name, weights=str(WEIGHTS), **params)


def _hog_ocsvm(epochs):
    from skanomaly.features import make_hog_ocsvm

    return make_hog_ocsvm()


class NearestFeatureDistance(BaseEstimator):
    """Minus the distance to the nearest training image in a feature space:
    the simplest transfer-learning detector."""

    def fit(self, X, y=None):
        from sklearn.neighbors import NearestNeighbors

        self.neighbours_ = NearestNeighbors(n_neighbors=1).fit(X)
        return self

    def score_samples(self, X):
        return -self.neighbours_.kneighbors(X)[0][:, 0]


def _pooled_features_knn(epochs):
    from sklearn.pipeline import make_pipeline

    from skanomaly.features import PretrainedFeatures

    return make_pipeline(
        PretrainedFeatures(weights=str(WEIGHTS), layers=("fire9",), pooling="avg"),
        NearestFeatureDistance(),
    )


DETECTORS = {
    "skanomaly.ConvAutoEncoder": _skanomaly("ConvAutoEncoder", map_aggregation="topk_mean"),
    "skanomaly.ConvAutoEncoder(ssim)": _skanomaly(
        "ConvAutoEncoder", loss="ssim", map_aggregation="topk_mean"
    ),
    "skanomaly.MemAE": _skanomaly("MemAE", map_aggregation="topk_mean"),
    "skanomaly.MNAD": _skanomaly("MNAD", map_aggregation="topk_mean"),
    "skanomaly.PatchSVDD": _skanomaly("PatchSVDD"),
    "skanomaly.PatchCore": _pretrained("PatchCore"),
    "skanomaly.PaDiM": _pretrained("PaDiM"),
    "skanomaly.StudentTeacher": _pretrained("StudentTeacher"),
    "skanomaly.ReverseDistillation": _pretrained("ReverseDistillation"),
    "skanomaly.TransferHead": _pretrained("TransferHead"),
    "skanomaly.TransferHead(fire9 trained)": _pretrained("TransferHead", unfreeze_layers=3),
    "SqueezeNet-fire9+1NN": _pooled_features_knn,
    "HOG+OCSVM": _hog_ocsvm,
    "skanomaly.GANomaly": _skanomaly("GANomaly"),
    "skanomaly.OGNet": _skanomaly("OGNet"),
    "skanomaly.SynthesizeCompare": _skanomaly("SynthesizeCompare"),
    "skanomaly.ConvGradCon": _skanomaly("ConvGradCon"),
    "skanomaly.ConvLossProfileDetector": _skanomaly("ConvLossProfileDetector"),
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


class PeakMemory:
    """Peak resident memory of this process above its level at the start,
    in MB, sampled every 20 ms from /proc (Linux) while in the block."""

    def __enter__(self):
        import threading

        self._start = self.peak = _resident_mb()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._sample, daemon=True)
        self._thread.start()
        return self

    def _sample(self):
        while not self._stop.wait(0.02):
            self.peak = max(self.peak, _resident_mb())

    def __exit__(self, *exc):
        self._stop.set()
        self._thread.join()
        self.peak = max(self.peak, _resident_mb())
        self.mb = self.peak - self._start
        return False


def _resident_mb():
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    raise OSError("No VmRSS in /proc/self/status")


def run_one(name, epochs, data):
    """Fit, score and measure; never raises. Returns the row's results and
    the test maps (None without them)."""
    X_train, X_test, y_test, masks, classes = data
    result = {column: math.nan for column in
              ("image_roc_auc", "pixel_roc_auc", "aupro", "fit_seconds",
               "score_seconds", "map_seconds", "fit_peak_mb")}
    result["per_class_roc_auc"] = ""
    result["error"] = ""
    maps = None
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            estimator = DETECTORS[name](epochs)
            with PeakMemory() as memory:
                start = time.perf_counter()
                estimator.fit(X_train)
                result["fit_seconds"] = time.perf_counter() - start
            result["fit_peak_mb"] = memory.mb
            start = time.perf_counter()
            scores = estimator.score_samples(X_test)
            result["score_seconds"] = time.perf_counter() - start
            if hasattr(estimator, "anomaly_map"):
                start = time.perf_counter()
                maps = estimator.anomaly_map(X_test)
                result["map_seconds"] = time.perf_counter() - start
            result["image_roc_auc"] = anomaly_roc_auc_score(y_test, scores)
            normal = classes == "Free"
            per_class = {
                c: round(anomaly_roc_auc_score(y_test[normal | (classes == c)],
                                               scores[normal | (classes == c)]), 4)
                for c in sorted(set(classes) - {"Free"})
            }
            result["per_class_roc_auc"] = json.dumps(per_class)
            if maps is not None:
                result["pixel_roc_auc"] = pixel_roc_auc_score(masks, maps)
                result["aupro"] = aupro_score(masks, maps)
        except Exception as exc:  # noqa: BLE001 - recorded, the run goes on
            result["error"] = " ".join(f"{type(exc).__name__}: {exc}".split())[:300]
            maps = None
    if name.startswith("skanomaly."):
        import keras

        keras.backend.clear_session()
    return result, maps


def split_indices(classes):
    """The protocol's split: indices of the training tiles (a fixed 70% of
    the defect-free ones) and of the test tiles (the other defect-free
    ones and every defective one), each sorted."""
    free = np.flatnonzero(classes == "Free")
    order = np.random.RandomState(SEED).permutation(free)
    n_train = int(round(TRAIN_SHARE * len(free)))
    train = np.sort(order[:n_train])
    test = np.sort(np.concatenate([order[n_train:], np.flatnonzero(classes != "Free")]))
    return train, test


def warm_up(names, image_size):
    """One small untimed fit of each deep detector (TensorFlow's start-up)."""
    X = np.random.RandomState(0).uniform(size=(16, image_size, image_size)).astype(np.float32)
    for name in names:
        if name.startswith("skanomaly."):
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                _protocol.shortest_fit(DETECTORS[name](1)).fit(X).score_samples(X)


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


def _number(text):
    try:
        return float(text)
    except (TypeError, ValueError):
        return math.nan


def report(rows, names, command, data_shown, split_text):
    """The tables of every detector with a row in ``rows``, not only of the
    ``names`` this run adds, so that a run of a few detectors keeps the
    others' earlier rows in the report."""
    by_name = {r["detector"]: r for r in rows}
    earlier = set(by_name) - set(names)
    names = [n for n in DETECTORS if n in names or n in earlier]
    lines = [
        "# Magnetic Tile Defects",
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
        f"{_protocol._versions()}. Data: `{data_shown}`; {split_text}.",
        "",
        "## " + PROTOCOL.split("\n", 1)[0].strip(),
        "",
        PROTOCOL.split("\n", 1)[1].strip(),
        "",
        "## Results",
        "",
        "| detector | image ROC AUC | pixel ROC AUC | AUPRO (FPR ≤ 0.3) | fit (s) "
        "| fit peak memory (MB) | scores (images/s) | maps (images/s) |",
        "|---|---:|---:|---:|---:|---:|---:|---:|",
    ]
    classes = []
    for name in names:
        row = by_name.get(name)
        if row is None:
            lines.append(f"| {name} | – | – | – | – | – | – | – |")
            continue
        if row["error"]:
            lines.append(f"| {name} | error | | | | | | |")
            continue
        cells = []
        for column in ("image_roc_auc", "pixel_roc_auc", "aupro"):
            value = _number(row[column])
            cells.append("–" if math.isnan(value) else f"{value:.3f}")
        n_test = _number(row["n_test"])
        rates = [n_test / _number(row[c]) for c in ("score_seconds", "map_seconds")]
        cells += [f"{_number(row['fit_seconds']):.1f}", f"{_number(row['fit_peak_mb']):.0f}"]
        cells += ["–" if math.isnan(rate) else f"{rate:.1f}" for rate in rates]
        lines.append(f"| {name} | " + " | ".join(cells) + " |")
        if row["per_class_roc_auc"]:
            classes = sorted(set(classes) | set(json.loads(row["per_class_roc_auc"])))
    lines += [
        "",
        "Fit seconds are wall clock for the whole training set; its peak "
        "memory is the process's resident memory above its level before the "
        "fit (sampled every 20 ms). Images per second are over the whole test "
        "set, for `score_samples` and for `anomaly_map` each on its own.",
    ]
    if classes:
        lines += [
            "",
            "## Image ROC AUC per defect class (against the defect-free test tiles)",
            "",
            "| detector | " + " | ".join(classes) + " |",
            "|---|" + "---:|" * len(classes),
        ]
        for name in names:
            row = by_name.get(name)
            if row is None or row["error"] or not row["per_class_roc_auc"]:
                continue
            per_class = json.loads(row["per_class_roc_auc"])
            cells = [f"{per_class.get(c, math.nan):.3f}" for c in classes]
            lines.append(f"| {name} | " + " | ".join(cells) + " |")
    errors = [r for r in rows if r["detector"] in names and r["error"]]
    if errors:
        lines += ["", "## Errors", "", "| detector | error |", "|---|---|"]
        lines += [f"| {r['detector']} | {r['error']} |" for r in errors]
    lines.append("")
    return "\n".join(lines)


def plot_maps(path, X_test, masks, classes, all_maps):
    """One tile per defect class (median defect size), its mask's outline and
    each detector's map."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from skanomaly.plotting import plot_anomaly_map

    picks = []
    for name in sorted(set(classes) - {"Free"}):
        members = np.flatnonzero((classes == name) & masks.any(axis=(1, 2)))
        if len(members):
            sizes = masks[members].sum(axis=(1, 2))
            picks.append((name, members[np.argsort(sizes)[len(members) // 2]]))
    detectors = list(all_maps)
    fig, axes = plt.subplots(
        len(picks), 1 + len(detectors), figsize=(2.3 * (1 + len(detectors)), 2.3 * len(picks)),
        squeeze=False,
    )
    for row, (name, index) in enumerate(picks):
        ax = axes[row, 0]
        ax.imshow(X_test[index], cmap="gray", vmin=0, vmax=1)
        if masks[index].any():
            ax.contour(masks[index], levels=[0.5], colors="red", linewidths=1)
        ax.set_axis_off()
        ax.set_title(name, fontsize=9)
        for column, detector in enumerate(detectors, start=1):
            maps = all_maps[detector]
            ax = axes[row, column]
            # Each detector's colour scale: its own maps' 1st to 99.9th percentile.
            low, high = np.percentile(maps, [1.0, 99.9])
            plot_anomaly_map(X_test[index], maps[index], masks[index], ax=ax,
                             vmin=low, vmax=high, colorbar=False)
            ax.set_axis_off()
            if row == 0:
                ax.set_title(detector.replace("skanomaly.", ""), fontsize=9)
    fig.suptitle("Magnetic tile test tiles: mask outline and anomaly maps", fontsize=10)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


PROTOCOL = "Protocol" + __doc__.split("\nProtocol", 1)[1].split("\nOutput,", 1)[0]


def main(argv=None):
    global WEIGHTS
    parser = argparse.ArgumentParser(
        description=__doc__.split("\n")[0],
        epilog="Detectors: " + ", ".join(DETECTORS),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--data", default=str(DEFAULT_DATA),
                        help=f"the data set's folder (default: {DEFAULT_DATA})")
    parser.add_argument("--detectors", nargs="+", metavar="NAME",
                        help="only these: the full name or the part after the dot")
    parser.add_argument("--weights", default=str(WEIGHTS),
                        help=f"SqueezeNet 1.1's ImageNet weights (default: {WEIGHTS})")
    parser.add_argument("--image-size", type=int, default=IMAGE_SIZE,
                        help=f"side of the resized tiles (default: {IMAGE_SIZE})")
    parser.add_argument("--epochs", type=int, default=None,
                        help="epochs of the deep detectors (default: their own)")
    parser.add_argument("--max-train", type=int, default=None,
                        help="at most this many training tiles (smoke tests)")
    parser.add_argument("--max-test", type=int, default=None,
                        help="at most this many test tiles (smoke tests)")
    parser.add_argument("--output", default=str(RESULTS),
                        help=f"results folder (default: {RESULTS})")
    parser.add_argument("--fresh", action="store_true", help="rerun rows already in the CSV")
    parser.add_argument("--no-plot", action="store_true", help="skip the figure")
    args = parser.parse_args(argv)
    argv = sys.argv[1:] if argv is None else list(argv)
    command = shlex.join(["python", "benchmarks/magnetic_tile.py", *argv])
    names = select(args.detectors)
    WEIGHTS = Path(args.weights)

    _protocol._import_tensorflow_quietly()
    data = load_magnetic_tile(args.data, image_size=args.image_size)
    classes = np.asarray(data.classes)
    train, test = split_indices(classes)
    if args.max_train is not None:
        train = train[: args.max_train]
    if args.max_test is not None:
        keep = np.random.RandomState(SEED).permutation(len(test))[: args.max_test]
        test = test[np.sort(keep)]
    split = (data.images[train], data.images[test], data.y[test], data.masks[test], classes[test])
    split_text = (
        f"{len(train)} defect-free training tiles, {len(test)} test tiles "
        f"({int(data.y[test].sum())} defective), {args.image_size}x{args.image_size}"
    )
    print(f"Magnetic tile: {split_text}.")

    output = Path(args.output)
    output.mkdir(parents=True, exist_ok=True)
    csv_path = output / f"{STEM}_rows.csv"
    rows = read_rows(csv_path)
    if args.fresh:
        rows = [r for r in rows if r["detector"] not in names]
        write_rows(csv_path, rows)
    done = {r["detector"] for r in rows}
    try:
        data_shown = "../" + str(Path(args.data).resolve().relative_to(_protocol.REPO.parent))
    except ValueError:
        data_shown = args.data

    warm_up([n for n in names if n not in done], args.image_size)
    all_maps = {}
    start_all = time.perf_counter()
    for name in names:
        if name in done:
            continue
        result, maps = run_one(name, args.epochs, split)
        if maps is not None:
            all_maps[name] = maps
        rows.append({"detector": name, "image_size": args.image_size, "n_train": len(train),
                     "n_test": len(test), "epochs": args.epochs, **result})
        write_rows(csv_path, rows)
        status = (
            f"ERROR {result['error']}" if result["error"]
            else f"image ROC AUC {result['image_roc_auc']:.3f}, pixel ROC AUC "
            f"{result['pixel_roc_auc']:.3f}, AUPRO {result['aupro']:.3f}, "
            f"fit {result['fit_seconds']:.1f} s"
        )
        print(f"{name:34s} {status}", flush=True)
        (output / f"{STEM}.md").write_text(report(rows, names, command, data_shown, split_text))
    (output / f"{STEM}.md").write_text(report(rows, names, command, data_shown, split_text))
    skipped = [name for name in names if name in done]
    if skipped and not args.no_plot:
        # The maps are not stored: a figure of this run's detectors alone
        # would replace the one of the whole comparison.
        print(f"Figure left as it was: {len(skipped)} detectors were not rerun (--fresh).")
    elif all_maps and not args.no_plot:
        plot_maps(output / f"{STEM}_maps.png", split[1], split[3], split[4], all_maps)
    print(f"Done in {time.perf_counter() - start_all:.0f} s; see {output / (STEM + '.md')}")


if __name__ == "__main__":
    main()
