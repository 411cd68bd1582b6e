"""Allegro trains through ``nequip-train`` (``model.kind: allegro``) and its checkpoint reloads into a
model that predicts forces."""

import csv

import torch

from helpers import cu_au_atoms, frame
from nequip.data import keys
from nequip.model.io import load_model
from nequip.scripts.train import main

TINY_ALLEGRO = [
    "model.num_layers=1", "model.l_max=1", "model.num_tensor_features=4", "model.two_body_mlp=[8,8]",
    "model.latent_mlp=[8]", "model.readout_mlp=[8]", "data.batch_size=4", "data.val_batch_size=8",
    "data.split=[0.5,0.25,0.25]", "trainer.enable_progress_bar=false", "num_threads=1",
    "trainer.log_every_n_steps=1",
]


def test_allegro_short_training_run(tmp_path, emt_xyz, capsys):
    config = tmp_path / "config.yaml"
    config.write_text(
        "type_names: [Cu, Au]\nr_max: 3.6\nmodel_dtype: float32\nmodel: {kind: allegro}\n"
        f"data: {{train: {emt_xyz}}}\n"
    )
    run_dir = tmp_path / "run"
    assert main([str(config), f"run_dir={run_dir}", *TINY_ALLEGRO, "trainer.max_epochs=3"]) == 0
    assert "test/forces_mae" in capsys.readouterr().out
    with open(run_dir / "logs" / "version_0" / "metrics.csv") as f:
        rows = list(csv.DictReader(f))
    losses = [float(r["train/loss_epoch"]) for r in rows if r.get("train/loss_epoch")]
    assert len(losses) == 3 and losses[-1] < losses[0]
    model, spec = load_model(str(run_dir / "checkpoints" / "best.ckpt"))
    assert spec.hyperparameters.kind == "allegro" and spec.hyperparameters.avg_num_neighbors > 0
    out = model(frame(cu_au_atoms(0), r_max=3.6, dtype=torch.float32))
    assert out[keys.FORCES].dtype == torch.float32 and torch.isfinite(out[keys.FORCES]).all()
