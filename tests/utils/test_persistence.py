"""Saving estimators to one file and loading them without pickle."""

import json
import subprocess
import sys
import zipfile

import numpy as np
import pytest
from numpy.testing import assert_array_equal
from PIL import Image
from sklearn.ensemble import IsolationForest
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import FunctionTransformer, StandardScaler

import skanomaly
from skanomaly import load, save
from skanomaly.utils import all_estimators
from skanomaly.utils._persistence import FORMAT_VERSION

FAST = dict(epochs=2, random_state=0)
FAST_IMAGES = dict(FAST, validation_fraction=0.0)
FAST_SEQUENCES = dict(FAST, batch_size=1024, validation_fraction=0.0)
BACKBONE = dict(weights=None, input_size=32)


def _rows(seed=0):
    return np.random.RandomState(seed).normal(size=(40, 16))


def _images(seed=0):
    return np.random.RandomState(seed).rand(12, 64)


def _large_images(seed=0):
    return np.random.RandomState(seed).rand(6, 256)


def _sequences(seed=0):
    return np.random.RandomState(seed).rand(30, 12)


def _labelled(seed=0):
    y = np.full(40, -1)
    y[:4] = 1
    return _rows(seed), y


def _tasks(seed=0):
    X, y = _labelled(seed)
    X = np.vstack([X, _rows(seed + 1)])
    y = np.r_[y, y]
    return X, y, np.repeat([0, 1], 40)


def _image_files(tmp_path):
    rng = np.random.RandomState(0)
    paths = []
    for i in range(3):
        path = tmp_path / f"{i}.png"
        Image.fromarray((rng.rand(10, 12) * 255).astype(np.uint8)).save(path)
        paths.append(path)
    return paths


