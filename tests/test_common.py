"""Every public estimator against scikit-learn's checks and the contract.

Deep detectors run with tiny networks and two epochs: the checks test the
API, not the learning (each detector's own tests do that).
"""

import numpy as np
import pytest
import scipy.sparse as sp
from sklearn.exceptions import NotFittedError
from sklearn.model_selection import GridSearchCV
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler
from sklearn.base import clone
from sklearn.utils import estimator_checks
from sklearn.utils.estimator_checks import parametrize_with_checks

from skanomaly import (
    MNAD,
    KerasDetector,
    VAE,
    AutoEncoder,
    CNNLSTMAutoEncoder,
    ConvAutoEncoder,
    ConvGradCon,
    DeepSVDD,
    GANomaly,
    GradCon,
    HOGTransformer,
    LSTMAutoEncoder,
    MemAE,
    OGNet,
    PaDiM,
    PatchCore,
    RNNForecaster,
    ReverseDistillation,
    StudentTeacher,
    SlidingWindows,
    SynthesizeCompare,
)
from skanomaly.metrics import anomaly_roc_auc_scorer
from skanomaly.model_selection import NoveltySplit
from skanomaly.engine import keras
from skanomaly.utils import all_estimators

FAST = dict(epochs=2, random_state=0)


class UserModel:
    """A user's model function for KerasDetector, with a repr that names it
    (a function's holds its address, which differs between test workers)."""

    def __init__(self, kind):
        self.kind = kind

    def __repr__(self):
        return f"UserModel({self.kind!r})"

    def __call__(self, sample_shape):
        size = int(np.prod(sample_shape))
        if self.kind == "autoencoder":
            head = [
                keras.layers.Dense(2, activation="tanh"),
                keras.layers.Dense(size),
                keras.layers.Reshape(sample_shape),
            ]
        else:
            head = [
                keras.layers.Dense(4, activation="relu"),
                keras.layers.Dense(1, activation="sigmoid"),
            ]
        return keras.Sequential([keras.Input(sample_shape), keras.layers.Flatten(), *head])


FAST_SEQUENCES = dict(FAST, batch_size=1024, validation_fraction=0.0)

DETECTORS = [
    AutoEncoder(hidden_units=(8, 2), **FAST),
    AutoEncoder(hidden_units=(8, 2), noise_std=0.1, sparsity=1e-3, contamination=0.1, **FAST),
    VAE(hidden_units=(8,), latent_dim=2, **FAST),
    VAE(hidden_units=(8,), latent_dim=2, score_type="reconstruction_probability", **FAST),
    DeepSVDD(hidden_units=(8, 4), **FAST),
    DeepSVDD(hidden_units=(8, 4), objective="soft-boundary", **FAST),
    # Sequence detectors read the checks' 2-D rows as univariate sequences.
    # One batch an epoch and no validation split keep each fit small enough
    # to train eagerly, without tracing the recurrent layers' gradient.
    LSTMAutoEncoder(hidden_units=(4,), **FAST_SEQUENCES),
    CNNLSTMAutoEncoder(filters=(4,), lstm_units=(4,), **FAST_SEQUENCES),
    RNNForecaster(hidden_units=(4,), horizon=1, **FAST_SEQUENCES),
    KerasDetector(UserModel("autoencoder"), **FAST),
    GradCon(hidden_units=(2,), validation_fraction=0.0, **FAST),
]
# Detectors of tabular rows; the sequence detectors (which take 3-D input)
# have their own input tests in tests/sequence/test_inputs.py.
DEEP_CLASSES = [AutoEncoder, VAE, DeepSVDD, GradCon]


@parametrize_with_checks(DETECTORS)
def test_sklearn_compatible(estimator, check):
    check(estimator)


