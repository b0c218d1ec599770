"""Discovery of the estimators that skanomaly defines."""

import inspect
import pkgutil
import warnings
from importlib import import_module
from pathlib import Path

from sklearn.base import BaseEstimator, OutlierMixin, TransformerMixin

__all__ = ["all_estimators"]

# Module path components never walked: tests, scripts, the command line.
_MODULES_TO_IGNORE = {"tests", "test", "conftest", "__main__", "benchmarks"}

_TYPE_FILTERS = {
    "outlier_detector": OutlierMixin,
    "transformer": TransformerMixin,
}


def _is_abstract(cls):
    return bool(getattr(cls, "__abstractmethods__", None))


def _public_modules():
    """Yield the names of skanomaly's public modules, imported on the way."""
    root = str(Path(__file__).parent.parent)  # the skanomaly package
    for _, module_name, _ in pkgutil.walk_packages(path=[root], prefix="skanomaly."):
        parts = module_name.split(".")
        if any(part in _MODULES_TO_IGNORE for part in parts):
            continue
        if any(part.startswith("_") for part in parts[1:]):
            continue
        if any(part.startswith("test_") for part in parts):
            continue
        yield module_name


def all_estimators(type_filter=None):
    """List the estimators that skanomaly defines.

    Every public module of the package is imported (modules and packages
    whose name starts with an underscore, tests and ``__main__`` are
    skipped), and the public classes found in them are kept when they are
    defined in skanomaly, subclass :class:`sklearn.base.BaseEstimator`, are
    not abstract and are not base classes (names starting with ``Base``).
    A class defined in a private module counts when a public module exposes
    it, as :class:`~skanomaly.reconstruction.AutoEncoder` is by
    :mod:`skanomaly.reconstruction`.

    Importing the deep detectors' modules starts TensorFlow, so the first
    call takes a few seconds.

    Parameters
    ----------
    type_filter : {"outlier_detector", "transformer"}, list of such str \
            or None, default=None
        Which kind of estimators to return. ``"outlier_detector"`` keeps
        subclasses of :class:`sklearn.base.OutlierMixin`, ``"transformer"``
        those of :class:`sklearn.base.TransformerMixin`; a list keeps the
        estimators of at least one of the kinds. None returns them all.

    Returns
    -------
    estimators : list of tuple
        ``(name, class)`` pairs sorted by name, without duplicates.

    Raises
    ------
    ValueError
        If ``type_filter`` holds anything other than the kinds above.

    See Also
    --------
    sklearn.utils.discovery.all_estimators : The same for scikit-learn.

    Examples
    --------
    >>> from sklearn.base import BaseEstimator
    >>> from skanomaly.utils import all_estimators
    >>> estimators = all_estimators()
    >>> all(issubclass(cls, BaseEstimator) for _, cls in estimators)
    True
    >>> detectors = all_estimators(type_filter="outlier_detector")
    >>> set(detectors) <= set(estimators)
    True
    """
    if type_filter is None:
        kinds = []
    elif isinstance(type_filter, str):
        kinds = [type_filter]
    elif isinstance(type_filter, (list, tuple)):
        kinds = list(type_filter)
    else:
        raise ValueError(
            "type_filter must be None, 'outlier_detector', 'transformer' or a "
            f"list of these; got {type_filter!r}."
        )
    unknown = [kind for kind in kinds if kind not in _TYPE_FILTERS]
    if unknown:
        raise ValueError(
            "type_filter must be None, 'outlier_detector', 'transformer' or a "
            f"list of these; got unknown kind(s) {unknown!r}."
        )

    found = set()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FutureWarning)
        warnings.simplefilter("ignore", DeprecationWarning)
        for module_name in _public_modules():
            module = import_module(module_name)
            for name, cls in inspect.getmembers(module, inspect.isclass):
                if (
                    not name.startswith(("_", "Base"))
                    and cls.__module__.split(".")[0] == "skanomaly"
                    and issubclass(cls, BaseEstimator)
                    and not _is_abstract(cls)
                ):
                    found.add((name, cls))

    if kinds:
        mixins = tuple(_TYPE_FILTERS[kind] for kind in kinds)
        found = {(name, cls) for name, cls in found if issubclass(cls, mixins)}
    return sorted(found, key=lambda item: (item[0], item[1].__module__))
