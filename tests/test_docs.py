"""The documentation site's sources (docs/): every module is in the API reference or named as
internal, every option a method declares is explained once in the registry, and every how-to page
is executable. `make docs` (run by `make test`) builds and executes the site itself."""

from __future__ import annotations

import re
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
DOCS = ROOT / "docs"
sys.path.insert(0, str(DOCS / "_ext"))

import optcache_docs  # noqa: E402


def documented_modules() -> set[str]:
    text = "\n".join(p.read_text() for p in (DOCS / "api").glob("*.rst"))
    return set(re.findall(r"^\.\. automodule:: (\S+)", text, flags=re.M))


def test_every_module_is_in_the_reference_or_internal():
    modules = set(optcache_docs.all_modules())
    assert {"optcache.instance", "optcache.solvers.registry", "optcache.market.dqn"} <= modules
    missing = sorted(modules - documented_modules() - set(optcache_docs.INTERNAL))
    assert not missing, f"add to docs/api/*.rst or to INTERNAL in docs/_ext/optcache_docs.py: {missing}"
    assert not documented_modules() & set(optcache_docs.INTERNAL)
    assert not documented_modules() - modules, "docs/api names a module that does not exist"


def test_every_declared_option_is_explained_once_in_the_registry():
    from optcache.solvers import registry

    for name in registry.names():
        d = registry.describe(name)
        for opt in d["options"]:
            assert opt["help"], f"{name}: option {opt['name']} has no line in registry.OPTION_HELP"
    rolling = {o["name"]: o for o in registry.describe("rolling")["options"]}
    assert rolling["horizon"]["default"] == 12 and "slots" in rolling["horizon"]["help"]


def test_the_options_table_renders_every_option_with_its_default():
    from optcache.solvers import registry

    lines = optcache_docs._options_table(registry.describe("milp"))
    text = "\n".join(lines)
    for opt in ("time_limit", "gap", "threads", "solver", "solver_options"):
        assert f"``{opt}``" in text
    assert "``'highs'``" in text  # milp's default solver


def test_cli_reference_is_generated_from_the_cli():
    paths = optcache_docs.cli_commands()
    assert [] in paths and ["solve"] in paths and ["market", "train"] in paths
    text = optcache_docs.cli_help(["solve"])
    assert text.startswith("Usage: optcache solve") and "--time-limit" in text


@pytest.mark.parametrize("page", sorted((DOCS / "howto").glob("*.md")), ids=lambda p: p.name)
def test_howto_pages_are_executed_by_the_build(page):
    text = page.read_text()
    if page.name == "index.md":
        names = re.findall(r"^([a-z-]+)$", text, flags=re.M)
        assert sorted(f"{n}.md" for n in names) == sorted(p.name for p in page.parent.glob("*.md")
                                                          if p.name != "index.md")
        return
    assert text.startswith("---\nfile_format: mystnb\n"), "a how-to page is a MyST notebook"
    assert "```{code-cell} ipython3" in text
    assert "assert " in text, "a how-to page checks what it shows"


def test_formulation_quotes_the_dqn_defaults():
    """docs/formulation.md names |A|, the hidden width and Adam's step: they are `Args`' defaults."""
    from optcache.market.dqn import Args

    text = (DOCS / "formulation.md").read_text()
    m = re.search(r"`\|A\| = (\d+)` actions, two hidden layers of (\d+), Adam at `([0-9.e-]+)`", text)
    assert m, "formulation.md no longer quotes the DQN's hyperparameters in the expected words"
    a = Args()
    assert (int(m[1]), int(m[2]), float(m[3])) == (a.n_actions, a.hidden, a.learning_rate)
