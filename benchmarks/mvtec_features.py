"""MVTec AD on ResNet-18 embeddings: skanomaly's deep detectors beside scikit-learn and PyOD.

    python benchmarks/mvtec_features.py                                  # the full protocol
    python benchmarks/mvtec_features.py --datasets bottle --seeds 0      # a smoke test
    python benchmarks/mvtec_features.py --detectors skanomaly IsolationForest

Rerunning a command skips the (data set, seed, detector) rows already in the
rows CSV, so an interrupted run goes on where it stopped; ``--fresh`` reruns
them, ``--retry-errors`` reruns only the ones that failed. ``--help`` lists
the options and the detector names.

Protocol (the one of ``tabular.py``, on image embeddings)

* Data: the 15 MVTec AD categories in ``../shared/data/mvtec_resnet18``
  (from the repository root), each image (training and test images
  together) as a 512-d ImageNet ResNet-18 embedding, ``X`` cast to float64,
  ``y == 1`` a defective image. A data set is named by its category
  (``MVTec-AD_bottle.npz`` is ``bottle``).
* For each seed (0, 1, 2): a stratified 70/30 train/test split,
  ``train_test_split(X, y, test_size=0.3, stratify=y, random_state=seed)``;
  a part with more than 10,000 rows (``--max-rows``) would be cut to 10,000
  by a stratified subsample with the same seed (none is that large).
* Unsupervised fit on the training part, which keeps its defective images;
  no labels are used and no preprocessing is added beyond the detector's
  own. (This is ADBench's protocol, not MVTec's own: there the training set
  holds only defect-free images.)
* Test ROC AUC and average precision, anomalies the positive class, from
  ``score_samples`` for skanomaly and scikit-learn (higher is more normal,
  ``score_convention="normality"``) and from ``decision_function`` for PyOD
  (higher is more anomalous, ``score_convention="anomaly"``), through
  ``skanomaly.metrics``; fit and score wall-clock seconds (after one small
  untimed fit of each deep detector, so that TensorFlow's and PyTorch's
  one-off start-up is left out).
* Detectors, all in the same run, at their defaults, with
  ``random_state=seed`` where they take one and no progress output:
  skanomaly ``AutoEncoder``, ``VAE``, ``DeepSVDD`` on the raw features
  (they standardise inside); scikit-learn ``IsolationForest``,
  ``make_pipeline(StandardScaler(), OneClassSVM())`` and
  ``make_pipeline(StandardScaler(), LocalOutlierFactor(novelty=True))``;
  PyOD ``AutoEncoder``, ``VAE``, ``DeepSVDD(n_features=512)`` and ``ECOD``
  (``verbose=0``), left out with a note when PyOD is not installed.
* The trained-head detector, ``skanomaly.TransferHead-head``: the
  embeddings are already pooled features of a frozen ImageNet network, so
  ``TransferHead``'s head is trained on them directly: ``DeepSVDD`` with
  ``TransferHead``'s head and training defaults (standardised features, a
  bias-free head of widths (128, 32) with leaky ReLU, ``weight_decay=1e-6``,
  ``learning_rate=1e-3``, 20 epochs at most), unsupervised.
* A detector that raises gets NaN metrics and its error in the ``error``
  column; the run goes on.

Output, in ``benchmarks/results/`` (``--output``):
``mvtec_features_rows.csv``, one row per (data set, seed, detector),
appended and flushed as each finishes; ``mvtec_features.md``, the tables
(mean over seeds of ROC AUC and of average precision per category and
detector, the mean and average rank per detector, mean seconds) with this
command; ``mvtec_features_roc_auc.png``, mean ROC AUC per detector. Both are
rewritten after each category, so a partial run has tables.
"""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import _protocol  # noqa: E402

DEFAULT_DATA = _protocol.SHARED_DATA / "mvtec_resnet18"


def _transfer_head_on_embeddings(seed, n_features):
    import skanomaly

    head = skanomaly.TransferHead()
    return skanomaly.DeepSVDD(
        hidden_units=head.hidden_units,
        activation=head.activation,
        weight_decay=head.weight_decay,
        eps=head.eps,
        learning_rate=head.learning_rate,
        epochs=head.epochs,
        random_state=seed,
        verbose=0,
    )


TRAINED_HEAD = _protocol.Detector(
    "skanomaly.TransferHead-head", "skanomaly", _transfer_head_on_embeddings, "normality"
)


def main(argv=None):
    _protocol.run(
        script="benchmarks/mvtec_features.py",
        stem="mvtec_features",
        title="MVTec AD, ResNet-18 embeddings",
        doc=__doc__,
        default_data=DEFAULT_DATA,
        pattern="MVTec-AD_*.npz",
        prefix=r"MVTec-AD_",
        what="MVTec AD embedding",
        argv=argv,
        extra_detectors=[TRAINED_HEAD],
    )


if __name__ == "__main__":
    main()
