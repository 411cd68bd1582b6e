"""extxyz -> nequip HDF5 -> dicts equal to those read directly from the extxyz."""

import os
import pickle

import h5py
import numpy as np
import pytest
import torch
from ase import Atoms
from ase.build import bulk, molecule
from ase.calculators.singlepoint import SinglePointCalculator
from ase.io import write
from torch.utils.data import DataLoader

from nequip.data import (
    ASEDataset, HDF5Dataset, TypeMapper, collate, convert_to_hdf5, keys, load_dataset,
)
from nequip.data.hdf5 import FORMAT_VERSION

TM = TypeMapper(["H", "C", "O", "Cu"])


def mixed_frames():
    rng = np.random.default_rng(0)
    out = []
    full = bulk("Cu", "fcc", a=3.6, cubic=True).repeat((1, 1, 2))
    full.positions += rng.normal(0, 0.1, full.positions.shape)
    full.calc = SinglePointCalculator(
        full, energy=-12.5, forces=rng.normal(size=(8, 3)), stress=rng.normal(size=6)
    )
    out.append(full)
    out.append(molecule("CH3OH"))  # no labels, no cell
    vir = bulk("Cu", "fcc", a=3.7)  # primitive triclinic cell, virial only, weight
    vir.info["virial"] = rng.normal(size=(3, 3))
    vir.info["weight"] = 0.5
    out.append(vir)
    slab = Atoms("CuO", positions=[[0, 0, 5], [1.2, 0.3, 6.5]], cell=[3, 3, 0], pbc=[1, 1, 0])
    slab.info["REF_energy"] = 1.25  # energy only, mixed pbc
    out.append(slab)
    water = molecule("H2O")
    water.arrays["REF_forces"] = rng.normal(size=(3, 3))  # forces only
    out.append(water)
    return out


@pytest.fixture
def files(tmp_path):
    xyz = tmp_path / "mixed.xyz"
    write(xyz, mixed_frames(), format="extxyz")
    h5 = tmp_path / "mixed.h5"
    result = convert_to_hdf5(str(xyz), str(h5), chunk_frames=2)  # several chunks
    assert result == {"num_frames": 5, "num_atoms": 8 + 6 + 1 + 2 + 3}
    return str(xyz), str(h5)


def assert_frames_equal(a, b):
    assert a.keys() == b.keys()
    for k in a:
        assert a[k].dtype == b[k].dtype, k
        assert torch.equal(a[k], b[k]), k


@pytest.mark.parametrize("dtype", [torch.float64, torch.float32])
def test_round_trip_equal_dicts(files, dtype):
    xyz, h5 = files
    direct = ASEDataset(xyz, TM, 3.0, dtype=dtype)
    lazy = HDF5Dataset(h5, TM, 3.0, dtype=dtype)
    assert len(direct) == len(lazy) == 5
    for i in range(5):
        assert_frames_equal(direct[i], lazy[i])
    # the missing labels stayed missing
    assert keys.TOTAL_ENERGY not in lazy[1] and keys.FORCES not in lazy[1]
    assert keys.STRESS in lazy[2] and keys.VIRIAL in lazy[2] and keys.TOTAL_ENERGY not in lazy[2]
    assert set(lazy[3]) & set(keys.LABEL_KEYS) == {keys.TOTAL_ENERGY}
    assert set(lazy[4]) & set(keys.LABEL_KEYS) == {keys.FORCES}
    assert lazy[2][keys.FRAME_WEIGHT].item() == 0.5
    assert lazy[-1][keys.NUM_ATOMS].item() == 3
    with pytest.raises(IndexError):
        lazy[5]


def test_file_layout(files):
    _, h5 = files
    with h5py.File(h5, "r") as f:
        assert f.attrs["format"] == "nequip-hdf5"
        assert f.attrs["format_version"] == FORMAT_VERSION
        assert f["frame_offsets"][:].tolist() == [0, 8, 14, 15, 17, 20]
        assert f["positions"].shape == (20, 3)
        assert np.isnan(f["energy"][1]) and f["energy"][0] == -12.5
        assert sorted(f.attrs["species"].tolist()) == [1, 6, 8, 29]


