"""Parameters that many estimators share, declared once.

scikit-learn reads an estimator's parameters from the signature of its
``__init__``, and numpydoc reads their documentation from the class
docstring, so a parameter that twenty estimators share would be written out
sixty times: in each signature, each body and each docstring. Here it is
declared once, as a :class:`Parameter` (name, default, constraints, type
and description), on the class that owns it (the engine's base classes, an
input kind). A subclass of :class:`SharedParameters` then gets, when it is
defined:

* a signature for its ``__init__`` made of its own parameters (those of
  the ``__init__`` it writes, which ends in ``**params`` handed to
  ``super().__init__``) followed by the shared ones, keyword-only, with the
  class's defaults (``_parameter_defaults``);
* ``_parameter_constraints`` for all of them, in scikit-learn's format;
* its docstring's *Parameters* and *Attributes* sections completed with the
  shared entries it does not document itself (an estimator that documents
  a shared parameter, to say why its default differs, keeps its own text).

``get_params``, ``set_params``, ``clone``, ``repr`` and the estimator
checks all read the composed signature (``__init__.__signature__``).
"""

import inspect
import re
import textwrap
from dataclasses import dataclass

__all__ = ["Attribute", "Parameter", "SharedParameters", "format_default"]


@dataclass(frozen=True)
class Parameter:
    """A parameter several estimators share.

    Parameters
    ----------
    name : str
        The parameter's name.
    default : object
        Its default, which a class may change in ``_parameter_defaults``.
    constraints : list
        Its constraints, as in scikit-learn's ``_parameter_constraints``.
    type : str
        The numpydoc type, without the default (``"int"``, ``"float in
        [0, 1)"``).
    doc : str
        The description, as indented paragraphs would read in a docstring
        (it is dedented, then indented under the entry's first line).

    Examples
    --------
    A class lists it in ``_shared_parameters``; every subclass then takes
    it, documents it and validates it:

    >>> from numbers import Integral
    >>> from sklearn.utils._param_validation import Interval
    >>> from skanomaly.utils import Parameter
    >>> N_ITEMS = Parameter(
    ...     "n_items", 10, [Interval(Integral, 1, None, closed="left")], "int",
    ...     "Number of memory items.",
    ... )
    >>> for line in N_ITEMS.entry(default=20):
    ...     print(line)
    n_items : int, default=20
        Number of memory items.
    """

    name: str
    default: object
    constraints: list
    type: str
    doc: str

    def entry(self, default):
        """The numpydoc entry of this parameter with ``default``."""
        head = f"{self.name} : {self.type}, default={format_default(default)}"
        return [head, *_indented(self.doc)]


@dataclass(frozen=True)
class Attribute:
    """A fitted attribute several estimators share (see :class:`Parameter`).

    Examples
    --------
    >>> from skanomaly.utils import Attribute
    >>> for line in Attribute("center_", "ndarray", "The centre.").entry():
    ...     print(line)
    center_ : ndarray
        The centre.
    """

    name: str
    type: str
    doc: str

    def entry(self):
        """The numpydoc entry of this attribute."""
        return [f"{self.name} : {self.type}", *_indented(self.doc)]


def format_default(value):
    """A default as a docstring shows it: strings in double quotes, as
    scikit-learn writes them, anything else as its ``repr``.

    Examples
    --------
    >>> from skanomaly.utils._parameters import format_default
    >>> format_default("auto"), format_default(0.001), format_default(None)
    ('"auto"', '0.001', 'None')
    """
    if isinstance(value, str):
        return f'"{value}"'
    return repr(value)


def _indented(doc):
    """``doc`` dedented, then indented under an entry's first line; a line
    too long for a docstring is wrapped."""
    lines = []
    for line in textwrap.dedent(doc).strip("\n").splitlines():
        lines += textwrap.wrap(line, 72, break_on_hyphens=False) or [""]
    return ["    " + line if line else "" for line in lines]


# --------------------------------------------------------------------------
# docstrings

_SECTION_ORDER = (
    "Parameters", "Attributes", "Methods", "See Also", "Notes",
    "References", "Examples",
)
_ENTRY = re.compile(r"^(\*{0,2}[A-Za-z_][\w]*(?:\s*,\s*\*{0,2}[A-Za-z_]\w*)*)\s*(?::|$)")


