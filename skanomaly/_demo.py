"""The demo: deep and classical detectors side by side on one-class tasks.

scikit-learn's digits (8x8 images) become a one-class problem: one digit is
normal, the other nine are anomalies. Each detector is trained on half of the
normal digit's images and scores the other half together with every other
digit; the table gives the test ROC AUC and the fit time, averaged over the
chosen normal digits.

Then textures with planted defects (scratches, blobs and stains on gravel,
:func:`~skanomaly.datasets.make_defect_textures`): there a deep detector
also says *where* the defect is, and a figure shows its anomaly maps.
"""

import time
from pathlib import Path

import numpy as np
from sklearn.datasets import load_digits
from sklearn.ensemble import IsolationForest
from sklearn.model_selection import train_test_split
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler
from sklearn.svm import OneClassSVM

from .metrics import anomaly_average_precision_score, anomaly_roc_auc_score, pixel_roc_auc_score

#: The texture task: the texture, and the numbers of good training images,
#: good test images and defective test images.
TEXTURE = "gravel"
TEXTURE_COUNTS = (100, 40, 20)


def demo_detectors(random_state=0):
    """The detectors compared by the demo, by display name."""
    from . import VAE, AutoEncoder, DeepSVDD, make_hog_ocsvm

    return {
        "AutoEncoder": AutoEncoder(random_state=random_state),
        "VAE": VAE(random_state=random_state),
        "DeepSVDD": DeepSVDD(random_state=random_state),
        "IsolationForest": IsolationForest(random_state=random_state),
        "OneClassSVM": make_pipeline(StandardScaler(), OneClassSVM(nu=0.1)),
        "HOG + OneClassSVM": make_hog_ocsvm(
            image_shape=(8, 8), pixels_per_cell=(4, 4), cells_per_block=(2, 2)
        ),
    }


def one_class_digits(normal_digit, random_state=0):
    """Train on half of one digit; test on its other half and all others.

    Returns ``X_train, X_test, y_test`` with ``y_test`` 1 for anomalies.
    """
    X, digit = load_digits(return_X_y=True)
    normal = digit == normal_digit
    X_train, X_normal_test = train_test_split(
        X[normal], test_size=0.5, random_state=random_state
    )
    X_test = np.vstack([X_normal_test, X[~normal]])
    y_test = np.r_[np.zeros(len(X_normal_test)), np.ones((~normal).sum())].astype(int)
    return X_train, X_test, y_test


def texture_detectors(random_state=0):
    """The detectors compared on the textures, by display name."""
    from . import ConvAutoEncoder, make_hog_ocsvm
    from .features import ImageResizer

    return {
        "ConvAutoEncoder": ConvAutoEncoder(random_state=random_state),
        "HOG + OneClassSVM": make_hog_ocsvm(pixels_per_cell=(8, 8), cells_per_block=(2, 2)),
        "IsolationForest": make_pipeline(
            ImageResizer((64, 64), flatten=True), IsolationForest(random_state=random_state)
        ),
    }


def defect_textures(random_state=0):
    """Good 64x64 gravel images to train on, and a test set of good and
    defective ones with their masks (``make_defect_textures`` Bunches)."""
    from .datasets import make_defect_textures

    n_train, n_good, n_bad = TEXTURE_COUNTS
    train = make_defect_textures(n_train, 0, texture=TEXTURE, random_state=random_state)
    test = make_defect_textures(n_good, n_bad, texture=TEXTURE, random_state=random_state + 1)
    return train, test


def run_texture_demo(output_dir, random_state=0):
    """The texture task: rows of image and pixel ROC AUC and fit time, a
    Markdown table of them, and (with matplotlib) ``texture_maps.png``."""
    train, test = defect_textures(random_state)
    rows, maps = [], None
    for name, detector in texture_detectors(random_state).items():
        start = time.perf_counter()
        detector.fit(train.images)
        fit_seconds = time.perf_counter() - start
        row = {
            "detector": name,
            "image_roc_auc": anomaly_roc_auc_score(test.y, detector.score_samples(test.images)),
            "pixel_roc_auc": float("nan"),
            "fit_seconds": fit_seconds,
        }
        if hasattr(detector, "anomaly_map"):
            maps = detector.anomaly_map(test.images)
            row["pixel_roc_auc"] = pixel_roc_auc_score(test.masks, maps)
        rows.append(row)
    table = texture_table(rows)
    written = []
    if _has_matplotlib():
        written.append(_plot_texture_maps(test, maps, output_dir / "texture_maps.png"))
    return rows, table, written


