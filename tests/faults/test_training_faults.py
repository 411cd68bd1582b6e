"""Bad inputs and faults of training, as a new user would hit them (issue 13, training and data
half): each case asserts the exact outcome through ``nequip-train`` (exit code, the one-line error,
the files left behind, finite weights)."""

import errno
import json
import math
import os
import signal
import socket
import subprocess
import sys
import time

import numpy as np
import pytest
import torch
import yaml
from ase import Atoms
from ase.io import write

from helpers import TINY_CONFIG, emt_frames
from nequip.model.io import read_checkpoint
from nequip.scripts.train import main
from nequip.train.checkpoint_io import AtomicCheckpointIO
from nequip.train.nonfinite import NonFiniteError
from nequip.train.run_lock import LOCK_NAME, RunDirLockedError, RunLock

FAST = ["trainer.max_steps=1", "trainer.max_epochs=1"]


def labelled(frames, drop_energy=(), drop_forces=(), drop_stress=(), energy=None):
    """Plain extxyz frames (info/arrays labels) from EMT frames, with some labels left out or replaced."""
    out = []
    for i, atoms in enumerate(frames):
        plain = Atoms(atoms.get_chemical_symbols(), positions=atoms.positions, cell=atoms.cell, pbc=True)
        if i not in drop_energy:
            plain.info["energy"] = (energy or {}).get(i, atoms.get_potential_energy())
        if i not in drop_forces:
            plain.arrays["forces"] = atoms.get_forces()
        if i not in drop_stress:
            plain.info["stress"] = atoms.get_stress()
        out.append(plain)
    return out


@pytest.fixture(scope="module")
def frames():
    return emt_frames(8)


def write_data(tmp_path, atoms_list, name="data.xyz") -> str:
    path = str(tmp_path / name)
    write(path, atoms_list)
    return path


def config_for(tmp_path, data_path) -> str:
    path = tmp_path / "config.yaml"
    path.write_text(TINY_CONFIG.format(data=data_path))
    return str(path)


def train(config, run_dir, *overrides) -> int:
    return main([config, f"run_dir={run_dir}", *overrides])


def model_weights(ckpt_path):
    return {k: v for k, v in read_checkpoint(str(ckpt_path))["state_dict"].items() if k.startswith("model.")}


def error_line(capsys) -> str:
    err = capsys.readouterr().err
    assert "Traceback" not in err, err
    lines = [line for line in err.splitlines() if line.startswith("nequip-train: error:")]
    assert len(lines) == 1, err
    return lines[0]


# --- labels -----------------------------------------------------------------------------------


def test_partial_labels_train_finite_weights_end_to_end(tmp_path, frames, capsys):
    """Frames without energy, others without forces, others without stress: training runs, and the
    weights stay finite and change with every step."""
    data = write_data(tmp_path, labelled(frames, drop_energy=(0, 3, 5), drop_forces=(1, 4), drop_stress=(2, 6, 7)))
    config = config_for(tmp_path, data)
    run_dir = tmp_path / "run"
    overrides = ["loss.stress=1.0", "data.batch_size=2", "trainer.max_epochs=5"]
    assert train(config, run_dir, "trainer.max_steps=1", *overrides) == 0
    first = model_weights(run_dir / "checkpoints" / "last.ckpt")
    assert train(config, run_dir, "trainer.max_steps=4", *overrides) == 0  # resume with a changed max_steps
    ckpt = read_checkpoint(str(run_dir / "checkpoints" / "last.ckpt"))
    assert ckpt["global_step"] == 4
    later = model_weights(run_dir / "checkpoints" / "last.ckpt")
    for name, value in later.items():
        assert torch.isfinite(value).all(), name
    for name, value in read_checkpoint(str(run_dir / "checkpoints" / "last.ckpt"))["state_dict"].items():
        if value.is_floating_point():
            assert torch.isfinite(value).all(), name  # EMA copy too
    trainable = {name for name, value in first.items() if "weight" in name and value.numel() > 0}
    changed = {name for name in first if not torch.equal(first[name], later[name])}
    assert len(trainable) >= 10 and trainable <= changed, trainable - changed  # trained, not frozen
    assert all(torch.isfinite(v).all() for v in first.values())


def test_nan_label_in_file_is_a_data_error(tmp_path, frames, capsys):
    data = write_data(tmp_path, labelled(frames, energy={3: math.nan}))
    config = config_for(tmp_path, data)
    assert train(config, tmp_path / "run", *FAST) == 2
    line = error_line(capsys)
    assert f"frame 3 of {data}" in line and "label 'total_energy' has NaN or infinite values" in line
    assert "data.nonfinite_labels: missing" in line
    assert not (tmp_path / "run" / "checkpoints").exists()


