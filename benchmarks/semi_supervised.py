"""ADBench with a few labelled anomalies: skanomaly's semi-supervised detectors beside a classifier, PyOD's and our best unsupervised detector.

    python benchmarks/semi_supervised.py                                  # the full protocol (hours)
    python benchmarks/semi_supervised.py --datasets glass WBC --seeds 0   # a smoke test
    python benchmarks/semi_supervised.py --detectors DeepSAD@5% VAE

Rerunning a command skips the (data set, seed, detector) rows already in the
rows CSV, so an interrupted run goes on where it stopped; ``--fresh`` reruns
them, ``--retry-errors`` reruns only the ones that failed. ``--help`` lists
the options and the detector names.

Protocol (the one of ``tabular.py``, with labels)

* Data: the 33 ADBench "Classical" data sets in ``../shared/data/adbench``
  (from the repository root; ``X`` cast to float64, ``y == 1`` an anomaly).
* For each seed (0, 1, 2): the split of ``tabular.py``, a stratified 70/30
  train/test split, ``train_test_split(X, y, test_size=0.3, stratify=y,
  random_state=seed)``, each part cut to 10,000 rows (``--max-rows``) by a
  stratified subsample with the same seed.
* Labels: 1% or 5% of the training part's anomalies (rounded, at least
  one), drawn with ``numpy.random.RandomState(seed)``, are labelled 1;
  every other training row is unlabelled (-1), the other anomalies
  included. A detector named ``...@1%`` or ``...@5%`` is fitted on those
  labels; one without a share is fitted without labels.
* Test ROC AUC and average precision as in ``tabular.py``, on the test
  part (all of whose labels are known), with fit and score wall-clock
  seconds (after one small untimed fit of each deep detector).
* Detectors, all in the same run, at their defaults, ``random_state=seed``
  where they take one, no progress output, each at 1% and 5% labels:

  - skanomaly ``DeepSAD`` (labels 1 and -1 as they are) and ``DevNet``
    (the same labels; it reads -1 as its "unlabelled" side), and
    ``ScoreBoostingDetector`` (the same labels; -1 and 0 are one class to
    its classifier), added in a later run of this protocol than the
    others (its rows were appended to the same rows CSV);
  - skanomaly ``KerasDetector(objective="classification")``, the
    supervised route: a dense network (64 then 32 ReLU units, a sigmoid
    output) on standardised features, classes weighted to balance, with
    unlabelled rows taken as normal (0);
  - scikit-learn ``HistGradientBoostingClassifier(class_weight="balanced")``,
    unlabelled rows taken as normal (0), scored by the probability of the
    anomaly class;
  - PyOD ``DevNet`` (``random_seed=seed``, otherwise its defaults) and
    ``XGBOD``, unlabelled rows taken as normal (0), as their ``fit``
    expects. PyOD's ``DevNet`` is measured as shipped: in PyOD 3.6.7 its
    training loop calls ``deviation_loss(y_true, y_pred)`` as
    ``deviation_loss(outputs, labels)`` (``pyod/models/devnet.py``), so it
    does not train on the paper's loss (its logged losses go negative);
  - and, without labels, our best unsupervised detector of
    ``tabular.py``, skanomaly ``VAE``, as the reference.
* A detector that raises gets NaN metrics and its error in the ``error``
  column; the run goes on.

Output, in ``benchmarks/results/`` (``--output``):
``semi_supervised_rows.csv``, one row per (data set, seed, detector),
appended and flushed as each finishes; ``semi_supervised.md``, the tables
(mean over seeds of ROC AUC and of average precision per data set and
detector, the mean and average rank per detector, mean seconds) with this
command; ``semi_supervised_roc_auc.png``, mean ROC AUC per detector. Both
are rewritten after each data set, so a partial run has tables. Data sets
run smallest first.
"""

import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))

import _protocol  # noqa: E402

DEFAULT_DATA = _protocol.SHARED_DATA / "adbench"
LABEL_SHARES = (0.01, 0.05)


def _as_given(partial):
    return partial


def _unlabelled_as_normal(partial):
    return np.where(partial == 1, 1, 0)


def _skanomaly(class_name):
    def make(seed, n_features):
        import skanomaly

        return getattr(skanomaly, class_name)(random_state=seed, verbose=0)

    return make


def _dense_classifier(sample_shape):
    import keras

    return keras.Sequential([
        keras.Input(sample_shape),
        keras.layers.Dense(64, activation="relu"),
        keras.layers.Dense(32, activation="relu"),
        keras.layers.Dense(1, activation="sigmoid"),
    ])


def _keras_classifier(seed, n_features):
    from skanomaly import KerasDetector

    return KerasDetector(
        _dense_classifier, objective="classification", random_state=seed, verbose=0
    )


class AnomalyProbability:
    """A classifier scored by the probability of the anomaly class (higher
    is more anomalous, PyOD's convention)."""

    def __init__(self, classifier):
        self.classifier = classifier

    def get_params(self, deep=True):
        return self.classifier.get_params(deep)

    def set_params(self, **params):
        self.classifier.set_params(**params)
        return self

    def fit(self, X, y):
        self.classifier.fit(X, y)
        return self

    def decision_function(self, X):
        return self.classifier.predict_proba(X)[:, 1]


def _gradient_boosting(seed, n_features):
    from sklearn.ensemble import HistGradientBoostingClassifier

    return AnomalyProbability(
        HistGradientBoostingClassifier(class_weight="balanced", random_state=seed)
    )


def _pyod_devnet(seed, n_features):
    from pyod.models.devnet import DevNet

    return DevNet(random_seed=seed)


def _pyod_xgbod(seed, n_features):
    from pyod.models.xgbod import XGBOD

    return XGBOD(random_state=seed)


def _score_boosting(seed, n_features):
    from skanomaly import ScoreBoostingDetector

    return ScoreBoostingDetector(random_state=seed)


def detectors():
    """The detectors of the comparison, in table order."""
    labelled = [
        ("skanomaly.DeepSAD", "skanomaly", _skanomaly("DeepSAD"), "normality", _as_given),
        ("skanomaly.DevNet", "skanomaly", _skanomaly("DevNet"), "normality", _as_given),
        ("skanomaly.ScoreBoosting", "skanomaly", _score_boosting, "normality", _as_given),
        ("skanomaly.KerasClassifier", "skanomaly", _keras_classifier, "normality",
         _unlabelled_as_normal),
        ("sklearn.HistGradientBoosting", "sklearn", _gradient_boosting, "anomaly",
         _unlabelled_as_normal),
        ("pyod.DevNet", "pyod", _pyod_devnet, "anomaly", _unlabelled_as_normal),
        ("pyod.XGBOD", "pyod", _pyod_xgbod, "anomaly", _unlabelled_as_normal),
    ]
    return [
        _protocol.Detector(
            f"{name}@{share:.0%}", library, make, convention, label_share=share, labels=labels
        )
        for share in LABEL_SHARES
        for name, library, make, convention, labels in labelled
    ] + [
        _protocol.Detector("skanomaly.VAE", "skanomaly", _skanomaly("VAE"), "normality"),
    ]


def main(argv=None):
    _protocol.run(
        script="benchmarks/semi_supervised.py",
        stem="semi_supervised",
        title="ADBench with 1% and 5% of the anomalies labelled",
        doc=__doc__,
        default_data=DEFAULT_DATA,
        pattern="*.npz",
        prefix=r"\d+_",
        what="ADBench",
        argv=argv,
        detectors=detectors(),
    )


if __name__ == "__main__":
    main()
