"""ReverseDistillation: the network's shapes, loss and map, training only
the bottleneck and the decoder, persistence, parameters, scikit-learn's
checks, and learning planted defects. Tests run on a random teacher
(weights=None); the real weights are for the benchmark."""

import pickle

import numpy as np
import pytest
from numpy.testing import assert_allclose, assert_array_equal
from sklearn.metrics import roc_auc_score

from skanomaly.datasets import make_defect_textures
from skanomaly.metrics import pixel_roc_auc_score
from skanomaly.engine import build_backbone, keras
from skanomaly.feature_space._reverse_distillation import (
    ReverseDistillation,
    ReverseDistillationNetwork,
)

LAYERS = ("fire3", "fire5", "fire7")
TINY = dict(
    weights=None, input_size=32, width_multiplier=0.0625, epochs=1,
    validation_fraction=0.0, random_state=0,
)
from tests.feature_space.test_patchcore import SHARED_WEIGHTS, stripes


def numpy(x):
    return keras.ops.convert_to_numpy(x)


@pytest.fixture(scope="module")
def X():
    return make_defect_textures(12, 0, image_size=32, random_state=0).images


@pytest.fixture(scope="module")
def fitted(X):
    return ReverseDistillation(**{**TINY, "epochs": 2}).fit(X)


def _network(size, layers=LAYERS):
    teacher = build_backbone("squeezenet1_1", None, layers, (size, size, 1))
    network = ReverseDistillationNetwork(
        teacher, (size, size), width_multiplier=0.0625, blur_sigma=0.0
    )
    return network, network(np.zeros((2, size, size, 1), dtype="float32"))


@pytest.mark.parametrize(
    "size, expected",
    [
        # SqueezeNet's valid pooling gives odd sides: the decoder's valid
        # transposed convolutions land on them exactly.
        (128, [(31, 31), (15, 15), (7, 7)]),
        # Even and uneven sides: "same" steps, then resized to the teacher's.
        (64, [(15, 15), (7, 7), (3, 3)]),
        (45, [(10, 10), (4, 4), (1, 1)]),
    ],
)
def test_the_student_rebuilds_every_teacher_map_at_its_shape(size, expected):
    network, (teacher, student) = _network(size)
    assert [tuple(t.shape[1:3]) for t in teacher] == expected
    assert [t.shape for t in teacher] == [s.shape for s in student]
    assert network.bottleneck.built and network.decoder.built


def test_loss_is_the_summed_mean_cosine_distance_and_the_map_its_upsampled_sum():
    network, _ = _network(32)
    x = np.random.RandomState(0).uniform(size=(3, 32, 32, 1)).astype("float32")
    teacher, student = (list(map(numpy, o)) for o in network(x))
    distances = []
    for t, s in zip(teacher, student):
        cos = (t * s).sum(-1) / np.maximum(
            np.linalg.norm(t, axis=-1) * np.linalg.norm(s, axis=-1), 1e-12
        )
        distances.append(1.0 - cos)
    loss = sum(d.mean(axis=(1, 2)) for d in distances)
    assert_allclose(numpy(network.detector_loss(x, network(x), False)), loss, rtol=1e-5)
    maps = numpy(network.pixel_map(x))
    assert maps.shape == (3, 32, 32)
    # 1 - cos lies in [0, 2] at each of the three levels.
    assert (maps >= -1e-6).all() and (maps <= 6 + 1e-6).all()
    # The coarsest level at 32 pixels is one position: a constant map, and
    # the mean of a bilinear upsampling stays near the mean of the map.
    assert_allclose(maps.mean(axis=(1, 2)), sum(d.mean(axis=(1, 2)) for d in distances), rtol=0.1)


def test_only_the_bottleneck_and_the_decoder_train(X):
    detector = ReverseDistillation(**{**TINY, "learning_rate": 1e-12}).fit(X)
    teacher = detector._frozen_["backbone"]
    before = [w.copy() for w in teacher.get_weights()]
    untrained = [numpy(v) for v in detector.model_.trainable_weights]
    # Fitted again from the same initial weights (same random_state), with
    # the same frozen teacher, which is kept while its parameters hold.
    detector.set_params(learning_rate=0.01).fit(X)
    assert detector.model_.teacher is teacher and not teacher.trainable
    for a, b in zip(before, teacher.get_weights()):
        assert_array_equal(a, b)
    trained = detector.model_.trainable_weights
    assert len(trained) == len(untrained)
    assert all(not np.allclose(a, numpy(b)) for a, b in zip(untrained, trained))
    parts = detector.model_.bottleneck.trainable_weights + detector.model_.decoder.trainable_weights
    assert {id(v) for v in trained} == {id(v) for v in parts}


