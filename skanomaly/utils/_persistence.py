"""Saving a fitted estimator to one file, and loading it without pickle.

A saved file is a zip archive of two members:

* ``estimator.json``: the format's version, the versions of the libraries
  that wrote it, and the estimator as a tree: each estimator by the import
  path of its class and its state (its parameters and fitted attributes),
  each value as JSON, with arrays, tuples and nested estimators tagged;
* ``arrays.npz``: every array of that tree, in NumPy's own format, read
  back with ``allow_pickle=False``.

Loading imports only classes from skanomaly and scikit-learn, and only
estimators among them, so that a file cannot run code of its own. A deep
detector's state is already plain arrays (see its ``__getstate__``: the
network's variables and its optimizers' states, the frozen pretrained
weights), and its ``__setstate__`` rebuilds the network from them.
"""

import copyreg
import importlib
import io
import json
import platform
import sys
import zipfile
import zlib
from pathlib import Path

import numpy as np
from sklearn.base import BaseEstimator

__all__ = ["FORMAT_VERSION", "load", "save"]

#: Version of the file layout; a reader refuses any other.
FORMAT_VERSION = 1

#: Packages whose estimator classes a file may name.
_TRUSTED_PACKAGES = ("skanomaly", "sklearn")

#: NumPy's bit generators, which a saved ``numpy.random.Generator`` may name.
_BIT_GENERATORS = ("MT19937", "PCG64", "PCG64DXSM", "Philox", "SFC64")

_MANIFEST = "estimator.json"
_ARRAYS = "arrays.npz"


def _library_versions():
    import sklearn

    import skanomaly

    versions = {
        "skanomaly": skanomaly.__version__,
        "scikit-learn": sklearn.__version__,
        "numpy": np.__version__,
        "python": platform.python_version(),
    }
    # Keras and TensorFlow only where they are loaded: a classical
    # estimator's file does not need them, and saving it should not start them.
    for name, module in (("keras", "keras"), ("tensorflow", "tensorflow")):
        if module in sys.modules:
            versions[name] = sys.modules[module].__version__
    return versions


class _Encoder:
    """Turns an estimator into a JSON tree and a dict of arrays."""

    def __init__(self):
        self.arrays = {}

    def encode(self, value, where):
        if value is None or isinstance(value, (bool, str)):
            return value
        if isinstance(value, (int, np.integer)) and not isinstance(value, np.bool_):
            return int(value)
        if isinstance(value, np.bool_):
            return bool(value)
        if isinstance(value, (float, np.floating)):
            return _encode_float(float(value))
        if isinstance(value, np.ndarray):
            return self._array(value, where)
        if isinstance(value, list):
            return [self.encode(item, f"{where}[{i}]") for i, item in enumerate(value)]
        if isinstance(value, tuple):
            return {"tuple": [self.encode(item, f"{where}[{i}]") for i, item in enumerate(value)]}
        if isinstance(value, dict):
            return {
                "dict": [
                    [self.encode(key, f"{where} key"), self.encode(item, f"{where}[{key!r}]")]
                    for key, item in value.items()
                ]
            }
        if isinstance(value, np.random.RandomState):
            kind, keys, position, has_gauss, gauss = value.get_state()
            return {
                "random_state": [kind, self._array(keys, where), int(position),
                                 int(has_gauss), float(gauss)]
            }
        if isinstance(value, np.random.Generator):
            # Its bit generator by name and state (plain ints and arrays),
            # as scikit-learn's gradient boosting keeps one after fitting.
            state = value.bit_generator.state
            return {"generator": [state["bit_generator"], self.encode(state, where)]}
        if isinstance(value, np.dtype):
            return {"dtype": value.str}
        if isinstance(value, type) and issubclass(value, np.generic):
            return {"scalar_type": np.dtype(value).str}
        if isinstance(value, BaseEstimator):
            return self.estimator(value, where)
        if _is_trusted(type(value)):
            return self._reduced(value, where)
        raise TypeError(
            f"cannot save {where}: it is a {type(value).__module__}."
            f"{type(value).__qualname__}, which a file cannot hold without "
            "pickling code. Save the estimator with pickle or joblib instead "
            "(same library versions needed to load), or give it a value "
            "that is plain data."
        )

    def _array(self, array, where):
        if array.dtype == object and all(isinstance(item, str) for item in array.flat):
            # Column names (feature_names_in_ of a fit on a data frame).
            return {"strings": [list(array.shape), [str(item) for item in array.flat]]}
        if array.dtype.hasobject:
            raise TypeError(
                f"cannot save {where}: an array of Python objects cannot be "
                "saved without pickling them."
            )
        key = f"a{len(self.arrays)}"
        self.arrays[key] = array
        return {"array": key}

    def _reduced(self, value, where):
        # An object of scikit-learn that is not an estimator (a tree of a
        # forest, a k-d tree, a loss) by what it gives pickle: its class,
        # constructor arguments and state, all plain data; its class is
        # checked again on loading.
        make, arguments, *rest = value.__reduce_ex__(2)
        if _made_new(make, arguments, value):
            return {
                "new_object": [
                    f"{type(value).__module__}:{type(value).__qualname__}",
                    self.encode(rest[0], f"{where} state"),
                ]
            }
        if not (isinstance(make, type) and _is_trusted(make)):
            raise TypeError(
                f"cannot save {where}: a {type(value).__qualname__} is not "
                "rebuilt from its class and plain data."
            )
        state = rest[0] if rest else None
        return {
            "object": [
                f"{make.__module__}:{make.__qualname__}",
                self.encode(tuple(arguments), f"{where} arguments"),
                self.encode(state, f"{where} state"),
            ]
        }

    def estimator(self, estimator, where):
        cls = type(estimator)
        _check_trusted(cls.__module__, cls.__qualname__, where)
        # Each attribute by its own name, so that an error says where it is
        # ("KerasDetector.model"), not where the estimator sits.
        state = {
            key: self.encode(value, f"{cls.__name__}.{key}")
            for key, value in estimator.__getstate__().items()
        }
        return {
            "estimator": [
                f"{cls.__module__}:{cls.__qualname__}",
                {"dict": [[key, value] for key, value in state.items()]},
            ]
        }


