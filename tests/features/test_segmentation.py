"""ColourSegmenter: the estimator checks, labels and maps, smoothing, the
layouts of the input, sampling, persistence and errors."""

import pickle

import numpy as np
import pytest
from numpy.testing import assert_allclose, assert_array_equal
from sklearn.base import clone
from sklearn.exceptions import NotFittedError
from sklearn.utils import estimator_checks
from sklearn.utils.estimator_checks import parametrize_with_checks

from skanomaly.features._segmentation import ColourSegmenter

# --------------------------------------------------------- estimator checks

# As for the other image transformers (tests/features/test_hog.py): the
# checks feed 2-D rows of a fixed width; rows of a perfect-square width are
# square images and pass, other widths have no image shape and are refused
# with a clear error. Check -> width of the rows it uses.
_NON_SQUARE_WIDTH = {
    "check_dict_unchanged": 3,
    "check_dont_overwrite_parameters": 3,
    "check_dtype_object": 10,
    "check_estimators_dtypes": 5,
    "check_estimators_fit_returns_self": 2,
    "check_estimators_nan_inf": 3,
    "check_estimators_overwrite_params": 2,
    "check_estimators_pickle": 3,
    "check_f_contiguous_array_estimator": 3,
    "check_fit2d_1sample": 10,
    "check_fit2d_predict1d": 3,
    "check_fit_check_is_fitted": 2,
    "check_fit_idempotent": 2,
    "check_fit_score_takes_y": 3,
    "check_methods_sample_order_invariance": 3,
    "check_methods_subset_invariance": 3,
    "check_n_features_in": 2,
    "check_pipeline_consistency": 3,
    "check_readonly_memmap_input": 2,
    "check_transformer_data_not_an_array": 3,
    "check_transformer_general": 3,
    "check_transformer_preserve_dtypes": 3,
}

CHECKED = [ColourSegmenter(n_segments=2), ColourSegmenter(n_segments=2, output="onehot")]


def _expected_failed_checks(estimator):
    return {
        name: (
            f"segmentation needs images: 2-D rows of width {width} that is not "
            "a perfect square have no image shape"
        )
        for name, width in _NON_SQUARE_WIDTH.items()
    }


@parametrize_with_checks(
    CHECKED, expected_failed_checks=_expected_failed_checks, xfail_strict=True
)
def test_sklearn_estimator_checks(estimator, check):
    check(estimator)


@pytest.mark.parametrize("estimator", CHECKED, ids=repr)
@pytest.mark.parametrize(
    "check_name",
    [
        "check_transformer_general",
        "check_transformer_preserve_dtypes",
        "check_methods_subset_invariance",
        "check_fit_idempotent",
        "check_estimators_pickle",
    ],
)
def test_those_checks_pass_given_an_image_shape(estimator, check_name):
    # They failed above only because rows of that width have no image shape.
    width = _NON_SQUARE_WIDTH[check_name]
    with_shape = clone(estimator).set_params(image_shape=(1, width))
    with pytest.raises(ValueError, match=f"{width} is not a perfect square"):
        clone(estimator).fit(np.random.RandomState(0).uniform(size=(4, width)))
    getattr(estimator_checks, check_name)("ColourSegmenter", with_shape)


# ------------------------------------------------------------ segmentation


