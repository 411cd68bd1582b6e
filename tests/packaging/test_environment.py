"""`--version` on every console script, and the one-line refusal of an environment that also holds
the public mir-group `nequip` distribution (faked by a dist-info folder on sys.path)."""

import os
import subprocess
import sys
from pathlib import Path

import pytest

import nequip
from nequip.scripts import benchmark, compile, data, evaluate, package, train
from nequip import tutorial

REPO = Path(__file__).resolve().parents[2]
SCRIPTS = {
    "nequip-train": train, "nequip-evaluate": evaluate, "nequip-data": data, "nequip-benchmark": benchmark,
    "nequip-compile": compile, "nequip-package": package, "nequip-tutorial": tutorial,
}


@pytest.mark.parametrize("prog", sorted(SCRIPTS))
def test_version(prog, capsys):
    import torch

    with pytest.raises(SystemExit) as exit:
        SCRIPTS[prog].main(["--version"])
    assert exit.value.code == 0
    out = capsys.readouterr().out.strip()
    assert out.startswith(f"{prog}: nequip-stack {nequip.__version__} (torch {torch.__version__}, Python ")
    assert "\n" not in out


def test_console_scripts_are_the_tested_ones():
    import tomllib

    scripts = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]["scripts"]
    assert set(scripts) == set(SCRIPTS)


def _fake_distribution(folder: Path, name: str, version: str) -> None:
    info = folder / f"{name.replace('-', '_')}-{version}.dist-info"
    info.mkdir(parents=True)
    (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {name}\nVersion: {version}\n")


def _run(code: str, extra_path: Path) -> subprocess.CompletedProcess:
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(REPO), str(extra_path)]))
    return subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, cwd=extra_path)


def test_mir_group_distribution_is_one_line_at_import(tmp_path):
    _fake_distribution(tmp_path, "nequip", "0.6.2")
    result = _run("import nequip; print(nequip.__file__)", tmp_path)
    assert result.returncode == 0 and result.stdout.strip() == str(REPO / "nequip" / "__init__.py")
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("nequip-stack: ERROR: the mir-group distribution 'nequip' 0.6.2 (in ")
    assert "not supported" in lines[0] and "pip uninstall nequip, then pip install --force-reinstall nequip-stack" in lines[0]


def test_mir_group_allegro_is_named_in_the_cli(tmp_path):
    _fake_distribution(tmp_path, "nequip", "0.6.2")
    _fake_distribution(tmp_path, "nequip-allegro", "0.4.0")
    result = _run("from nequip.scripts.package import main; main(['--version'])", tmp_path)
    assert result.returncode == 0 and result.stdout.startswith("nequip-package: nequip-stack")
    (line,) = result.stderr.strip().splitlines()
    assert "'nequip' 0.6.2" in line and "'nequip-allegro' 0.4.0" in line
    assert "pip uninstall nequip nequip-allegro" in line


def test_clean_environment_says_nothing(tmp_path):
    _fake_distribution(tmp_path, "nequip-tools", "1.0")  # a name that merely starts the same
    result = _run("import nequip", tmp_path)
    assert result.returncode == 0 and result.stderr == ""
