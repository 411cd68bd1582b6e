"""The README's main job, end to end: the tutorial config trains within its time budget to the
promised accuracy, evaluates on the held-out file, compiles to a .pt2, and the compiled model
conserves energy in 1000 steps of NVE MD."""

import json
import os
import subprocess
import sys

import pytest

from nequip.scripts import compile as compile_script
from nequip.scripts import evaluate

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


@pytest.mark.slow
def test_tutorial_accuracy_and_md(tutorial_run, capsys):
    run_dir = tutorial_run
    checkpoint = str(run_dir / "checkpoints" / "best.ckpt")
    capsys.readouterr()
    test_file = os.path.join(REPO, "examples", "data", "cu_emt_test.xyz")
    assert evaluate.main([checkpoint, test_file, "--json"]) == 0
    metrics = json.loads(capsys.readouterr().out)
    print(metrics)
    assert metrics["forces_mae"] <= 0.020  # eV/Å
    assert metrics["energy_per_atom_mae"] <= 0.002  # eV/atom

    package = str(run_dir / "tutorial.nequip.pt2")
    assert compile_script.main([checkpoint, package, "--target", "ase"]) == 0
    md = subprocess.run(
        [sys.executable, os.path.join(REPO, "examples", "ase_md.py"), package, "--steps", "1000"],
        capture_output=True, text=True, check=True,
    )
    print(md.stdout)
    drift = float(md.stdout.strip().splitlines()[-1].split("drift")[1].split()[0])
    assert abs(drift) < 0.1  # meV/atom over 1000 steps (2 ps) of NVE
