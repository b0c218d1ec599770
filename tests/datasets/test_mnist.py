import hashlib
from pathlib import Path

import numpy as np
import pytest
from numpy.testing import assert_allclose, assert_array_equal

from skanomaly.datasets import _mnist, load_mnist_one_class

SHARED_MNIST = Path(__file__).resolve().parents[3] / "shared" / "data" / "mnist" / "mnist.npz"


def _make_npz(path, n_train=40, n_test=20, side=6, seed=0):
    rng = np.random.RandomState(seed)
    np.savez(
        path,
        x_train=rng.randint(0, 256, size=(n_train, side, side), dtype=np.uint8),
        y_train=np.arange(n_train) % 10,
        x_test=rng.randint(0, 256, size=(n_test, side, side), dtype=np.uint8),
        y_test=np.arange(n_test) % 10,
    )
    return path


@pytest.fixture
def tiny(tmp_path):
    return _make_npz(tmp_path / "mnist.npz")


def test_one_class_split(tiny):
    data = load_mnist_one_class(3, path=tiny)
    with np.load(tiny) as raw:
        assert_allclose(data.X_train, raw["x_train"][raw["y_train"] == 3] / 255, rtol=1e-6)
        assert_allclose(data.X_test, raw["x_test"] / 255, rtol=1e-6)
        assert_array_equal(data.digits_test, raw["y_test"])
        assert_array_equal(data.y_test, (raw["y_test"] != 3).astype(int))
    assert data.X_train.shape == (4, 6, 6)
    assert data.X_train.dtype == data.X_test.dtype == np.float32
    assert data.normal_class == 3
    assert data.path == str(tiny)
    assert "digit 3 is normal" in data.DESCR
    X_train, X_test, y_test = load_mnist_one_class(3, path=tiny, return_X_y=True)
    assert_array_equal(X_train, data.X_train)
    assert_array_equal(y_test, data.y_test)


def test_path_may_be_the_folder(tiny):
    a = load_mnist_one_class(np.int64(1), path=tiny.parent)
    assert a.path == str(tiny)


def test_data_home_is_used_without_download(tiny, monkeypatch):
    monkeypatch.setattr(_mnist, "_MNIST_URL", "http://127.0.0.1:9/never")
    data = load_mnist_one_class(0, data_home=tiny.parent, download_if_missing=False)
    assert data.path == str(tiny)
    monkeypatch.setenv("SKANOMALY_DATA", str(tiny.parent))
    assert load_mnist_one_class(0).path == str(tiny)


def test_missing_file_without_download(tmp_path):
    with pytest.raises(FileNotFoundError, match="download_if_missing=False"):
        load_mnist_one_class(0, data_home=tmp_path, download_if_missing=False)
    with pytest.raises(FileNotFoundError, match="No MNIST file at"):
        load_mnist_one_class(0, path=tmp_path / "nowhere.npz")
    assert not list(tmp_path.iterdir())


# ------------------------------------------------------ download, served locally


def _sha256(path):
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


def test_download_when_missing(server, tmp_path, monkeypatch):
    served, url = server
    remote = _make_npz(served / "mnist.npz", seed=1)
    monkeypatch.setattr(_mnist, "_MNIST_URL", f"{url}/mnist.npz")
    monkeypatch.setattr(_mnist, "_MNIST_SHA256", _sha256(remote))
    data_home = tmp_path / "home" / "deeper"
    data = load_mnist_one_class(5, data_home=data_home)
    local = data_home / "mnist.npz"
    assert data.path == str(local)
    assert local.read_bytes() == remote.read_bytes()
    assert data.X_train.shape == (4, 6, 6)
    assert [p.name for p in data_home.iterdir()] == ["mnist.npz"]
    # the second call reads the local copy, even with the server gone
    remote.unlink()
    assert load_mnist_one_class(5, data_home=data_home).path == str(local)


def test_corrupt_download_leaves_nothing(server, tmp_path, monkeypatch):
    served, url = server
    _make_npz(served / "mnist.npz")
    monkeypatch.setattr(_mnist, "_MNIST_URL", f"{url}/mnist.npz")
    monkeypatch.setattr(_mnist, "_MNIST_SHA256", "0" * 64)
    with pytest.raises(OSError, match="is corrupt: its SHA-256 is"):
        load_mnist_one_class(0, data_home=tmp_path / "home")
    assert not list((tmp_path / "home").iterdir())


def test_failed_download(server, tmp_path, monkeypatch):
    _, url = server
    monkeypatch.setattr(_mnist, "_MNIST_URL", f"{url}/absent.npz")
    with pytest.raises(OSError, match=r"Could not download .*absent.npz.*404.*path=\.\.\."):
        load_mnist_one_class(0, data_home=tmp_path / "home")
    assert not list((tmp_path / "home").iterdir())


# ------------------------------------------------------------------ bad input


@pytest.mark.parametrize("normal_class", [-1, 10, 2.0, "3", True, None])
def test_bad_normal_class(tiny, normal_class):
    with pytest.raises(ValueError, match="normal_class must be a digit"):
        load_mnist_one_class(normal_class, path=tiny)


def test_not_an_mnist_file(tmp_path):
    np.savez(tmp_path / "other.npz", x_train=np.zeros((2, 3, 3)), y_train=np.zeros(2))
    with pytest.raises(ValueError, match=r"lacks the key\(s\) \['x_test', 'y_test'\]"):
        load_mnist_one_class(0, path=tmp_path / "other.npz")
    (tmp_path / "text.npz").write_text("hello")
    with pytest.raises(ValueError, match="Cannot read .*text.npz as an .npz file"):
        load_mnist_one_class(0, path=tmp_path / "text.npz")
    np.save(tmp_path / "single.npy", np.zeros(3))
    with pytest.raises(ValueError, match="holds a single array"):
        load_mnist_one_class(0, path=tmp_path / "single.npy")
    np.savez(
        tmp_path / "flat.npz", x_train=np.zeros((4, 9)), y_train=np.zeros(4),
        x_test=np.zeros((2, 3, 3)), y_test=np.zeros(2),
    )
    with pytest.raises(ValueError, match=r"x_train must hold images \(n, height, width\)"):
        load_mnist_one_class(0, path=tmp_path / "flat.npz")


def test_class_absent_from_training_set(tmp_path):
    path = _make_npz(tmp_path / "mnist.npz", n_train=5)  # digits 0-4
    with pytest.raises(ValueError, match="no training image of the digit 7"):
        load_mnist_one_class(7, path=path)


# ------------------------------------------------------------------ real file


@pytest.mark.skipif(not SHARED_MNIST.is_file(), reason="the shared MNIST file is absent")
def test_real_mnist():
    data = load_mnist_one_class(0, path=SHARED_MNIST)
    assert data.X_train.shape == (5923, 28, 28)
    assert data.X_test.shape == (10000, 28, 28)
    assert int(data.y_test.sum()) == 10000 - 980
    assert 0.0 == data.X_train.min() and data.X_train.max() == 1.0
