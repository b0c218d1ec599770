"""SynthesizeCompare: the estimator checks, the segmentation step, the
networks and the synthetic anomalies, losses, score and maps, optimizers,
persistence, repeatability, bad segmenters and parameters, learning."""

import pickle

import numpy as np
import pytest
from numpy.testing import assert_allclose, assert_array_equal
from sklearn.metrics import roc_auc_score
from sklearn.preprocessing import FunctionTransformer

from skanomaly.adversarial._networks import ConvDiscriminator
from skanomaly.adversarial._synthesize_compare import LOSSES, SynthesizeCompare
from skanomaly.engine import keras
from skanomaly.engine._seeding import draw_seed
from skanomaly.features import ColourSegmenter
from skanomaly.metrics import pixel_roc_auc_score

ops = keras.ops

#: Tiny networks and fits: these tests check the plumbing, not the learning.
#: Two steps an epoch on the 24 images of X; ONE, a single epoch.
TINY = dict(filters=(4, 8), epochs=2, batch_size=12, random_state=0)
ONE = dict(TINY, epochs=1)


# ------------------------------------------------------------------ fixtures


def halves(n, rng, size=8):
    """Images dark on the left, bright on the right of a random column,
    with a little noise."""
    cols = np.arange(size)
    edges = rng.randint(2, size - 2, size=(n, 1, 1))
    images = np.where(cols[None, None, :] >= edges, 0.8, 0.2) * np.ones((1, size, 1))
    return images + rng.normal(scale=0.05, size=images.shape)


@pytest.fixture(scope="module")
def X():
    """24 grayscale 8x8 images of two halves."""
    return halves(24, np.random.RandomState(0))


@pytest.fixture(scope="module")
def fitted(X):
    return SynthesizeCompare(**TINY).fit(X)


def variables_of(detector):
    network = detector.model_
    values = [v.numpy() for v in network.variables]
    for part in network.trained_parts:
        values += [v.numpy() for v in network.optimizers[part].variables]
    return values


def stacked(detector, images):
    """Scaled network input: the images and their segmentation maps."""
    with_maps = detector._with_segmentation(images[..., None], reset=False)
    return ((with_maps - detector.scaling_center_) / detector.scaling_scale_).astype("float32")


# -------------------------------------------------------------- segmentation


def test_the_default_segmenter_is_a_seeded_colour_segmenter(fitted):
    segmenter = fitted.segmenter_
    assert type(segmenter) is ColourSegmenter
    assert segmenter.n_segments == fitted.n_segments_ == 4
    assert segmenter.random_state == draw_seed(0)
    assert fitted.segmenter is None


def test_a_given_segmenter_is_cloned_and_fitted(X):
    given = ColourSegmenter(n_segments=2, output="onehot", random_state=0)
    detector = SynthesizeCompare(given, **ONE).fit(X)
    assert detector.segmenter_ is not given and not hasattr(given, "cluster_centers_")
    assert detector.n_segments_ == 2
    maps = detector._with_segmentation(X[..., None], reset=False)[..., 1:]
    assert_array_equal(maps, given.fit(X).transform(X))
    # Maps of another number of classes at scoring are refused.
    detector.segmenter_ = ColourSegmenter(n_segments=3, output="onehot").fit(X)
    with pytest.raises(ValueError, match="maps of 3 classes, but 2"):
        detector.score_samples(X)


def threshold_labels(images):
    """Label 0 below 0.5, 1 from 0.5, 2 from 1.5, ..."""
    return np.floor(images + 0.5).astype(int)


def test_integer_labels_are_one_hot_encoded(X):
    detector = SynthesizeCompare(FunctionTransformer(threshold_labels), **ONE).fit(X)
    assert detector.n_segments_ == 2
    maps = detector._with_segmentation(X[..., None], reset=False)[..., 1:]
    assert_array_equal(maps.argmax(axis=-1), threshold_labels(X))
    assert_array_equal(maps.sum(axis=-1), 1.0)
    with pytest.raises(ValueError, match="gave label 2, but .* labels 0 to 1 only"):
        detector.score_samples(X + 1.0)


