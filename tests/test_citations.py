"""Traceability: every section the code, tests, notebooks and docs cite exists in docs/formulation.md.

A bare `§n` (or `§n.m`) anywhere in the repository means docs/formulation.md's section n; the
document is self-contained, so nothing may point at a file outside the repository.
"""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
DOC = ROOT / "docs" / "formulation.md"
CITE = re.compile(r"§ ?(\d+(?:\.\d+)?)")
HEADING = re.compile(r"^#{2,4} (\d+(?:\.\d+)?)\.? ", re.M)
OUTSIDE = ("FORMULATION", "seed/000_", "../shared", "shared/notes")
"""Strings naming documents that a clone does not have."""


def tracked(*suffixes: str) -> list[Path]:
    """Files under version control (a fresh clone's files), else every file under ROOT."""
    try:
        out = subprocess.run(["git", "ls-files"], cwd=ROOT, capture_output=True, text=True, check=True).stdout
        files = [ROOT / f for f in out.split()]
    except (OSError, subprocess.CalledProcessError):  # not a git checkout (an sdist)
        files = [p for p in ROOT.rglob("*") if ".venv" not in p.parts]
    return [p for p in files if p.suffix in suffixes and p.is_file()]


def sections() -> set[str]:
    return set(HEADING.findall(DOC.read_text(encoding="utf-8")))


def test_the_document_numbers_its_sections_and_subsections():
    s = sections()
    assert {str(n) for n in range(1, 15)} <= s  # §1 sets ... §14 interchange format and CLI
    assert "6.1" in s  # the exact method's decomposition


def test_heading_pattern_reads_a_known_document():
    text = "## 3. Per-slot constraints\n### 6.1 Lagrangian\n## Assumptions\n# 7. a title, not a section\n"
    assert HEADING.findall(text) == ["3", "6.1"]


@pytest.mark.parametrize("path", tracked(".py", ".md", ".ipynb", ".toml"), ids=lambda p: str(p.relative_to(ROOT)))
def test_every_cited_section_exists_and_nothing_points_outside(path):
    text = path.read_text(encoding="utf-8", errors="replace")
    known = sections()
    missing = sorted({c for c in CITE.findall(text) if c not in known})
    assert not missing, f"{path.name} cites sections that docs/formulation.md does not have: {missing}"
    outside = [s for s in OUTSIDE if s in text]
    if path.name != "test_citations.py":
        assert not outside, f"{path.name} points outside the repository: {outside}"