def _estimators():
    """One small instance of every public estimator, with the data it
    fits on (a function of ``tmp_path``) and what ``fit`` takes beyond X."""
    from skanomaly import (
        MNAD, VAE, AutoEncoder, CNNLSTMAutoEncoder, ConvAutoEncoder, DeepSAD,
        DeepSVDD, DevNet, GANomaly, HOGTransformer, KerasDetector,
        LSTMAutoEncoder, MAMLDetector, MemAE, OGNet, PaDiM, PatchCore,
        PatchSVDD, PretrainedFeatures, PrototypicalDetector, RNNForecaster, ScoreBoostingDetector,
        ReverseDistillation, SlidingWindows, StudentTeacher, SynthesizeCompare,
        TransferHead, ConvGradCon, GradCon, ConvLossProfileDetector, LossProfileDetector,
    )
    from skanomaly.calibration import ConformalThreshold
    from skanomaly.features import ColourSegmenter, ImageLoader, ImageResizer, PatchExtractor

    rows = lambda _: (_rows(), {})  # noqa: E731
    images = lambda _: (_images(), {})  # noqa: E731
    sequences = lambda _: (_sequences(), {})  # noqa: E731

    def labelled(_):
        X, y = _labelled()
        return X, {"y": y}

    def tasks(_):
        X, y, groups = _tasks()
        return X, {"y": y, "groups": groups}

    episodic = dict(hidden_units=(8,), epochs=2, n_support_anomalies=2,
                    n_support_normals=5, random_state=0)
    return {
        AutoEncoder: (AutoEncoder(hidden_units=(8, 2), **FAST), rows),
        VAE: (VAE(hidden_units=(8,), latent_dim=2, **FAST), rows),
        DeepSVDD: (DeepSVDD(hidden_units=(8, 4), **FAST), rows),
        LSTMAutoEncoder: (LSTMAutoEncoder(hidden_units=(4,), **FAST_SEQUENCES), sequences),
        CNNLSTMAutoEncoder: (
            CNNLSTMAutoEncoder(filters=(4,), lstm_units=(4,), **FAST_SEQUENCES), sequences
        ),
        RNNForecaster: (RNNForecaster(hidden_units=(4,), horizon=1, **FAST_SEQUENCES), sequences),
        ConvAutoEncoder: (ConvAutoEncoder(latent_dim=2, **FAST_IMAGES), images),
        MemAE: (MemAE(n_memory=4, **FAST_IMAGES), images),
        MNAD: (MNAD(n_memory=2, **FAST_IMAGES), images),
        OGNet: (OGNet(phase_two_steps=2, **FAST), images),
        GANomaly: (GANomaly(latent_dim=2, **FAST_IMAGES), images),
        SynthesizeCompare: (SynthesizeCompare(filters=(4,), **FAST), images),
        GradCon: (GradCon(hidden_units=(4, 2), **FAST), rows),
        LossProfileDetector: (LossProfileDetector(hidden_units=(4, 2), n_snapshots=2, **FAST), labelled),
        ConvLossProfileDetector: (ConvLossProfileDetector(latent_dim=2, n_snapshots=2, **FAST), images),
        ConvGradCon: (ConvGradCon(filters=(4,), **FAST_IMAGES), images),
        PatchCore: (PatchCore(coreset_ratio=0.1, random_state=0, **BACKBONE), images),
        PaDiM: (PaDiM(n_features=10, random_state=0, **BACKBONE), images),
        ReverseDistillation: (
            ReverseDistillation(width_multiplier=0.0625, **BACKBONE, **FAST_IMAGES), images
        ),
        StudentTeacher: (
            StudentTeacher(n_students=2, student_filters=4, student_depth=1, **BACKBONE,
                           **FAST_IMAGES),
            images,
        ),
        TransferHead: (TransferHead(hidden_units=(4,), **BACKBONE, **FAST_IMAGES), images),
        PatchSVDD: (
            PatchSVDD(patch_size=4, width=8, embedding_dim=6, pairs_per_image=2,
                      n_memory=300, epochs=2, batch_size=8, random_state=0),
            lambda _: (_large_images(), {}),
        ),
        DeepSAD: (DeepSAD(hidden_units=(8, 4), **FAST), labelled),
        DevNet: (DevNet(hidden_units=(8,), **FAST), labelled),
        # A k-d tree (NearestNeighbors, LocalOutlierFactor) and a NumPy
        # Generator (HistGradientBoostingClassifier) in its state.
        ScoreBoostingDetector: (ScoreBoostingDetector(max_iter=5, random_state=0), labelled),
        PrototypicalDetector: (PrototypicalDetector(**episodic), tasks),
        MAMLDetector: (MAMLDetector(inner_steps=1, **episodic), tasks),
        ConformalThreshold: (
            ConformalThreshold(AutoEncoder(hidden_units=(8, 2), **FAST), fpr=0.2,
                               random_state=0),
            rows,
        ),
        HOGTransformer: (HOGTransformer(pixels_per_cell=(4, 4), cells_per_block=(1, 1)), images),
        SlidingWindows: (SlidingWindows(window_length=4, stride=2), sequences),
        PretrainedFeatures: (PretrainedFeatures(**BACKBONE), images),
        ColourSegmenter: (ColourSegmenter(n_segments=2, random_state=0), images),
        ImageResizer: (ImageResizer((4, 4), flatten=True, image_shape=(8, 8)), images),
        PatchExtractor: (PatchExtractor((4, 4)), lambda _: (_images().reshape(-1, 8, 8), {})),
        ImageLoader: (ImageLoader(color="gray"), lambda tmp: (_image_files(tmp), {})),
        KerasDetector: None,  # a model function: see test_a_function_cannot_be_saved
    }


def _outputs(estimator, X):
    """What the fitted estimator computes: scores, labels and maps of a
    detector, the output of a transformer."""
    if hasattr(estimator, "score_samples"):
        outputs = [estimator.score_samples(X), estimator.predict(X)]
        if hasattr(estimator, "anomaly_map"):
            outputs.append(estimator.anomaly_map(X))
        return outputs
    transformed = estimator.transform(X)
    if isinstance(transformed, list):
        return transformed
    return [transformed]


def test_every_public_estimator_has_a_round_trip_case():
    assert set(_estimators()) == {cls for _, cls in all_estimators()}


@pytest.mark.parametrize(
    "cls", [cls for cls, case in _estimators().items() if case is not None],
    ids=lambda cls: cls.__name__,
)
def test_a_loaded_estimator_computes_what_the_saved_one_did(cls, tmp_path):
    estimator, data = _estimators()[cls]
    X, fit_params = data(tmp_path)
    estimator.fit(X, **fit_params)
    path = tmp_path / "estimator.skanomaly"
    save(estimator, path)
    loaded = load(path)
    assert type(loaded) is cls
    assert loaded.get_params(deep=False).keys() == estimator.get_params(deep=False).keys()
    for expected, got in zip(_outputs(estimator, X), _outputs(loaded, X)):
        assert_array_equal(got, expected)