def flattened(images):
    return np.floor(images + 0.5).reshape(len(images), -1)


def halves_labels(images):
    return np.floor(images + 0.5) + 0.5


def one_label(images):
    return np.zeros(images.shape, dtype=int)


def with_nan(images):
    return np.where(images > 0.5, np.nan, 0.0)


def as_text(images):
    return np.full(images.shape, "a")


@pytest.mark.parametrize(
    "function, match",
    [
        (flattened, r"returned an array of shape \(24, 64\) .* must return labels"),
        (halves_labels, "not non-negative integers"),
        (one_label, "found 1 class .* at least 2"),
        (with_nan, "NaN or infinite"),
        (as_text, "must return numbers"),
    ],
)
def test_bad_segmentations_are_refused(X, function, match):
    detector = SynthesizeCompare(FunctionTransformer(function), **TINY)
    with pytest.raises(ValueError, match=match):
        detector.fit(X)
    assert not hasattr(detector, "model_") and not hasattr(detector, "segmenter_")


def test_a_segmenter_must_fit_and_transform(X):
    with pytest.raises(ValueError, match="segmenter"):
        SynthesizeCompare("kmeans", **TINY).fit(X)
    with pytest.raises(TypeError, match=r"instance, such as ColourSegmenter\(\), not a class"):
        SynthesizeCompare(ColourSegmenter, **TINY).fit(X)


def test_the_segmenters_own_errors_reach_the_user():
    flat = np.zeros((6, 8, 8))
    with pytest.raises(ValueError, match="at least 4 distinct pixel colours"):
        SynthesizeCompare(**TINY).fit(flat)


# ------------------------------------------------------------------ networks


def test_networks(fitted, X):
    network = fitted.model_
    assert network.trained_parts == ("generator", "discriminator", "discrepancy")
    generator, discrepancy = network.generator, network.discrepancy
    assert [layer.filters for layer in generator.down] == [4, 8]
    # U-Net decoders back to the input's resolution, each level with a skip.
    assert [layer.filters for layer in generator.up] == [4, 4]
    assert generator.head.filters == 1 and discrepancy.head.filters == 1
    assert generator.head.activation.__name__ == "linear"
    # The generator reads the maps alone, the discrepancy network the
    # image, the synthesis and their difference, the discriminator the
    # image and the maps.
    assert generator.down[0].kernel.shape[2] == 4
    assert discrepancy.down[0].kernel.shape[2] == 1 + 1 + 1
    assert isinstance(network.discriminator, ConvDiscriminator)
    assert all(
        type(layer).__name__ == "SpectralNormalization"
        for layer in [*network.discriminator.stack, network.discriminator.head]
    )
    plain = SynthesizeCompare(**ONE, spectral_norm=False, optimizer="rmsprop").fit(X[:12])
    assert type(plain.model_.discriminator.head).__name__ == "Dense"
    # Other optimizers are used as given, one for each network.
    assert {type(o).__name__ for o in plain.model_.optimizers.values()} == {"RMSprop"}


def test_images_without_levels_and_padded_images():
    rng = np.random.RandomState(1)
    # 6x6 images, two levels: padded to 8x8 and cropped back.
    images = halves(12, rng, size=6)
    detector = SynthesizeCompare(**ONE).fit(images)
    assert detector.anomaly_map(images).shape == detector.resynthesize(images).shape == (12, 6, 6)
    # 1x1 images: no stride-2 level, one convolution each.
    detector = SynthesizeCompare(epochs=1, random_state=0).fit(rng.uniform(size=(12, 1, 1)))
    assert detector.model_.generator.down == []
    assert detector.anomaly_map(np.ones((2, 1, 1))).shape == (2, 1, 1)


def test_every_loss_is_logged(fitted):
    assert set(fitted.history_) == set(LOSSES)
    assert all(len(values) == fitted.n_epochs_ == 2 for values in fitted.history_.values())
    history = {name: np.array(values) for name, values in fitted.history_.items()}
    assert_allclose(
        history["generator_loss"],
        history["adversarial_loss"] + 100.0 * history["l1_loss"],
        rtol=1e-5,
    )