def texture_table(rows):
    """A Markdown table of the texture task."""
    lines = [
        "| detector | image ROC AUC | pixel ROC AUC | fit time (s) |",
        "|---|---|---|---|",
    ]
    for row in rows:
        pixel = "no maps" if np.isnan(row["pixel_roc_auc"]) else f"{row['pixel_roc_auc']:.3f}"
        lines.append(
            f"| {row['detector']} | {row['image_roc_auc']:.3f} | {pixel} "
            f"| {row['fit_seconds']:.2f} |"
        )
    return "\n".join(lines)


def run_demo(normal_digits=range(10), output_dir="demo_output", random_state=0, textures=True):
    """Run the comparisons, print their tables and write CSVs and figures.

    Parameters
    ----------
    normal_digits : iterable of int, default=range(10)
        The digits taken in turn as the normal class.
    output_dir : str or Path, default="demo_output"
        Where ``results.csv``, ``summary.md``, ``roc_curves.png`` (the ROC
        curves of the hardest normal digit) and ``autoencoder.png`` (the
        autoencoder's scores on that digit's test set, with its threshold,
        and its training history) are written; and for the textures,
        ``textures.csv``, ``textures.md`` and ``texture_maps.png`` (the
        convolutional autoencoder's anomaly maps of defective test images,
        with the defects' outlines).
    random_state : int, default=0
        Seed of the splits, the textures and every detector.
    textures : bool, default=True
        Run the texture task too.

    Returns
    -------
    rows : list of dict
        One row per detector and normal digit: ``detector``, ``digit``,
        ``roc_auc``, ``average_precision``, ``fit_seconds``.
    """
    normal_digits = list(normal_digits)
    output_dir = Path(output_dir)
    output_dir.mkdir(parents=True, exist_ok=True)
    rows, curves, autoencoders = [], {}, {}
    for digit in normal_digits:
        X_train, X_test, y_test = one_class_digits(digit, random_state)
        for name, detector in demo_detectors(random_state).items():
            start = time.perf_counter()
            detector.fit(X_train)
            fit_seconds = time.perf_counter() - start
            scores = detector.score_samples(X_test)
            rows.append(
                {
                    "detector": name,
                    "digit": digit,
                    "roc_auc": anomaly_roc_auc_score(y_test, scores),
                    "average_precision": anomaly_average_precision_score(
                        y_test, scores
                    ),
                    "fit_seconds": fit_seconds,
                }
            )
            curves.setdefault(digit, {})[name] = (y_test, scores)
            if name == "AutoEncoder":
                autoencoders[digit] = (detector, X_test, y_test)
        print(f"normal digit {digit}: done", flush=True)

    table = summary_table(rows)
    print()
    print(table)
    _write_csv(rows, output_dir / "results.csv")
    (output_dir / "summary.md").write_text(table + "\n")
    # The ROC curves of the hardest normal digit say the most.
    hardest = min(
        normal_digits,
        key=lambda d: np.mean([r["roc_auc"] for r in rows if r["digit"] == d]),
    )
    written = [output_dir / "results.csv", output_dir / "summary.md"]
    if _has_matplotlib():
        written.append(_plot_roc_curves(curves[hardest], hardest, output_dir / "roc_curves.png"))
        written.append(
            _plot_detector(*autoencoders[hardest], hardest, output_dir / "autoencoder.png")
        )
    if textures:
        print(f"\ntextures with planted defects ({TEXTURE}, 64x64 pixels): training on "
              f"{TEXTURE_COUNTS[0]} good images, testing on {TEXTURE_COUNTS[1]} good and "
              f"{TEXTURE_COUNTS[2]} defective ones", flush=True)
        texture_rows, table, figures = run_texture_demo(output_dir, random_state)
        print()
        print(table)
        _write_csv(texture_rows, output_dir / "textures.csv")
        (output_dir / "textures.md").write_text(table + "\n")
        written += [output_dir / "textures.csv", output_dir / "textures.md", *figures]
    print("\nwrote " + ", ".join(str(path) for path in written), end="")
    print("" if _has_matplotlib() else " (install matplotlib for the figures)")
    return rows


