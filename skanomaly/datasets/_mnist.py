"""MNIST as a one-class anomaly detection task."""

import zipfile
from numbers import Integral
from pathlib import Path

import numpy as np
from sklearn.utils import Bunch

from ..utils._download import data_home as _data_home
from ..utils._download import download

__all__ = ["load_mnist_one_class"]

# The file keras.datasets.mnist downloads, and its SHA-256.
_MNIST_URL = "https://storage.googleapis.com/tensorflow/tf-keras-datasets/mnist.npz"
_MNIST_SHA256 = "731c5ac602752760c8e48fbffcf8c3b850d9dc2a2aedcf2cc48468fc17b673d1"
_MNIST_FILE = "mnist.npz"
_MNIST_KEYS = ("x_train", "y_train", "x_test", "y_test")


def _mnist_file(path, data_home, download_if_missing):
    """Resolve the MNIST file, downloading it if allowed and needed."""
    if path is not None:
        path = Path(path).expanduser()
        if path.is_dir():
            path = path / _MNIST_FILE
        if not path.is_file():
            raise FileNotFoundError(
                f"No MNIST file at {path}. Pass the path of an .npz file with "
                f"the keys {', '.join(_MNIST_KEYS)} (the layout of "
                "keras.datasets.mnist), or path=None to use data_home."
            )
        return path
    path = _data_home(data_home) / _MNIST_FILE
    if path.is_file():
        return path
    if not download_if_missing:
        raise FileNotFoundError(
            f"MNIST is not in {path.parent} and download_if_missing=False. Pass "
            f"path=... to an existing mnist.npz, or download_if_missing=True to "
            f"download it from {_MNIST_URL}."
        )
    return download(_MNIST_URL, path, _MNIST_SHA256, "pass its path with path=...")


def _read_mnist(path):
    try:
        npz = np.load(path, allow_pickle=False)
    except (OSError, ValueError, zipfile.BadZipFile) as exc:
        raise ValueError(f"Cannot read {path} as an .npz file ({exc}).") from exc
    if not isinstance(npz, np.lib.npyio.NpzFile):
        raise ValueError(
            f"{path} holds a single array, not an .npz file with the keys "
            f"{', '.join(_MNIST_KEYS)}."
        )
    with npz:
        missing = [key for key in _MNIST_KEYS if key not in npz.files]
        if missing:
            raise ValueError(
                f"{path} lacks the key(s) {missing}: an MNIST file holds "
                f"{', '.join(_MNIST_KEYS)} (the layout of keras.datasets.mnist); "
                f"it holds {sorted(npz.files)}."
            )
        arrays = {key: npz[key] for key in _MNIST_KEYS}
    for subset in ("train", "test"):
        x, y = arrays[f"x_{subset}"], arrays[f"y_{subset}"]
        if x.ndim != 3 or y.ndim != 1 or x.shape[0] != y.shape[0]:
            raise ValueError(
                f"{path}: x_{subset} must hold images (n, height, width) and "
                f"y_{subset} their n labels; got shapes {x.shape} and {y.shape}."
            )
    return arrays


def _to_float(images):
    """uint8 pixels as float32 in [0, 1] (other dtypes are kept as values)."""
    if images.dtype == np.uint8:
        return images.astype(np.float32) / np.float32(255)
    return images.astype(np.float32)


