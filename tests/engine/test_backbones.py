"""Pretrained backbones: SqueezeNet 1.1's architecture and its weights file
(read, and downloaded from a local server), keras.applications networks by
name, and the errors of build_backbone."""

import hashlib
from pathlib import Path

import h5py
import numpy as np
import pytest
from numpy.testing import assert_array_equal

from skanomaly.engine import _backbones
from skanomaly.engine._backbones import (
    SQUEEZENET_FILE,
    build_backbone,
    layer_channels,
    load_squeezenet_weights,
    squeezenet1_1,
    squeezenet_weights_file,
)

SHARED_WEIGHTS = (
    Path(__file__).resolve().parents[3]
    / "shared" / "data" / "weights" / "squeezenet1_1_imagenet_notop.h5"
)
needs_weights = pytest.mark.skipif(
    not SHARED_WEIGHTS.is_file(), reason="the SqueezeNet weights file is absent"
)


def shapes(outputs):
    return [tuple(output.shape[1:]) for output in outputs]


# ----------------------------------------------------------- SqueezeNet


@pytest.mark.parametrize("channels", [1, 3])
def test_squeezenet_maps_at_128_pixels(channels):
    backbone = build_backbone(
        "squeezenet1_1", None, ["fire3", "fire5", "fire9"], (128, 128, channels)
    )
    assert shapes(backbone.outputs) == [(31, 31, 128), (15, 15, 256), (7, 7, 512)]
    assert layer_channels(backbone) == [128, 256, 512]
    maps = backbone(np.random.RandomState(0).uniform(size=(2, 128, 128, channels)))
    assert [tuple(m.shape) for m in maps] == [(2, 31, 31, 128), (2, 15, 15, 256), (2, 7, 7, 512)]


def test_input_size_resizes_the_images_on_the_way_in():
    backbone = build_backbone("squeezenet1_1", None, ["fire9"], (16, 20, 1), (128, 128))
    assert tuple(backbone.inputs[0].shape[1:]) == (16, 20, 1)
    assert shapes(backbone.outputs) == [(7, 7, 512)]


def test_images_too_small_for_the_layers_are_refused():
    with pytest.raises(ValueError, match="30x30 pixels are too small.*31x31 at least"):
        build_backbone("squeezenet1_1", None, ["fire9"], (30, 30, 1))


def test_an_unknown_layer_is_refused():
    with pytest.raises(ValueError, match="has no layer named \\['fire10'\\]; its layers are"):
        build_backbone("squeezenet1_1", None, ["fire9", "fire10"], (64, 64, 1))


def test_four_channels_are_refused():
    with pytest.raises(ValueError, match="1 or 3 channels\\); got 4"):
        build_backbone("squeezenet1_1", None, ["fire9"], (64, 64, 4))


def test_a_missing_weights_file_is_refused(tmp_path):
    with pytest.raises(FileNotFoundError, match="no such file"):
        build_backbone("squeezenet1_1", tmp_path / "none.h5", ["fire9"], (64, 64, 1))


def test_a_file_that_is_not_hdf5_is_refused(tmp_path):
    path = tmp_path / "weights.h5"
    path.write_bytes(b"not an HDF5 file")
    with pytest.raises(ValueError, match="Cannot read .* as SqueezeNet 1.1 weights"):
        build_backbone("squeezenet1_1", str(path), ["fire9"], (64, 64, 1))


def test_an_hdf5_file_of_other_weights_is_refused(tmp_path):
    path = tmp_path / "other.h5"
    with h5py.File(path, "w") as file:
        file.create_dataset("conv1/conv1_W", data=np.zeros((3, 3, 3, 64), "float32"))
        file.create_dataset("conv1/conv1_b", data=np.zeros(64, "float32"))
    with pytest.raises(ValueError, match="no weights for the layer 'fire2/squeeze1x1'"):
        build_backbone("squeezenet1_1", str(path), ["fire9"], (64, 64, 1))
    with h5py.File(path, "w") as file:
        file.create_dataset("conv1/conv1_W", data=np.zeros((5, 5, 3, 64), "float32"))
        file.create_dataset("conv1/conv1_b", data=np.zeros(64, "float32"))
    with pytest.raises(ValueError, match="weights of 'conv1' have shapes"):
        build_backbone("squeezenet1_1", str(path), ["fire9"], (64, 64, 1))