def _encode_float(value):
    # JSON has no NaN or infinities; keep them exactly.
    if np.isfinite(value):
        return value
    return {"float": repr(value)}


def _made_new(make, arguments, value):
    """Whether ``value`` pickles as ``cls.__new__(cls)`` and a state: a
    plain Python object of scikit-learn (a loss, a tree of gradient
    boosting, through ``copyreg.__newobj__``) or one of its binary trees
    (KDTree, BallTree, through their own module's ``newObj``)."""
    cls = type(value)
    return (
        _is_trusted(cls)
        and tuple(arguments) == (cls,)
        and (
            make is copyreg.__newobj__
            or make is vars(sys.modules[cls.__module__]).get("newObj")
        )
    )


def _is_trusted(cls):
    return cls.__module__.split(".")[0] in _TRUSTED_PACKAGES


def _trusted_class(path, where):
    module, qualname = path.split(":")
    _check_trusted(module, qualname, where)
    cls = importlib.import_module(module)
    for part in qualname.split("."):
        cls = getattr(cls, part)
    if not isinstance(cls, type):
        raise TypeError(f"{module}.{qualname} named in the file is not a class")
    return cls


def _check_trusted(module, qualname, where):
    root = module.split(".")[0]
    if root not in _TRUSTED_PACKAGES:
        raise TypeError(
            f"cannot save or load {where}: {module}.{qualname} is not a "
            f"skanomaly or scikit-learn estimator, and a saved file names "
            "only those (loading imports nothing else). Use pickle or "
            "joblib for estimators of other libraries."
        )


class _Decoder:
    def __init__(self, arrays):
        self.arrays = arrays

    def decode(self, node):
        if node is None or isinstance(node, (bool, str, int, float)):
            return node
        if isinstance(node, list):
            return [self.decode(item) for item in node]
        (tag, value), = node.items()
        if tag == "array":
            return self.arrays[value]
        if tag == "strings":
            shape, items = value
            strings = np.empty(len(items), dtype=object)
            strings[:] = items
            return strings.reshape(shape)
        if tag == "tuple":
            return tuple(self.decode(item) for item in value)
        if tag == "dict":
            return {self.decode(key): self.decode(item) for key, item in value}
        if tag == "float":
            return float(value)
        if tag == "dtype":
            return np.dtype(value)
        if tag == "scalar_type":
            return np.dtype(value).type
        if tag == "random_state":
            kind, keys, position, has_gauss, gauss = value
            generator = np.random.RandomState()
            generator.set_state((kind, self.decode(keys), position, has_gauss, gauss))
            return generator
        if tag == "generator":
            name, state = value
            if name not in _BIT_GENERATORS:
                raise ValueError(f"unknown bit generator {name!r} in the saved file")
            bit_generator = getattr(np.random, name)()
            bit_generator.state = self.decode(state)
            return np.random.Generator(bit_generator)
        if tag == "estimator":
            return self.estimator(node)
        if tag == "new_object":
            path, state = value
            cls = _trusted_class(path, "an object of the file")
            made = cls.__new__(cls)
            state = self.decode(state)
            if state is None:  # an object without attributes
                pass
            elif hasattr(cls, "__setstate__"):
                made.__setstate__(state)
            elif isinstance(state, dict):
                vars(made).update(state)
            else:
                raise ValueError(f"the state of a {cls.__qualname__} in the file is not a dict")
            return made
        if tag == "object":
            path, arguments, state = value
            made = _trusted_class(path, "an object of the file")(*self.decode(arguments))
            if state is not None:
                made.__setstate__(self.decode(state))
            return made
        raise ValueError(f"unknown entry {tag!r} in the saved file")

    def estimator(self, node):
        path, state = node["estimator"]
        cls = _trusted_class(path, "the file's estimator")
        if not issubclass(cls, BaseEstimator):
            raise TypeError(f"{cls.__qualname__} named in the file is not an estimator")
        estimator = cls.__new__(cls)
        estimator.__setstate__(self.decode(state))
        missing = [name for name in cls._get_param_names() if name not in vars(estimator)]
        if missing:
            raise ValueError(f"its {cls.__name__} lacks the parameters {missing}")
        return estimator


