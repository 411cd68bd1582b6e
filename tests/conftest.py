"""Shared fixtures. Helpers (structures, small models) live in helpers.py."""

import os

import pytest
import torch
from ase.io import write

from helpers import emt_frames

os.environ.setdefault("TORCHINDUCTOR_CACHE_DIR", os.path.join(os.environ.get("TMPDIR", "/tmp"), "nequip-test-inductor"))


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
