"""The README's examples run: every ```python block is executed, every `optcache ...` line too."""

from __future__ import annotations

import os
import re
import shlex
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
README = (ROOT / "README.md").read_text()


def _blocks(lang: str) -> list[str]:
    return re.findall(rf"```{lang}\n(.*?)```", README, flags=re.S)


def test_python_examples_run(tmp_path, monkeypatch):
    blocks = _blocks("python")
    assert blocks, "the README must carry a Python example"
    monkeypatch.chdir(tmp_path)
    for code in blocks:
        exec(compile(code, "README.md", "exec"), {"__name__": "__readme__"})


@pytest.mark.slow
def test_cli_examples_run(tmp_path):
    lines = [ln.split("#")[0].strip() for b in _blocks("bash") for ln in b.splitlines()]
    # a cluster address cannot be reached here, and `market evaluate` trains a policy for ~40 s:
    # tests/test_market_cli.py runs the market commands on a small configuration instead
    cmds = [ln for ln in lines if ln.startswith("optcache ") and "--scheduler" not in ln
            and "optcache market" not in ln]
    (tmp_path / "benchmarks").symlink_to(ROOT / "benchmarks")
    assert cmds, "the README must show the CLI"
    env = {**os.environ, "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}"}
    for cmd in cmds:
        r = subprocess.run(shlex.split(cmd), cwd=tmp_path, env=env, capture_output=True, text=True)
        assert r.returncode == 0, f"{cmd}\n{r.stderr}"


def test_readme_names_the_methods_that_take_a_time_limit():
    """The README's list of methods accepting --time-limit is the registry's, no more and no less."""
    import re

    from optcache.solvers import registry

    m = re.search(r"`--time-limit` \(accepted by ([^;]+);", README)
    assert m, "README no longer lists the methods that accept --time-limit"
    listed = set(re.findall(r"`([a-z-]+)`", m[1]))
    assert listed == {n for n in registry.names() if "time_limit" in registry.get(n).options}


def test_readme_names_the_cache_folders_the_code_uses(tmp_path, monkeypatch):
    from optcache.cache import cache_dir

    monkeypatch.delenv("OPTCACHE_CACHE_DIR", raising=False)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    assert cache_dir() == tmp_path / "optcache" and "`$XDG_CACHE_HOME/optcache`" in README