# A detector that learns from labels takes 1 (anomaly) and 0 (normal); these
# checks give it labels it cannot use, and it refuses them with a clear
# error, as it must.
_THIRD_LABEL = "the check's y holds a third label, 2, which is neither 1 (anomaly) nor 0 (normal)"
_NO_LABELS = "the check fits without y; the classification objective learns from labels"
LABELLED_EXPECTED_FAILURES = {
    **{
        name: _THIRD_LABEL
        for name in [
            "check_classifier_data_not_an_array", "check_dict_unchanged",
            "check_dont_overwrite_parameters", "check_dtype_object",
            "check_estimators_dtypes", "check_estimators_fit_returns_self",
            "check_estimators_overwrite_params", "check_f_contiguous_array_estimator",
            "check_fit2d_1feature", "check_fit2d_predict1d", "check_fit_score_takes_y",
            "check_methods_sample_order_invariance", "check_methods_subset_invariance",
            "check_n_features_in_after_fitting", "check_positive_only_tag_during_fit",
            "check_readonly_memmap_input",
        ]
    },
    "check_outliers_fit_predict": _NO_LABELS,
    "check_outliers_train": _NO_LABELS,
}


@parametrize_with_checks(
    [KerasDetector(UserModel("classifier"), objective="classification", **FAST)],
    expected_failed_checks=lambda estimator: LABELLED_EXPECTED_FAILURES,
    xfail_strict=True,
)
def test_labelled_detectors_sklearn_compatible(estimator, check):
    check(estimator)


# Image detectors read the checks' 2-D rows as flattened images. Rows of a
# width that is a perfect square are square images (1 -> 1x1, 4 -> 2x2) and
# pass; other widths have no image shape, and image detectors refuse them
# with a clear error instead of inventing one (as HOGTransformer does).
FAST_IMAGES = dict(FAST, validation_fraction=0.0)
IMAGE_DETECTORS = [
    ConvAutoEncoder(latent_dim=2, **FAST_IMAGES),
    ConvAutoEncoder(
        latent_dim=None, loss="ssim", map_aggregation="max", contamination=0.1,
        **FAST_IMAGES,
    ),
    MemAE(n_memory=4, **FAST_IMAGES),
    MNAD(n_memory=2, map_aggregation="topk_mean", **FAST_IMAGES),
    # A discriminator's logits on the checks' blobs have no image beyond
    # Tukey's fence: a float contamination for check_outliers_train.
    OGNet(phase_two_steps=2, contamination=0.1, **FAST),
    # Its 2-epoch latent scores on the blobs leave no image beyond Tukey's
    # fence either.
    GANomaly(latent_dim=2, contamination=0.1, **FAST_IMAGES),
    # Detectors on a pretrained backbone: random weights (no download), and
    # every image resized to 32x32 on its way into the backbone.
    # A small coreset, so that the blobs of check_outliers_train leave some
    # training images beyond Tukey's fence.
    PatchCore(weights=None, input_size=32, coreset_ratio=0.01, random_state=0),
    PaDiM(weights=None, input_size=32, n_features=10, random_state=0),
    ReverseDistillation(weights=None, input_size=32, width_multiplier=0.0625, **FAST_IMAGES),
    StudentTeacher(
        weights=None, input_size=32, n_students=2, student_filters=4, student_depth=1,
        **FAST_IMAGES,
    ),
    ConvGradCon(**FAST_IMAGES),
    # Its two-epoch discrepancy maps of the checks' blobs leave no image
    # beyond Tukey's fence: a float contamination for check_outliers_train.
    SynthesizeCompare(contamination=0.1, **FAST),
]
# The checks that fit with a y of three classes (0, 1, 2): a detector that
# learns from labels refuses the 2 with a clear error.
THIRD_LABEL_CHECKS = (
    "check_classifier_data_not_an_array", "check_dict_unchanged",
    "check_dont_overwrite_parameters", "check_dtype_object",
    "check_estimators_dtypes", "check_estimators_fit_returns_self",
    "check_estimators_overwrite_params", "check_f_contiguous_array_estimator",
    "check_fit2d_1feature", "check_fit2d_predict1d", "check_fit_score_takes_y",
    "check_methods_sample_order_invariance", "check_methods_subset_invariance",
    "check_n_features_in_after_fitting", "check_positive_only_tag_during_fit",
    "check_readonly_memmap_input",
)
THIRD_LABEL_REASON = (
    "the check's y holds a third label, 2, which is neither 1 (anomaly), 0 "
    "(normal) nor -1 (unlabelled)"
)