def test_infinite_force_names_frame_and_atom(tmp_path, frames, capsys):
    atoms_list = labelled(frames)
    atoms_list[5].arrays["forces"][2, 1] = np.inf
    data = write_data(tmp_path, atoms_list)
    assert train(config_for(tmp_path, data), tmp_path / "run", *FAST) == 2
    line = error_line(capsys)
    assert f"frame 5 of {data}" in line and "label 'forces'" in line and "(atom 2)" in line


def test_nan_label_opt_in_as_missing_trains_finite(tmp_path, frames):
    atoms_list = labelled(frames, energy={3: math.nan})
    atoms_list[5].arrays["forces"][2, 1] = np.nan
    data = write_data(tmp_path, atoms_list)
    run_dir = tmp_path / "run"
    assert train(config_for(tmp_path, data), run_dir, "data.nonfinite_labels=missing", "data.batch_size=8", *FAST) == 0
    for name, value in model_weights(run_dir / "checkpoints" / "last.ckpt").items():
        assert torch.isfinite(value).all(), name


# --- geometry ---------------------------------------------------------------------------------


def with_coincident_atoms(frames, index):
    atoms_list = labelled(frames)
    atoms_list[index].positions[1] = atoms_list[index].positions[0]
    return atoms_list


def test_coincident_atoms_are_a_data_error(tmp_path, frames, capsys):
    atoms_list = with_coincident_atoms(frames, 2)
    data = write_data(tmp_path, atoms_list)
    assert train(config_for(tmp_path, data), tmp_path / "run", *FAST) == 2
    line = error_line(capsys)
    species = atoms_list[2].get_chemical_symbols()
    assert f"frame 2 of {data}: atoms 0 ({species[0]}) and 1 ({species[1]}) are 0 Å apart" in line
    assert "data.min_distance" in line


def test_min_distance_is_configurable(tmp_path, frames, capsys):
    """EMT frames are rattled FCC (nearest neighbours ~2.2-2.9 Å): 2.0 Å passes, 2.0 + the shortest distance fails."""
    data = write_data(tmp_path, labelled(frames))
    shortest = min(
        float(np.min(a.get_all_distances(mic=True)[np.triu_indices(len(a), 1)])) for a in frames
    )
    assert train(config_for(tmp_path, data), tmp_path / "run", f"data.min_distance={shortest * 0.99}", *FAST) == 0
    assert train(config_for(tmp_path, data), tmp_path / "run2", f"data.min_distance={shortest * 1.01}", *FAST) == 2
    assert "closer than the minimum distance" in error_line(capsys)


def test_no_edges_is_a_clear_error(tmp_path, frames, capsys):
    data = write_data(tmp_path, labelled(frames))
    assert train(config_for(tmp_path, data), tmp_path / "run", "r_max=0.5", *FAST) == 2
    line = error_line(capsys)
    assert "no atom of the training data has a neighbor within r_max = 0.5 Å" in line


# --- non-finite guard ---------------------------------------------------------------------------


def test_non_finite_loss_stops_before_the_step_naming_the_frames(tmp_path, frames, capsys):
    """With the distance check off, coincident atoms give a NaN loss at the first step: the run stops
    with exit 2 naming the step and the frames, and no checkpoint is written."""
    data = write_data(tmp_path, with_coincident_atoms(frames, 0))
    run_dir = tmp_path / "run"
    # split [0.5, 0.25, 0.25] of 8 frames with seed 0: training frames 4, 0, 7, 3, all in one batch
    assert train(config_for(tmp_path, data), run_dir, "data.min_distance=0", "data.batch_size=8", *FAST) == 2
    line = error_line(capsys)
    assert "non-finite loss (nan) at step 0 (epoch 0)" in line
    assert all(f"frame {i} of {data}" in line for i in (4, 0, 7, 3))
    assert not os.path.exists(run_dir / "checkpoints" / "last.ckpt")
    assert not os.path.exists(run_dir / LOCK_NAME)


def test_non_finite_validation_loss_stops_before_any_checkpoint(tmp_path, frames, capsys):
    """Finite weights, but the model gives NaN on a validation frame (frame 2: validation with seed 0)."""
    data = write_data(tmp_path, with_coincident_atoms(frames, 2))
    run_dir = tmp_path / "run"
    assert train(config_for(tmp_path, data), run_dir, "data.min_distance=0", "data.batch_size=8", *FAST) == 2
    line = error_line(capsys)
    assert "non-finite validation loss after step 1 (epoch 0)" in line and f"frame 2 of {data}" in line
    assert not (run_dir / "checkpoints" / "best.ckpt").exists() and not (run_dir / "checkpoints" / "last.ckpt").exists()


