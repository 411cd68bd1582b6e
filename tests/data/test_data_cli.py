import subprocess
import sys

import h5py
import pytest
from ase.build import bulk
from ase.calculators.singlepoint import SinglePointCalculator
from ase.io import write

from nequip.scripts.data import main


@pytest.fixture
def xyz(tmp_path):
    frames = []
    for k in range(3):
        a = bulk("Cu", "fcc", a=3.6 + 0.01 * k, cubic=True)
        if k != 1:  # the middle frame has no labels
            a.calc = SinglePointCalculator(a, energy=-k, forces=a.positions * 0.1)
        frames.append(a)
    path = tmp_path / "in.xyz"
    write(path, frames, format="extxyz")
    return str(path)


def test_convert_and_info(xyz, tmp_path, capsys):
    out = str(tmp_path / "out.h5")
    assert main(["convert", xyz, out, "--chunk-frames", "2"]) == 0
    assert "wrote 3 frames (12 atoms)" in capsys.readouterr().out
    with h5py.File(out, "r") as f:
        assert f["positions"].shape == (12, 3)
    for path in (xyz, out):
        assert main(["info", path]) == 0
        text = capsys.readouterr().out
        assert "frames:  3" in text and "Cu (12)" in text
        assert "energy 2/3" in text and "forces 2/3" in text and "stress 0/3" in text


def test_data_errors_exit_2(tmp_path, capsys):
    assert main(["convert", str(tmp_path / "nope.xyz"), str(tmp_path / "o.h5")]) == 2
    err = capsys.readouterr().err
    assert err.startswith("nequip-data: error: data file") and "not found" in err
    assert err.count("\n") == 1  # one line, no traceback
    assert main(["info", str(tmp_path / "nope.h5")]) == 2


@pytest.mark.parametrize(
    "argv",
    [[], ["convert", "a.xyz"], ["convert", "a.xyz", "b.txt"], ["frobnicate"],
     ["convert", "a.xyz", "b.h5", "--chunk-frames", "0"]],
)
def test_usage_errors_exit_2(argv):
    with pytest.raises(SystemExit) as e:
        main(argv)
    assert e.value.code == 2


def test_module_entry_point(xyz):
    r = subprocess.run([sys.executable, "-m", "nequip.scripts.data", "info", xyz],
                       capture_output=True, text=True)
    assert r.returncode == 0 and "frames:  3" in r.stdout