# check -> width of the rows it uses
IMAGE_NON_SQUARE_WIDTH = {
    "check_classifier_data_not_an_array": 2,
    "check_dict_unchanged": 3,
    "check_dont_overwrite_parameters": 3,
    "check_dtype_object": 10,
    "check_estimators_dtypes": 5,
    "check_estimators_fit_returns_self": 2,
    "check_estimators_nan_inf": 3,
    "check_estimators_overwrite_params": 2,
    "check_estimators_pickle": 3,
    "check_f_contiguous_array_estimator": 3,
    "check_fit2d_predict1d": 3,
    "check_fit_check_is_fitted": 2,
    "check_fit_idempotent": 2,
    "check_fit_score_takes_y": 3,
    "check_methods_sample_order_invariance": 3,
    "check_methods_subset_invariance": 3,
    "check_n_features_in": 2,
    "check_outliers_fit_predict": 2,
    "check_outliers_train": 2,
    "check_pipeline_consistency": 3,
    "check_readonly_memmap_input": 2,
}


def _image_expected_failed_checks(estimator):
    return {
        name: (
            f"an image detector needs images: 2-D rows of width {width}, not a "
            "perfect square, have no image shape"
        )
        for name, width in IMAGE_NON_SQUARE_WIDTH.items()
    }


@parametrize_with_checks(
    IMAGE_DETECTORS,
    expected_failed_checks=_image_expected_failed_checks,
    xfail_strict=True,
)
def test_image_detectors_sklearn_compatible(estimator, check):
    check(estimator)


# The checks that fail above, run again with the image shape of their rows:
# all of them on ConvAutoEncoder, and on the other detectors those that
# their own training and scoring could fail (the input and the threshold are
# the same code for all).
_MEMORY_CHECKS = [
    "check_estimators_pickle",
    "check_methods_subset_invariance",
    "check_outliers_train",
]


@pytest.mark.parametrize(
    "estimator, check_name",
    [(IMAGE_DETECTORS[0], name) for name in IMAGE_NON_SQUARE_WIDTH]
    + [(e, name) for e in IMAGE_DETECTORS[2:] for name in _MEMORY_CHECKS],
    ids=lambda v: v if isinstance(v, str) else type(v).__name__,
)
def test_image_detectors_pass_those_checks_given_an_image_shape(estimator, check_name):
    # They failed only because rows of that width have no image shape.
    width = IMAGE_NON_SQUARE_WIDTH[check_name]
    with_shape = clone(estimator).set_params(image_shape=(1, width))
    with pytest.raises(ValueError, match=f"{width} is not a perfect square"):
        clone(estimator).fit(np.zeros((4, width)))
    getattr(estimator_checks, check_name)(type(estimator).__name__, with_shape)


def test_every_public_estimator_is_checked():
    # The transformers run the same checks in their own test modules:
    # tests/features/test_hog.py, test_windows.py and test_resize.py
    # (ImageLoader, ImageResizer), test_patches.py (PatchExtractor),
    # test_pretrained.py (PretrainedFeatures) and test_segmentation.py
    # (ColourSegmenter).
    # TransferHead, which learns from labels when given, in
    # tests/feature_space/test_transfer_head.py; PatchSVDD, which needs
    # larger images than most checks give, in tests/one_class/test_patch_svdd.py;
    # DeepSAD, DevNet, ScoreBoostingDetector, PrototypicalDetector and
    # MAMLDetector, which learn from labels, in tests/supervised/; ConformalThreshold, which wraps a
    # detector, in tests/calibration/; LossProfileDetector and
    # ConvLossProfileDetector, which learn from labels when given, in
    # tests/dynamics/test_loss_profile.py.
    from skanomaly.feature_space import TransferHead
    from skanomaly.one_class import PatchSVDD
    from skanomaly.calibration import ConformalThreshold
    from skanomaly.dynamics import ConvLossProfileDetector, LossProfileDetector
    from skanomaly.supervised import (
        DeepSAD, DevNet, MAMLDetector, PrototypicalDetector, ScoreBoostingDetector,
    )
    from skanomaly.features import (
        ColourSegmenter, ImageLoader, ImageResizer, PatchExtractor, PretrainedFeatures,
    )

    checked = (
        {type(e) for e in DETECTORS}
        | {KerasDetector}
        | {type(e) for e in IMAGE_DETECTORS}
        | {HOGTransformer, SlidingWindows, ImageLoader, ImageResizer, PatchExtractor}
        | {PretrainedFeatures, TransferHead, PatchSVDD}
        | {DeepSAD, DevNet, ScoreBoostingDetector, PrototypicalDetector, MAMLDetector}
        | {ConformalThreshold}
        | {ColourSegmenter}
        | {LossProfileDetector, ConvLossProfileDetector}
    )
    assert {cls for _, cls in all_estimators()} == checked