def summary_table(rows):
    """A Markdown table of the mean ROC AUC, AP and fit time per detector."""
    names = list(dict.fromkeys(row["detector"] for row in rows))
    lines = [
        "| detector | ROC AUC | average precision | fit time (s) |",
        "|---|---|---|---|",
    ]
    for name in sorted(
        names,
        key=lambda n: -np.mean([r["roc_auc"] for r in rows if r["detector"] == n]),
    ):
        mine = [r for r in rows if r["detector"] == name]
        lines.append(
            f"| {name} | {np.mean([r['roc_auc'] for r in mine]):.3f} "
            f"| {np.mean([r['average_precision'] for r in mine]):.3f} "
            f"| {np.mean([r['fit_seconds'] for r in mine]):.2f} |"
        )
    return "\n".join(lines)


def _write_csv(rows, path):
    import csv

    with open(path, "w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)


def _has_matplotlib():
    try:
        import matplotlib

        matplotlib.use("Agg")
    except ImportError:
        return False
    return True


def _plot_roc_curves(curves, digit, path):
    import matplotlib.pyplot as plt

    from .plotting import AnomalyRocCurveDisplay

    fig, ax = plt.subplots(figsize=(6, 5))
    for name, (y_test, scores) in curves.items():
        AnomalyRocCurveDisplay.from_predictions(y_test, scores, name=name, ax=ax)
    ax.plot([0, 1], [0, 1], color="grey", linestyle=":", linewidth=1)
    ax.set_title(f"digits: {digit} normal, other digits anomalies")
    ax.legend(loc="lower right", fontsize="small")
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return path


def _plot_detector(detector, X_test, y_test, digit, path):
    """The detector's test scores by label with its threshold, and its
    training history."""
    import matplotlib.pyplot as plt

    from .plotting import ScoreHistogramDisplay, TrainingHistoryDisplay

    fig, (scores_ax, history_ax) = plt.subplots(1, 2, figsize=(11, 4))
    ScoreHistogramDisplay.from_estimator(detector, X_test, y_test, density=True,
                                         ax=scores_ax)
    scores_ax.set_title(f"AutoEncoder, digit {digit} normal: test scores")
    TrainingHistoryDisplay.from_estimator(detector, ax=history_ax, log_scale=True)
    history_ax.set_title("AutoEncoder: training history")
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return path


def _plot_texture_maps(test, maps, path, n_shown=6):
    """A good test image and the first defective ones, each with the
    anomaly map over it (one colour scale) and its defect's outline."""
    import matplotlib.pyplot as plt

    from .plotting import plot_anomaly_map

    shown = [int(np.flatnonzero(test.y == 0)[0]), *np.flatnonzero(test.y == 1)[: n_shown - 1]]
    low, high = np.percentile(maps, [1.0, 99.9])
    fig, axes = plt.subplots(2, len(shown), figsize=(2.2 * len(shown), 4.6))
    for column, index in enumerate(shown):
        kind = test.defect_type[index]
        axes[0, column].imshow(test.images[index], cmap="gray", vmin=0, vmax=1)
        axes[0, column].set_title("good" if kind == "none" else kind, fontsize="small")
        axes[0, column].set_axis_off()
        plot_anomaly_map(
            test.images[index], maps[index], test.masks[index], ax=axes[1, column],
            vmin=low, vmax=high, colorbar=False,
        )
    fig.suptitle(
        "ConvAutoEncoder's anomaly maps (bottom) of test images (top); outlines: the defects"
    )
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path
