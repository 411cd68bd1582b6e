"""Model packages (.nequip.zip): round trip, CLI, ASE calculator, fine-tuning start, clear errors."""

import json
import zipfile

import numpy as np
import pytest
import torch

from helpers import cu_au_atoms, small_model

from nequip.integrations.ase import NequIPCalculator
from nequip.model.io import load_model
from nequip.model.package import read_package, write_package
from nequip.scripts.package import main as package_main


def test_round_trip_from_checkpoint(trained_checkpoint, tmp_path, capsys):
    out = str(tmp_path / "model.nequip.zip")
    assert package_main(["build", trained_checkpoint, out]) == 0
    with zipfile.ZipFile(out) as zf:
        assert sorted(zf.namelist()) == ["manifest.json", "spec.json", "weights.pt"]
        manifest = json.loads(zf.read("manifest.json"))
    assert manifest["format_version"] == 1 and manifest["type_names"] == ["Cu", "Au"] and manifest["r_max"] == 3.6
    assert package_main(["info", out]) == 0
    assert '"num_weights"' in capsys.readouterr().out

    atoms = cu_au_atoms(3)
    results = []
    for path in (trained_checkpoint, out):
        atoms.calc = NequIPCalculator.from_file(path)
        results.append((atoms.get_potential_energy(), atoms.get_forces(), atoms.get_stress()))
    (e0, f0, s0), (e1, f1, s1) = results
    assert e0 == e1 and np.array_equal(f0, f1) and np.array_equal(s0, s1)


def test_package_holds_ema_weights_not_raw(trained_checkpoint, tmp_path):
    from nequip.model.io import model_weights, read_checkpoint

    ckpt = read_checkpoint(trained_checkpoint)
    out = str(tmp_path / "m.nequip.zip")
    package_main(["build", trained_checkpoint, out])
    _, _, weights = read_package(out)
    ema = model_weights(ckpt)
    raw = {k[len("model."):]: v for k, v in ckpt["state_dict"].items() if k.startswith("model.")}
    assert all(torch.equal(weights[k], ema[k]) for k in ema)
    assert any(not torch.equal(weights[k], raw[k]) for k in raw)


def default_train_config():
    from dataclasses import asdict

    from nequip.config.schema import LossConfig, OptimizerConfig, SchedulerConfig

    return {
        "loss": asdict(LossConfig()), "optimizer": asdict(OptimizerConfig()), "scheduler": asdict(SchedulerConfig()),
        "compile_mode": "eager",
    }


def test_fine_tune_starts_from_package_weights(tmp_path):
    from nequip.train.lightning_module import NequIPLightningModule

    source = small_model(seed=1)
    path = write_package(source.spec, source.state_dict(), str(tmp_path / "s.nequip.zip"))
    train_config = {**default_train_config(), "ema_decay": 0.0, "initialize_from": path}
    module = NequIPLightningModule(source.spec, train_config)
    state = module.model.state_dict()
    assert all(torch.equal(state[k], v) for k, v in source.state_dict().items())
    fresh = NequIPLightningModule(source.spec, {**train_config, "initialize_from": None}).model.state_dict()
    assert any(not torch.equal(state[k], fresh[k]) for k in state)


def test_bad_files_are_clear_errors(tmp_path, capsys):
    with pytest.raises(FileNotFoundError, match="missing.nequip.zip"):
        load_model(str(tmp_path / "missing.nequip.zip"))
    junk = tmp_path / "junk.nequip.zip"
    junk.write_bytes(b"hello")
    with pytest.raises(ValueError, match="not a nequip model package"):
        read_package(str(junk))
    source = small_model()
    newer = str(tmp_path / "new.nequip.zip")
    write_package(source.spec, source.state_dict(), newer)
    with zipfile.ZipFile(newer) as zf:
        files = {n: zf.read(n) for n in zf.namelist()}
    manifest = json.loads(files["manifest.json"])
    manifest["format_version"] = 99
    with zipfile.ZipFile(newer, "w") as zf:
        for n, b in files.items():
            zf.writestr(n, json.dumps(manifest) if n == "manifest.json" else b)
    with pytest.raises(ValueError, match="format version 99"):
        read_package(newer)
    assert package_main(["build", str(tmp_path / "no.ckpt"), str(tmp_path / "x.nequip.zip")]) == 2
    assert "no.ckpt" in capsys.readouterr().err
    with pytest.raises(ValueError, match=r"must end with \.nequip\.zip"):
        write_package(source.spec, source.state_dict(), str(tmp_path / "x.zip"))
