import pickle

import numpy as np
import pandas as pd
import pytest
from numpy.testing import assert_allclose, assert_array_equal
from skimage.feature import hog
from sklearn.base import clone
from sklearn.datasets import load_digits
from sklearn.exceptions import NotFittedError
from sklearn.utils import estimator_checks
from sklearn.utils.estimator_checks import parametrize_with_checks

from skanomaly.features import HOGTransformer

# --------------------------------------------------------- estimator checks

# scikit-learn's checks feed 2-D data of a fixed width. Rows of a width that
# is a perfect square are read as square images (1 -> 1x1, 4 -> 2x2) and
# pass; other widths have no image shape, and HOGTransformer refuses them
# with a clear error instead of inventing one. Check -> row width it uses.
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


def _expected_failed_checks(estimator):
    return {
        name: (
            f"HOG needs images: 2-D rows of width {width} that is not a "
            "perfect square have no image shape"
        )
        for name, width in _NON_SQUARE_WIDTH.items()
    }


@parametrize_with_checks(
    [HOGTransformer(pixels_per_cell=(1, 1), cells_per_block=(1, 1))],
    expected_failed_checks=_expected_failed_checks,
    xfail_strict=True,
)
def test_sklearn_estimator_checks(estimator, check):
    check(estimator)


def test_expected_failures_are_only_non_square_rows():
    # every expected failure above fails for the stated reason, and no other
    estimator = HOGTransformer(pixels_per_cell=(1, 1), cells_per_block=(1, 1))
    results = estimator_checks.check_estimator(
        estimator,
        expected_failed_checks=_expected_failed_checks(estimator),
        on_skip=None,
        on_fail=None,
    )
    xfailed = {
        r["check_name"]: r["exception"] for r in results if r["status"] == "xfail"
    }
    assert set(xfailed) == set(_NON_SQUARE_WIDTH)
    for name, exception in xfailed.items():
        width = _NON_SQUARE_WIDTH[name]
        assert f"{width} is not a perfect square" in str(exception), name
    assert not [r for r in results if r["status"] == "failed"]


# the pandas check itself mixes DataFrame and array input on purpose
@pytest.mark.filterwarnings("ignore:X (does not have valid|has) feature names")
@pytest.mark.parametrize(
    "check_name, image_shape",
    [
        # these checks are not yielded by parametrize_with_checks; run them
        # with the image shape of the rows they use
        ("check_dataframe_column_names_consistency", (2, 4)),
        ("check_get_feature_names_out_error", None),
        ("check_transformer_get_feature_names_out", (1, 3)),
        ("check_transformer_get_feature_names_out_pandas", (1, 3)),
        ("check_set_output_transform", (1, 5)),
        ("check_set_output_transform_pandas", (1, 5)),
        ("check_param_validation", None),
    ],
)
def test_more_sklearn_checks(check_name, image_shape):
    estimator = HOGTransformer(
        pixels_per_cell=(1, 1), cells_per_block=(1, 1), image_shape=image_shape
    )
    getattr(estimator_checks, check_name)("HOGTransformer", estimator)


# ------------------------------------------------------------------ helpers

rng = np.random.RandomState(0)
GRAY = rng.uniform(0, 255, size=(5, 24, 20))
COLOUR = rng.uniform(0, 1, size=(4, 24, 20, 3))
PARAMS = dict(pixels_per_cell=(4, 5), cells_per_block=(2, 2), orientations=6)


def _skimage_hog(images, channel_axis=None, **params):
    return np.stack(
        [hog(image, channel_axis=channel_axis, **params) for image in images]
    )


# ------------------------------------------------------ agreement with skimage


@pytest.mark.parametrize("block_norm", ["L1", "L1-sqrt", "L2", "L2-Hys"])
@pytest.mark.parametrize("transform_sqrt", [False, True])
def test_matches_skimage_grayscale(block_norm, transform_sqrt):
    params = dict(PARAMS, block_norm=block_norm, transform_sqrt=transform_sqrt)
    features = HOGTransformer(**params).fit_transform(GRAY)
    assert features.dtype == np.float64
    assert_allclose(features, _skimage_hog(GRAY, **params))


def test_matches_skimage_colour():
    features = HOGTransformer(**PARAMS).fit_transform(COLOUR)
    assert_allclose(features, _skimage_hog(COLOUR, channel_axis=-1, **PARAMS))


def test_matches_skimage_default_parameters():
    images = rng.uniform(size=(3, 32, 40))
    assert_allclose(
        HOGTransformer().fit_transform(images), _skimage_hog(images)
    )


# ------------------------------------------------------------- input forms