@needs_weights
def test_the_real_weights_file_sets_every_layer():
    network = squeezenet1_1((64, 64, 3))
    load_squeezenet_weights(network, SHARED_WEIGHTS)
    with h5py.File(SHARED_WEIGHTS, "r") as file:
        group = file["fire9/expand3x3"]
        arrays = {}
        group.visititems(
            lambda _, item: arrays.update({item.ndim: item[()]})
            if isinstance(item, h5py.Dataset) else None
        )
    kernel, bias = network.get_layer("fire9_expand3x3").get_weights()
    assert_array_equal(kernel, arrays[4])
    assert_array_equal(bias, arrays[1])
    # Every convolution got weights that are not its initial ones.
    convolutions = [layer for layer in network.layers if layer.get_weights()]
    assert len(convolutions) == 1 + 3 * 8
    assert all(np.abs(layer.get_weights()[1]).sum() > 0 for layer in convolutions)


@needs_weights
def test_imagenet_weights_give_features_random_ones_do_not():
    # A flat grey image and a striped one: ImageNet features tell them apart
    # more than they tell two flat images apart.
    backbone = build_backbone("squeezenet1_1", str(SHARED_WEIGHTS), ["fire9"], (64, 64, 1))
    flat = np.full((2, 64, 64, 1), 0.5, "float32")
    flat[1] = 0.6
    stripes = np.tile((np.arange(64) // 4 % 2).astype("float32"), (64, 1))[None, ..., None]
    pooled = [np.asarray(backbone(x)[0]).mean(axis=(1, 2)) for x in (flat, stripes)]
    between_flats = np.linalg.norm(pooled[0][0] - pooled[0][1])
    flat_to_stripes = np.linalg.norm(pooled[0][0] - pooled[1][0])
    assert flat_to_stripes > 2 * between_flats


# -------------------------------------------------- keras.applications


def test_a_keras_applications_network_by_name():
    backbone = build_backbone(
        "MobileNetV2", None, ["block_3_expand_relu", "out_relu"], (32, 32, 1)
    )
    assert shapes(backbone.outputs) == [(8, 8, 144), (1, 1, 1280)]
    maps = backbone(np.zeros((2, 32, 32, 1), "float32"))
    assert [tuple(m.shape) for m in maps] == [(2, 8, 8, 144), (2, 1, 1, 1280)]
    with pytest.raises(ValueError, match="backbone='MobileNetV2' has no layer named \\['fire9'\\]"):
        build_backbone("MobileNetV2", None, ["fire9"], (32, 32, 1))


# ------------------------------------------------------------- download


@pytest.fixture
def served_weights(server, tmp_path, monkeypatch):
    """Weights served on 127.0.0.1, the download's URL and checksum pointed
    at them, and the data home in tmp_path/home."""
    served, url = server
    content = SHARED_WEIGHTS.read_bytes() if SHARED_WEIGHTS.is_file() else b"weights" * 1000
    (served / "squeezenet.h5").write_bytes(content)
    monkeypatch.setattr(_backbones, "SQUEEZENET_URL", f"{url}/squeezenet.h5")
    monkeypatch.setattr(_backbones, "SQUEEZENET_SHA256", hashlib.sha256(content).hexdigest())
    home = tmp_path / "home"
    monkeypatch.setenv("SKANOMALY_DATA", str(home))
    return served / "squeezenet.h5", content, home / "weights"


def test_the_weights_are_downloaded_once_then_cached(served_weights):
    served, content, folder = served_weights
    path = squeezenet_weights_file()
    assert path == folder / SQUEEZENET_FILE
    assert path.read_bytes() == content
    served.unlink()  # the server has it no more: the cached file is used
    assert squeezenet_weights_file() == path
    assert sorted(p.name for p in folder.iterdir()) == [SQUEEZENET_FILE]


def test_a_corrupt_download_leaves_nothing_behind(served_weights, monkeypatch):
    _, _, folder = served_weights
    monkeypatch.setattr(_backbones, "SQUEEZENET_SHA256", "0" * 64)
    with pytest.raises(OSError, match="is corrupt: its SHA-256 is .*weights=..."):
        squeezenet_weights_file()
    assert list(folder.iterdir()) == []


def test_a_failed_download_says_what_to_do(served_weights, monkeypatch):
    served, _, folder = served_weights
    served.unlink()
    with pytest.raises(OSError, match="Could not download .*404.*pass its path with weights=..."):
        squeezenet_weights_file()
    assert list(folder.iterdir()) == []


@needs_weights
def test_imagenet_weights_are_downloaded_then_loaded(served_weights):
    backbone = build_backbone("squeezenet1_1", "imagenet", ["fire9"], (64, 64, 1))
    from_file = build_backbone("squeezenet1_1", str(SHARED_WEIGHTS), ["fire9"], (64, 64, 1))
    for downloaded, read in zip(backbone.get_weights(), from_file.get_weights()):
        assert_array_equal(downloaded, read)
