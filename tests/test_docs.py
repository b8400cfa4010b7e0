"""The documentation: the site builds with warnings as errors and documents every public name, and every
docstring example runs.

The build is ``python -m sphinx -E -W --keep-going -b html docs OUT`` (a fresh environment, every warning
reported, then a failure). On failure the test lists each warning on its own line, so the offending page or
docstring is named in the pytest report.
"""
import doctest
import importlib
import io
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]

pytestmark = pytest.mark.slow


def _modules_with_examples():
    """Dotted names of hamid's modules whose source holds a ``>>>`` example (found without importing them)."""
    names = []
    for path in sorted((ROOT / "hamid").rglob("*.py")):
        if ">>>" in path.read_text(encoding="utf-8"):
            parts = list(path.relative_to(ROOT).with_suffix("").parts)
            if parts[-1] == "__init__":
                parts.pop()
            names.append(".".join(parts))
    return names


@pytest.mark.parametrize("modname", _modules_with_examples())
def test_docstring_examples_run(modname):
    module = importlib.import_module(modname)
    runner = doctest.DocTestRunner(optionflags=doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE)
    report = io.StringIO()
    for test in doctest.DocTestFinder(exclude_empty=True).find(module, modname):
        runner.run(test, out=report.write)
    result = runner.summarize(verbose=False)
    assert result.attempted > 0, f"{modname} has '>>>' in its source but doctest finds no example in a docstring"
    assert result.failed == 0, f"{result.failed} of {result.attempted} examples failed:\n{report.getvalue()}"


@pytest.fixture(scope="module")
def build(tmp_path_factory):
    """One build per session: (output folder, None) or (output folder, the failure report).

    With ``--keep-going`` Sphinx writes every page before failing on the warnings, so the other checks still
    read a complete site when the warnings check fails (and the build does not run once per test).
    """
    for module in ("sphinx", "myst_parser", "numpydoc"):
        pytest.importorskip(module, reason=f"{module} is not installed (it is in the 'test' extra: "
                                           "pip install -c constraints.txt -e '.[test]')")
    out = tmp_path_factory.mktemp("site")
    env = dict(os.environ, MPLBACKEND="Agg", PYTHONWARNINGS="ignore")
    cmd = [sys.executable, "-m", "sphinx", "-E", "-W", "--keep-going", "-q", "-b", "html", "docs", str(out)]
    proc = subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True, timeout=300)
    if proc.returncode == 0:
        return out, None
    warnings = [line for line in proc.stderr.splitlines() if "WARNING" in line or "ERROR" in line]
    listed = "\n".join(f"  {line}" for line in (warnings or proc.stderr.splitlines()[-30:]))
    return out, (f"sphinx-build -W failed (exit {proc.returncode}) with {len(warnings)} warning(s):\n{listed}\n"
                 f"rerun: {' '.join(cmd[1:])}")


@pytest.fixture(scope="module")
def site(build):
    out, _ = build
    if not (out / "index.html").is_file():
        pytest.fail(f"the build wrote no site:\n{build[1]}", pytrace=False)
    return out


def _documented_ids(site):
    ids = set()
    for page in (site / "api").glob("*.html"):
        ids |= set(re.findall(r'<dt class="sig sig-object py" id="([\w.]+)"', page.read_text()))
    return ids


def test_site_builds_without_warnings(build, site):
    if build[1]:
        pytest.fail(build[1], pytrace=False)
    assert (site / "index.html").is_file()
    # every guide in docs/ became a page and is linked from the index
    index = (site / "index.html").read_text()
    for page in (ROOT / "docs").glob("*.md"):
        assert (site / f"{page.stem}.html").is_file(), page.name
        if page.stem != "index":
            assert f'href="{page.stem}.html' in index, f"{page.name} is not in the index's toctree"


def test_every_public_name_has_an_api_entry(site):
    import hamid
    import hamid.integrators
    import hamid.models.neural
    import hamid.models.sparse
    import hamid.systems

    ids = _documented_ids(site)
    missing = [f"hamid.{n}" for n in hamid.__all__ if n != "__version__" and f"hamid.{n}" not in ids]
    assert not missing, f"not in the API reference: {missing}"
    # the subpackages' public classes: documented there, or at the top level when re-exported from hamid
    for module in (hamid.models.sparse, hamid.models.neural, hamid.integrators, hamid.systems):
        for name in module.__all__:
            if isinstance(getattr(module, name), type):
                assert f"{module.__name__}.{name}" in ids or f"hamid.{name}" in ids, f"{module.__name__}.{name}"
    # methods come with their numpydoc sections
    page = (site / "api" / "hamid.html").read_text()
    assert 'id="hamid.SparseHamiltonian.fit"' in page
    assert "Parameters" in page and "Returns" in page


def test_figures_page_shows_the_example_figures(site):
    # the figures found when the site was built (example scripts may write more meanwhile)
    text = (site / "figures.html").read_text()
    sources = re.findall(r'<img[^>]*src="([^"]+)"', text)
    for src in sources:
        assert (site / src).is_file(), src
    if not sources:
        assert "No figures have been generated" in text
