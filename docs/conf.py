"""Sphinx configuration of optcache's documentation site: `make docs` builds it into out/docs.

Sphinx with the PyData theme and MyST-NB, as PyPSA and linopy use: autodoc imports the package,
so the API reference is its docstrings, and the registry and the CLI render themselves
(docs/_ext/optcache_docs.py); MyST-NB executes the notebooks (quick mode) and the how-to pages
at build time. The build runs with -W -n: a warning, a broken cross-reference, a missing
docstring or a failing cell is an error.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(HERE / "_ext"))
# Executed pages call `optcache` in shell cells: the one installed beside this Python.
os.environ["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}"
os.environ.setdefault("MPLBACKEND", "Agg")

import optcache  # noqa: E402

project = "optcache"
author = "the optcache authors"
copyright = "optcache authors, MIT licence"
release = version = optcache.__version__

extensions = [
    "sphinx.ext.autodoc",
    "sphinx.ext.viewcode",
    "myst_nb",
    "optcache_docs",
]

root_doc = "index"
exclude_patterns = ["_build", "**.ipynb_checkpoints", "img/**"]
templates_path: list[str] = []

# --------------------------------------------------------------------------- MyST and notebooks
myst_enable_extensions = ["colon_fence", "deflist", "dollarmath"]
myst_heading_anchors = 4  # docs/formulation.md's `#3-per-slot-constraints` anchors
nb_execution_mode = "cache"  # a rebuild re-executes only the pages that changed
nb_execution_cache_path = str(ROOT / "out" / "docs-cache")
nb_execution_timeout = 900  # per cell; quick mode keeps every notebook well under a minute
nb_execution_raise_on_error = True
nb_execution_show_tb = True
nb_execution_in_temp = False  # notebooks run in notebooks/, as under nbmake; pages opt in to a temp folder
nb_merge_streams = True

# --------------------------------------------------------------------------- autodoc
autodoc_default_options = {
    "members": True,
    "undoc-members": True,  # listed, and then reported as missing docstrings (optcache_docs)
    "member-order": "bysource",
}
autodoc_typehints = "signature"
autoclass_content = "class"
autodoc_preserve_defaults = True
default_role = "code"  # docstrings write `x ≤ R · a` for code, as in Markdown
nitpicky = True
# No network for intersphinx in CI: references into other packages' docs cannot resolve, so
# nitpicky checks optcache's own references only.
nitpick_ignore_regex = [
    (r"py:.*", r"(np|numpy|pd|pandas|plt|matplotlib|torch|nn|pyomo|pyo|highspy|dask|distributed"
               r"|pyarrow|typer|click|scipy|numba|tqdm|pathlib|os|typing|collections|datetime"
               r"|concurrent|logging|argparse|contextlib|io|json|enum|types|Figure|Axes"
               r"|ModuleType|PathLike|Path|Callable|Iterator|Iterable|Sequence|Mapping|Any"
               r"|Literal|ActionPolicy|NDArray|ArrayLike|DataFrame|Series|Generator"
               r"|ndarray|Tensor|Module|ConcreteModel)(\..*)?"),
    # autodoc's rendering of dataclass signatures with `<factory>` defaults splits `dict[str, ...]`
    (r"py:class", r"dict\[str"),
    # lagrange's internals (§6.1) are out of the reference: docs/_ext/optcache_docs.py, INTERNAL
    (r"py:.*", r"optcache\.solvers\.lagrange\.(decomposition|graph|master|primal|search|slots)\..*"),
]

# --------------------------------------------------------------------------- HTML
html_theme = "pydata_sphinx_theme"
html_title = f"optcache {release}"
html_static_path: list[str] = []
html_theme_options = {
    "navigation_with_keys": False,
    "show_toc_level": 2,
    "secondary_sidebar_items": ["page-toc"],
    "footer_start": ["copyright"],
    "footer_end": ["sphinx-version"],
}
html_show_sourcelink = False