def _sections(lines):
    """``[(title, header_line_index)]`` of a cleaned numpydoc docstring."""
    found = []
    for i in range(len(lines) - 1):
        title, rule = lines[i].strip(), lines[i + 1].strip()
        if title and rule and set(rule) == {"-"} and len(rule) >= len(title):
            if not lines[i].startswith(" "):
                found.append((title, i))
    return found


def documented_names(doc, section):
    """Names documented in a section (``"Parameters"``, ``"Attributes"``) of a
    numpydoc docstring; an entry ``a, b : type`` documents both."""
    lines = inspect.cleandoc(doc or "").splitlines()
    sections = _sections(lines)
    names = set()
    for k, (title, start) in enumerate(sections):
        if title != section:
            continue
        end = sections[k + 1][1] if k + 1 < len(sections) else len(lines)
        for line in lines[start + 2 : end]:
            if line and not line.startswith(" "):
                match = _ENTRY.match(line)
                if match:
                    names.update(n.strip().lstrip("*") for n in match[1].split(","))
    return names


def _complete_section(lines, section, entries):
    """Add ``entries`` (lists of lines) at the end of ``section``, creating
    the section in its numpydoc place when the docstring has none. Entries
    of a section of paragraphs (``"Notes"``) are separated by blank lines."""
    if not entries:
        return lines
    if section == "Notes":
        entries = [[*entry, ""] for entry in entries]
        entries[-1] = entries[-1][:-1]
    added = [line for entry in entries for line in entry]
    sections = _sections(lines)
    titles = [title for title, _ in sections]
    if section in titles:
        k = titles.index(section)
        end = sections[k + 1][1] if k + 1 < len(sections) else len(lines)
        while end > sections[k][1] + 2 and not lines[end - 1].strip():
            end -= 1
        if section == "Notes":
            added = ["", *added]
        return lines[:end] + added + lines[end:]
    rank = _SECTION_ORDER.index(section)
    later = [i for title, i in sections
             if title in _SECTION_ORDER and _SECTION_ORDER.index(title) > rank]
    at = later[0] if later else len(lines)
    block = [section, "-" * len(section), *added, ""]
    if at == len(lines) and lines and lines[-1].strip():
        block = ["", *block]
    return lines[:at] + block + lines[at:]


def compose_docstring(doc, parameters, attributes, notes=()):
    """``doc`` with the numpydoc entries of ``parameters`` (``[(Parameter,
    default)]``) and ``attributes`` it lacks added to its sections, and the
    paragraphs ``notes`` at the end of its Notes."""
    if not doc:
        return doc
    lines = inspect.cleandoc(doc).splitlines()
    have = documented_names(doc, "Parameters")
    lines = _complete_section(
        lines, "Parameters",
        [p.entry(default) for p, default in parameters if p.name not in have],
    )
    have = documented_names(doc, "Attributes")
    lines = _complete_section(
        lines, "Attributes",
        [a.entry() for a in attributes
         if not set(n.strip() for n in a.name.split(",")) <= have],
    )
    lines = _complete_section(
        lines, "Notes",
        [textwrap.wrap(note, 76, break_on_hyphens=False) for note in notes],
    )
    return "\n".join(lines) + "\n"


# --------------------------------------------------------------------------
# the mixin


def _collect(cls, attribute):
    """The entries of ``attribute`` over the MRO, most derived first, each
    name once (a subclass may redeclare one)."""
    seen, found = set(), []
    for klass in cls.__mro__:
        for item in vars(klass).get(attribute, ()):
            if item.name not in seen:
                seen.add(item.name)
                found.append(item)
    return found


def _written_signature(init):
    """The signature of an ``__init__`` as written, before composition gave
    it the shared parameters (kept on the function the first time)."""
    if "_written_signature" not in vars(init):
        init._written_signature = inspect.signature(init)
    return init._written_signature


def _own_init(cls):
    """The first ``__init__`` written by hand in the MRO of ``cls``."""
    for klass in cls.__mro__:
        init = vars(klass).get("__init__")
        if init is not None and not getattr(init, "_pass_through", False):
            return klass, init
    raise TypeError(f"{cls.__name__} has no __init__")  # pragma: no cover


