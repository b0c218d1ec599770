"""ADBench tabular benchmark: skanomaly's deep detectors beside scikit-learn and PyOD.

    python benchmarks/tabular.py                                   # the full protocol (hours)
    python benchmarks/tabular.py --datasets glass WBC --seeds 0    # a smoke test
    python benchmarks/tabular.py --detectors skanomaly IsolationForest
    python benchmarks/tabular.py path/to/adbench --output /tmp/bench

Rerunning a command skips the (data set, seed, detector) rows already in the
rows CSV, so an interrupted run goes on where it stopped; ``--fresh`` reruns
them, ``--retry-errors`` reruns only the ones that failed. ``--help`` lists
the options and the detector names.

Protocol

* Data: the 33 ADBench "Classical" data sets in ``../shared/data/adbench``
  (from the repository root; ``X`` cast to float64, ``y == 1`` an anomaly).
  A data set is named by its file name without the number prefix
  (``14_glass.npz`` is ``glass``).
* For each seed (0, 1, 2): a stratified 70/30 train/test split,
  ``train_test_split(X, y, test_size=0.3, stratify=y, random_state=seed)``;
  a part with more than 10,000 rows (``--max-rows``) is cut to 10,000 by a
  stratified subsample with the same seed.
* Unsupervised fit on the training part, which keeps its anomalies; no
  labels are used and no preprocessing is added beyond the detector's own.
* Test ROC AUC and average precision, anomalies the positive class, from
  ``score_samples`` for skanomaly and scikit-learn (higher is more normal,
  ``score_convention="normality"``) and from ``decision_function`` for PyOD
  (higher is more anomalous, ``score_convention="anomaly"``), through
  ``skanomaly.metrics``; fit and score wall-clock seconds (after one small
  untimed fit of each deep detector, so that TensorFlow's and PyTorch's
  one-off start-up is left out).
* Detectors, all in the same run, at their defaults, with
  ``random_state=seed`` where they take one and no progress output:
  skanomaly ``AutoEncoder``, ``VAE``, ``DeepSVDD`` and ``GradCon`` on the
  raw features (they standardise inside; GradCon's rows come from a later
  run, also on 2 cores but not the same machine, so its seconds do not
  compare with the others', and after a change to the engine's steps per
  call into TensorFlow that the others' rows predate; its default
  ``trim_fraction=0.1`` was chosen by ``benchmarks/tabular_select.py``); scikit-learn ``IsolationForest``,
  ``make_pipeline(StandardScaler(), OneClassSVM())`` and
  ``make_pipeline(StandardScaler(), LocalOutlierFactor(novelty=True))``;
  PyOD ``AutoEncoder``, ``VAE``, ``DeepSVDD(n_features=d)`` and ``ECOD``
  (``verbose=0``), left out with a note when PyOD is not installed.
* A detector that raises gets NaN metrics and its error in the ``error``
  column; the run goes on.

Output, in ``benchmarks/results/`` (``--output``): ``tabular_rows.csv``, one
row per (data set, seed, detector), appended and flushed as each finishes;
``tabular.md``, the tables (mean over seeds of ROC AUC and of average
precision per data set and detector, the mean and average rank per
detector, mean seconds) with this command; ``tabular_roc_auc.png``, mean ROC
AUC per detector. Both are rewritten after each data set, so a partial run
has tables. Data sets run smallest first.
"""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import _protocol  # noqa: E402

DEFAULT_DATA = _protocol.SHARED_DATA / "adbench"


def main(argv=None):
    _protocol.run(
        script="benchmarks/tabular.py",
        stem="tabular",
        title="ADBench tabular benchmark",
        doc=__doc__,
        default_data=DEFAULT_DATA,
        pattern="*.npz",
        prefix=r"\d+_",
        what="ADBench",
        argv=argv,
    )


if __name__ == "__main__":
    main()
