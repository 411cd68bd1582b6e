"""The README's main job, end to end: the tutorial config trains within its time budget to the
promised accuracy, evaluates on the held-out file, and drives a stable ASE MD run."""

import json
import os
import subprocess
import sys

import pytest

from nequip.scripts import evaluate, train

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


@pytest.mark.slow
def test_tutorial_accuracy_and_md(tmp_path, capsys):
    run_dir = tmp_path / "tutorial"
    assert train.main([os.path.join(REPO, "configs", "tutorial.yaml"), f"run_dir={run_dir}", "trainer.enable_progress_bar=false"]) == 0
    checkpoint = str(run_dir / "checkpoints" / "best.ckpt")
    capsys.readouterr()
    test_file = os.path.join(REPO, "examples", "data", "cu_emt_test.xyz")
    assert evaluate.main([checkpoint, test_file, "--json"]) == 0
    metrics = json.loads(capsys.readouterr().out)
    print(metrics)
    assert metrics["forces_mae"] <= 0.020  # eV/Å
    assert metrics["energy_per_atom_mae"] <= 0.002  # eV/atom

    md = subprocess.run(
        [sys.executable, os.path.join(REPO, "examples", "ase_md.py"), checkpoint, "--steps", "50", "--repeat", "2"],
        capture_output=True, text=True, check=True,
    )
    drift = float(md.stdout.strip().splitlines()[-1].split("drift")[1].split()[0])
    assert abs(drift) < 1.0  # meV/atom over 100 fs
