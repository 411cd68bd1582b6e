"""Compiled training (``compile_mode: compile``): the compiled model gives eager's energies, forces,
stress and weight gradients on any batch with one compilation, and ``nequip-train`` in compile mode
follows eager's loss curve with no recompilation."""

import csv

import pytest
import torch
from ase import Atoms

from helpers import TINY_CONFIG, allegro_model, batch_of, cu_au_atoms, relative_error, small_model

from nequip.data import keys
from nequip.scripts.train import main
from nequip.model.compiled import compile_gradients


def _batches():
    """Batch size 1, a mixed batch (sizes, a cluster without cell), a frame without edges and two lone
    atoms (the last three run eager, see nequip.model.compiled)."""
    cluster = Atoms("Cu3Au", positions=[[0, 0, 0], [2.5, 0, 0], [0, 2.5, 0], [1.2, 1.2, 2.0]])
    apart = Atoms("CuAu", positions=[[0, 0, 0], [8, 0, 0]], cell=[20, 20, 20], pbc=False)
    return [
        batch_of(cu_au_atoms(0)),
        batch_of(cu_au_atoms(1), cu_au_atoms(2, repeat=(3, 2, 2)), cluster),
        batch_of(apart),
        batch_of(Atoms("Au", positions=[[0, 0, 0]])),
        batch_of(Atoms("Cu", positions=[[1, 0, 0]])),
    ]


def _force_loss(out) -> torch.Tensor:
    return (out[keys.TOTAL_ENERGY] ** 2).sum() + (out[keys.FORCES] ** 2).sum() + (out[keys.STRESS] ** 2).sum()


@pytest.mark.slow
@pytest.mark.parametrize("make_model", [small_model, allegro_model], ids=["nequip", "allegro"])
def test_compiled_model_equals_eager_with_one_compilation(make_model):
    eager, compiled_model = make_model(tp_backend="extension").train(), make_model(tp_backend="extension").train()
    compiled = compile_gradients(compiled_model)
    for batch in _batches():
        results = []
        for model in (eager, compiled_model):
            model.zero_grad()
            out = model(dict(batch))
            _force_loss(out).backward()
            grads = {name: p.grad.clone() for name, p in model.named_parameters() if p.grad is not None}
            results.append((out, grads))
        (ref, ref_grads), (got, got_grads) = results
        for key in (keys.TOTAL_ENERGY, keys.ATOMIC_ENERGY, keys.FORCES, keys.STRESS):
            assert relative_error(got[key], ref[key]) < 1e-10, key
        assert got_grads.keys() == ref_grads.keys() and ref_grads
        for name, grad in ref_grads.items():
            assert relative_error(got_grads[name], grad) < 1e-9, name
    assert compiled.compilations == {"train": 1, "eval": 0}


@pytest.mark.slow
def test_compiled_evaluation_equals_eager():
    """Evaluation mode (no graph kept: MD, validation without EMA) is its own graph, compiled once."""
    eager, compiled_model = small_model(tp_backend="extension"), small_model(tp_backend="extension")
    compiled = compile_gradients(compiled_model)
    for batch in _batches():
        ref, got = eager(dict(batch)), compiled_model(dict(batch))
        for key in (keys.TOTAL_ENERGY, keys.ATOMIC_ENERGY, keys.FORCES, keys.STRESS):
            assert relative_error(got[key], ref[key]) < 1e-10, key
    assert compiled.compilations == {"train": 0, "eval": 1}


def _epoch_losses(run_dir):
    with open(run_dir / "logs" / "version_0" / "metrics.csv") as f:
        rows = list(csv.DictReader(f))
    train = [float(r["train/loss_epoch"]) for r in rows if r.get("train/loss_epoch")]
    val = [float(r["val/loss"]) for r in rows if r.get("val/loss")]
    recompilations = [float(r["compile/recompilations"]) for r in rows if r.get("compile/recompilations")]
    return train, val, recompilations


@pytest.mark.slow
def test_compiled_training_follows_eager(tmp_path, emt_xyz):
    """12 training frames in batches of 11 and 1: varying batch sizes, batch size 1 among them."""
    config = tmp_path / "config.yaml"
    config.write_text(TINY_CONFIG.format(data=emt_xyz))
    runs = {}
    for mode in ("eager", "compile"):
        args = [str(config), f"run_dir={tmp_path / mode}", f"compile_mode={mode}", "data.batch_size=11"]
        assert main(args) == 0
        runs[mode] = _epoch_losses(tmp_path / mode)
    (train_e, val_e, none), (train_c, val_c, recompilations) = runs["eager"], runs["compile"]
    assert len(train_c) == len(train_e) == 2 and not none
    assert train_c == pytest.approx(train_e, rel=1e-10) and val_c == pytest.approx(val_e, rel=1e-10)
    assert recompilations == [0.0, 0.0]


def test_unknown_compile_mode_is_a_config_error(tmp_path, emt_xyz, capsys):
    config = tmp_path / "config.yaml"
    config.write_text(TINY_CONFIG.format(data=emt_xyz))
    assert main([str(config), f"run_dir={tmp_path / 'run'}", "compile_mode=inductor"]) == 2
    assert "'compile_mode' is 'inductor'; choose one of eager, compile" in capsys.readouterr().err
