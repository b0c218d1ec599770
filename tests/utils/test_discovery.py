"""Tests of skanomaly.utils.all_estimators."""

import importlib
import importlib.util
import inspect

import pytest
from sklearn.base import BaseEstimator, OutlierMixin, TransformerMixin

from skanomaly.utils import all_estimators


@pytest.fixture(scope="module")
def estimators():
    return all_estimators()


def _has_module(name):
    try:
        return importlib.util.find_spec(name) is not None
    except ModuleNotFoundError:
        return False


def test_contract(estimators):
    assert isinstance(estimators, list)
    names = [name for name, _ in estimators]
    assert names == sorted(names)
    assert len(set(estimators)) == len(estimators)
    for name, cls in estimators:
        assert isinstance(name, str) and inspect.isclass(cls)
        assert name == cls.__name__
        assert issubclass(cls, BaseEstimator)
        assert cls.__module__.split(".")[0] == "skanomaly"
        assert not name.startswith(("_", "Base"))
        assert not inspect.isabstract(cls)
        assert ".tests" not in cls.__module__


@pytest.mark.parametrize(
    "type_filter, mixin",
    [("outlier_detector", OutlierMixin), ("transformer", TransformerMixin)],
)
def test_type_filter(estimators, type_filter, mixin):
    filtered = all_estimators(type_filter=type_filter)
    expected = [(n, c) for n, c in estimators if issubclass(c, mixin)]
    assert filtered == expected
    assert all_estimators(type_filter=[type_filter]) == expected


def test_type_filter_list_is_union(estimators):
    both = all_estimators(type_filter=["outlier_detector", "transformer"])
    expected = [
        (n, c) for n, c in estimators if issubclass(c, (OutlierMixin, TransformerMixin))
    ]
    assert both == expected


@pytest.mark.parametrize(
    "type_filter", ["classifier", ["transformer", "regressor"], 3, {"transformer"}]
)
def test_bad_type_filter(type_filter):
    with pytest.raises(ValueError, match="type_filter must be None, 'outlier_"):
        all_estimators(type_filter=type_filter)


@pytest.mark.parametrize(
    "module, name, kind",
    [
        ("skanomaly.reconstruction", "AutoEncoder", "outlier_detector"),
        ("skanomaly.reconstruction", "VAE", "outlier_detector"),
        ("skanomaly.one_class", "DeepSVDD", "outlier_detector"),
        ("skanomaly.features", "HOGTransformer", "transformer"),
    ],
)
def test_known_estimators_listed(module, name, kind):
    if not _has_module(module):
        pytest.skip(f"{module} is not there yet")
    if not hasattr(importlib.import_module(module), name):
        pytest.skip(f"{module} does not define {name} yet")
    names = [n for n, _ in all_estimators(type_filter=kind)]
    assert name in names


def test_base_classes_excluded(estimators):
    classes = [cls for _, cls in estimators]
    if _has_module("skanomaly.base"):
        from skanomaly.base import BaseDetector

        assert BaseDetector not in classes
