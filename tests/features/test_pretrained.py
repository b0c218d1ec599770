"""PretrainedFeatures: pooled features and maps of a frozen backbone, the
pixel range, chunking, pickling without the weights file, pipelines."""

import pickle
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from numpy.testing import assert_allclose, assert_array_equal
from sklearn import config_context
from sklearn.base import clone
from sklearn.ensemble import IsolationForest
from sklearn.exceptions import NotFittedError
from sklearn.pipeline import make_pipeline
from sklearn.utils import estimator_checks
from sklearn.utils.estimator_checks import parametrize_with_checks

from skanomaly import AutoEncoder
from skanomaly.features._pretrained import PretrainedFeatures

SHARED_WEIGHTS = (
    Path(__file__).resolve().parents[3]
    / "shared" / "data" / "weights" / "squeezenet1_1_imagenet_notop.h5"
)
#: Random SqueezeNet weights, images resized to 32x32: any image size works.
TINY = dict(weights=None, input_size=32)

# --------------------------------------------------------- estimator checks

# scikit-learn's checks feed 2-D data of a fixed width. Rows of a width that
# is a perfect square are read as square images (1 -> 1x1, 4 -> 2x2) and
# pass; other widths have no image shape, and PretrainedFeatures refuses
# them with a clear error instead of inventing one (as HOGTransformer does).
# Check -> row width it uses.
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
            f"a backbone needs images: 2-D rows of width {width} that is not "
            "a perfect square have no image shape"
        )
        for name, width in _NON_SQUARE_WIDTH.items()
    }


@parametrize_with_checks(
    [PretrainedFeatures(**TINY)],
    expected_failed_checks=_expected_failed_checks,
    xfail_strict=True,
)
def test_sklearn_estimator_checks(estimator, check):
    check(estimator)


@pytest.mark.parametrize("check_name", sorted(_NON_SQUARE_WIDTH))
def test_those_checks_pass_given_an_image_shape(check_name):
    # They failed above only because rows of that width have no image shape.
    width = _NON_SQUARE_WIDTH[check_name]
    with pytest.raises(ValueError, match=f"{width} is not a perfect square"):
        PretrainedFeatures(**TINY).fit(np.zeros((4, width)))
    estimator = PretrainedFeatures(image_shape=(1, width), **TINY)
    getattr(estimator_checks, check_name)("PretrainedFeatures", estimator)