def test_a_pipeline_is_saved_whole_and_the_method_saves_a_detector(tmp_path):
    from skanomaly import AutoEncoder

    X = _rows()
    pipeline = make_pipeline(StandardScaler(), AutoEncoder(hidden_units=(8, 2), **FAST)).fit(X)
    save(pipeline, tmp_path / "pipeline")
    assert_array_equal(load(tmp_path / "pipeline").score_samples(X), pipeline.score_samples(X))

    detector = pipeline[-1]
    detector.save(tmp_path / "detector")
    assert_array_equal(load(tmp_path / "detector").score_samples(X), detector.score_samples(X))


def test_a_detector_fitted_on_a_data_frame_keeps_its_column_names(tmp_path):
    import pandas as pd
    from skanomaly import AutoEncoder

    frame = pd.DataFrame(_rows()[:, :3], columns=["speed", "load", "heat"])
    detector = AutoEncoder(hidden_units=(2,), **FAST).fit(frame)
    detector.save(tmp_path / "f")
    loaded = load(tmp_path / "f")
    assert_array_equal(loaded.feature_names_in_, ["speed", "load", "heat"])
    assert loaded.feature_names_in_.dtype == object
    assert_array_equal(loaded.score_samples(frame), detector.score_samples(frame))
    with pytest.raises(ValueError, match="feature names"):
        loaded.score_samples(frame.rename(columns={"heat": "cold"}))


def test_an_unfitted_estimator_keeps_its_parameters(tmp_path):
    from skanomaly import AutoEncoder

    detector = AutoEncoder(hidden_units=(5, 3), noise_std=0.25, random_state=np.random.RandomState(4))
    save(detector, tmp_path / "unfitted")
    loaded = load(tmp_path / "unfitted")
    params = loaded.get_params()
    assert params["hidden_units"] == (5, 3) and params["noise_std"] == 0.25
    # The generator is kept in its state: it draws what the saved one would.
    assert loaded.random_state.randint(10**6) == detector.random_state.randint(10**6)


def test_training_continues_after_a_load_as_it_would_have(tmp_path):
    from skanomaly import AutoEncoder

    X = _rows()
    detector = AutoEncoder(hidden_units=(8, 2), **FAST).fit(X)
    save(detector, tmp_path / "detector")
    loaded = load(tmp_path / "detector")
    # The optimizer's moments are kept: one more batch moves both alike.
    detector.partial_fit(X[:10])
    loaded.partial_fit(X[:10])
    assert_array_equal(loaded.score_samples(X), detector.score_samples(X))


def test_a_new_process_loads_and_scores_identically(tmp_path):
    from skanomaly import ConvAutoEncoder

    X = _images()
    detector = ConvAutoEncoder(latent_dim=2, **FAST_IMAGES).fit(X)
    detector.save(tmp_path / "detector")
    np.save(tmp_path / "X.npy", X)
    script = (
        "import numpy as np, skanomaly, sys; "
        f"d = skanomaly.load({str(tmp_path / 'detector')!r}); "
        f"np.save({str(tmp_path / 'scores.npy')!r}, d.score_samples(np.load({str(tmp_path / 'X.npy')!r})))"
    )
    subprocess.run([sys.executable, "-c", script], check=True, capture_output=True)
    assert_array_equal(np.load(tmp_path / "scores.npy"), detector.score_samples(X))


def test_a_classical_estimator_saves_without_starting_tensorflow(tmp_path):
    script = (
        "import sys, numpy as np; from sklearn.ensemble import IsolationForest; "
        "import skanomaly; X = np.zeros((5, 2)); "
        f"skanomaly.save(IsolationForest(random_state=0).fit(X), {str(tmp_path / 'f')!r}); "
        f"skanomaly.load({str(tmp_path / 'f')!r}); "
        "print('tensorflow' in sys.modules)"
    )
    done = subprocess.run([sys.executable, "-c", script], check=True, capture_output=True, text=True)
    assert done.stdout.strip() == "False"
    versions = json.loads(zipfile.ZipFile(tmp_path / "f").read("estimator.json"))["versions"]
    assert versions["skanomaly"] == skanomaly.__version__ and "tensorflow" not in versions


def test_the_file_records_the_versions_that_wrote_it(tmp_path):
    from skanomaly import AutoEncoder

    save(AutoEncoder(hidden_units=(4,), **FAST).fit(_rows()), tmp_path / "f")
    manifest = json.loads(zipfile.ZipFile(tmp_path / "f").read("estimator.json"))
    assert manifest["format"] == FORMAT_VERSION
    assert {"skanomaly", "scikit-learn", "numpy", "python", "keras", "tensorflow"} <= set(
        manifest["versions"]
    )