def test_lazy_open_works_in_dataloader_workers(files):
    _, h5 = files
    ds = load_dataset(h5, TM, 3.0, dtype=torch.float64)
    assert isinstance(ds, HDF5Dataset)
    ds[0]  # opens the file in this process: workers must not reuse this handle
    serial = list(DataLoader(ds, batch_size=2, collate_fn=collate))
    parallel = list(DataLoader(ds, batch_size=2, collate_fn=collate, num_workers=2))
    for a, b in zip(serial, parallel):
        for k in a:
            assert torch.equal(torch.nan_to_num(a[k], 9.0), torch.nan_to_num(b[k], 9.0)), k


def test_file_handle_is_per_process_and_not_pickled(files):
    _, h5 = files
    ds = HDF5Dataset(h5, TM, 3.0)
    assert ds._file is None  # nothing opened at construction (forked workers would share it)
    first = ds._h5()
    assert ds._h5() is first
    ds._pid = os.getpid() + 1  # as seen from a forked worker: the parent's handle is not reused
    assert ds._h5() is not first
    clone = pickle.loads(pickle.dumps(ds))  # spawned workers / DDP
    assert clone._file is None
    assert_frames_equal(clone[3], ds[3])


def test_atomic_write_keeps_old_output_on_failure(tmp_path, files):
    xyz, h5 = files
    before = open(h5, "rb").read()
    bad = tmp_path / "bad.xyz"
    bad.write_text(open(xyz).read() + "3\nthis is not a valid frame\nCu 0 0\n")
    with pytest.raises(ValueError, match="could not read frame 5 of"):
        convert_to_hdf5(str(bad), h5)
    assert open(h5, "rb").read() == before
    assert not (tmp_path / "mixed.h5.tmp").exists()


def test_errors(tmp_path, files):
    _, h5 = files
    with pytest.raises(FileNotFoundError, match="data file 'nope.h5' not found \\(key data.val\\)"):
        HDF5Dataset("nope.h5", TM, 3.0, config_key="data.val")
    with pytest.raises(ValueError, match="species 'H' in frame 1 of .*mixed.h5 is not in type_"):
        HDF5Dataset(h5, TypeMapper(["Cu", "O", "C"]), 3.0)
    other = tmp_path / "other.h5"
    with h5py.File(other, "w") as f:
        f["x"] = np.zeros(3)
    with pytest.raises(ValueError, match="is not a nequip HDF5 dataset"):
        HDF5Dataset(str(other), TM, 3.0)
    noth5 = tmp_path / "text.h5"
    noth5.write_text("hello")
    with pytest.raises(ValueError, match="could not read HDF5 data file"):
        HDF5Dataset(str(noth5), TM, 3.0)
    with pytest.raises(FileNotFoundError, match="not found"):
        convert_to_hdf5(str(tmp_path / "missing.xyz"), str(tmp_path / "o.h5"))


def test_partly_nan_forces_in_hdf5_are_a_data_error_naming_the_frame(tmp_path):
    """In the HDF5 file NaN rows mean "this frame has no forces"; a frame with only some NaN rows is a
    data error when the frame is read (unless data.nonfinite_labels is "missing")."""
    import h5py

    frames = mixed_frames()
    xyz, h5 = tmp_path / "d.xyz", tmp_path / "d.h5"
    write(xyz, frames)
    convert_to_hdf5(str(xyz), str(h5))
    with h5py.File(h5, "r+") as f:
        offsets = f["frame_offsets"][:]
        f["forces"][offsets[0] + 1, 2] = np.nan
    dataset = HDF5Dataset(str(h5), TM, 3.6)
    with pytest.raises(ValueError, match=rf"frame 0 of {h5}: label 'forces' has NaN or infinite values \(atom 1\)"):
        dataset[0]
    lenient = HDF5Dataset(str(h5), TM, 3.6, nonfinite_labels="missing")
    forces = lenient[0][keys.FORCES]
    assert torch.isnan(forces[1, 2]) and torch.isfinite(forces[0]).all()
    assert lenient[0][keys.FRAME_INDEX].tolist() == [0] and lenient[-1][keys.FRAME_INDEX].tolist() == [len(lenient) - 1]