def save(estimator, path):
    """Save a scikit-learn or skanomaly estimator, fitted or not, to one file.

    The file holds the estimator's parameters, its fitted state (a deep
    detector's network weights and optimizer states included) and the
    versions of the libraries that wrote it; :func:`load` reads it back
    without unpickling anything. ``Pipeline``\\ s and other compositions of
    skanomaly and scikit-learn estimators are saved whole.

    Parameters
    ----------
    estimator : estimator
        A skanomaly or scikit-learn estimator (or a composition of them).
    path : str or path-like
        The file to write (overwritten if it exists).

    Raises
    ------
    TypeError
        If the estimator holds something a file cannot hold without
        pickling code: a function (a ``KerasDetector``'s model function, a
        ``FunctionTransformer``'s), a Keras object given as a parameter (an
        optimizer or callback instance; give their names instead), or an
        estimator of another library. The message names where it is.

    Examples
    --------
    >>> import tempfile, pathlib
    >>> import numpy as np
    >>> from sklearn.ensemble import IsolationForest
    >>> from skanomaly import load, save
    >>> X = np.random.RandomState(0).normal(size=(50, 2))
    >>> forest = IsolationForest(random_state=0).fit(X)
    >>> path = pathlib.Path(tempfile.mkdtemp()) / "forest.skanomaly"
    >>> save(forest, path)
    >>> bool(np.array_equal(load(path).score_samples(X), forest.score_samples(X)))
    True
    """
    if not isinstance(estimator, BaseEstimator):
        raise TypeError(
            f"save expects a scikit-learn or skanomaly estimator, got "
            f"{type(estimator).__name__}."
        )
    encoder = _Encoder()
    tree = encoder.estimator(estimator, "the estimator")
    manifest = {
        "format": FORMAT_VERSION,
        "versions": _library_versions(),
        "estimator": tree,
    }
    path = Path(path)
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        archive.writestr(_MANIFEST, json.dumps(manifest, allow_nan=False))
        arrays = io.BytesIO()
        np.savez(arrays, **encoder.arrays)
        archive.writestr(_ARRAYS, arrays.getvalue())


def load(path):
    """Load an estimator written by :func:`save` (or ``detector.save``).

    Only skanomaly and scikit-learn estimator classes are imported, and no
    pickled object is read, so a file cannot run code of its own. The
    loaded estimator scores exactly as the saved one did.

    Parameters
    ----------
    path : str or path-like
        A file written by :func:`save`.

    Returns
    -------
    estimator : estimator

    Raises
    ------
    ValueError
        If the file is not one :func:`save` wrote, or was written in a
        layout this version cannot read, or its fitted state does not fit
        the estimator this version builds; the message names the version
        of skanomaly that wrote the file and this one.

    Examples
    --------
    See :func:`save`.
    """
    import skanomaly

    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"no file at {path}")
    try:
        with zipfile.ZipFile(path) as archive:
            manifest = json.loads(archive.read(_MANIFEST))
            with archive.open(_ARRAYS) as member:
                with np.load(member, allow_pickle=False) as stored:
                    arrays = {key: stored[key] for key in stored.files}
    # What a damaged or foreign file raises on the way: a bad zip or
    # compressed stream (zlib.error, EOFError, OSError), bad JSON (a
    # ValueError), members that are missing or not an .npz of plain arrays.
    except (
        zipfile.BadZipFile, zlib.error, EOFError, OSError, KeyError, ValueError,
        TypeError, AttributeError, RuntimeError, NotImplementedError, RecursionError,
    ) as error:
        raise ValueError(
            f"{path} is not a file written by skanomaly.save, or it is damaged "
            f"({type(error).__name__} while reading it)."
        ) from None
    if not (
        isinstance(manifest, dict)
        and isinstance(manifest.get("versions"), dict)
        and "estimator" in manifest
    ):
        raise ValueError(
            f"{path} is not a file written by skanomaly.save: its {_MANIFEST} "
            "lacks the versions or the estimator."
        )
    written_by = manifest["versions"].get("skanomaly", "an unknown version")
    here = skanomaly.__version__
    if manifest.get("format") != FORMAT_VERSION:
        raise ValueError(
            f"{path} was written by skanomaly {written_by} in file format "
            f"{manifest.get('format')}; skanomaly {here} reads format "
            f"{FORMAT_VERSION} only. Load it with skanomaly {written_by} and "
            "refit, or save it again from there."
        )
    try:
        return _Decoder(arrays).estimator(manifest["estimator"])
    except (
        ValueError, TypeError, KeyError, AttributeError, ImportError, IndexError,
        RecursionError,
    ) as error:
        raise ValueError(
            f"cannot load {path}, written by skanomaly {written_by}, with "
            f"skanomaly {here}: {error}"
        ) from error
