"""Sphinx configuration of hamid's documentation site.

Build: ``.venv/bin/python -m sphinx -W -b html docs docs/_build/html`` (``tests/test_docs.py`` runs this with
``-E --keep-going`` into a temporary folder: a fresh environment, every warning listed, then a failure). The markdown guides in this folder are read through myst-parser; the API
reference under ``api/`` is generated here on every build from the package's ``__all__`` lists, so that a
public name added anywhere in hamid is documented without touching this file; ``figures.md`` shows every
figure the example scripts have written to ``examples/output/``.

Pages come and go while the project grows, so the guides' toctree is filled in at build time
(:func:`_guide_pages`) with the guides that exist: a missing page never breaks the build.
"""
from __future__ import annotations

import importlib
import inspect
import os
import pkgutil
import re
import sys
from pathlib import Path

DOCS = Path(__file__).resolve().parent
ROOT = DOCS.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("MPLBACKEND", "Agg")

import hamid  # noqa: E402

project = "hamid"
author = "the hamid developers"
copyright = "the hamid developers"
release = version = hamid.__version__

extensions = [
    "myst_parser",
    "sphinx.ext.autodoc",
    "sphinx.ext.mathjax",
    "sphinx.ext.viewcode",
    "numpydoc",
]
source_suffix = {".md": "markdown", ".rst": "restructuredtext"}
root_doc = "index"
exclude_patterns = ["_build", "Thumbs.db", ".DS_Store"]
html_theme = "alabaster"
html_title = f"hamid {release}"
html_static_path: list = []

# The guides are markdown with $...$ maths and GitHub-style cross links between pages.
myst_enable_extensions = ["dollarmath", "amsmath", "colon_fence", "deflist"]
myst_heading_anchors = 3

autodoc_default_options = {"members": True, "show-inheritance": True}
autodoc_member_order = "bysource"
autodoc_typehints = "none"  # numpydoc sections carry the types (and shapes) already
# numpydoc: no autosummary tables of class members (they would need stub pages for every method)
numpydoc_show_class_members = False
numpydoc_class_members_toctree = False
numpydoc_attributes_as_param_list = True
numpydoc_xref_param_type = False

# ------------------------------------------------------------------------------------------ guide pages

#: the reading order of the guides; a page in this list that does not exist (yet) is left out, and any other
#: top-level page is appended alphabetically
GUIDE_ORDER = [
    "getting_started", "data", "libraries", "sparse", "integrators", "systems", "neural", "neural_maps",
    "compare", "structures", "sweeps", "benchmark",
]
#: pages with their own place in the index (not guides)
_NOT_GUIDES = {"index", "api", "figures"}


def _guide_pages(found_docs) -> list[str]:
    """The top-level pages Sphinx found (not the files now on disk: pages are written while a build runs)."""
    present = {doc for doc in found_docs if "/" not in doc} - _NOT_GUIDES
    ordered = [name for name in GUIDE_ORDER if name in present]
    return ordered + sorted(present - set(ordered))


def _other_pages(found_docs) -> list[str]:
    """Pages in subfolders (contributor notes, generated tables) other than the API, listed under "More"."""
    return sorted(doc for doc in found_docs if "/" in doc and not doc.startswith("api/"))


# ------------------------------------------------------------------------------------------ figures

FIGURE_DIRS = [ROOT / "examples" / "output", DOCS / "figures"]


def _figures() -> list[tuple[Path, Path]]:
    """(folder, path) of every figure under :data:`FIGURE_DIRS`."""
    found = []
    for folder in FIGURE_DIRS:
        if folder.is_dir():
            found += [(folder, p) for p in sorted(folder.rglob("*")) if p.suffix.lower() in (".png", ".svg", ".jpg")]
    return found


def _figures_markdown() -> str:
    figures = _figures()
    if not figures:
        return ("No figures have been generated in this checkout. Each reproduction script writes its figure to "
                "`examples/output/` (see [neural](neural.md) and [neural_maps](neural_maps.md)); build the site "
                "again after running them and the figures appear here.\n")
    lines = []
    for folder, path in figures:
        rel = os.path.relpath(path, DOCS).replace(os.sep, "/")
        shown = os.path.relpath(path, ROOT).replace(os.sep, "/")
        lines += [f"## `{shown}`", "", f"```{{image}} {rel}", f":alt: {path.stem}", ":width: 90%", "```", ""]
    return "\n".join(lines)


# ------------------------------------------------------------------------------------------ API reference

#: subpackages whose pages come first, in this order; every other public module with an ``__all__`` follows
API_FIRST = ["hamid", "hamid.symbolic", "hamid.io", "hamid.models.base", "hamid.models.sparse",
             "hamid.models.neural", "hamid.integrators", "hamid.systems", "hamid.metrics"]
#: the command line is documented by the guides, not as an API
API_SKIP = ("hamid.cli", "hamid.__main__")


def _public_modules() -> list[str]:
    names = set()
    for info in pkgutil.walk_packages(hamid.__path__, prefix="hamid."):
        if any(part.startswith("_") for part in info.name.split(".")) or info.name.startswith(API_SKIP):
            continue
        names.add(info.name)
    first = [m for m in API_FIRST if m == "hamid" or m in names]
    return first + sorted(names - set(first))


