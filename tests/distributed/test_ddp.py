"""Distributed training (Lightning DDP, gloo on CPU): two processes with half the batch each train
exactly like one process with the whole batch, and evaluate each frame once."""

import subprocess
import sys

import pytest
import torch

from helpers import TINY_CONFIG
from nequip.model.io import read_checkpoint


def train(config, run_dir, *overrides) -> str:
    result = subprocess.run(
        [sys.executable, "-m", "nequip.scripts.train", str(config), f"run_dir={run_dir}", *overrides],
        capture_output=True, text=True, timeout=600,
    )
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    return result.stdout


@pytest.mark.slow
@pytest.mark.parametrize("compile_mode", ["eager", "compile"])
def test_two_processes_equal_one_with_the_global_batch(tmp_path, emt_xyz, compile_mode):
    """The single process runs eager; the two processes eager or compiled (compiled training with
    DDP: the gradients of the compiled backward are all-reduced by DDP's hooks as usual)."""
    config = tmp_path / "config.yaml"
    config.write_text(TINY_CONFIG.format(data=emt_xyz))
    one = train(config, tmp_path / "one", "data.batch_size=4")
    two = train(
        config, tmp_path / "two", "data.batch_size=2", "trainer.devices=2", "trainer.strategy=ddp", f"compile_mode={compile_mode}"
    )
    a = read_checkpoint(str(tmp_path / "one" / "checkpoints" / "last.ckpt"))
    b = read_checkpoint(str(tmp_path / "two" / "checkpoints" / "last.ckpt"))
    assert a["global_step"] == b["global_step"] == 6
    for key, value in a["state_dict"].items():
        torch.testing.assert_close(value, b["state_dict"][key], rtol=1e-10, atol=1e-12, msg=key)
    # test metrics are sums over ranks, each frame counted once: identical to the single process
    line = lambda out: next(l for l in out.splitlines() if l.startswith("test/forces_mae:"))  # noqa: E731
    assert line(one) == line(two)
    assert two.count("run directory:") == 1  # the summary comes from rank 0 only
    assert (tmp_path / "two" / "statistics.json").exists()


@pytest.mark.slow
def test_sigterm_mid_epoch_resumes_exactly(tmp_path, emt_xyz):
    """Kill a 2-process run with SIGTERM in the middle of an epoch; rerunning finishes with exactly
    the weights of an uninterrupted run (the loader resumes at the next unseen batch)."""
    import os
    import signal
    import time

    config = tmp_path / "config.yaml"
    config.write_text(TINY_CONFIG.format(data=emt_xyz))
    ddp = ["data.batch_size=1", "trainer.devices=2", "trainer.strategy=ddp", "trainer.log_every_n_steps=1", "trainer.max_epochs=3"]
    train(config, tmp_path / "straight", *ddp)

    cut = tmp_path / "cut"
    proc = subprocess.Popen(
        [sys.executable, "-m", "nequip.scripts.train", str(config), f"run_dir={cut}", *ddp],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )
    metrics = cut / "logs" / "version_0" / "metrics.csv"
    deadline = time.time() + 180
    while not (metrics.exists() and len(metrics.read_text().splitlines()) > 3) and time.time() < deadline:
        time.sleep(0.05)
    proc.send_signal(signal.SIGTERM)
    output, _ = proc.communicate(timeout=180)
    assert proc.returncode == 3, output[-3000:]
    step = read_checkpoint(str(cut / "checkpoints" / "last.ckpt"))["global_step"]
    assert 0 < step < 18  # typically inside an epoch (6 steps each); exactness must hold wherever it stops
    train(config, cut, *ddp)
    a = read_checkpoint(str(tmp_path / "straight" / "checkpoints" / "last.ckpt"))
    b = read_checkpoint(str(cut / "checkpoints" / "last.ckpt"))
    assert a["global_step"] == b["global_step"] == 18
    for key, value in a["state_dict"].items():
        torch.testing.assert_close(value, b["state_dict"][key], rtol=0, atol=0, msg=key)
    assert os.path.exists(metrics)  # the interrupted run's log is kept