def load_mnist_one_class(
    normal_class,
    *,
    path=None,
    data_home=None,
    download_if_missing=True,
    return_X_y=False,
):
    """Load MNIST as a one-class task: one digit is normal, the rest anomalies.

    The usual protocol of deep one-class papers (Deep SVDD among them): a
    detector is trained on the training images of the normal digit only,
    and tested on the whole test set, where every other digit is an
    anomaly.

    The data is read from an ``.npz`` file in the layout of
    :func:`keras.datasets.mnist.load_data` (keys ``x_train``, ``y_train``,
    ``x_test`` and ``y_test``). With ``path=None`` it is looked for in
    ``data_home`` and, if absent, downloaded there from the address Keras
    uses (11 MB, checked against its SHA-256).

    Parameters
    ----------
    normal_class : int
        The digit, 0 to 9, that is normal.
    path : str or path-like, default=None
        The ``.npz`` file, or a folder holding ``mnist.npz``. Nothing is
        downloaded when a path is given.
    data_home : str or path-like, default=None
        Folder for downloaded data when ``path`` is None; defaults to the
        ``SKANOMALY_DATA`` environment variable, or else
        ``~/skanomaly_data``.
    download_if_missing : bool, default=True
        Download the file into ``data_home`` when it is not there. With
        ``False`` a missing file raises :class:`FileNotFoundError`.
    return_X_y : bool, default=False
        Return ``(X_train, X_test, y_test)`` instead of a Bunch.

    Returns
    -------
    data : :class:`~sklearn.utils.Bunch`
        With the fields:

        X_train : ndarray of shape (n_train, 28, 28), dtype float32
            The training images of ``normal_class``, in ``[0, 1]``.
        X_test : ndarray of shape (n_test, 28, 28), dtype float32
            The whole test set, in ``[0, 1]``.
        y_test : ndarray of shape (n_test,), dtype int
            ``1`` for an anomaly (a digit other than ``normal_class``),
            ``0`` for a normal image.
        digits_test : ndarray of shape (n_test,)
            The digit of each test image.
        normal_class : int
            The normal digit.
        path : str
            The file that was read.
        DESCR : str
            A description of the task.

    (X_train, X_test, y_test) : tuple
        The three arrays above, if ``return_X_y`` is True.

    Raises
    ------
    FileNotFoundError
        If ``path`` does not exist, or the file is not in ``data_home`` and
        ``download_if_missing`` is False.
    OSError
        If the download fails or gives a corrupt file.
    ValueError
        If ``normal_class`` is not a digit, or the file is not an MNIST file
        or holds no training image of ``normal_class``.

    Notes
    -----
    MNIST is by Yann LeCun, Corinna Cortes and Christopher J.C. Burges,
    and is available under the Creative Commons Attribution-Share Alike
    3.0 license.

    Examples
    --------
    With the real file, downloaded once into ``~/skanomaly_data``:

    >>> from skanomaly.datasets import load_mnist_one_class
    >>> data = load_mnist_one_class(0)  # doctest: +SKIP
    >>> data.X_train.shape, data.X_test.shape, int(data.y_test.sum())  # doctest: +SKIP
    ((5923, 28, 28), (10000, 28, 28), 9020)

    Any file in the layout of :func:`keras.datasets.mnist.load_data` works,
    a small one made here:

    >>> import tempfile
    >>> from pathlib import Path
    >>> import numpy as np
    >>> path = Path(tempfile.mkdtemp()) / "mnist.npz"
    >>> rng = np.random.RandomState(0)
    >>> np.savez(path, x_train=rng.randint(0, 256, (50, 28, 28), dtype=np.uint8),
    ...          y_train=np.arange(50) % 10,
    ...          x_test=rng.randint(0, 256, (20, 28, 28), dtype=np.uint8),
    ...          y_test=np.arange(20) % 10)
    >>> data = load_mnist_one_class(3, path=path)
    >>> data.X_train.shape, data.X_test.shape
    ((5, 28, 28), (20, 28, 28))
    >>> data.digits_test[:5], data.y_test[:5]  # only the 3s are normal
    (array([0, 1, 2, 3, 4]), array([1, 1, 1, 0, 1]))
    """
    if (
        not isinstance(normal_class, Integral)
        or isinstance(normal_class, bool)
        or not 0 <= normal_class <= 9
    ):
        raise ValueError(f"normal_class must be a digit, 0 to 9; got {normal_class!r}.")
    normal_class = int(normal_class)
    file = _mnist_file(path, data_home, download_if_missing)
    arrays = _read_mnist(file)

    train_mask = arrays["y_train"] == normal_class
    if not train_mask.any():
        raise ValueError(
            f"{file} holds no training image of the digit {normal_class}."
        )
    X_train = _to_float(arrays["x_train"][train_mask])
    X_test = _to_float(arrays["x_test"])
    digits_test = arrays["y_test"]
    y_test = (digits_test != normal_class).astype(int)
    if return_X_y:
        return X_train, X_test, y_test
    return Bunch(
        X_train=X_train,
        X_test=X_test,
        y_test=y_test,
        digits_test=digits_test,
        normal_class=normal_class,
        path=str(file),
        DESCR=(
            f"MNIST one-class task: the digit {normal_class} is normal. "
            f"X_train: the {X_train.shape[0]} training images of "
            f"{normal_class}; X_test: all {X_test.shape[0]} test images, "
            f"y_test == 1 for the {int(y_test.sum())} images of other digits."
        ),
    )