def test_grayscale_input_forms_agree():
    n, height, width = GRAY.shape
    rows = GRAY.reshape(n, -1)
    expected = HOGTransformer(**PARAMS).fit_transform(GRAY)
    forms = {
        "4-D, one channel": (GRAY[..., np.newaxis], None),
        "rows + (H, W)": (rows, (height, width)),
        "rows + (H, W, 1)": (rows, (height, width, 1)),
        "DataFrame + (H, W)": (pd.DataFrame(rows), (height, width)),
        "list of images": (GRAY.tolist(), None),
        "uint8 images": (GRAY.astype(np.uint8), None),
    }
    for form, (X, image_shape) in forms.items():
        if form == "uint8 images":
            expected_form = _skimage_hog(GRAY.astype(np.uint8), **PARAMS)
        else:
            expected_form = expected
        est = HOGTransformer(image_shape=image_shape, **PARAMS)
        assert_allclose(est.fit_transform(X), expected_form, err_msg=form)
        assert est.image_shape_ == (height, width), form
        assert est.n_features_in_ == height * width, form


def test_colour_input_forms_agree():
    n = COLOUR.shape[0]
    expected = HOGTransformer(**PARAMS).fit_transform(COLOUR)
    est = HOGTransformer(image_shape=(24, 20, 3), **PARAMS)
    assert_allclose(est.fit_transform(COLOUR.reshape(n, -1)), expected)
    assert est.image_shape_ == (24, 20, 3)
    assert est.n_features_in_ == 24 * 20 * 3


def test_square_rows_are_inferred():
    digits = load_digits()
    params = dict(pixels_per_cell=(4, 4), cells_per_block=(1, 1))
    from_rows = HOGTransformer(**params).fit(digits.data)
    from_images = HOGTransformer(**params).fit(digits.images)
    assert from_rows.image_shape_ == from_images.image_shape_ == (8, 8)
    assert from_rows.n_features_in_ == from_images.n_features_in_ == 64
    assert_allclose(
        from_rows.transform(digits.data[:20]),
        from_images.transform(digits.images[:20]),
    )
    # the fitted image shape reads rows given after fitting on images,
    # and images given after fitting on rows
    assert_allclose(
        from_images.transform(digits.data[:20]),
        from_rows.transform(digits.images[:20]),
    )


def test_dataframe_of_rows():
    digits = load_digits()
    columns = [f"pixel_{i}" for i in range(64)]
    df = pd.DataFrame(digits.data[:30], columns=columns)
    est = HOGTransformer(pixels_per_cell=(4, 4), cells_per_block=(2, 2))
    features = est.fit_transform(df)
    assert_array_equal(est.feature_names_in_, columns)
    assert_allclose(features, est.transform(digits.images[:30]))
    # refitting on images forgets the column names
    est.fit(digits.images[:30])
    assert not hasattr(est, "feature_names_in_")


def test_fitted_attributes_and_feature_names():
    est = HOGTransformer(**PARAMS).fit(GRAY)
    features = est.transform(GRAY)
    assert est.image_shape_ == (24, 20)
    assert est.n_features_in_ == 24 * 20
    assert features.shape == (GRAY.shape[0], est.n_features_out_)
    names = est.get_feature_names_out()
    assert names.dtype == object
    assert_array_equal(names, [f"hog{i}" for i in range(est.n_features_out_)])


def test_set_output_pandas_on_images():
    est = HOGTransformer(**PARAMS).set_output(transform="pandas")
    out = est.fit_transform(GRAY)
    assert isinstance(out, pd.DataFrame)
    assert_array_equal(out.columns, est.get_feature_names_out())
    assert_allclose(out.to_numpy(), _skimage_hog(GRAY, **PARAMS))


def test_pickle_round_trip():
    est = HOGTransformer(**PARAMS).fit(COLOUR)
    restored = pickle.loads(pickle.dumps(est))
    assert restored.image_shape_ == est.image_shape_
    assert_array_equal(restored.transform(COLOUR), est.transform(COLOUR))
    assert clone(est).get_params() == est.get_params()


# ------------------------------------------------------------------- errors


def test_unfitted_transform_raises():
    with pytest.raises(NotFittedError):
        HOGTransformer().transform(GRAY)


@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf])
@pytest.mark.parametrize("ndim", [2, 3, 4])
def test_non_finite_raises(bad, ndim):
    images = GRAY[..., np.newaxis] if ndim == 4 else GRAY.copy()
    X = images.reshape(len(images), -1) if ndim == 2 else images.copy()
    X.flat[7] = bad
    est = HOGTransformer(image_shape=(24, 20), **PARAMS)
    match = "Input X contains NaN" if np.isnan(bad) else "Input X contains inf"
    with pytest.raises(ValueError, match=match):
        est.fit(X)
    est.fit(GRAY)
    with pytest.raises(ValueError, match=match):
        est.transform(X)


@pytest.mark.parametrize("shape", [(0, 64), (0, 8, 8), (0, 8, 8, 3)])
def test_empty_input_raises(shape):
    with pytest.raises(ValueError, match="0 sample"):
        HOGTransformer(pixels_per_cell=(4, 4), cells_per_block=(1, 1)).fit(
            np.zeros(shape)
        )


def test_empty_images_raise():
    with pytest.raises(ValueError, match="empty images"):
        HOGTransformer().fit(np.zeros((3, 8, 0)))