def test_checkpoint_with_non_finite_weights_is_never_written(tmp_path):
    path = tmp_path / "last.ckpt"
    good = {"state_dict": {"model.w": torch.ones(3)}, "epoch": 0}
    AtomicCheckpointIO().save_checkpoint(good, str(path))
    before = path.read_bytes()
    bad = {"state_dict": {"model.w": torch.tensor([1.0, math.nan, 0.0]), "ema.module.w": torch.ones(3)}}
    with pytest.raises(NonFiniteError, match=r"refusing to write .*last.ckpt: its weight 'model.w' is not finite"):
        AtomicCheckpointIO().save_checkpoint(bad, str(path))
    assert path.read_bytes() == before


# --- config and environment -------------------------------------------------------------------


@pytest.mark.parametrize(
    "override, message",
    [
        ("optimizer.lr=0", "optimizer.lr must be positive, got 0"),
        ("optimizer.lr=-0.01", "optimizer.lr must be positive, got -0.01"),
        ("loss.forces=-1", "loss.forces (a loss coefficient) must be >= 0, got -1"),
        ("num_threads=0", "num_threads must be >= 1"),
        ("data.min_distance=-1", "data.min_distance (Å) must be >= 0"),
        ("data.nonfinite_labels=ignore", "'data.nonfinite_labels' is 'ignore'; choose one of error, missing"),
        ("optimizer.lr=nan", "optimizer.lr must be positive, got nan"),
        ("loss.energy=nan", "loss.energy (a loss coefficient) must be >= 0, got nan"),
        ("model.num_layers=two", "bad value for key 'model.num_layers': Value 'two' of type 'str' could not be converted to Integer"),
        ("model.parity=maybe", "bad value for key 'model.parity'"),
        ("model.num_layers=0", "model.num_layers must be >= 1, got 0"),
        ("model.num_features=-4", "model.num_features must be >= 1, got -4"),
        ("data.split=[1.0,0.0,0.0]", "scheduler 'plateau' follows val/loss, but there is no validation data"),
    ],
)
def test_bad_values_are_config_errors(tmp_path, frames, capsys, override, message):
    data = write_data(tmp_path, labelled(frames[:2]))
    assert train(config_for(tmp_path, data), tmp_path / "run", override) == 2
    assert message in error_line(capsys)


@pytest.mark.parametrize(
    "code, text", [(errno.ENOSPC, "No space left on device"), (errno.EROFS, "Read-only file system"), (errno.EACCES, "Permission denied")]
)
def test_write_failure_during_training_is_one_line(tmp_path, frames, capsys, monkeypatch, code, text):
    """Disk full or a run_dir that became read-only while training (simulated at the checkpoint write:
    tests run as root, which chmod does not stop)."""
    import nequip.train.checkpoint_io as checkpoint_io

    def fail(path, data):
        raise OSError(code, os.strerror(code), path)

    monkeypatch.setattr(checkpoint_io, "atomic_write_bytes", fail)
    data = write_data(tmp_path, labelled(frames))
    run_dir = tmp_path / "run"
    assert train(config_for(tmp_path, data), run_dir, *FAST) == 2
    line = error_line(capsys)
    assert f"cannot write {run_dir / 'checkpoints'}" in line and text in line and "rerun to resume" in line
    assert not os.path.exists(run_dir / LOCK_NAME)


# --- one run per run_dir ------------------------------------------------------------------------


@pytest.mark.parametrize("run_dir", ["a_file/run", "a_file"])
def test_run_dir_that_is_or_is_under_a_file_is_one_line(tmp_path, frames, capsys, run_dir):
    data = write_data(tmp_path, labelled(frames[:2]))
    (tmp_path / "a_file").write_text("not a folder")
    assert train(config_for(tmp_path, data), tmp_path / run_dir) == 2
    line = error_line(capsys)
    assert line.startswith(f"nequip-train: error: cannot write {tmp_path / run_dir}: ")
    assert f"make run_dir {tmp_path / run_dir} writable (or choose another)" in line
    assert (tmp_path / "a_file").read_text() == "not a folder"