def test_losses_of_one_batch(fitted, X):
    network = fitted.model_
    image, maps = network.split(stacked(fitted, X[:5]))
    losses, synthesis = network.generator_losses(image, maps, training=False)
    losses = {k: float(v) for k, v in losses.items()}
    synthesis = synthesis.numpy()
    fake, _ = network.discriminator(np.concatenate([synthesis, maps], axis=-1))
    assert_allclose(losses["adversarial_loss"], np.mean(np.log1p(np.exp(-fake))), rtol=1e-5)
    assert_allclose(losses["l1_loss"], np.mean(np.abs(synthesis - image)), rtol=1e-5)
    real, _ = network.discriminator(np.concatenate([image, maps], axis=-1))
    bce = 0.5 * (np.mean(np.log1p(np.exp(-real))) + np.mean(np.log1p(np.exp(fake))))
    assert_allclose(
        float(network.discriminator_loss(image, maps, synthesis, training=False)), bce, rtol=1e-5
    )


def test_the_discrepancy_loss_weighs_both_sides_alike(fitted, X, monkeypatch):
    network = fitted.model_
    image, maps = network.split(stacked(fitted, X[:4]))
    changed = np.zeros((4, 8, 8), dtype="float32")
    changed[0, :2, :3] = 1.0
    monkeypatch.setattr(network, "alter", lambda maps: (maps, ops.convert_to_tensor(changed)))
    logits = network.compare(image, network.synthesize(maps)).numpy()
    errors = np.log1p(np.exp(-np.abs(logits))) + np.maximum(logits, 0) - logits * changed
    expected = 0.5 * (errors[changed == 1].mean() + errors[changed == 0].mean())
    loss = float(network.discrepancy_loss(image, maps, training=False))
    assert_allclose(loss, expected, rtol=1e-5)


# ------------------------------------------------------- synthetic anomalies


def test_synthetic_anomalies(fitted):
    network = fitted.model_
    rng = np.random.RandomState(0)
    labels = rng.randint(4, size=(400, 8, 8))
    maps = np.eye(4, dtype="float32")[labels]
    new_maps, changed = (t.numpy() for t in network.alter(ops.convert_to_tensor(maps)))
    # Maps of one class a pixel still, and `changed` where the label did.
    assert_array_equal(new_maps.sum(axis=-1), 1.0)
    assert_array_equal(changed, new_maps.argmax(axis=-1) != labels)
    touched = (new_maps != maps).any(axis=-1)
    altered = touched.any(axis=(1, 2))
    # About half the images (ALTERED_SHARE), each in one rectangle of at
    # most region_size * 8 + 1 = 5 pixels a side.
    assert 0.4 < altered.mean() < 0.6
    for mask in touched[altered]:
        rows, cols = np.flatnonzero(mask.any(axis=1)), np.flatnonzero(mask.any(axis=0))
        assert rows[-1] - rows[0] < 5 and cols[-1] - cols[0] < 5
    # Both kinds: every pixel of a relabelled rectangle changed, a pasted
    # one changed where the other image's labels differ.
    filled = [mask.sum() == (np.ptp(np.nonzero(mask)[0]) + 1) * (np.ptp(np.nonzero(mask)[1]) + 1)
              for mask in changed[altered].astype(bool) if mask.any()]
    assert 0 < np.mean(filled) < 1
    # New draws at each call, from the network's own seeds.
    _, again = network.alter(ops.convert_to_tensor(maps))
    assert not np.array_equal(again.numpy(), changed)


# --------------------------------------------------- score, map, resynthesis