def _rewrite_manifest(path, change):
    with zipfile.ZipFile(path) as archive:
        members = {name: archive.read(name) for name in archive.namelist()}
    manifest = json.loads(members["estimator.json"])
    change(manifest)
    members["estimator.json"] = json.dumps(manifest)
    with zipfile.ZipFile(path, "w") as archive:
        for name, data in members.items():
            archive.writestr(name, data)


def test_a_file_of_another_format_names_both_versions(tmp_path):
    path = tmp_path / "f"
    save(IsolationForest(random_state=0).fit(_rows()), path)

    def from_the_future(manifest):
        manifest["format"] = FORMAT_VERSION + 1
        manifest["versions"]["skanomaly"] = "9.0.0"

    _rewrite_manifest(path, from_the_future)
    with pytest.raises(ValueError, match=rf"skanomaly 9\.0\.0 .* skanomaly {skanomaly.__version__}"):
        load(path)


def test_a_state_that_does_not_fit_names_both_versions(tmp_path):
    from skanomaly import AutoEncoder

    path = tmp_path / "f"
    save(AutoEncoder(hidden_units=(4,), **FAST).fit(_rows()), path)

    def older_layout(manifest):
        manifest["versions"]["skanomaly"] = "0.0.1"
        # The hidden units the network was built with, as an older version
        # might have built a different network for the same parameters.
        saved = manifest["estimator"]["estimator"][1]
        state = dict(saved["dict"])
        state["hidden_units"] = {"tuple": [4, 4]}
        saved["dict"] = [list(item) for item in state.items()]

    _rewrite_manifest(path, older_layout)
    with pytest.raises(ValueError, match=rf"written by skanomaly 0\.0\.1, with skanomaly {skanomaly.__version__}: .*variables"):
        load(path)


def test_a_file_cannot_name_another_library(tmp_path):
    path = tmp_path / "f"
    save(IsolationForest(random_state=0).fit(_rows()), path)

    def hostile(manifest):
        manifest["estimator"]["estimator"][0] = "os:system"

    _rewrite_manifest(path, hostile)
    with pytest.raises(ValueError, match="os.system is not a skanomaly or scikit-learn estimator"):
        load(path)


def test_a_file_cannot_name_a_bit_generator_numpy_lacks(tmp_path):
    from sklearn.ensemble import HistGradientBoostingClassifier

    X = _rows()
    path = tmp_path / "f"
    save(HistGradientBoostingClassifier(max_iter=2).fit(X, np.arange(len(X)) % 2), path)
    assert isinstance(load(path)._feature_subsample_rng, np.random.Generator)

    def hostile(manifest):
        text = json.dumps(manifest).replace('"generator": ["PCG64"', '"generator": ["system"')
        manifest.clear()
        manifest.update(json.loads(text))

    _rewrite_manifest(path, hostile)
    with pytest.raises(ValueError, match="unknown bit generator 'system'"):
        load(path)


def test_a_file_that_is_not_a_saved_estimator(tmp_path):
    (tmp_path / "text").write_text("not a zip")
    with pytest.raises(ValueError, match="not a file written by skanomaly.save"):
        load(tmp_path / "text")
    with pytest.raises(FileNotFoundError, match="no file at"):
        load(tmp_path / "missing")
    with pytest.raises(TypeError, match="expects a scikit-learn or skanomaly estimator"):
        save([1, 2], tmp_path / "list")


def test_a_function_cannot_be_saved_and_the_error_says_where(tmp_path):
    from skanomaly import AutoEncoder, KerasDetector
    from skanomaly.engine import keras

    def model(sample_shape):
        return keras.Sequential([keras.Input(sample_shape), keras.layers.Dense(sample_shape[0])])

    with pytest.raises(TypeError, match=r"KerasDetector\.model: it is a builtins\.function"):
        save(KerasDetector(model), tmp_path / "f")
    pipeline = make_pipeline(FunctionTransformer(np.log1p), AutoEncoder())
    with pytest.raises(TypeError, match=r"FunctionTransformer\.func"):
        save(pipeline, tmp_path / "f")


def test_a_keras_object_given_as_a_parameter_cannot_be_saved(tmp_path):
    from skanomaly import AutoEncoder
    from skanomaly.engine import keras

    detector = AutoEncoder(callbacks=[keras.callbacks.TerminateOnNaN()])
    with pytest.raises(TypeError, match=r"AutoEncoder\.callbacks\[0\]: it is a keras"):
        save(detector, tmp_path / "f")