def test_second_run_in_the_same_run_dir_is_refused(tmp_path, frames, capsys):
    data = write_data(tmp_path, labelled(frames))
    config = config_for(tmp_path, data)
    run_dir = tmp_path / "run"
    first = subprocess.Popen(
        [sys.executable, "-m", "nequip.scripts.train", config, f"run_dir={run_dir}", "trainer.max_epochs=100000"],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )
    try:
        lock = run_dir / LOCK_NAME
        deadline = time.time() + 120
        while not (lock.exists() and (run_dir / "checkpoints" / "last.ckpt").exists()) and time.time() < deadline:
            assert first.poll() is None, first.communicate()[0]
            time.sleep(0.2)
        assert train(config, run_dir, *FAST) == 2
        line = error_line(capsys)
        assert f"run_dir {run_dir} is in use by nequip-train PID {first.pid} on host {socket.gethostname()}" in line
        assert "use another run_dir" in line
        assert first.poll() is None  # the first run goes on, untouched
    finally:
        first.send_signal(signal.SIGTERM)
        output, _ = first.communicate(timeout=120)
    assert first.returncode == 3, output[-3000:]  # clean stop on SIGTERM
    assert not (run_dir / LOCK_NAME).exists()  # released at exit


def dead_pid() -> int:
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    proc.wait()
    return proc.pid


def test_stale_lock_of_a_dead_process_is_taken_over(tmp_path, frames, capsys):
    data = write_data(tmp_path, labelled(frames))
    run_dir = tmp_path / "run"
    run_dir.mkdir()
    stale = {"host": socket.gethostname(), "pid": dead_pid(), "start_time": "2026-01-01T00:00:00Z", "token": "x"}
    (run_dir / LOCK_NAME).write_text(json.dumps(stale))
    assert train(config_for(tmp_path, data), run_dir, *FAST) == 0
    out = capsys.readouterr().out
    assert f"taking over the stale lock of PID {stale['pid']} on host {stale['host']}" in out
    assert not (run_dir / LOCK_NAME).exists()


def test_lock_of_another_host_is_stale_only_by_heartbeat_age(tmp_path):
    path = tmp_path / LOCK_NAME
    remote = {"host": "other-node-17", "pid": 4242, "start_time": "2026-01-01T00:00:00Z", "token": "y"}
    path.write_text(json.dumps(remote))
    notes = []
    with pytest.raises(RunDirLockedError, match="in use by nequip-train PID 4242 on host other-node-17"):
        RunLock(str(tmp_path), notify=notes.append, stale_after_s=600).acquire()
    old = time.time() - 601
    os.utime(path, (old, old))  # its holder stopped refreshing the heartbeat 10 minutes ago
    lock = RunLock(str(tmp_path), notify=notes.append, stale_after_s=600)
    with lock:
        assert json.loads(path.read_text())["pid"] == os.getpid()
        assert notes and "taking over the stale lock of PID 4242 on host other-node-17" in notes[0]
    assert not path.exists()


def test_lock_of_an_earlier_incarnation_of_a_requeued_slurm_job_is_stale(tmp_path, monkeypatch):
    path = tmp_path / LOCK_NAME
    earlier = {"host": "other-node-17", "pid": 4242, "start_time": "2026-01-01T00:00:00Z", "token": "y",
               "slurm_job": "777", "slurm_restart": 0}
    path.write_text(json.dumps(earlier))
    monkeypatch.setenv("SLURM_JOB_ID", "777")
    monkeypatch.setenv("SLURM_RESTART_COUNT", "0")  # the same incarnation (another srun in the job): in use
    with pytest.raises(RunDirLockedError, match="on host other-node-17"):
        RunLock(str(tmp_path)).acquire()
    monkeypatch.setenv("SLURM_JOB_ID", "778")  # another job
    with pytest.raises(RunDirLockedError):
        RunLock(str(tmp_path)).acquire()
    monkeypatch.setenv("SLURM_JOB_ID", "777")
    monkeypatch.setenv("SLURM_RESTART_COUNT", "1")  # requeued: SLURM ended the earlier incarnation
    notes = []
    with RunLock(str(tmp_path), notify=notes.append):
        assert json.loads(path.read_text())["slurm_restart"] == 1
    assert "taking over the stale lock of PID 4242 on host other-node-17" in notes[0]


def test_lock_heartbeat_refreshes_mtime(tmp_path):
    with RunLock(str(tmp_path), heartbeat_s=0.05):
        path = tmp_path / LOCK_NAME
        old = time.time() - 1000
        os.utime(path, (old, old))
        deadline = time.time() + 10
        while path.stat().st_mtime < old + 500 and time.time() < deadline:
            time.sleep(0.05)
        assert path.stat().st_mtime > old + 500