def _directive(qualname, obj) -> list[str]:
    if inspect.isclass(obj):
        kind = "autoexception" if issubclass(obj, BaseException) else "autoclass"
        return [f".. {kind}:: {qualname}"]
    if inspect.isroutine(obj):
        return [f".. autofunction:: {qualname}"]
    return [f".. autodata:: {qualname}", "   :no-value:"]


def _api_pages() -> dict[str, str]:
    """Page name -> markdown; each public object documented once, at the shallowest module exporting it."""
    documented: dict[int, str] = {}
    names_used: set[str] = set()
    pages = {}
    for modname in _public_modules():
        module = importlib.import_module(modname)
        names = [n for n in getattr(module, "__all__", []) if not n.startswith("_")]
        body, seealso = [], []
        for name in names:
            obj = getattr(module, name)
            home = getattr(obj, "__module__", None) or ""
            if (inspect.isclass(obj) or inspect.isroutine(obj)) and not home.startswith("hamid"):
                continue  # a re-exported third-party object
            key = id(obj) if (inspect.isclass(obj) or inspect.isroutine(obj)) else id((modname, name))
            if key in documented:
                seealso.append(f"`{name}` (documented as {{py:obj}}`{documented[key]}`)")
                continue
            documented[key] = f"{modname}.{name}"
            names_used.add(f"{modname}.{name}")
            body += _directive(f"{modname}.{name}", obj) + [""]
        if not body:
            continue
        # a module may share its dotted name with a documented object (a package exporting a function named
        # like one of its modules): the module's description is then shown without an index entry
        module_options = ["   :no-members:"] + (["   :no-index:"] if modname in names_used else [])
        text = [f"# `{modname}`", "", "```{eval-rst}", f".. automodule:: {modname}", *module_options, "",
                f".. currentmodule:: {modname}", ""] + body + ["```", ""]
        if seealso:
            text += ["Also exported here: " + ", ".join(seealso) + ".", ""]
        pages[modname] = "\n".join(text)
    return pages


def _write_if_changed(path: Path, text: str) -> None:
    # unchanged sources keep their mtime, so incremental builds stay incremental
    if not path.exists() or path.read_text() != text:
        path.write_text(text)


def _generate_api() -> list[str]:
    folder = DOCS / "api"
    folder.mkdir(exist_ok=True)
    pages = _api_pages()
    for stale in folder.glob("*.md"):
        if stale.stem not in pages:
            stale.unlink()
    for name, text in pages.items():
        _write_if_changed(folder / f"{name}.md", text)
    return list(pages)


API_PAGES = _generate_api()

# ------------------------------------------------------------------------------------------ page assembly

_PLACEHOLDERS = {
    "HAMID_GUIDE_PAGES": lambda found: "\n".join(_guide_pages(found)),
    "HAMID_OTHER_PAGES": lambda found: "\n".join(_other_pages(found)),
    "HAMID_API_PAGES": lambda found: "\n".join(f"api/{name}" for name in API_PAGES),
    "HAMID_FIGURES": lambda found: _figures_markdown(),
}


def _fill_placeholders(app, docname, source):
    text = source[0]
    found = app.env.found_docs
    if docname in _other_pages(found) and not text.lstrip().startswith("#"):
        # generated tables (docs/recovery/recovery_table.md) have no heading; the toctree needs a title
        title = Path(docname).name.replace("_", " ").capitalize()
        text = f"# {title}\n\n{text}"
    for token, make in _PLACEHOLDERS.items():
        if token in text:
            text = text.replace(token, make(found))
    source[0] = text


_LITERAL = re.compile(r"(``.*?``|`[^`]*`)")


def _escape_bars(app, what, name, obj, options, lines):
    """Docstrings write absolute values as ``|x|``; reST would read ``|x|`` as a substitution reference.

    Bars outside inline literals and roles are escaped, except on lines that start with one (line blocks,
    grid tables). Runs before numpydoc (priority 100 < 500).
    """
    for i, line in enumerate(lines):
        if "|" not in line or line.lstrip().startswith(("|", "+")):
            continue
        pieces = _LITERAL.split(line)
        lines[i] = "".join(p if k % 2 else p.replace("|", r"\|") for k, p in enumerate(pieces))


_NUMPYDOC_SECTIONS = {
    "parameters", "returns", "yields", "receives", "raises", "warns", "other parameters", "attributes", "methods",
    "see also", "notes", "warnings", "references", "examples",
}


def _other_headings_as_rubrics(app, what, name, obj, options, lines):
    """numpydoc drops the text of a section it does not know (``Entry points``, ``Columns``) with a
    UserWarning; such headings become rubrics, so their text stays on the page."""
    for i in range(len(lines) - 1):
        title, rule = lines[i].strip(), lines[i + 1].strip()
        if (title and len(rule) >= 3 and set(rule) <= set("-=~") and len(rule) == len(title)
                and title.lower() not in _NUMPYDOC_SECTIONS):
            indent = lines[i][: len(lines[i]) - len(lines[i].lstrip())]
            lines[i], lines[i + 1] = f"{indent}.. rubric:: {title}", ""


def setup(app):
    app.connect("source-read", _fill_placeholders)
    app.connect("autodoc-process-docstring", _escape_bars, priority=100)
    app.connect("autodoc-process-docstring", _other_headings_as_rubrics, priority=100)
    return {"parallel_read_safe": True}
