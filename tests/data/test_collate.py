import numpy as np
import pytest
import torch
from ase.build import bulk, molecule
from ase.calculators.singlepoint import SinglePointCalculator

from nequip.data import TypeMapper, collate, from_ase, keys

TM = TypeMapper(["H", "C", "O", "Cu"])


def frames():
    cu = bulk("Cu", "fcc", a=3.6, cubic=True)
    cu.calc = SinglePointCalculator(
        cu, energy=-1.0, forces=np.ones((4, 3)), stress=np.arange(6.0)
    )
    mol = molecule("CH3OH")  # no labels at all
    mol2 = molecule("H2O")
    mol2.info["energy"] = 2.0
    mol2.info["weight"] = 3.0
    return [from_ase(a, TM, 3.0, dtype=torch.float64) for a in (cu, mol, mol2)]


def test_offsets_batch_and_concatenation():
    fs = frames()
    b = collate(fs)
    n = [int(f[keys.NUM_ATOMS]) for f in fs]
    assert b[keys.NUM_ATOMS].tolist() == n
    assert b[keys.BATCH].tolist() == [0] * n[0] + [1] * n[1] + [2] * n[2]
    assert torch.equal(b[keys.POSITIONS], torch.cat([f[keys.POSITIONS] for f in fs]))
    offsets = np.cumsum([0] + n[:-1])
    expected = torch.cat([f[keys.EDGE_INDEX] + int(o) for f, o in zip(fs, offsets)], dim=1)
    assert torch.equal(b[keys.EDGE_INDEX], expected)
    assert b[keys.EDGE_CELL_SHIFT].shape == (expected.shape[1], 3)
    assert b[keys.CELL].shape == (3, 3, 3) and b[keys.PBC].shape == (3, 3)
    assert b[keys.FRAME_WEIGHT].tolist() == [1.0, 1.0, 3.0]
    # every edge stays inside its own frame
    assert torch.equal(b[keys.BATCH][b[keys.EDGE_INDEX][0]], b[keys.BATCH][b[keys.EDGE_INDEX][1]])


def test_missing_labels_filled_with_nan():
    fs = frames()
    b = collate(fs)
    n0, n1, n2 = (int(f[keys.NUM_ATOMS]) for f in fs)
    e = b[keys.TOTAL_ENERGY]
    assert e[0] == -1.0 and torch.isnan(e[1]) and e[2] == 2.0
    f = b[keys.FORCES]
    assert f.shape == (n0 + n1 + n2, 3)
    assert torch.all(f[:n0] == 1.0) and torch.isnan(f[n0:]).all()
    s = b[keys.STRESS]
    assert s.shape == (3, 3, 3)
    assert not torch.isnan(s[0]).any() and torch.isnan(s[1:]).all()


def test_collate_of_batches_is_a_batch():
    fs = frames()
    flat = collate(fs)
    nested = collate([collate(fs[:2]), fs[2]])
    assert flat.keys() == nested.keys()
    for k in flat:
        assert torch.equal(torch.nan_to_num(flat[k], 7.0), torch.nan_to_num(nested[k], 7.0)), k


def test_errors():
    with pytest.raises(ValueError, match="empty"):
        collate([])
    f = frames()[0]
    f["my_key"] = torch.zeros(1)
    with pytest.raises(ValueError, match="register it in nequip/data/keys.py"):
        collate([f])