@pytest.fixture(scope="module")
def X():
    return np.random.RandomState(0).normal(size=(40, 4))


def fast(cls):
    return cls(**FAST)


BAD_INPUTS = [
    (lambda X: np.where(X > 1.5, np.nan, X), ValueError, "NaN"),
    (lambda X: np.where(X > 1.5, np.inf, X), ValueError, "infinity"),
    (lambda X: X[:0], ValueError, "0 sample"),
    (lambda X: X[:1], ValueError, "1 sample"),
    (lambda X: X[:, 0], ValueError, "Expected a 2-dimensional container|Expected 2D"),
    (lambda X: X[:, :, None], ValueError, "dim 3"),
    (lambda X: X.astype(str).astype(object) + "x", ValueError, "could not convert"),
    (lambda X: X + 1j, ValueError, "Complex data not supported"),
    (lambda X: sp.csr_matrix(X), TypeError, "Sparse data was passed"),
]


@pytest.mark.parametrize("cls", DEEP_CLASSES)
@pytest.mark.parametrize("corrupt, error, match", BAD_INPUTS)
def test_bad_training_input(cls, X, corrupt, error, match):
    with pytest.raises(error, match=match):
        fast(cls).fit(corrupt(X))


@pytest.mark.parametrize("cls", DEEP_CLASSES)
def test_bad_scoring_input(cls, X):
    detector = fast(cls)
    with pytest.raises(NotFittedError):
        detector.score_samples(X)
    detector.fit(X)
    with pytest.raises(ValueError, match="X has 3 features, but .* is expecting 4"):
        detector.score_samples(X[:, :3])
    with pytest.raises(ValueError, match="NaN"):
        detector.decision_function(np.full((2, 4), np.nan))
    with pytest.raises(ValueError, match="0 sample"):
        detector.predict(X[:0])
    # A single row is fine at scoring time.
    assert detector.predict(X[:1]).shape == (1,)


@pytest.mark.parametrize("cls", DEEP_CLASSES)
def test_learns_planted_anomalies_at_defaults(cls, planted):
    from sklearn.metrics import roc_auc_score

    X_train, X_test, y_test = planted
    detector = cls(random_state=0).fit(X_train)
    auc = roc_auc_score(y_test, -detector.score_samples(X_test))
    # Anomalies 4 sd away on all 8 features; measured 1.00 for each detector.
    assert auc > 0.97


def test_grid_search_with_novelty_split_in_parallel():
    rng = np.random.RandomState(0)
    X = np.vstack([rng.normal(size=(150, 6)), rng.normal(3.0, 1.0, size=(15, 6))])
    y = np.r_[np.zeros(150), np.ones(15)].astype(int)

    def search(n_jobs):
        return GridSearchCV(
            make_pipeline(StandardScaler(), AutoEncoder(epochs=5, random_state=0)),
            # Two candidates, one trained on noisy inputs: seeded noise in a
            # worker process too.
            [
                {"autoencoder__hidden_units": [(16, 4)], "autoencoder__noise_std": [0.1]},
                {"autoencoder__hidden_units": [(8, 2)], "autoencoder__noise_std": [0.0]},
            ],
            cv=NoveltySplit(n_splits=3, random_state=0),
            scoring=anomaly_roc_auc_scorer,
            n_jobs=n_jobs,
        ).fit(X, y)

    parallel = search(n_jobs=2)
    serial = search(n_jobs=1)
    # Clones trained in worker processes give the serial run's scores.
    np.testing.assert_allclose(
        parallel.cv_results_["mean_test_score"], serial.cv_results_["mean_test_score"]
    )
    assert parallel.best_score_ > 0.9
    labels = parallel.best_estimator_.predict(np.vstack([np.zeros((1, 6)), np.full((1, 6), 6.0)]))
    np.testing.assert_array_equal(labels, [1, -1])
