"""The console scripts as a user runs them: output, files written, and one-line errors (exit 2)."""

import json

import numpy as np
import pytest
from ase import Atoms
from ase.io import write

from nequip.scripts import evaluate, train


def test_evaluate_table_json_and_plot(trained_checkpoint, emt_xyz, tmp_path, capsys):
    assert evaluate.main([trained_checkpoint, emt_xyz]) == 0
    table = capsys.readouterr().out
    assert "forces" in table and "meV/Å" in table and "forces Au" in table
    plot = tmp_path / "parity.png"
    assert evaluate.main([trained_checkpoint, emt_xyz, "--json", "--plot", str(plot)]) == 0
    metrics = json.loads(capsys.readouterr().out)
    assert metrics["forces_mae"] > 0 and metrics["forces_rmse"] >= metrics["forces_mae"]
    assert "forces_mae_Cu" in metrics and "stress_mae" in metrics
    assert plot.stat().st_size > 10_000


def test_evaluate_missing_model(tmp_path, emt_xyz, capsys):
    assert evaluate.main([str(tmp_path / "nope.ckpt"), emt_xyz]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("nequip-evaluate: error:") and "nope.ckpt" in err and "\n" not in err


def test_evaluate_not_a_checkpoint(tmp_path, emt_xyz, capsys):
    bogus = tmp_path / "bogus.ckpt"
    bogus.write_bytes(b"not a checkpoint")
    assert evaluate.main([str(bogus), emt_xyz]) == 2
    assert "bogus.ckpt" in capsys.readouterr().err


def test_train_unknown_species_names_frame_and_file(tmp_path, capsys):
    frames = [Atoms("Cu2", positions=[[0, 0, 0], [2.5, 0, 0]]) for _ in range(3)]
    frames.append(Atoms("CuZn", positions=[[0, 0, 0], [2.5, 0, 0]]))
    for atoms in frames:
        atoms.info["energy"] = -1.0
        atoms.arrays["forces"] = np.zeros((2, 3))
    data = tmp_path / "bad.xyz"
    write(data, frames)
    config = tmp_path / "c.yaml"
    config.write_text(f"type_names: [Cu]\nr_max: 3.0\nmodel: {{kind: nequip}}\ndata: {{train: {data}}}\n")
    assert train.main([str(config), f"run_dir={tmp_path / 'run'}"]) == 2
    err = capsys.readouterr().err.strip()
    assert "'Zn'" in err and "frame 3" in err and "bad.xyz" in err and "\n" not in err


def test_train_bad_key_is_one_line(tmp_path, emt_xyz, capsys):
    config = tmp_path / "c.yaml"
    config.write_text(f"type_names: [Cu, Au]\nr_max: 3.0\nmodel: {{kind: nequip}}\ndata: {{train: {emt_xyz}}}\n")
    assert train.main([str(config), "model.num_layer=2"]) == 2
    err = capsys.readouterr().err.strip()
    assert "num_layers" in err and "\n" not in err


def test_evaluate_report_folder(trained_checkpoint, emt_xyz, tmp_path, capsys):
    report = tmp_path / "report"
    assert evaluate.main([trained_checkpoint, emt_xyz, "--report", str(report)]) == 0
    names = {p.name for p in report.iterdir()}
    assert {"metrics.json", "metrics.md", "parity_energy_per_atom.png", "parity_forces.png", "parity_stress.png",
            "force_errors_by_species.png"} <= names
    saved = json.loads((report / "metrics.json").read_text())
    assert saved["metrics"]["forces_mae"] > 0 and saved["data"] == emt_xyz
    markdown = (report / "metrics.md").read_text()
    assert "| forces Au |" in markdown and "parity_forces.png" in markdown


def test_benchmark_table_and_json(trained_checkpoint, capsys):
    from nequip.scripts import benchmark

    assert benchmark.main([trained_checkpoint, "--sizes", "32,108", "--min-seconds", "0.05"]) == 0
    table = capsys.readouterr().out.splitlines()
    assert "atom-steps/s" in table[0] and table[1].split()[0] == "32" and table[2].split()[0] == "108"
    assert benchmark.main([trained_checkpoint, "--sizes", "32", "--min-seconds", "0.05", "--json"]) == 0
    (row,) = json.loads(capsys.readouterr().out)
    assert row["atoms"] == 32 and row["ms_per_step"] > 0 and row["peak_memory_mb"] > 0
    assert row["atom_steps_per_s"] == __import__("pytest").approx(32 / row["ms_per_step"] * 1e3)


def test_benchmark_user_structure(trained_checkpoint, emt_xyz, capsys):
    from nequip.scripts import benchmark

    assert benchmark.main([trained_checkpoint, "--structure", emt_xyz, "--repeat", "2,1,1", "--min-seconds", "0.05", "--json"]) == 0
    (row,) = json.loads(capsys.readouterr().out)
    assert row["atoms"] == 16
    assert benchmark.main([trained_checkpoint, "--structure", emt_xyz, "--repeat", "2,1"]) == 2
    assert "--repeat" in capsys.readouterr().err


def test_benchmark_cells_hold_the_model_species():
    from nequip.scripts.benchmark import fcc_cell

    copper = fcc_cell(["Cu"], 256)
    assert len(copper) == 256 and set(copper.get_chemical_symbols()) == {"Cu"}
    assert copper.cell.lengths() == pytest.approx([4 * 3.61] * 3)
    alloy = fcc_cell(["Cu", "Au"], 32)
    assert alloy.get_chemical_symbols().count("Au") == 16 and alloy.get_chemical_symbols().count("Cu") == 16
    with pytest.raises(ValueError, match="type name 'Cu_surface' is not a chemical symbol; .*--structure"):
        fcc_cell(["Cu_surface"], 32)