class SharedParameters:
    """Mixin of estimators that take parameters declared once elsewhere.

    A class contributes shared parameters with ``_shared_parameters`` (a
    tuple of :class:`Parameter`) and fitted attributes with
    ``_shared_attributes`` (a tuple of :class:`Attribute`); it changes the
    defaults of inherited ones with ``_parameter_defaults`` (a dict), and
    leaves out those that do not apply to it by overriding
    :meth:`_takes_parameter`. A concrete estimator writes an ``__init__``
    with its own parameters only, ending in ``**params``, which it hands to
    ``super().__init__(**params)``; this class sets the shared parameters
    from them and refuses names it does not know, as a plain ``__init__``
    would.
    """

    _shared_parameters = ()
    _shared_attributes = ()
    _parameter_defaults = {}

    def __init__(self, **params):
        shared = type(self)._shared_defaults
        unknown = sorted(set(params) - set(shared))
        if unknown:
            raise TypeError(
                f"{type(self).__name__}.__init__() got an unexpected keyword "
                f"argument {unknown[0]!r}"
            )
        for name, default in shared.items():
            setattr(self, name, params.get(name, default))

    @classmethod
    def _takes_parameter(cls, name):
        """Whether the shared parameter ``name`` applies to this class."""
        return True

    @classmethod
    def _docstring_notes(cls):
        """Paragraphs added to the Notes of this class's docstring: what the
        class's declarations mean for its users; none here."""
        return []

    def __init_subclass__(cls, **kwargs):
        super().__init_subclass__(**kwargs)
        _compose(cls)


def _compose(cls):
    defaults = {}
    for klass in reversed(cls.__mro__):
        defaults.update(vars(klass).get("_parameter_defaults", {}))
    owner, init = _own_init(cls)
    own = [
        p for name, p in _written_signature(init).parameters.items()
        if name != "self"
    ]
    own_names = {p.name for p in own if p.kind is not p.VAR_KEYWORD}
    shared = [
        p for p in _collect(cls, "_shared_parameters")
        if p.name not in own_names and cls._takes_parameter(p.name)
    ]
    if shared and owner is not SharedParameters and not any(
        p.kind is p.VAR_KEYWORD for p in own
    ):
        raise TypeError(
            f"{owner.__name__}.__init__ must end in **params and hand them to "
            "super().__init__: its class takes shared parameters."
        )
    cls._shared_defaults = {p.name: defaults.get(p.name, p.default) for p in shared}

    parameters = [inspect.Parameter("self", inspect.Parameter.POSITIONAL_OR_KEYWORD)]
    parameters += [p for p in own if p.kind is not p.VAR_KEYWORD]
    parameters += [
        inspect.Parameter(
            p.name, inspect.Parameter.KEYWORD_ONLY, default=cls._shared_defaults[p.name]
        )
        for p in shared
    ]
    signature = inspect.Signature(parameters)

    if "__init__" not in vars(cls):

        def __init__(self, *args, **params):
            init(self, *args, **params)

        __init__._pass_through = True
        __init__.__qualname__ = f"{cls.__qualname__}.__init__"
        __init__.__doc__ = init.__doc__
        cls.__init__ = __init__
    cls.__init__.__signature__ = signature

    constraints = {}
    for klass in reversed(cls.__mro__):
        constraints.update(vars(klass).get("_parameter_constraints", {}))
    constraints.update({p.name: p.constraints for p in shared})
    names = [p.name for p in parameters[1:] if p.kind is not p.VAR_KEYWORD]
    missing = [name for name in names if name not in constraints]
    if missing:
        raise TypeError(
            f"{cls.__name__}: no _parameter_constraints for {missing}."
        )
    cls._parameter_constraints = {name: constraints[name] for name in names}

    if vars(cls).get("__doc__"):
        cls.__doc__ = compose_docstring(
            cls.__doc__,
            [(p, cls._shared_defaults[p.name]) for p in shared],
            _collect(cls, "_shared_attributes"),
            cls._docstring_notes(),
        )