def test_map_score_and_resynthesis(fitted, X):
    maps = fitted.anomaly_map(X)
    assert maps.shape == (24, 8, 8) and maps.min() >= 0.0 and maps.max() <= 1.0
    network = fitted.model_
    synthesis, logits = (t.numpy() for t in network(stacked(fitted, X)))
    assert_allclose(maps, 1.0 / (1.0 + np.exp(-logits)), rtol=1e-5, atol=1e-6)
    # Minus the mean of the largest 5% of the pixels (4 of 64).
    top = -np.sort(maps.reshape(24, -1), axis=1)[:, -4:].mean(axis=1)
    assert_allclose(fitted.score_samples(X), top, rtol=1e-5)
    expected = synthesis[..., 0] * fitted.scaling_scale_[0] + fitted.scaling_center_[0]
    assert_allclose(fitted.resynthesize(X), expected, rtol=1e-5, atol=1e-6)
    assert fitted.resynthesize(X.reshape(24, -1)).shape == (24, 64)


def test_colour_images_and_their_maps_unscaled_inside_the_network(X):
    rgb = np.stack([X, 1.0 - X, X / 2], axis=-1)
    # Standardised inputs: the network still reads the segmenter's one-hot maps.
    detector = SynthesizeCompare(**ONE, scaling="standard").fit(rgb)
    assert detector.model_.image_channels == 3
    assert detector.resynthesize(rgb).shape == (24, 8, 8, 3)
    assert detector.anomaly_map(rgb).shape == (24, 8, 8)
    with_maps = detector._with_segmentation(rgb, reset=False)
    scaled = (with_maps - detector.scaling_center_) / detector.scaling_scale_
    _, maps = detector.model_.split(scaled.astype("float32"))
    expected = np.eye(4)[detector.segmenter_.transform(rgb)]
    assert_allclose(maps.numpy(), expected, atol=1e-6)


def test_images_of_another_shape_are_refused(fitted, X):
    for method in (fitted.score_samples, fitted.anomaly_map, fitted.resynthesize):
        with pytest.raises(ValueError, match=r"fitted on images of shape \(8, 8\)"):
            method(X[:, :6, :6])


# --------------------------------------------------------------- optimizers


def test_optimizers(fitted):
    optimizers = fitted.model_.optimizers
    assert set(optimizers) == {"generator", "discriminator", "discrepancy"}
    assert len({id(o) for o in optimizers.values()}) == 3
    for optimizer in optimizers.values():
        assert type(optimizer).__name__ == "Adam" and optimizer.beta_1 == 0.5
        assert float(optimizer.learning_rate.numpy()) == pytest.approx(2e-4)
        # One step a batch: 24 images in batches of 12, 2 epochs.
        assert int(optimizer.iterations.numpy()) == 4


# ------------------------------------------------- persistence, repeatability


def test_warm_start_after_pickling_continues_exactly_as_without(X):
    detector = SynthesizeCompare(**TINY, warm_start=True).fit(X)
    segmenter = detector.segmenter_
    restored = pickle.loads(pickle.dumps(detector))
    for kept, saved in zip(variables_of(detector), variables_of(restored), strict=True):
        assert_array_equal(kept, saved)
    detector.fit(X)
    restored.fit(X)
    # Every weight, the three optimizers' states, spectral normalisation's
    # vectors and the seeds of the synthetic anomalies came back.
    for kept, saved in zip(variables_of(detector), variables_of(restored), strict=True):
        assert_array_equal(kept, saved)
    assert_array_equal(restored.score_samples(X), detector.score_samples(X))
    assert restored.history_ == detector.history_ and restored.n_epochs_ == 4
    # A warm start keeps the segmenter its networks were trained with.
    assert detector.segmenter_ is segmenter


def test_same_random_state_same_scores(X):
    first = SynthesizeCompare(**TINY).fit(X).score_samples(X)
    assert_array_equal(SynthesizeCompare(**TINY).fit(X).score_samples(X), first)
    other = SynthesizeCompare(**{**ONE, "random_state": 1}).fit(X).score_samples(X)
    assert not np.allclose(other, first)


# -------------------------------------------------------------- parameters


