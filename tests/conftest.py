"""Shared fixtures. Helpers (structures, small models) live in helpers.py."""

import os

import pytest
import torch
from ase.io import write

from helpers import TINY_MODEL, emt_frames

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

os.environ.setdefault("TORCHINDUCTOR_CACHE_DIR", os.path.join(os.environ.get("TMPDIR", "/tmp"), "nequip-test-inductor"))


@pytest.fixture(autouse=True)
def _environment_restored():
    """Restores os.environ after each test. Building a DDP Trainer makes Lightning write MASTER_ADDR,
    MASTER_PORT, ... into it (the SLURM test sets MASTER_ADDR=gpu01), and a later test's DDP subprocess
    would inherit them and wait for that host until its timeout."""
    saved = dict(os.environ)
    yield
    if os.environ != saved:
        os.environ.clear()
        os.environ.update(saved)


@pytest.fixture(scope="session")
def emt_xyz(tmp_path_factory):
    """Path of a 24-frame Cu-Au extxyz file with EMT energy, forces and stress."""
    path = tmp_path_factory.mktemp("data") / "cuau.xyz"
    write(path, emt_frames(24))
    return str(path)


@pytest.fixture
def float64_default():
    """float64 as torch's default dtype (e3nn builds its Wigner-D and CG constants in it)."""
    old = torch.get_default_dtype()
    torch.set_default_dtype(torch.float64)
    yield
    torch.set_default_dtype(old)


@pytest.fixture(scope="session")
def trained_checkpoint(tmp_path_factory, emt_xyz):
    """best.ckpt of a 2-epoch float64 training run on the Cu-Au EMT set."""
    from nequip.scripts.train import main

    folder = tmp_path_factory.mktemp("trained")
    config = folder / "config.yaml"
    config.write_text(f"type_names: [Cu, Au]\nr_max: 3.6\nmodel: {{kind: nequip}}\ndata: {{train: {emt_xyz}}}\n")
    assert main([str(config), f"run_dir={folder / 'run'}", "trainer.max_epochs=2", *TINY_MODEL]) == 0
    return str(folder / "run" / "checkpoints" / "best.ckpt")


@pytest.fixture(scope="session")
def tutorial_run(tmp_path_factory):
    """run_dir of configs/tutorial.yaml trained exactly as the README's main job does (~4 min)."""
    from nequip.scripts.train import main

    run_dir = tmp_path_factory.mktemp("tutorial") / "run"
    config = os.path.join(REPO, "configs", "tutorial.yaml")
    assert main([config, f"run_dir={run_dir}", "trainer.enable_progress_bar=false"]) == 0
    return run_dir
