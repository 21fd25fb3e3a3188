"""Sphinx extension of optcache's documentation site (docs/conf.py loads it).

- `.. optcache-methods::` renders the method registry (`optcache.solvers.registry`): every method,
  whether it is exact, and its options with their defaults and meaning, declared once there;
- `.. optcache-cli::` renders the command line from the CLI itself: the help of every command,
  exactly what `optcache COMMAND -h` prints;
- a registered method's docstring gets its options table appended, from the same registry;
- every public name that autodoc documents must have a docstring, and every module of the package
  must be in the API reference or in `INTERNAL` with the reason: otherwise a warning, which the
  build (`sphinx-build -W`, `make docs`) turns into an error.
"""

from __future__ import annotations

import contextlib
import dataclasses
import importlib
import inspect
import io
import logging
import os
import pkgutil
import re
from typing import Any

from docutils import nodes
from docutils.statemachine import StringList
from sphinx import addnodes
from sphinx.application import Sphinx
from sphinx.util import logging as sphinx_logging
from sphinx.util.docutils import SphinxDirective
from sphinx.util.nodes import nested_parse_with_titles

log = sphinx_logging.getLogger(__name__)

INTERNAL = {
    "optcache.cli": "the command line, documented by its own help in the CLI reference",
    "optcache.cli.__main__": "`python -m optcache.cli`",
    "optcache.__main__": "`python -m optcache`, the same command line",
    "optcache.cli.basic": "CLI commands (CLI reference)",
    "optcache.cli.market": "CLI commands (CLI reference)",
    "optcache.cli.study": "CLI commands (CLI reference)",
    "optcache.demo": "`optcache demo` (CLI reference)",
    "optcache.warmup": "`optcache warmup` (CLI reference)",
    "optcache.logs": "logging helpers of the exact methods",
    "optcache.progress": "progress-bar helper",
    "optcache.solvers.highs": "highspy driver behind milp (docs/formulation.md §6)",
    "optcache.solvers.pyomo_mip": "Pyomo solver driver behind milp's `solver` option",
    "optcache.solvers.forked": "a solve in a child process killed at its time limit (docs/formulation.md §14)",
    "optcache.solvers.policies_fast": "compiled twin of optcache.solvers.policies, held equal by the tests",
    "optcache.models.matrix28": "the network form of (28) behind milp and `optcache export --form network` (§6)",
    "optcache.solvers.lagrange.boxlp": "internals of lagrange (§6.1)",
    "optcache.solvers.lagrange.branching": "internals of lagrange (§6.1)",
    "optcache.solvers.lagrange.decomposition": "internals of lagrange (§6.1)",
    "optcache.solvers.lagrange.fixopt": "internals of lagrange (§6.1)",
    "optcache.solvers.lagrange.graph": "internals of lagrange (§6.1)",
    "optcache.solvers.lagrange.master": "internals of lagrange (§6.1)",
    "optcache.solvers.lagrange.primal": "internals of lagrange (§6.1)",
    "optcache.solvers.lagrange.search": "internals of lagrange (§6.1)",
    "optcache.solvers.lagrange.slots": "internals of lagrange (§6.1)",
}
"""Modules left out of the API reference, with the reason; every other module must be in it."""

PACKAGES = ("optcache", "optcache.models", "optcache.solvers")


def all_modules() -> list[str]:
    """Every module of the installed package (models/ and solvers/ are optcache.models/.solvers)."""
    out = set()
    for name in PACKAGES:
        pkg = importlib.import_module(name)
        out.add(name)
        out.update(m.name for m in pkgutil.walk_packages(pkg.__path__, name + "."))
    return sorted(out)


# --------------------------------------------------------------------------- the registry
def _default(value: Any) -> str:
    return "—" if value is None else f"``{value!r}``"


