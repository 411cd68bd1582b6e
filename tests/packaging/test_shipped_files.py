"""The files the installed package needs from the repository's top-level folders: found through
nequip._files in a checkout (the wheel/sdist case: test_distributions.py), and the tutorial copied
out of them by `nequip-tutorial DIR` with configs whose data paths resolve."""

from pathlib import Path

import pytest

from nequip import tutorial
from nequip._files import FOLDERS, shipped_dir
from nequip.config import load_config

REPO = Path(__file__).resolve().parents[2]


def test_checkout_folders_are_the_repository_ones():
    for name in FOLDERS:
        assert shipped_dir(name) == REPO / name
    with pytest.raises(ValueError, match="unknown shipped folder 'docker'"):
        shipped_dir("docker")


def test_native_sources_are_located_through_shipped_dir():
    from nequip.integrations import lammps
    from nequip.ops import extension

    assert extension.SOURCE_DIR == REPO / "extensions" / "csrc"
    assert (extension.SOURCE_DIR / extension.CPU_SOURCES[0]).is_file()
    assert lammps.SOURCE_DIR == REPO / "cpp" and (lammps.SOURCE_DIR / "CMakeLists.txt").is_file()


def test_tutorial_copy_and_commands(tmp_path, capsys):
    folder = tmp_path / "tut"
    assert tutorial.main([str(folder)]) == 0
    out = capsys.readouterr().out
    assert f"cd {folder}\nnequip-train configs/tutorial.yaml" in out and "examples/ase_md.py" in out
    for name in ("configs/tutorial.yaml", "configs/allegro_tutorial.yaml", "configs/slurm/train.sbatch",
                 "examples/ase_md.py", "examples/data/cu_emt.xyz", "examples/data/cu_emt_test.xyz"):
        assert (folder / name).read_bytes() == (REPO / name).read_bytes(), name
    config = load_config(str(folder / "configs" / "tutorial.yaml"))
    assert config.data.train[0].path == str(folder / "examples" / "data" / "cu_emt.xyz")
    assert config.model.tp_backend == "extension"


def test_tutorial_does_not_overwrite(tmp_path, capsys):
    assert tutorial.main([str(tmp_path)]) == 0
    (tmp_path / "configs" / "tutorial.yaml").write_text("edited")
    capsys.readouterr()
    assert tutorial.main([str(tmp_path)]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("nequip-tutorial: error: ") and "already exists" in err and "--force" in err and "\n" not in err
    assert (tmp_path / "configs" / "tutorial.yaml").read_text() == "edited"
    assert tutorial.main([str(tmp_path), "--force"]) == 0
    assert (tmp_path / "configs" / "tutorial.yaml").read_bytes() == (REPO / "configs" / "tutorial.yaml").read_bytes()
