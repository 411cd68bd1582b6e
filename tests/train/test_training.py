"""Training through ``nequip-train``: a short run, exact restart, clean stop on SIGTERM."""

import csv
import signal
import subprocess
import sys
import time

import pytest
import torch

from helpers import TINY_MODEL
from nequip.model.io import load_model, read_checkpoint
from nequip.scripts.train import EXIT_INTERRUPTED, main

SMALL = TINY_MODEL + ["trainer.log_every_n_steps=1"]


def write_config(tmp_path, data_path, dtype="float64") -> str:
    path = tmp_path / "config.yaml"
    path.write_text(
        f"type_names: [Cu, Au]\nr_max: 3.6\nmodel_dtype: {dtype}\nmodel: {{kind: nequip}}\n"
        f"data: {{train: {data_path}}}\n"
    )
    return str(path)


def run_train(config, run_dir, *overrides) -> int:
    return main([config, f"run_dir={run_dir}", *SMALL, *overrides])


def test_short_training_run(tmp_path, emt_xyz, capsys):
    config = write_config(tmp_path, emt_xyz)
    run_dir = tmp_path / "run"
    assert run_train(config, run_dir, "trainer.max_epochs=4", "logging.loggers=[csv,tensorboard,wandb]") == 0
    out = capsys.readouterr().out
    assert "test/forces_mae" in out and "best checkpoint:" in out and "(epoch " in out
    # not a terminal: plain progress lines instead of a bar
    assert "epoch 3 validation  loss" in out and "ETA" in out and "\r" not in out
    for name in ("checkpoints/last.ckpt", "checkpoints/best.ckpt", "config.yaml", "logs/version_0/metrics.csv"):
        assert (run_dir / name).exists(), name
    assert any((run_dir / "tensorboard").iterdir())
    assert list((run_dir / "wandb").glob("offline-run-*"))  # W&B stays offline unless configured
    with open(run_dir / "logs" / "version_0" / "metrics.csv") as f:
        rows = list(csv.DictReader(f))
    losses = [float(r["train/loss_epoch"]) for r in rows if r.get("train/loss_epoch")]
    assert len(losses) == 4 and losses[-1] < losses[0]
    val = [r for r in rows if r.get("val/forces_mae")]
    assert val and all(float(r["val/forces_mae"]) > 0 for r in val)
    assert any(r.get("val/forces_mae_Au") for r in rows)
    model, spec = load_model(str(run_dir / "checkpoints" / "best.ckpt"))
    assert spec.type_names == ("Cu", "Au") and spec.hyperparameters.avg_num_neighbors > 0




def test_restart_is_exact(tmp_path, emt_xyz):
    config = write_config(tmp_path, emt_xyz)
    straight, resumed = tmp_path / "straight", tmp_path / "resumed"
    assert run_train(config, straight, "trainer.max_epochs=3") == 0
    assert run_train(config, resumed, "trainer.max_epochs=2") == 0
    assert run_train(config, resumed, "trainer.max_epochs=3") == 0
    a = read_checkpoint(str(straight / "checkpoints" / "last.ckpt"))
    b = read_checkpoint(str(resumed / "checkpoints" / "last.ckpt"))
    assert a["global_step"] == b["global_step"] == 3 * 3
    assert a["state_dict"].keys() == b["state_dict"].keys()
    for key in a["state_dict"]:
        torch.testing.assert_close(a["state_dict"][key], b["state_dict"][key], rtol=1e-12, atol=1e-14, msg=key)
    for sa, sb in zip(a["optimizer_states"][0]["state"].values(), b["optimizer_states"][0]["state"].values()):
        for key in sa:
            torch.testing.assert_close(sa[key], sb[key], rtol=1e-12, atol=1e-14)


def test_resume_refuses_changed_species(tmp_path, emt_xyz, capsys):
    config = write_config(tmp_path, emt_xyz)
    run_dir = tmp_path / "run"
    assert run_train(config, run_dir, "trainer.max_epochs=1") == 0
    assert run_train(config, run_dir, "trainer.max_epochs=2", "type_names=[Au,Cu]") == 2
    assert "type_names" in capsys.readouterr().err


@pytest.mark.slow
@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT])
def test_interrupt_saves_and_resumes(tmp_path, emt_xyz, signum):
    config = write_config(tmp_path, emt_xyz)
    run_dir = tmp_path / "run"
    cmd = [sys.executable, "-m", "nequip.scripts.train", config, f"run_dir={run_dir}", *SMALL, "trainer.max_epochs=1000"]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    metrics = run_dir / "logs" / "version_0" / "metrics.csv"
    deadline = time.time() + 120
    while not (metrics.exists() and metrics.stat().st_size > 0) and time.time() < deadline:
        time.sleep(0.5)
    proc.send_signal(signum)
    output, _ = proc.communicate(timeout=120)
    assert proc.returncode == EXIT_INTERRUPTED, output
    assert "rerun to resume" in output
    assert not (run_dir / "nequip-train.lock").exists()  # the run_dir lock is released on SIGTERM too
    step = read_checkpoint(str(run_dir / "checkpoints" / "last.ckpt"))["global_step"]
    assert step > 0
    epochs_done = step // 3
    assert run_train(config, run_dir, f"trainer.max_epochs={epochs_done + 2}") == 0
    assert read_checkpoint(str(run_dir / "checkpoints" / "last.ckpt"))["global_step"] > step
    assert metrics.stat().st_size > 0  # the interrupted run's log is kept; the resumed run logs to version_1
    assert (run_dir / "logs" / "version_1" / "metrics.csv").exists()