def _options_table(desc: dict) -> list[str]:
    if not desc["options"]:
        return ["Options: none."]
    lines = [".. list-table::", "   :header-rows: 1", "   :widths: 18 14 68", "",
             "   * - option", "     - default", "     - meaning"]
    for o in desc["options"]:
        lines += [f"   * - ``{o['name']}``", f"     - {_default(o['default'])}",
                  f"     - {o['help'] or '—'}"]
    return lines


def method_function(obj: Any) -> str | None:
    """The registry name of `obj` if it is a registered method's function."""
    from optcache.solvers import registry

    for name in registry.names():
        if registry.get(name).func is obj:
            return name
    return None


class MethodsDirective(SphinxDirective):
    """Every registered method, its exactness and its options (from the registry)."""

    def run(self) -> list[nodes.Node]:
        from optcache.solvers import registry

        lines = [".. list-table::", "   :header-rows: 1", "   :widths: 14 10 76", "",
                 "   * - method", "     - exact", "     - what it does"]
        for name in registry.names():
            d = registry.describe(name)
            lines += [f"   * - :ref:`{name} <method-{name}>`", f"     - {'yes' if d['exact'] else 'no'}",
                      f"     - {d['description']}"]
        lines.append("")
        for name in registry.names():
            d = registry.describe(name)
            func = registry.get(name).func
            target = f"{func.__module__}.{func.__name__}"
            lines += [f".. _method-{name}:", "", f"``{name}``", "-" * (len(name) + 4), "",
                      f"{d['description']} Function: :py:func:`{target}`; "
                      f"{'exact: returns a certified lower bound.' if d['exact'] else 'no bound.'}", ""]
            lines += _options_table(d) + [""]
        return self._parse(lines)

    def _parse(self, lines: list[str]) -> list[nodes.Node]:
        node = nodes.section()
        node.document = self.state.document
        nested_parse_with_titles(self.state, StringList(lines, source="optcache.solvers.registry"), node)
        return node.children


# --------------------------------------------------------------------------- the CLI
def cli_help(path: list[str]) -> str:
    """What `optcache PATH -h` prints, at a fixed width of 100 columns."""
    from optcache.cli import main

    buf = io.StringIO()
    old = os.environ.get("COLUMNS")
    os.environ["COLUMNS"] = "100"
    try:
        with contextlib.redirect_stdout(buf):
            rc = main([*path, "-h"])
    finally:
        if old is None:
            del os.environ["COLUMNS"]
        else:
            os.environ["COLUMNS"] = old
    if rc != 0:
        log.warning("optcache %s -h exited with %s", " ".join(path), rc)
    return buf.getvalue().rstrip()


def cli_commands() -> list[list[str]]:
    """Every command path of the CLI ([] is the root), depth first, in registration order."""
    import typer.main

    from optcache.cli import _register_commands, app

    _register_commands()
    out: list[list[str]] = []

    def walk(cmd, path):
        out.append(path)
        for name, sub in getattr(cmd, "commands", {}).items():
            if not getattr(sub, "hidden", False):
                walk(sub, [*path, name])

    walk(typer.main.get_command(app), [])
    return out


class CliDirective(SphinxDirective):
    """One section per command with its help text, generated by running the CLI."""

    def run(self) -> list[nodes.Node]:
        lines: list[str] = []
        for path in cli_commands():
            title = " ".join(["optcache", *path])
            lines += [f".. _cli-{'-'.join(path) or 'optcache'}:", "", title, "-" * len(title), "",
                      ".. code-block:: text", ""]
            lines += ["   " + ln if ln.strip() else "" for ln in cli_help(path).splitlines()]
            lines.append("")
        node = nodes.section()
        node.document = self.state.document
        nested_parse_with_titles(self.state, StringList(lines, source="optcache.cli"), node)
        return node.children


# --------------------------------------------------------------------------- docstrings
def _auto_dataclass_doc(obj: Any, lines: list[str]) -> bool:
    """dataclasses give a class without a docstring its signature as __doc__: that is no docstring."""
    return (inspect.isclass(obj) and dataclasses.is_dataclass(obj)
            and "\n".join(lines).strip().startswith(f"{obj.__name__}("))