# --- resume ---------------------------------------------------------------------------------------


def test_resume_refuses_changed_model_and_keeps_config(tmp_path, frames, capsys):
    data = write_data(tmp_path, labelled(frames))
    config = config_for(tmp_path, data)
    run_dir = tmp_path / "run"
    assert train(config, run_dir, *FAST) == 0
    saved = (run_dir / "config.yaml").read_text()
    last = (run_dir / "checkpoints" / "last.ckpt").read_bytes()
    assert train(config, run_dir, "trainer.max_steps=2", "model.num_features=8", "r_max=4.0") == 2
    line = error_line(capsys)
    assert "model.num_features: 4 -> 8" in line and "r_max: 3.6 -> 4.0" in line
    assert "use a new run_dir, or resume=false overwrite=true" in line
    assert (run_dir / "config.yaml").read_text() == saved  # not rewritten with the refused values
    assert (run_dir / "checkpoints" / "last.ckpt").read_bytes() == last


def test_resume_allows_changed_max_epochs(tmp_path, frames, capsys):
    data = write_data(tmp_path, labelled(frames))
    config = config_for(tmp_path, data)
    run_dir = tmp_path / "run"
    assert train(config, run_dir, "trainer.max_epochs=1") == 0
    steps = read_checkpoint(str(run_dir / "checkpoints" / "last.ckpt"))["global_step"]
    # explicitly giving a model default that was omitted before is no change
    assert train(config, run_dir, "trainer.max_epochs=2", "logging.loggers=[]", "model.parity=true") == 0
    assert read_checkpoint(str(run_dir / "checkpoints" / "last.ckpt"))["global_step"] == 2 * steps
    assert yaml.safe_load((run_dir / "config.yaml").read_text())["trainer"]["max_epochs"] == 2
    # fewer epochs than already trained: one line, not Lightning's traceback
    assert train(config, run_dir, "trainer.max_epochs=0") == 2
    assert "has already trained 2 epochs, more than trainer.max_epochs=0; raise trainer.max_epochs" in error_line(capsys)


def test_resume_false_needs_overwrite(tmp_path, frames, capsys):
    data = write_data(tmp_path, labelled(frames))
    config = config_for(tmp_path, data)
    run_dir = tmp_path / "run"
    assert train(config, run_dir, *FAST) == 0
    last = run_dir / "checkpoints" / "last.ckpt"
    before = last.read_bytes()
    assert train(config, run_dir, "resume=false", *FAST) == 2
    line = error_line(capsys)
    assert "resume=false would overwrite the checkpoints of an earlier run" in line and "best.ckpt, last.ckpt" in line
    assert "add overwrite=true" in line
    assert last.read_bytes() == before
    assert train(config, run_dir, "resume=false", "overwrite=true", "model.num_features=8", *FAST) == 0
    assert "overwrite=true: deleted the earlier checkpoints" in capsys.readouterr().out
    assert read_checkpoint(str(last))["hyper_parameters"]["spec"]["model"]["num_features"] == 8


# --- DDP and compiled training ------------------------------------------------------------------


@pytest.mark.slow
def test_non_finite_guard_stops_all_ddp_ranks(tmp_path, frames):
    """Two DDP processes: the NaN batch is on one rank; both stop at the same step (no hang), exit
    code 2, the message names the bad frame. (The guard runs outside the compiled step, so eager
    training tests it; compiled DDP training itself is tested in tests/distributed/test_ddp.py.)"""
    data = write_data(tmp_path, with_coincident_atoms(frames, 0))
    config = config_for(tmp_path, data)
    run_dir = tmp_path / "run"
    result = subprocess.run(
        [
            sys.executable, "-m", "nequip.scripts.train", config, f"run_dir={run_dir}", "data.min_distance=0",
            "data.batch_size=2", "trainer.devices=2", "trainer.strategy=ddp", *FAST,
        ],
        capture_output=True, text=True, timeout=600,
    )
    assert result.returncode == 2, result.stdout[-3000:] + result.stderr[-3000:]
    # one process per rank: 2 frames each, every training frame named once
    assert "non-finite loss at step 0 (epoch 0)" in result.stderr
    assert all(f"frame {i} of {data}" in result.stderr for i in (4, 0, 7, 3))
    assert "Traceback" not in result.stderr
    assert not (run_dir / "checkpoints" / "last.ckpt").exists()
    assert not (run_dir / LOCK_NAME).exists()
