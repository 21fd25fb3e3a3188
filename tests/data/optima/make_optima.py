"""Regenerate the stored optima: named tiny instances and their brute-force optimum (not the MILP's).

Run from the repository root: PYTHONPATH=. .venv/bin/python tests/data/optima/make_optima.py
"""

import json
from pathlib import Path

import numpy as np

from optcache.instance import save_instance
from tests.bruteforce import brute_force, random_tiny

HERE = Path(__file__).parent
NAMED = {"tiny-memory-a": 2024, "tiny-budget-b": 31, "tiny-context-c": 4096}

for name, seed in NAMED.items():
    inst = random_tiny(np.random.default_rng(seed))
    opt, _, _ = brute_force(inst.station_data(0))
    save_instance(inst, HERE / f"{name}.json")
    (HERE / f"{name}.opt.json").write_text(json.dumps({"optimum": opt, "seed": seed,
                                                       "method": "brute force (tests/bruteforce.py)"}) + "\n")
    print(name, opt)
