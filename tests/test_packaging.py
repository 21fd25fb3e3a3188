"""One distribution, one namespace: models/ and solvers/ install as optcache.models/.solvers only."""

from __future__ import annotations

import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


@pytest.mark.slow
def test_wheel_maps_models_and_solvers_into_optcache(tmp_path):
    subprocess.run([sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "--no-build-isolation",
                    "-w", str(tmp_path), str(ROOT)], check=True, capture_output=True)
    (wheel,) = tmp_path.glob("optcache-*.whl")
    names = zipfile.ZipFile(wheel).namelist()
    tops = {n.split("/")[0] for n in names if not n.split("/")[0].endswith(".dist-info")}
    assert tops == {"optcache"}
    assert "optcache/solvers/registry.py" in names and "optcache/models/__init__.py" in names
    # a normal (non-editable) install: unpack and import from there, away from the source tree
    site = tmp_path / "site"
    zipfile.ZipFile(wheel).extractall(site)
    code = ("import optcache, optcache.solvers.registry as r, optcache.models as m; "
            "print(optcache.__file__); print(r.__file__); print(m.__file__)")
    # -S: no site processing, so the editable install's .pth finder is not active; the
    # dependencies come from this interpreter's site-packages, the package from the wheel.
    deps = [p for p in sys.path if p.endswith("site-packages")]
    boot = f"import sys; sys.path[:0] = [{str(site)!r}] + {deps!r}; "
    out = subprocess.run([sys.executable, "-S", "-c", boot + code], check=True, capture_output=True,
                         text=True, cwd=tmp_path).stdout.split()
    assert all(p.startswith(str(site)) for p in out), out


def test_editable_install_has_no_top_level_models_or_solvers(tmp_path):
    code = ("import importlib.util as u, optcache.solvers, optcache.models; "
            "print(u.find_spec('models'), u.find_spec('solvers'))")
    out = subprocess.run([sys.executable, "-c", code], check=True, capture_output=True, text=True,
                         cwd=tmp_path).stdout.split()
    assert out == ["None", "None"]


def test_core_import_stays_light(tmp_path):
    code = "import sys, optcache; print('pyomo' in sys.modules, 'torch' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], check=True, capture_output=True, text=True,
                         cwd=tmp_path).stdout.split()
    assert out == ["False", "False"]
