"""The user guide's code examples run as a new user would run them.

Each page's ``.. code-block:: python`` blocks are executed top to bottom in
one fresh namespace, in a temporary working directory, so that a later
block sees the names an earlier one defined, as a reader copying them into
one session would. A block that can only be illustrative (a user's own
files, a remote data set) carries the option ``:class: no-run``: it is
compiled, not run. Every other block must run without error; a failure
names the page, the block and its line, and shows the block's code.
"""

import linecache
import re
import sys
import textwrap
import time
import traceback
import types
from pathlib import Path

import pytest

DOCS = Path(__file__).resolve().parent.parent / "docs"
PAGES = [
    "quickstart.rst", "sequences.rst", "images.rst", "industrial_inspection.rst",
    "scaling.rst", "few_labels.rst", "conventions.rst", "saving.rst",
    "writing_a_detector.rst",
]
SKIP_CLASS = "no-run"

_DIRECTIVE = re.compile(
    r"^(?P<indent>[ \t]*)\.\.[ \t]+(?:code-block|code|sourcecode)::[ \t]*(?P<lang>\S*)[ \t]*$"
)
_OPTION = re.compile(r"^[ \t]*:(?P<name>[^:]+):[ \t]*(?P<value>.*)$")


def _indent(line):
    return len(line) - len(line.lstrip())


def extract_python_blocks(text):
    """Return ``[(line_number, code, options), ...]`` for the page's python
    code blocks, in order (``line_number`` is 1-based, the directive's)."""
    lines = text.splitlines()
    blocks = []
    i = 0
    while i < len(lines):
        match = _DIRECTIVE.match(lines[i])
        if match is None or match["lang"] not in ("python", "py", "python3"):
            i += 1
            continue
        start, base = i + 1, len(match["indent"])
        i += 1
        options = {}
        # Options come right after the directive, indented deeper.
        while i < len(lines) and lines[i].strip() and _indent(lines[i]) > base:
            option = _OPTION.match(lines[i])
            if option is None:
                break
            options[option["name"].strip()] = option["value"].strip()
            i += 1
        # The body: every following line that is blank or indented deeper.
        body = []
        while i < len(lines) and (not lines[i].strip() or _indent(lines[i]) > base):
            body.append(lines[i])
            i += 1
        code = textwrap.dedent("\n".join(body)).strip("\n")
        blocks.append((start, code, options))
    return blocks


def _skipped(options):
    return SKIP_CLASS in options.get("class", "").split()


def test_extract_python_blocks():
    text = textwrap.dedent(
        """\
        Title
        =====

        .. code-block:: python

           x = 1

           y = x + 1

        Prose.

        .. code-block:: python
           :class: no-run

           load("path/to/data")

        .. code-block:: bash

           pip install skanomaly

        .. code-block:: python

           z = y
        """
    )
    blocks = extract_python_blocks(text)
    codes = [code for _, code, _ in blocks]
    assert codes == ["x = 1\n\ny = x + 1", 'load("path/to/data")', "z = y"]
    assert [_skipped(options) for _, _, options in blocks] == [False, True, False]
    assert [line for line, _, _ in blocks] == [4, 12, 21]
    assert len(blocks) == len(re.findall(r"code-block:: *python", text))


@pytest.mark.parametrize("page", PAGES)
def test_page_examples_run(page, tmp_path, monkeypatch):
    path = DOCS / page
    if not path.is_file():
        pytest.skip(f"no docs/{page} in this installation")
    text = path.read_text()
    blocks = extract_python_blocks(text)
    # The parser misses no python block, so that none goes untested.
    assert len(blocks) == len(re.findall(r"code-block::[ \t]*python\b", text))
    assert any(not _skipped(options) for _, _, options in blocks), (
        f"docs/{page} has no python code block to run"
    )
    if "skanomaly.plotting" in text:
        matplotlib = pytest.importorskip("matplotlib")
        matplotlib.use("Agg")  # no window; the examples may call plt.show()

    monkeypatch.chdir(tmp_path)  # the examples may write files
    # The blocks run in a module of their own, as a reader's script does,
    # so that the classes they define pickle.
    module = types.ModuleType(f"docs_{path.stem}")
    monkeypatch.setitem(sys.modules, module.__name__, module)
    namespace = module.__dict__
    timings = []
    try:
        for number, (line, code, options) in enumerate(blocks, start=1):
            where = f"docs/{page}, block {number} (line {line})"
            filename = f"<{where}>"
            # Tracebacks then show the lines of the example.
            linecache.cache[filename] = (len(code), None, code.splitlines(True), filename)
            start = time.perf_counter()
            failure = None
            try:
                compiled = compile(code, filename, "exec")  # illustrative ones too
                if not _skipped(options):
                    exec(compiled, namespace)
            except Exception as exc:
                # The traceback from the example on, without this test's frame.
                trace = "".join(
                    traceback.format_exception(type(exc), exc, exc.__traceback__.tb_next)
                )
                failure = (
                    f"{where} raised {type(exc).__name__}: {exc}\n\n"
                    f"--- code of the block ---\n{code}\n\n--- traceback ---\n{trace}"
                )
            if failure is not None:
                pytest.fail(failure, pytrace=False)
            if _skipped(options):
                continue
            timings.append(f"block {number}: {time.perf_counter() - start:.1f} s")
    finally:
        for filename in [key for key in linecache.cache if key.startswith(f"<docs/{page},")]:
            del linecache.cache[filename]
        if "matplotlib.pyplot" in sys.modules:
            sys.modules["matplotlib.pyplot"].close("all")
    print(f"docs/{page}: " + ", ".join(timings))
