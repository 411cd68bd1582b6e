"""ASEDataset / load_dataset errors, the AtomicDataModule, and the shipped tutorial data."""

import os

import numpy as np
import pytest
import torch
from ase import Atoms
from ase.io import write

from nequip.data import ASEDataset, AtomicDataModule, TypeMapper, keys, load_dataset

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
CU_EMT = os.path.join(REPO, "examples", "data", "cu_emt.xyz")
TM = TypeMapper(["Cu", "O"])


def write_frames(path, n, species="Cu2"):
    frames = []
    for k in range(n):
        a = Atoms(species, positions=[[0, 0, 0], [1.8 + 0.01 * k, 0, 0]], cell=np.eye(3) * 4,
                  pbc=True)
        a.info["energy"] = float(k)
        frames.append(a)
    write(path, frames, format="extxyz")


def test_missing_file_names_config_key():
    with pytest.raises(FileNotFoundError) as e:
        load_dataset("x.xyz", TM, 3.0, config_key="data.train.path")
    assert str(e.value) == "data file 'x.xyz' not found (key data.train.path)"


def test_unreadable_file(tmp_path):
    bad = tmp_path / "bad.xyz"
    bad.write_text("not an xyz file\n")
    with pytest.raises(ValueError, match="could not read data file .*bad.xyz.* with ASE"):
        ASEDataset(str(bad), TM, 3.0)


def test_unknown_species_names_frame_and_file(tmp_path):
    path = tmp_path / "train.xyz"
    frames = [Atoms("Cu2", positions=[[0, 0, 0], [2, 0, 0]])] * 3
    frames.append(Atoms("CuZn", positions=[[0, 0, 0], [2, 0, 0]]))
    write(path, frames, format="extxyz")
    with pytest.raises(ValueError, match=r"species 'Zn' in frame 3 of .*train.xyz is not in "
                                         r"type_names \[Cu, O\]; add it to type_names"):
        ASEDataset(str(path), TM, 3.0)


def test_singular_cell_names_frame(tmp_path):
    path = tmp_path / "flat.xyz"
    write(path, [Atoms("Cu", cell=np.diag([3.0, 3.0, 0.0]), pbc=True)], format="extxyz")
    with pytest.raises(ValueError, match="^frame 0 of .*flat.xyz: cell .* is singular along the periodic"):
        ASEDataset(str(path), TM, 3.0)


def test_index_selects_frames(tmp_path):
    path = tmp_path / "t.xyz"
    write_frames(path, 6)
    ds = ASEDataset(str(path), TM, 3.0, index="2:5")
    assert [ds[i][keys.TOTAL_ENERGY].item() for i in range(len(ds))] == [2.0, 3.0, 4.0]


def test_datamodule_split_is_deterministic_and_disjoint(tmp_path):
    path = tmp_path / "t.xyz"
    write_frames(path, 20)

    def energies(ds):
        return sorted(ds[i][keys.TOTAL_ENERGY].item() for i in range(len(ds)))

    dm = AtomicDataModule(["Cu"], 3.0, train=str(path), split=(0.7, 0.2, 0.1), seed=3,
                          batch_size=4, dtype="float64")
    dm.setup()
    tr, va, te = energies(dm.train_dataset), energies(dm.val_dataset), energies(dm.test_dataset)
    assert (len(tr), len(va), len(te)) == (14, 4, 2)
    assert sorted(tr + va + te) == [float(k) for k in range(20)]
    dm2 = AtomicDataModule(["Cu"], 3.0, train=str(path), split=(0.7, 0.2, 0.1), seed=3)
    dm2.setup()
    assert energies(dm2.val_dataset) == va
    dm3 = AtomicDataModule(["Cu"], 3.0, train=str(path), split=(0.7, 0.2, 0.1), seed=4)
    dm3.setup()
    assert energies(dm3.val_dataset) != va

    batch = next(iter(dm.train_dataloader()))
    assert batch[keys.NUM_ATOMS].tolist() == [2, 2, 2, 2]
    assert batch[keys.POSITIONS].dtype == torch.float64
    assert sum(b[keys.NUM_ATOMS].numel() for b in dm.val_dataloader()) == 4
    with pytest.warns(UserWarning, match="no frame has forces"):
        stats = dm.training_statistics()
    assert stats["num_frames"] == 14
    assert stats["per_type_energy_shift"][0] == pytest.approx(np.mean(tr) / 2)
    assert dm.training_statistics() is stats  # cached


def test_datamodule_explicit_val_and_bad_split(tmp_path):
    train, val = tmp_path / "a.xyz", tmp_path / "b.xyz"
    write_frames(train, 5)
    write_frames(val, 3)
    dm = AtomicDataModule(["Cu"], 3.0, train=str(train), val=str(val))
    dm.setup()
    assert len(dm.train_dataset) == 5 and len(dm.val_dataset) == 3 and dm.test_dataset is None
    assert dm.test_dataloader() == []
    with pytest.raises(ValueError, match="summing to 1"):
        AtomicDataModule(["Cu"], 3.0, train=str(train), split=(0.5, 0.1, 0.1))
    dm = AtomicDataModule(["Cu"], 3.0, train=str(train), val=str(tmp_path / "missing.xyz"))
    with pytest.raises(FileNotFoundError, match=r"\(key data.val\)"):
        dm.setup()


def test_shipped_tutorial_data():
    assert os.path.getsize(CU_EMT) < 3_000_000
    ds = ASEDataset(CU_EMT, TypeMapper(["Cu"]), 4.0, index="::40", dtype=torch.float64)
    assert len(ds) == 10
    for d in ds:
        n = d[keys.NUM_ATOMS].item()
        assert 30 <= n <= 32
        assert set(keys.LABEL_KEYS) <= set(d)
        assert d[keys.FORCES].shape == (n, 3)
        # forces of an isolated periodic system sum to zero (EMT, no external field)
        assert torch.allclose(d[keys.FORCES].sum(0), torch.zeros(3, dtype=torch.float64),
                              atol=1e-6)