def test_1d_input_raises():
    est = HOGTransformer(pixels_per_cell=(4, 4), cells_per_block=(1, 1))
    with pytest.raises(ValueError, match=r"got a 1-D array of shape \(64,\)"):
        est.fit(np.zeros(64))
    est.fit(np.zeros((3, 64)))
    with pytest.raises(ValueError, match="X.reshape\\(1, -1\\)"):
        est.transform(np.zeros(64))


def test_5d_input_raises():
    with pytest.raises(ValueError, match=r"got a 5-D array of shape"):
        HOGTransformer().fit(np.zeros((2, 16, 16, 3, 2)))


def test_non_square_rows_without_image_shape_raise():
    with pytest.raises(ValueError, match="10 is not a perfect square.*image_shape"):
        HOGTransformer(pixels_per_cell=(1, 1), cells_per_block=(1, 1)).fit(
            np.zeros((3, 10))
        )


def test_row_width_not_matching_image_shape_raises():
    est = HOGTransformer(image_shape=(8, 8), pixels_per_cell=(4, 4))
    with pytest.raises(
        ValueError, match=r"rows of 60 values, but images of shape \(8, 8\)"
    ):
        est.fit(np.zeros((3, 60)))


def test_images_not_matching_image_shape_raise():
    est = HOGTransformer(image_shape=(8, 8), pixels_per_cell=(4, 4))
    with pytest.raises(
        ValueError, match=r"images of shape \(8, 9\), but image_shape=\(8, 8\)"
    ):
        est.fit(np.zeros((3, 8, 9)))


@pytest.mark.parametrize(
    "shape, axis, size, minimum",
    [((3, 20, 40), "height", 20, 24), ((3, 40, 20), "width", 20, 24)],
)
def test_image_too_small_raises(shape, axis, size, minimum):
    est = HOGTransformer()  # 8x8 pixel cells, 3x3 cell blocks
    with pytest.raises(
        ValueError,
        match=f"image {axis} is {size}.*at least {minimum}",
    ):
        est.fit(np.zeros(shape))


@pytest.mark.parametrize(
    "fit_shape, transform_shape",
    [
        ((24, 20), (20, 24)),
        ((24, 20), (24, 20, 3)),
        ((24, 20, 3), (24, 20)),
        ((24, 20, 3), (24, 20, 2)),
    ],
)
def test_transform_image_shape_mismatch_raises(fit_shape, transform_shape):
    est = HOGTransformer(**PARAMS).fit(np.zeros((2,) + fit_shape))
    with pytest.raises(
        ValueError,
        match=(
            rf"images of shape \({', '.join(map(str, transform_shape))}\), "
            rf"but HOGTransformer was fitted on images of shape "
            rf"\({', '.join(map(str, fit_shape))}\)"
        ),
    ):
        est.transform(np.zeros((2,) + transform_shape))


def test_transform_row_width_mismatch_raises():
    est = HOGTransformer(pixels_per_cell=(4, 4), cells_per_block=(1, 1))
    est.fit(np.zeros((2, 64)))
    with pytest.raises(ValueError, match="X has 49 features, but HOGTransformer"):
        est.transform(np.zeros((2, 49)))


@pytest.mark.parametrize(
    "param, value",
    [
        ("pixels_per_cell", (8,)),
        ("pixels_per_cell", (0, 8)),
        ("cells_per_block", (1.5, 2)),
        ("cells_per_block", (2, 2, 2)),
    ],
)
def test_invalid_pair_raises(param, value):
    est = HOGTransformer(**{param: value})
    with pytest.raises(ValueError, match=f"{param} must be a pair"):
        est.fit(GRAY)


@pytest.mark.parametrize("image_shape", [(8,), (8, 0), (8, 8, 3, 1), (8.0, 8)])
def test_invalid_image_shape_raises(image_shape):
    with pytest.raises(ValueError, match="image_shape must be"):
        HOGTransformer(image_shape=image_shape).fit(np.zeros((2, 64)))


def test_invalid_parameter_types_raise():
    with pytest.raises(ValueError, match="'block_norm' parameter"):
        HOGTransformer(block_norm="L3").fit(GRAY)
    with pytest.raises(ValueError, match="'orientations' parameter"):
        HOGTransformer(orientations=0).fit(GRAY)


def test_transform_sqrt_with_negative_values_raises():
    est = HOGTransformer(transform_sqrt=True, **PARAMS)
    with pytest.raises(ValueError, match="non-negative pixel values"):
        est.fit(GRAY - 128)
    est.fit(GRAY)
    with pytest.raises(ValueError, match="non-negative pixel values"):
        est.transform(GRAY - 128)


def test_get_feature_names_out_checks_input_features():
    est = HOGTransformer(pixels_per_cell=(4, 4), cells_per_block=(1, 1))
    est.fit(pd.DataFrame(np.zeros((2, 64)), columns=[f"p{i}" for i in range(64)]))
    with pytest.raises(ValueError, match="input_features is not equal"):
        est.get_feature_names_out([f"q{i}" for i in range(64)])
    est.fit(np.zeros((2, 8, 8)))
    with pytest.raises(ValueError, match="input_features should have length"):
        est.get_feature_names_out(["a", "b"])
