"""Parameters declared once: signatures, constraints and docstrings."""

import ast
import inspect

import pytest
from numpydoc.docscrape import ClassDoc
from sklearn.base import clone
from sklearn.utils._param_validation import Interval
from numbers import Integral

from skanomaly.utils import Attribute, Parameter, all_estimators
from skanomaly.utils._parameters import SharedParameters

ESTIMATORS = [cls for _, cls in all_estimators()]


def _documented_default(type_text):
    """The default a numpydoc type line gives (``..., default=X``), as a value."""
    if "default=" not in type_text:
        return inspect.Parameter.empty
    text = type_text.rsplit("default=", 1)[1].strip()
    try:
        return ast.literal_eval(text)
    except (ValueError, SyntaxError):
        return text


@pytest.mark.parametrize("cls", ESTIMATORS, ids=lambda cls: cls.__name__)
def test_every_parameter_is_documented_with_its_default(cls):
    documented = {}
    for entry in ClassDoc(cls)["Parameters"]:
        if entry.name.startswith("**"):
            continue  # keyword arguments routed elsewhere (model__<name>)
        for name in entry.name.split(","):
            documented[name.strip()] = entry.type
    signature = inspect.signature(cls)
    for name, parameter in signature.parameters.items():
        if parameter.kind in (parameter.VAR_KEYWORD, parameter.VAR_POSITIONAL):
            continue
        assert name in documented, f"{cls.__name__} does not document {name!r}"
        if parameter.default is inspect.Parameter.empty:
            continue  # required (the detector a meta-estimator wraps)
        documented_default = _documented_default(documented[name])
        assert documented_default is not inspect.Parameter.empty, (
            f"{cls.__name__}: {name!r} is documented without its default"
        )
        if callable(parameter.default) or isinstance(documented_default, str) and (
            not isinstance(parameter.default, str)
        ):
            # A default that is not a literal (np.float64, a class) is shown
            # by name.
            assert documented_default.split(".")[-1] == getattr(
                parameter.default, "__name__", repr(parameter.default)
            ), f"{cls.__name__}.{name}: {documented_default!r}"
        else:
            assert documented_default == parameter.default, (
                f"{cls.__name__}.{name}: documented default {documented_default!r}, "
                f"signature default {parameter.default!r}"
            )
    extra = set(documented) - set(signature.parameters)
    assert not extra, f"{cls.__name__} documents parameters it does not take: {extra}"


# ------------------------------------------------------ the mechanism
COLOR = Parameter(
    "color", "red", [str], "str",
    """
    The colour of the thing.
    """,
)
SIZE = Parameter("size", 3, [Interval(Integral, 1, None, closed="left")], "int", "Its size.")


class Thing(SharedParameters):
    """A thing.

    Parameters
    ----------
    name : str, default="thing"
        Its name.

    Examples
    --------
    >>> Thing().size
    3
    """

    _shared_parameters = (COLOR, SIZE)
    _shared_attributes = (Attribute("weight_", "float", "What it weighs."),)
    _parameter_constraints = {"name": [str]}

    def __init__(self, name="thing", **params):
        self.name = name
        super().__init__(**params)

    def get_params(self, deep=True):  # a BaseEstimator would do this
        return {name: getattr(self, name) for name in inspect.signature(type(self)).parameters}


class BigThing(Thing):
    """A big thing.

    Parameters
    ----------
    size : int, default=10
        Bigger than most.
    """

    _parameter_defaults = {"size": 10}


def test_shared_parameters_join_the_signature_keyword_only():
    signature = inspect.signature(Thing)
    assert list(signature.parameters) == ["name", "color", "size"]
    assert signature.parameters["color"].kind is inspect.Parameter.KEYWORD_ONLY
    assert signature.parameters["size"].default == 3
    thing = Thing("box", color="blue")
    assert (thing.name, thing.color, thing.size) == ("box", "blue", 3)


def test_a_subclass_changes_a_default_without_writing_an_init():
    assert inspect.signature(BigThing).parameters["size"].default == 10
    assert BigThing().size == 10
    assert BigThing(size=2).size == 2


def test_unknown_and_positional_shared_arguments_are_refused():
    with pytest.raises(TypeError, match="unexpected keyword argument 'colour'"):
        Thing(colour="red")
    with pytest.raises(TypeError):
        Thing("box", "blue")


def test_constraints_cover_exactly_the_signature():
    assert set(Thing._parameter_constraints) == {"name", "color", "size"}
    assert Thing._parameter_constraints["size"] == SIZE.constraints


def test_docstring_gains_the_shared_entries_it_lacks():
    doc = ClassDoc(Thing)
    entries = {entry.name: entry for entry in doc["Parameters"]}
    assert entries["color"].type == 'str, default="red"'
    assert entries["color"].desc == ["The colour of the thing."]
    assert [entry.name for entry in doc["Attributes"]] == ["weight_"]
    # The examples stay where they were, after the new section.
    assert Thing.__doc__.index("Attributes") < Thing.__doc__.index("Examples")


def test_a_class_that_documents_a_shared_parameter_keeps_its_text():
    entries = {entry.name: entry for entry in ClassDoc(BigThing)["Parameters"]}
    assert entries["size"].desc == ["Bigger than most."]
    assert entries["color"].type == 'str, default="red"'


def test_an_init_that_does_not_forward_is_a_definition_error():
    with pytest.raises(TypeError, match="must end in \\*\\*params"):

        class Broken(SharedParameters):
            _shared_parameters = (COLOR,)

            def __init__(self, name="x"):
                self.name = name


def test_every_deep_detector_clones_with_its_shared_parameters():
    from skanomaly import MemAE

    detector = MemAE(n_memory=7, epochs=3, image_shape=(4, 4))
    copy = clone(detector)
    assert copy.get_params() == detector.get_params()
    assert "MemAE(epochs=3, image_shape=(4, 4), n_memory=7)" == repr(detector)