_CODE = re.compile(r"(`[^`]*`)")


def markdownish(lines: list[str]) -> None:
    """Docstrings are written like Markdown: `|h|²` is not a reST substitution, and a list may
    follow its paragraph without a blank line. Rewrite both for reST, in place."""
    out: list[str] = []
    for ln in lines:
        table = ln.lstrip().startswith(("|", "+-", "+=")) and ln.rstrip().endswith(("|", "+"))
        if "|" in ln and not table:
            ln = "".join(part if part.startswith("`") else part.replace("|", "\\|")
                         for part in _CODE.split(ln))
        if (ln.lstrip().startswith("- ") and out and out[-1].strip()
                and not out[-1].lstrip().startswith("- ")
                and len(out[-1]) - len(out[-1].lstrip()) <= len(ln) - len(ln.lstrip())
                and not out[-1].startswith(" " * (len(ln) - len(ln.lstrip()) + 1))):
            out.append("")
        out.append(ln)
    lines[:] = out


def process_docstring(app: Sphinx, what: str, name: str, obj: Any, options: Any, lines: list[str]) -> None:
    if what == "class" and _auto_dataclass_doc(obj, lines):
        lines.clear()  # reported by check_description as a missing docstring
        return
    markdownish(lines)
    if what == "function" and any(ln.strip() for ln in lines):
        method = method_function(obj)
        if method is not None:
            from optcache.solvers import registry

            lines += ["", f"Registered as ``{method}`` (:ref:`method-{method}`); run it with "
                      f"``registry.run({method!r}, inst, **options)`` or "
                      f"``optcache solve --method {method}``. Options, from the registry:", ""]
            lines += _options_table(registry.describe(method)) + [""]


def check_description(app: Sphinx, domain: str, objtype: str, content: addnodes.desc_content) -> None:
    """Every object autodoc documents has text of its own (members listed inside do not count)."""
    if domain != "py" or objtype == "module":
        return
    if any(not isinstance(c, addnodes.desc) for c in content.children):
        return
    sig = content.parent.children[0] if content.parent is not None and content.parent.children else None
    ids = ", ".join(sig["ids"]) if isinstance(sig, addnodes.desc_signature) and sig["ids"] else "?"
    log.warning("missing docstring: %s %s", objtype, ids, type="optcache", subtype="docstring",
                location=content)


def skip_member(app: Sphinx, what: str, name: str, obj: Any, skip: bool, options: Any) -> bool | None:
    """Module loggers, `TYPE_CHECKING` and names imported from other packages are not API."""
    if isinstance(obj, logging.Logger) or name == "TYPE_CHECKING":
        return True
    if what == "module" and (inspect.isclass(obj) or inspect.isfunction(obj)):
        if not getattr(obj, "__module__", "").startswith("optcache"):
            return True
    return None


def check_coverage(app: Sphinx, env: Any) -> None:
    """Every module is in the API reference or in INTERNAL (with a reason)."""
    documented = set(env.domains["py"].modules)
    for mod in all_modules():
        if mod not in documented and mod not in INTERNAL:
            log.warning("module %s is neither in the API reference nor in INTERNAL "
                        "(docs/_ext/optcache_docs.py)", mod, type="optcache", subtype="coverage")
    for mod in sorted(documented & set(INTERNAL)):
        log.warning("module %s is in the API reference and in INTERNAL", mod, type="optcache",
                    subtype="coverage")


def setup(app: Sphinx) -> dict:
    app.add_directive("optcache-methods", MethodsDirective)
    app.add_directive("optcache-cli", CliDirective)
    app.connect("autodoc-process-docstring", process_docstring)
    app.connect("autodoc-skip-member", skip_member)
    app.connect("object-description-transform", check_description)
    app.connect("env-check-consistency", check_coverage)
    return {"version": "1", "parallel_read_safe": True, "parallel_write_safe": True}
