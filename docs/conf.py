"""Sphinx configuration for skanomaly's documentation.

Build with::

    python -m sphinx -W --keep-going -b html docs docs/_build/html

The build never reaches the network: no intersphinx, no remote images, and
a theme whose assets ship with it.
"""

import os
import sys
from pathlib import Path

# Quiet TensorFlow's start-up logging before autodoc imports the detectors.
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
os.environ.setdefault("KERAS_BACKEND", "tensorflow")

# Document the checkout this file belongs to, installed or not.
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import skanomaly  # noqa: E402

# -- Project -----------------------------------------------------------------

project = "skanomaly"
author = "The skanomaly developers"
copyright = "skanomaly developers, BSD-3-Clause"
release = skanomaly.__version__
version = ".".join(release.split(".")[:2])

# -- General -----------------------------------------------------------------

extensions = [
    "sphinx.ext.autodoc",
    "sphinx.ext.autosummary",
    "numpydoc",
]

templates_path = ["_templates"]
exclude_patterns = ["_build", "Thumbs.db", ".DS_Store"]
root_doc = "index"
default_role = "literal"
nitpicky = False

# -- autodoc / autosummary / numpydoc -----------------------------------------

# Pages for the API reference are written into docs/generated/ (git-ignored).
autosummary_generate = True
autosummary_imported_members = False
autodoc_default_options = {"member-order": "bysource"}
autodoc_typehints = "none"

numpydoc_show_class_members = False
numpydoc_class_members_toctree = False
numpydoc_attributes_as_param_list = True

# Class pages show the methods a class inherits (``fit`` and ``predict`` come
# from skanomaly.base.BaseDetector, ``get_params`` from scikit-learn), but not
# the plumbing of scikit-learn's private mixins and of exceptions, whose
# docstrings point into scikit-learn's own user guide.
_HIDDEN_OWNERS = {
    "_MetadataRequester",
    "_SetOutputMixin",
    "ReprHTMLMixin",
    "_HTMLDocumentationLinkMixin",
    "BaseException",
}


def _skip_private_mixin_members(app, what, name, obj, skip, options):
    owner = getattr(obj, "__qualname__", "").split(".")[0]
    if owner in _HIDDEN_OWNERS:
        return True
    # set_fit_request and its kind, which scikit-learn's metadata routing
    # writes for a method with metadata (groups): their docstrings point
    # into its user guide. The class's own docstring says what to route.
    if owner == "RequestMethod":
        return True
    # A detector's network is a keras.Model: its page shows what the engine
    # adds, not the hundreds of members it inherits from Keras (whose
    # docstrings are Markdown), which Keras documents.
    module = getattr(getattr(obj, "fget", obj), "__module__", None) or ""
    if module.startswith(("keras.", "tensorflow.")):
        return True
    return None


def setup(app):
    app.connect("autodoc-skip-member", _skip_private_mixin_members)

# -- HTML --------------------------------------------------------------------

try:
    import pydata_sphinx_theme  # noqa: F401
except ImportError:  # pragma: no cover - the docs extra installs it
    html_theme = "alabaster"
    html_theme_options = {}
else:
    html_theme = "pydata_sphinx_theme"
    html_theme_options = {
        # Nothing that would make the browser or the build go online.
        "icon_links": [],
        "navigation_with_keys": False,
        "show_prev_next": True,
        "secondary_sidebar_items": ["page-toc"],
        "footer_start": ["copyright"],
        "footer_end": [],
    }

html_title = f"skanomaly {release}"
html_static_path = []
html_show_sourcelink = False
