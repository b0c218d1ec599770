"""One-class MNIST: choosing a detector's defaults on the selection part.

    python benchmarks/mnist_one_class_select.py                  # every candidate
    python benchmarks/mnist_one_class_select.py "OGNet defaults"

Protocol: the *selection* part is digits 0 to 4 as the normal class, 1,000
training images a digit (the seeded subsample of
``benchmarks/mnist_one_class.py``), scored on half of the MNIST test set,
drawn with ``numpy.random.RandomState(1)`` (5,000 images, every digit).
Candidates are fitted at ``random_state=0`` and measured there only, so
that a default chosen here is then reported on all ten digits and the
whole test set by ``benchmarks/mnist_one_class.py``, where digits 5 to 9
and the other half of the test set are data the choice never saw. Test
ROC AUC (anomalies the positive class) per digit, their mean, and the mean
fit seconds.

Output: ``benchmarks/results/mnist_one_class_select.md``, a table of the
candidates run so far (a rerun replaces a candidate's row), with the
command of each; the rows in ``mnist_one_class_select.json``.
"""

import sys
import time
import warnings
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import _protocol  # noqa: E402  (sets TF_CPP_MIN_LOG_LEVEL before TensorFlow)
import mnist_one_class  # noqa: E402
import numpy as np  # noqa: E402

from skanomaly.datasets import load_mnist_one_class  # noqa: E402
from skanomaly.metrics import anomaly_roc_auc_score  # noqa: E402

SELECTION_DIGITS = (0, 1, 2, 3, 4)
SELECTION_SEED = 1
MAX_TRAIN = 1000
RESULTS = _protocol.RESULTS / "mnist_one_class_select.md"
ROWS = _protocol.RESULTS / "mnist_one_class_select.json"

#: Candidate name -> (detector class, parameters).
CANDIDATES = {
    "OGNet defaults": ("OGNet", {}),
    "OGNet 2 levels": ("OGNet", {"filters": (16, 32)}),
    "OGNet old epoch 1": ("OGNet", {"old_epoch": 1}),
    "OGNet no noise": ("OGNet", {"noise_std": 0.0}),
    "OGNet 300 phase-two steps": ("OGNet", {"phase_two_steps": 300}),
}


def selection_indices(n_test):
    """The selection half of the test indices, sorted."""
    order = np.random.RandomState(SELECTION_SEED).permutation(n_test)
    return np.sort(order[: n_test // 2])


def measure(name, digit):
    import keras

    import skanomaly

    class_name, params = CANDIDATES[name]
    data = load_mnist_one_class(
        digit, path=mnist_one_class.DEFAULT_DATA, download_if_missing=False
    )
    train = mnist_one_class._subsample(len(data.X_train), MAX_TRAIN, mnist_one_class.SEED)
    selection = selection_indices(len(data.X_test))
    detector = getattr(skanomaly, class_name)(random_state=0, verbose=0, **params)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        start = time.perf_counter()
        detector.fit(data.X_train[train])
        fit_seconds = time.perf_counter() - start
        scores = detector.score_samples(data.X_test[selection])
    keras.backend.clear_session()
    return anomaly_roc_auc_score(data.y_test[selection], scores), fit_seconds


def write_report(rows):
    digit_heads = " | ".join(str(d) for d in SELECTION_DIGITS)
    lines = [
        "# One-class MNIST: candidate defaults on the selection part",
        "",
        __doc__.split("\n\n", 2)[2].split("\nOutput:", 1)[0].strip(),
        "",
        f"| candidate | parameters | {digit_heads} | mean | fit (s) | run | command |",
        "|---|---|" + "---:|" * (len(SELECTION_DIGITS) + 2) + "---|---|",
    ]
    for row in rows:
        aucs = " | ".join(f"{row['roc_auc'][str(d)]:.3f}" for d in SELECTION_DIGITS)
        lines.append(
            f"| {row['candidate']} | `{_protocol.candidate_call(row['candidate'], CANDIDATES)}` "
            f"| {aucs} | {row['mean_roc_auc']:.3f} | {row['mean_fit_seconds']:.0f} "
            f"| {row['run']} | `{row['command']}` |"
        )
    lines += ["", _protocol.machine_line()]
    RESULTS.write_text("\n".join(lines) + "\n")


def main(argv=None):
    argv = sys.argv[1:] if argv is None else list(argv)
    names, command = _protocol.chosen_candidates(argv, CANDIDATES, "mnist_one_class_select.py")
    _protocol._import_tensorflow_quietly()
    rows = _protocol.read_candidate_rows(ROWS)
    for name in names:
        aucs, fit_seconds = {}, []
        for digit in SELECTION_DIGITS:
            auc, seconds = measure(name, digit)
            aucs[str(digit)] = round(auc, 4)
            fit_seconds.append(seconds)
            print(f"{name}: digit {digit} ROC AUC {auc:.4f}, fit {seconds:.0f} s", flush=True)
        row = {
            "candidate": name,
            "roc_auc": aucs,
            "mean_roc_auc": round(float(np.mean(list(aucs.values()))), 4),
            "mean_fit_seconds": round(float(np.mean(fit_seconds)), 1),
            "run": time.strftime("%Y-%m-%d %H:%M"),
            "command": command,
        }
        print(row, flush=True)
        rows = _protocol.store_candidate_row(ROWS, rows, row)
        write_report(rows)


if __name__ == "__main__":
    main()
