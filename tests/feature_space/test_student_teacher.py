"""StudentTeacher: the students' geometry, the normalisations of the
targets and of the maps, a frozen teacher, persistence, errors, learning."""

import pickle

import numpy as np
import pytest
from numpy.testing import assert_allclose, assert_array_equal
from sklearn.metrics import roc_auc_score

from skanomaly.datasets import make_defect_textures
from skanomaly.engine import keras
from skanomaly.feature_space._student_teacher import StudentTeacher, stride_levels
from skanomaly.metrics import pixel_roc_auc_score

TINY = dict(
    weights=None, n_students=2, student_filters=4, student_depth=1, epochs=2,
    validation_fraction=0.0, random_state=0,
)


@pytest.fixture(scope="module")
def X():
    return np.random.RandomState(0).uniform(0.3, 0.7, size=(12, 32, 32))


@pytest.fixture(scope="module")
def fitted(X):
    return StudentTeacher(**TINY).fit(X)


def scaled(detector, X):
    """X as the network sees it."""
    images = detector._validate_input(X, reset=False)
    return ((images - detector.scaling_center_) / detector.scaling_scale_).astype(np.float32)


@pytest.mark.parametrize(
    "size, features, levels",
    [((128, 128), (31, 31), 2), ((128, 128), (15, 15), 3), ((32, 32), (7, 7), 2),
     ((32, 32), (3, 3), 3), ((224, 224), (56, 56), 2), ((64, 96), (15, 23), 2)],
)
def test_students_stride_down_to_at_least_the_teachers_positions(size, features, levels):
    assert stride_levels(size, features) == levels
    assert all(-(-s // 2**levels) >= f for s, f in zip(size, features))


def test_shapes_and_defaults(fitted, X):
    network = fitted.model_
    # SqueezeNet at 32x32: fire3 is 7x7x128 (stride 4), fire5 3x3x256 (stride 8).
    assert network.feature_shapes == [(7, 7, 128), (3, 3, 256)]
    assert len(network.students) == 2 * 2
    targets, predictions = network(scaled(fitted, X[:3]))
    for target, students, shape in zip(targets, predictions, network.feature_shapes):
        assert tuple(target.shape) == (3, *shape)
        assert [tuple(p.shape) for p in students] == [(3, *shape)] * 2
    assert fitted.anomaly_map(X[:3]).shape == (3, 32, 32)
    assert fitted.score_samples(X).shape == (12,)
    defaults = StudentTeacher()
    assert (defaults.n_students, defaults.map_aggregation, defaults.layers) == (3, "topk_mean", None)


def test_targets_are_the_teachers_features_normalised_on_the_training_images(fitted, X):
    network = fitted.model_
    targets, _ = network(scaled(fitted, X))
    for target in targets:
        values = np.asarray(target).reshape(-1, target.shape[-1])
        varies = values.std(axis=0) > 1e-6
        assert varies.sum() > 10
        assert_allclose(values.mean(axis=0), 0.0, atol=1e-3)
        assert_allclose(values.std(axis=0)[varies], 1.0, rtol=1e-3)


def test_map_statistics_are_those_of_the_training_maps(fitted, X):
    network = fitted.model_
    stats = np.asarray(network.map_stats)
    for scale, (error, variance) in enumerate(network.raw_maps(scaled(fitted, X))):
        for column, values in ((0, error), (2, variance)):
            values = np.asarray(values)
            assert_allclose(stats[scale, column], values.mean(), rtol=1e-4)
            assert_allclose(stats[scale, column + 1], values.std(), rtol=1e-3)


def test_the_map_is_the_normalised_error_plus_variance_averaged_over_scales(fitted, X):
    network = fitted.model_
    x = scaled(fitted, X[:2])
    targets, predictions = network(x)
    stats = np.asarray(network.map_stats)
    expected = 0.0
    for scale, (target, students) in enumerate(zip(targets, predictions)):
        stacked = np.stack([np.asarray(p) for p in students])
        mean = stacked.mean(axis=0)
        error = ((mean - np.asarray(target)) ** 2).sum(axis=-1)
        variance = ((stacked - mean) ** 2).sum(axis=-1).mean(axis=0)
        normalised = (error - stats[scale, 0]) / stats[scale, 1] + (
            variance - stats[scale, 2]
        ) / stats[scale, 3]
        upsampled = keras.ops.image.resize(normalised[..., None], (32, 32))[..., 0]
        expected = expected + np.asarray(upsampled) / 2
    assert_allclose(fitted.anomaly_map(X[:2]), expected, rtol=1e-3, atol=1e-3)


def test_one_student_has_no_variance_term(X):
    detector = StudentTeacher(**{**TINY, "n_students": 1, "epochs": 1}).fit(X)
    for _, variance in detector.model_.raw_maps(scaled(detector, X[:2])):
        assert_array_equal(np.asarray(variance), 0.0)
    assert_array_equal(np.asarray(detector.model_.map_stats)[:, 2:], [[0.0, 1.0]] * 2)
    assert np.isfinite(detector.score_samples(X)).all()


class _TeacherWeights(keras.callbacks.Callback):
    def on_train_begin(self, logs=None):
        self.before = [w.copy() for w in self.model.teacher.get_weights()]
        self.students_before = [w.copy() for w in self.model.students[0].get_weights()]


def test_the_teacher_stays_frozen_and_the_students_train(X):
    recorder = _TeacherWeights()
    detector = StudentTeacher(**{**TINY, "callbacks": [recorder]}).fit(X)
    network = detector.model_
    for before, after in zip(recorder.before, network.teacher.get_weights()):
        assert_array_equal(before, after)
    assert not any(
        any(part is v for v in network.trainable_variables) for part in network.teacher.variables
    )
    moved = [
        not np.array_equal(b, a)
        for b, a in zip(recorder.students_before, network.students[0].get_weights())
    ]
    assert all(moved)


def test_same_random_state_same_scores(fitted, X):
    again = StudentTeacher(**TINY).fit(X)
    assert_array_equal(again.score_samples(X), fitted.score_samples(X))
    other = StudentTeacher(**{**TINY, "random_state": 1}).fit(X)
    assert not np.allclose(other.score_samples(X), fitted.score_samples(X))


def test_pickle_round_trip_gives_identical_scores_and_maps(fitted, X):
    restored = pickle.loads(pickle.dumps(fitted))
    assert_array_equal(restored.score_samples(X), fitted.score_samples(X))
    assert_array_equal(restored.anomaly_map(X), fitted.anomaly_map(X))
    assert_array_equal(np.asarray(restored.model_.teacher_std), np.asarray(fitted.model_.teacher_std))


@pytest.mark.parametrize(
    "params, match",
    [
        ({"n_students": 0}, "n_students"),
        ({"n_students": 1.5}, "n_students"),
        ({"student_filters": 0}, "student_filters"),
        ({"student_depth": -1}, "student_depth"),
        ({"layers": ("fire10",)}, r"no layer named \['fire10'\]"),
        ({"backbone": "VGG16"}, r"no default layers for backbone='VGG16'"),
    ],
)
def test_bad_parameters(X, params, match):
    with pytest.raises(ValueError, match=match):
        StudentTeacher(**{**TINY, **params}).fit(X)


def test_images_the_backbone_cannot_take_are_refused():
    with pytest.raises(ValueError, match="1 or 3 channels\\); got 2"):
        StudentTeacher(**TINY).fit(np.zeros((4, 32, 32, 2)))
    with pytest.raises(ValueError, match="too small.*need 15x15.*input_size"):
        StudentTeacher(**TINY).fit(np.zeros((4, 12, 12)))
    # Resized on the way in (for the teacher and the students alike), the
    # same images work, and maps keep their size.
    detector = StudentTeacher(**{**TINY, "input_size": 32, "epochs": 1}).fit(
        np.random.RandomState(0).uniform(size=(4, 12, 12))
    )
    assert detector.anomaly_map(np.zeros((2, 12, 12))).shape == (2, 12, 12)


def test_learns_planted_defects():
    # Bright or dark scratches, blobs and stains on brick textures.
    train = make_defect_textures(60, 0, image_size=48, texture="brick", random_state=0)
    test = make_defect_textures(20, 20, image_size=48, texture="brick", random_state=1)
    detector = StudentTeacher(
        weights=None, input_size=64, student_filters=16, epochs=15, random_state=0
    ).fit(train.images)
    defective = test.y == 1
    maps = detector.anomaly_map(test.images)
    scores = detector.score_samples(test.images)
    trivial = (test.images - train.images.mean(axis=0)) ** 2
    # Measured with a random (untrained) SqueezeNet as the teacher: image
    # ROC AUC 0.97, pixel ROC AUC 0.84. The squared difference from the mean
    # training image, averaged over the image, gets 0.84 (its largest pixel
    # gets 1.00 and its pixel ROC AUC is 0.98 on these high-contrast
    # defects: a random teacher localises less sharply than raw pixels).
    assert roc_auc_score(test.y, -scores) > 0.95
    assert pixel_roc_auc_score(test.masks[defective], maps[defective]) > 0.8
    assert roc_auc_score(test.y, trivial.mean(axis=(1, 2))) < 0.9