def test_same_random_state_same_scores(X, fitted):
    again = ReverseDistillation(**{**TINY, "epochs": 2}).fit(X)
    assert_array_equal(again.score_samples(X), fitted.score_samples(X))


def test_pickle_round_trip_gives_identical_scores_and_maps(X, fitted):
    restored = pickle.loads(pickle.dumps(fitted))
    assert_array_equal(restored.score_samples(X), fitted.score_samples(X))
    assert_array_equal(restored.anomaly_map(X[:3]), fitted.anomaly_map(X[:3]))
    assert restored.model_.teacher is restored._frozen_["backbone"]


def test_score_is_minus_the_largest_pixel_of_the_map(X, fitted):
    assert fitted.map_aggregation == "max"
    maps = fitted.anomaly_map(X)
    assert maps.shape == (12, 32, 32)
    assert_allclose(fitted.score_samples(X), -maps.max(axis=(1, 2)), rtol=1e-6)


def test_blur_sigma_smooths_the_map(X, fitted):
    raw = ReverseDistillation(**{**TINY, "epochs": 2, "blur_sigma": 0.0}).fit(X)
    rough = np.abs(np.diff(raw.anomaly_map(X[:4]), axis=-1)).mean()
    smooth = np.abs(np.diff(fitted.anomaly_map(X[:4]), axis=-1)).mean()
    assert smooth < rough


@pytest.mark.parametrize(
    "params, match",
    [
        ({"width_multiplier": 0.0}, "width_multiplier"),
        ({"width_multiplier": "wide"}, "width_multiplier"),
        ({"blur_sigma": -1.0}, "blur_sigma"),
        ({"layers": ("fire7", "fire3")}, "ordered from the shallowest"),
        ({"layers": ("fire3", "conv9")}, "no layer named"),
        ({"input_size": 16}, "too small"),
    ],
)
def test_bad_parameters(X, params, match):
    with pytest.raises(ValueError, match=match):
        ReverseDistillation(**{**TINY, **params}).fit(X)


def test_images_of_two_channels_are_refused(X):
    with pytest.raises(ValueError, match="1 or 3 channels"):
        ReverseDistillation(**TINY).fit(np.stack([X, X], axis=-1))


def test_finds_images_of_another_texture():
    # With a random teacher (weights=None: tests do not read the ImageNet
    # file) the student still learns the teacher's features of one texture
    # and fails on another. Measured ROC AUC 0.865 (brick -> gravel, 3
    # epochs). Trivial scores do better here (0.98 for the distance of an
    # image's mean brightness to the training one, 0.96 for its contrast):
    # a random teacher's features are poor, and the pretrained teacher is
    # what the method needs (see the Notes for Magnetic Tile). With a random
    # teacher, planted local defects were not localised (pixel ROC AUC 0.38
    # on gravel, 0.33 on brick), so the bound is on whole images.
    train = make_defect_textures(60, 0, image_size=32, texture="brick", random_state=0)
    brick = make_defect_textures(20, 0, image_size=32, texture="brick", random_state=1)
    gravel = make_defect_textures(20, 0, image_size=32, texture="gravel", random_state=1)
    detector = ReverseDistillation(
        weights=None, input_size=64, width_multiplier=0.25, epochs=3, batch_size=16,
        validation_fraction=0.0, random_state=0,
    ).fit(train.images)
    scores = detector.score_samples(np.concatenate([brick.images, gravel.images]))
    assert roc_auc_score(np.r_[np.zeros(20), np.ones(20)], -scores) > 0.75


@pytest.mark.skipif(not SHARED_WEIGHTS.exists(), reason="no SqueezeNet weights in ../shared")
def test_learns_planted_defects_with_an_imagenet_teacher():
    X_train, _, _ = stripes(40, 0, seed=0)
    X_test, masks, y_test = stripes(40, 20, seed=1)
    detector = ReverseDistillation(
        weights=str(SHARED_WEIGHTS), input_size=96, epochs=10, width_multiplier=0.125,
        random_state=0,
    ).fit(X_train)
    defective = y_test == 1
    maps = detector.anomaly_map(X_test[defective])
    # Measured: 1.00 image and 0.99 pixel ROC AUC; the trivial map (distance
    # to the mean training image) gets 0.52 pixel ROC AUC on these defects
    # (see test_patchcore.py). A random teacher finds them no better than
    # chance (0.35 pixel ROC AUC): reverse distillation needs the teacher's
    # pretrained features.
    assert roc_auc_score(y_test, -detector.score_samples(X_test)) > 0.95
    assert pixel_roc_auc_score(masks[defective], maps) > 0.9
