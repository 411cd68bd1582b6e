"""User-facing data problems raise DataError (a ValueError: the CLIs print it as one line); a bad
data option in the config raises ConfigError."""

import numpy as np
import pytest
from ase import Atoms

from nequip.data import ASEDataset, TypeMapper, from_ase, neighbor_list
from nequip.data.atomic_data import check_label_values
from nequip.data.hdf5 import convert_to_hdf5
from nequip.data.statistics import compute_statistics
from nequip.data.dataset import HDF5Dataset
from nequip.errors import ConfigError, DataError

TM = TypeMapper(["Cu"])


def _atoms(**kwargs):
    return Atoms("Cu2", positions=[[0, 0, 0], [2.0, 0, 0]], cell=np.eye(3) * 4, pbc=True, **kwargs)


def test_bad_file(tmp_path):
    bad = tmp_path / "bad.xyz"
    bad.write_text("not an xyz file\n")
    with pytest.raises(DataError, match="could not read data file"):
        ASEDataset(str(bad), TM, 3.0)
    with pytest.raises(DataError, match="could not read frame 0"):
        convert_to_hdf5(str(bad), str(tmp_path / "bad.h5"))
    not_h5 = tmp_path / "x.h5"
    not_h5.write_text("plain text")
    with pytest.raises(DataError, match="could not read HDF5 data file"):
        HDF5Dataset(str(not_h5), TM, 3.0)


def test_unknown_species():
    with pytest.raises(DataError, match="species 'O' in frame 3 of x.xyz is not in type_names"):
        TM.atom_types(["Cu", "O"], where="frame 3 of x.xyz")


def test_bad_type_names_is_a_config_error():
    with pytest.raises(ConfigError, match="duplicates"):
        TypeMapper(["Cu", "Cu"])


def test_missing_and_non_finite_labels():
    atoms = _atoms()
    atoms.info["energy"] = float("nan")
    with pytest.raises(DataError, match="frame 0 of x.xyz: label 'total_energy' has NaN"):
        from_ase(atoms, TM, 3.0, where="frame 0 of x.xyz")
    atoms.info["energy"] = [1.0, 2.0]
    with pytest.raises(DataError, match="energy in frame 0 of x.xyz has 2 values"):
        from_ase(atoms, TM, 3.0, where="frame 0 of x.xyz")
    with pytest.raises(ConfigError, match="data.nonfinite_labels"):
        check_label_values({}, "ignore")


def test_bad_geometry():
    close = Atoms("Cu2", positions=[[0, 0, 0], [0.01, 0, 0]])
    with pytest.raises(DataError, match="closer than the minimum distance"):
        from_ase(close, TM, 3.0)
    with pytest.raises(DataError, match="singular"):
        neighbor_list(np.zeros((1, 3)), np.zeros((3, 3)), np.array([True, True, True]), 3.0)
    with pytest.raises(DataError, match="NaN or inf"):
        neighbor_list(np.full((1, 3), np.nan), np.zeros((3, 3)), np.zeros(3, bool), 3.0)
    # a wrong array shape is a caller's bug, not a data problem
    with pytest.raises(ValueError) as info:
        neighbor_list(np.zeros((1, 2)), np.zeros((3, 3)), np.zeros(3, bool), 3.0)
    assert not isinstance(info.value, DataError)


def test_no_frames():
    with pytest.raises(DataError, match="no frames"):
        compute_statistics([], 1)