@pytest.mark.parametrize(
    "params, match",
    [
        ({"l1_weight": -1.0}, "l1_weight"),
        ({"spectral_norm": "yes"}, "spectral_norm"),
        ({"region_size": 0.0}, "region_size"),
        ({"region_size": 1.5}, "region_size"),
        ({"learning_rate": 0.0}, "learning_rate"),
        ({"map_aggregation": "median"}, "map_aggregation"),
        ({"filters": (4, 8, 16, 32)}, "needs images of at least 16x16"),
    ],
)
def test_bad_parameters(X, params, match):
    with pytest.raises(ValueError, match=match):
        SynthesizeCompare(**{**TINY, **params}).fit(X)


def test_parameters_that_do_not_apply_are_refused():
    # A game's losses do not say when to stop, nor are they per sample.
    for name in ("validation_fraction", "patience", "trim_fraction"):
        with pytest.raises(TypeError, match=name):
            SynthesizeCompare(**{name: 0.1})


# ------------------------------------------------------------------ learning


def materials(n, rng, n_defective=0, size=16):
    """Two materials: a bright rectangle with horizontal stripes, at a
    random place, on a dark ground with vertical ones. The last
    ``n_defective`` images have a thin line, 5 to 9 pixels long, of the
    other material's brightness (dark on the bright one, bright on the
    dark one). Returns ``images, masks``."""
    rows, cols = np.mgrid[:size, :size]
    dark = 0.25 + 0.1 * np.cos(2 * np.pi * cols / 4)
    bright = 0.75 + 0.1 * np.cos(2 * np.pi * rows / 4)
    images = np.empty((n, size, size))
    masks = np.zeros((n, size, size), dtype=bool)
    for i in range(n):
        height, width = rng.randint(8, 13, size=2)
        top, left = rng.randint(0, size - height + 1), rng.randint(0, size - width + 1)
        inside = np.zeros((size, size), dtype=bool)
        inside[top : top + height, left : left + width] = True
        images[i] = np.where(inside, bright, dark)
        if i >= n - n_defective:
            row, col = rng.randint(2, size - 2, size=2)
            half = rng.randint(5, 9) // 2
            if rng.uniform() < 0.5:
                masks[i, row, max(0, col - half) : col + half + 1] = True
            else:
                masks[i, max(0, row - half) : row + half + 1, col] = True
            images[i][masks[i] & inside] = 0.25
            images[i][masks[i] & ~inside] = 0.75
    return images + rng.normal(scale=0.02, size=images.shape), masks


def test_learns_planted_defects():
    rng = np.random.RandomState(0)
    X_train, _ = materials(120, rng)
    X_test, masks = materials(60, rng, n_defective=30)
    y_test = masks.any(axis=(1, 2)).astype(int)
    defective = y_test == 1
    detector = SynthesizeCompare(
        epochs=30, batch_size=32, learning_rate=1e-3, random_state=0
    ).fit(X_train)
    image_auc = roc_auc_score(y_test, -detector.score_samples(X_test))
    pixel_auc = pixel_roc_auc_score(masks[defective], detector.anomaly_map(X_test[defective]))
    # The rectangle's place varies, so the mean training image is a blur
    # of both materials, as far from a line as from the material around
    # it: the trivial score, the squared distance of each pixel to the
    # mean training image, measured 0.53 image ROC AUC (0.79 pixel ROC
    # AUC, from the lines that cross into the other material). The default
    # segmenter smooths a thin line away from the labels, so the
    # resynthesis paints the material around it and the discrepancy
    # network sees the difference. Measured, with the data and the
    # detector seeded 0, 1 and 2: image ROC AUC 0.96, 1.00 and 0.96 (the
    # top 5% of the map), pixel ROC AUC 0.90, 0.96 and 0.94. The squared
    # error of the resynthesis alone does as well here (image ROC AUC
    # 0.96, 1.00 and 0.98): the generator paints these materials well.
    trivial = (X_test - X_train.mean(axis=0)) ** 2
    assert roc_auc_score(y_test, trivial.mean(axis=(1, 2))) < 0.6
    assert image_auc > 0.9
    assert pixel_auc > 0.85