# the pandas check itself mixes DataFrame and array input on purpose
@pytest.mark.filterwarnings("ignore:X (does not have valid|has) feature names")
@pytest.mark.parametrize(
    "check_name, image_shape",
    [
        # not yielded by parametrize_with_checks; run with the image shape
        # of the rows they use
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
    estimator = PretrainedFeatures(image_shape=image_shape, **TINY)
    getattr(estimator_checks, check_name)("PretrainedFeatures", estimator)


# ------------------------------------------------------------------ data


@pytest.fixture(scope="module")
def grey():
    """12 grey images 40x40 with values in [0, 1]."""
    return np.random.RandomState(0).uniform(size=(12, 40, 40))


# ------------------------------------------------------------- features


def test_pooled_features_of_squeezenet_fire9(grey):
    features = PretrainedFeatures(weights=None)
    out = features.fit_transform(grey)
    assert out.shape == (12, 512) and out.dtype == np.float32
    assert features.layers_ == ("fire9",)
    assert features.feature_shape_ == (512,) and features.n_features_out_ == 512
    names = features.get_feature_names_out()
    assert names.dtype == object
    assert_array_equal(names[[0, 1, 511]], ["fire9_0", "fire9_1", "fire9_511"])
    # fire9 ends in ReLUs: its average is non-negative.
    assert out.min() >= 0


def test_several_layers_are_pooled_side_by_side(grey):
    layers = ["fire3", "fire9"]
    both = PretrainedFeatures(layers=layers, weights=None).fit(grey)
    out = both.transform(grey)
    assert out.shape == (12, 128 + 512)
    assert both.get_feature_names_out()[128] == "fire9_0"
    alone = PretrainedFeatures(layers="fire3", weights=None).fit_transform(grey)
    assert_allclose(out[:, :128], alone, rtol=1e-6)
    maxed = PretrainedFeatures(layers=layers, pooling="max", weights=None).fit_transform(grey)
    assert (maxed >= out - 1e-6).all()


def test_maps_are_resized_to_the_first_layer_and_concatenated():
    images = np.random.RandomState(0).uniform(size=(3, 128, 128))
    maps = PretrainedFeatures(layers=["fire3", "fire5", "fire9"], pooling=None, weights=None)
    out = maps.fit_transform(images)
    # fire3 is 31x31 at 128x128; fire5 (15x15) and fire9 (7x7) resized to it.
    assert out.shape == (3, 31, 31, 128 + 256 + 512)
    assert maps.feature_shape_ == (31, 31, 896)
    fire3 = PretrainedFeatures(layers="fire3", pooling=None, weights=None).fit_transform(images)
    assert_allclose(out[..., :128], fire3, rtol=1e-6)
    # Maps have no feature names, and no pandas output.
    assert not hasattr(maps, "get_feature_names_out")


def test_grey_is_the_same_as_rgb_of_three_equal_channels(grey):
    from_grey = PretrainedFeatures(**TINY).fit_transform(grey)
    rgb = np.repeat(grey[..., None], 3, axis=-1)
    assert_allclose(PretrainedFeatures(**TINY).fit_transform(rgb), from_grey, rtol=1e-5)


def test_random_weights_are_the_same_at_every_fit(grey):
    first = PretrainedFeatures(**TINY).fit_transform(grey)
    assert_array_equal(PretrainedFeatures(**TINY).fit_transform(grey), first)


def test_minmax_makes_bytes_and_floats_give_the_same_features(grey):
    floats = PretrainedFeatures(**TINY).fit(grey)
    assert_allclose(floats.pixel_low_, [grey.min()])
    assert_allclose(floats.pixel_high_, [grey.max()])
    bytes_ = PretrainedFeatures(**TINY).fit(grey * 255)
    assert_allclose(bytes_.transform(grey * 255), floats.transform(grey), rtol=1e-4, atol=1e-5)


def test_a_fixed_pixel_range_does_not_depend_on_the_training_images(grey):
    fixed = PretrainedFeatures(pixel_range=(0, 255), **TINY).fit(grey[:6] * 255)
    assert_array_equal(fixed.pixel_low_, [0.0])
    assert_array_equal(fixed.pixel_high_, [255.0])
    unit = PretrainedFeatures(pixel_range=(0, 1), **TINY).fit(grey[6:])
    assert_allclose(fixed.transform(grey * 255), unit.transform(grey), rtol=1e-4, atol=1e-5)


# 1 MiB holds less than one image's activations: one image a chunk.
@pytest.mark.filterwarnings("ignore:Could not adhere to working_memory")
def test_extraction_in_chunks_gives_the_same_features(grey):
    features = PretrainedFeatures(**TINY).fit(grey)
    whole = features.transform(grey)
    assert features._mapper.chunk_rows(len(grey)) >= len(grey)  # one chunk
    with config_context(working_memory=1):
        assert features._mapper.chunk_rows(len(grey)) < len(grey)
        assert_allclose(features.transform(grey), whole, rtol=1e-5, atol=1e-6)


def test_input_forms_agree(grey):
    features = PretrainedFeatures(**TINY).fit(grey)
    expected = features.transform(grey)
    rows = grey.reshape(len(grey), -1)
    assert_allclose(features.transform(rows), expected, rtol=1e-6)
    assert_allclose(features.transform(grey[..., None]), expected, rtol=1e-6)
    from_rows = PretrainedFeatures(image_shape=(40, 40), **TINY).fit(pd.DataFrame(rows))
    assert_allclose(from_rows.transform(rows), expected, rtol=1e-6)


def test_a_keras_applications_backbone_uses_its_last_layer_by_default(grey):
    features = PretrainedFeatures(backbone="MobileNetV2", **TINY).fit(grey)
    assert features.layers_ == ("out_relu",)
    assert features.transform(grey).shape == (12, 1280)


def test_set_output_pandas(grey):
    features = PretrainedFeatures(**TINY).set_output(transform="pandas")
    out = features.fit_transform(grey)
    assert isinstance(out, pd.DataFrame)
    assert_array_equal(out.columns, features.get_feature_names_out())


# -------------------------------------------------------------- pipelines


def test_pooled_features_feed_an_isolation_forest(grey):
    detector = make_pipeline(PretrainedFeatures(**TINY), IsolationForest(random_state=0))
    detector.fit(grey)
    assert detector.predict(grey).shape == (12,)
    assert np.isfinite(detector.score_samples(grey)).all()


def test_pooled_features_feed_an_autoencoder(grey):
    detector = make_pipeline(
        PretrainedFeatures(**TINY),
        AutoEncoder(hidden_units=(8, 2), epochs=2, random_state=0),
    ).fit(grey)
    assert detector.score_samples(grey).shape == (12,)


# ------------------------------------------------------------ persistence


def test_pickle_keeps_the_weights_not_the_model(grey):
    features = PretrainedFeatures(**TINY).fit(grey)
    state = features.__getstate__()
    assert "model_" not in state and "_mapper" not in state
    assert len(state["_model_weights"]) == len(features.model_.get_weights())
    restored = pickle.loads(pickle.dumps(features))
    assert_array_equal(restored.transform(grey), features.transform(grey))
    assert restored.layers_ == features.layers_
    assert clone(features).get_params() == features.get_params()


@pytest.mark.skipif(not SHARED_WEIGHTS.is_file(), reason="the SqueezeNet weights file is absent")
def test_pickled_with_imagenet_weights_it_needs_no_file(grey, tmp_path):
    path = tmp_path / "squeezenet.h5"
    shutil.copy(SHARED_WEIGHTS, path)
    features = PretrainedFeatures(weights=str(path), input_size=32).fit(grey)
    random = PretrainedFeatures(**TINY).fit(grey)
    assert not np.allclose(features.transform(grey), random.transform(grey))
    data = pickle.dumps(features)
    path.unlink()  # elsewhere, without the file
    assert_array_equal(pickle.loads(data).transform(grey), features.transform(grey))


# ------------------------------------------------------------------ errors


def test_unfitted_transform_raises(grey):
    with pytest.raises(NotFittedError):
        PretrainedFeatures(**TINY).transform(grey)


def test_four_channels_are_refused():
    with pytest.raises(ValueError, match="1 or 3 channels\\); got 4"):
        PretrainedFeatures(**TINY).fit(np.zeros((2, 8, 8, 4)))


def test_images_too_small_for_the_layers_are_refused():
    with pytest.raises(ValueError, match="too small.*31x31 at least.*input_size"):
        PretrainedFeatures(weights=None).fit(np.zeros((2, 16, 16)))


def test_an_unknown_layer_is_refused(grey):
    with pytest.raises(ValueError, match="has no layer named \\['fire10'\\]"):
        PretrainedFeatures(layers="fire10", **TINY).fit(grey)
    with pytest.raises(ValueError, match="layers must be a non-empty sequence"):
        PretrainedFeatures(layers=[], **TINY).fit(grey)


def test_a_missing_weights_file_is_refused(grey, tmp_path):
    with pytest.raises(FileNotFoundError, match="no such file"):
        PretrainedFeatures(weights=str(tmp_path / "none.h5")).fit(grey)


@pytest.mark.parametrize("pixel_range", [(1, 0), (0, np.inf), (0,), ("a", "b")])
def test_a_bad_pixel_range_is_refused(grey, pixel_range):
    with pytest.raises(ValueError, match="pixel_range must be 'minmax' or a pair"):
        PretrainedFeatures(pixel_range=pixel_range, **TINY).fit(grey)


def test_bad_parameters_are_refused(grey):
    with pytest.raises(ValueError, match="'pooling' parameter"):
        PretrainedFeatures(pooling="mean", **TINY).fit(grey)
    with pytest.raises(ValueError, match="'backbone' parameter"):
        PretrainedFeatures(backbone="squeezenet", **TINY).fit(grey)
    with pytest.raises(ValueError, match="input_size must be a positive int"):
        PretrainedFeatures(input_size=(32, 0), weights=None).fit(grey)


def test_a_missing_gpu_is_named(grey):
    with pytest.raises(ValueError, match="device='gpu:7' asks for GPU number 7"):
        PretrainedFeatures(device="gpu:7", **TINY).fit(grey)


def test_transform_refuses_images_of_another_shape(grey):
    features = PretrainedFeatures(**TINY).fit(grey)
    with pytest.raises(ValueError, match="images of shape \\(32, 32\\)"):
        features.transform(np.zeros((2, 32, 32)))
