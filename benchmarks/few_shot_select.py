"""Choosing MAMLDetector's inner learning rate on the selection part of ``few_shot.py``.

    python benchmarks/few_shot_select.py

The selection part: seed 0 of ``few_shot.py``'s draws, the seven new tasks
whose anomaly digit is 7 (normal digits 0 to 6), 5 shots. For each
candidate ``inner_learning_rate`` (0.03, 0.1, 0.4), ``MAMLDetector(
n_support_anomalies=5, random_state=0)`` is meta-trained once on the seed's
meta-training set, then a deep copy of it is adapted to each task's support
set and scores its query set, exactly as in ``few_shot.py``. The other
seeds and anomaly digits (8 and 9) are left for reporting. Writes
``benchmarks/results/few_shot_select.md``: ROC AUC per task and the mean,
per candidate, with the seconds of the meta-training.
"""

import copy
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import few_shot  # noqa: E402  (imports TensorFlow quietly first)
import numpy as np  # noqa: E402
from sklearn.metrics import roc_auc_score  # noqa: E402

from skanomaly import MAMLDetector  # noqa: E402

CANDIDATES = (0.03, 0.1, 0.4)
SEED, ANOMALY_DIGIT, SHOTS = 0, 7, 5
OUTPUT = Path(__file__).resolve().parent / "results" / "few_shot_select.md"


def main():
    mnist = few_shot.load_mnist(few_shot.DEFAULT_DATA)
    sizes = dict(normals_per_task=100, anomalies_per_task=10, support_normals=20,
                 query_anomalies=100)
    tasks = few_shot.draw_tasks(mnist, SEED, sizes)
    normal_digits = list(few_shot.META_DIGITS)
    lines = [
        "# MAMLDetector: inner learning rate on the selection part of few_shot.py",
        "",
        "Command: `python benchmarks/few_shot_select.py`. Seed 0 of `few_shot.py`'s "
        f"draws, anomaly digit {ANOMALY_DIGIT}, {SHOTS} shots; test ROC AUC (x 100) "
        "per normal digit.",
        "",
        "| inner_learning_rate | " + " | ".join(str(a) for a in normal_digits)
        + " | **mean** | meta-training (s) |",
        "|---:|" + "---:|" * (len(normal_digits) + 2),
    ]
    for rate in CANDIDATES:
        start = time.perf_counter()
        detector = MAMLDetector(n_support_anomalies=SHOTS, inner_learning_rate=rate,
                                random_state=SEED)
        detector.fit(tasks.X_meta, tasks.y_meta, tasks.groups_meta)
        seconds = time.perf_counter() - start
        aucs = []
        for a in normal_digits:
            X_support, y_support = few_shot.support_set(mnist, tasks, a, ANOMALY_DIGIT, SHOTS)
            X_query, y_query = few_shot.query_set(mnist, tasks, a, ANOMALY_DIGIT)
            adapted = copy.deepcopy(detector).adapt(few_shot.flat(X_support), y_support)
            scores = adapted.score_samples(few_shot.flat(X_query))
            aucs.append(roc_auc_score(y_query, -scores))
        row = (f"| {rate} | " + " | ".join(f"{100 * v:.1f}" for v in aucs)
               + f" | **{100 * np.mean(aucs):.1f}** | {seconds:.0f} |")
        print(row, flush=True)
        lines.append(row)
    OUTPUT.write_text("\n".join(lines) + "\n")
    print(f"wrote {OUTPUT}")


if __name__ == "__main__":
    main()