def three_bands(n=5, size=9, noise=0.0, seed=0):
    """Images of three vertical bands, 0.1, 0.5 and 0.9, in a random
    order, with Gaussian noise."""
    rng = np.random.RandomState(seed)
    images = np.empty((n, size, size))
    for i in range(n):
        levels = rng.permutation([0.1, 0.5, 0.9])
        images[i] = np.repeat(levels, size // 3)[None, :]
    return images + noise * rng.normal(size=images.shape)


def test_labels_are_colour_classes_ordered_by_brightness():
    X = three_bands(noise=0.02)
    segmenter = ColourSegmenter(n_segments=3, sigma=0, random_state=0).fit(X)
    assert_allclose(segmenter.cluster_centers_.ravel(), [0.1, 0.5, 0.9], atol=0.01)
    labels = segmenter.transform(X)
    assert labels.dtype == np.intp and labels.shape == X.shape
    assert_array_equal(labels, np.round((three_bands() - 0.1) / 0.4).astype(int))
    # Another seed of k-means, the same labels.
    assert_array_equal(ColourSegmenter(3, sigma=0, random_state=7).fit_transform(X), labels)


def test_one_hot_maps():
    X = three_bands()
    labels = ColourSegmenter(3, sigma=0).fit_transform(X)
    maps = ColourSegmenter(3, sigma=0, output="onehot").fit_transform(X)
    assert maps.shape == (5, 9, 9, 3) and maps.dtype == np.float64
    assert_array_equal(maps.argmax(axis=-1), labels)
    assert_array_equal(maps.sum(axis=-1), 1.0)


def test_smoothing_leaves_thin_lines_out_of_the_labels():
    X = np.full((4, 12, 12), 0.2)
    X[:, :, 6:] = 0.8
    lined = X.copy()
    lined[:, 3, 6:] = 0.2  # a dark line, one pixel wide, on the bright side
    raw = ColourSegmenter(2, sigma=0, random_state=0).fit(X)
    smooth = ColourSegmenter(2, sigma=1.0, random_state=0).fit(X)
    assert (raw.transform(lined)[:, 3, 6:] == 0).all()
    assert (smooth.transform(lined)[:, 3, 8:] == 1).all()
    # Smoothing is within each image and each channel.
    assert_array_equal(smooth.transform(lined[:1]), smooth.transform(lined)[:1])


def test_colour_images_and_rows():
    X = three_bands()
    rgb = np.stack([X, 1.0 - X, np.zeros_like(X)], axis=-1)
    segmenter = ColourSegmenter(3, sigma=0, random_state=0).fit(rgb)
    assert segmenter.image_shape_ == (9, 9, 3) and segmenter.cluster_centers_.shape == (3, 3)
    labels = segmenter.transform(rgb)
    assert labels.shape == (5, 9, 9)
    # Rows in, rows out; with image_shape for colour rows.
    flat = ColourSegmenter(3, sigma=0, image_shape=(9, 9, 3), random_state=0)
    assert_array_equal(flat.fit_transform(rgb.reshape(5, -1)), labels.reshape(5, -1))
    onehot = ColourSegmenter(3, sigma=0, output="onehot", random_state=0).fit(X.reshape(5, -1))
    assert onehot.transform(X.reshape(5, -1)).shape == (5, 81 * 3)


def test_k_means_sees_at_most_max_pixels(monkeypatch):
    import skanomaly.features._segmentation as module

    seen = []
    fit = module.KMeans.fit
    monkeypatch.setattr(
        module.KMeans, "fit", lambda self, X, *a, **k: seen.append(len(X)) or fit(self, X)
    )
    X = three_bands(noise=0.05)
    ColourSegmenter(3, max_pixels=50, random_state=0).fit(X)
    ColourSegmenter(3, max_pixels=None, random_state=0).fit(X)
    assert seen == [50, X.size]


def test_pickle_and_repeatability():
    X = three_bands(noise=0.05)
    segmenter = ColourSegmenter(3, max_pixels=100, random_state=0).fit(X)
    restored = pickle.loads(pickle.dumps(segmenter))
    assert_array_equal(restored.transform(X), segmenter.transform(X))
    again = ColourSegmenter(3, max_pixels=100, random_state=0).fit(X)
    assert_array_equal(again.cluster_centers_, segmenter.cluster_centers_)


# ------------------------------------------------------------------- errors


def test_too_few_distinct_colours():
    with pytest.raises(ValueError, match="n_segments=4.* at least 4 distinct .* have 2"):
        two_colours = np.repeat([0.0, 1.0], 3)[:, None, None] * np.ones((6, 5, 5))
        ColourSegmenter(4, sigma=0).fit(two_colours)


def test_images_of_another_shape_and_unfitted():
    X = three_bands()
    with pytest.raises(NotFittedError):
        ColourSegmenter().transform(X)
    segmenter = ColourSegmenter(3).fit(X)
    with pytest.raises(ValueError, match=r"fitted on images of shape \(9, 9\)"):
        segmenter.transform(X[:, :6, :6])
    with pytest.raises(ValueError, match="NaN"):
        segmenter.transform(np.full((1, 9, 9), np.nan))


@pytest.mark.parametrize(
    "params, match",
    [
        ({"n_segments": 1}, "n_segments"),
        ({"sigma": -1.0}, "sigma"),
        ({"output": "probabilities"}, "output"),
        ({"max_pixels": 0}, "max_pixels"),
        ({"image_shape": (3, 3)}, "image_shape"),
    ],
)
def test_bad_parameters(params, match):
    with pytest.raises(ValueError, match=match):
        ColourSegmenter(**params).fit(three_bands())
