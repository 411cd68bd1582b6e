"""neighbor_list against a brute-force loop over lattice images."""

import itertools

import numpy as np
import pytest

from nequip.data.neighborlist import neighbor_list


def brute_force(pos, cell, pbc, r_max):
    """Set of (i, j, S) with |pos[j] - pos[i] + S @ cell| < r_max, (i, i, 0) excluded."""
    pos = np.asarray(pos, float)
    ranges = []
    if np.any(pbc):
        inv = np.linalg.inv(np.where(np.asarray(pbc)[:, None], cell, np.eye(3)))
        frac = pos @ inv
    for d in range(3):
        if pbc[d]:
            recip = np.linalg.norm(inv[:, d])  # 1 / (distance between lattice planes)
            n = int(np.ceil(r_max * recip + np.ptp(frac[:, d]))) + 1
            ranges.append(range(-n, n + 1))
        else:
            ranges.append(range(0, 1))
    out = set()
    for s in itertools.product(*ranges):
        shift = np.array(s, float) @ cell
        vec = pos[None, :, :] - pos[:, None, :] + shift  # [i, j, 3]
        dist = np.linalg.norm(vec, axis=-1)
        for i, j in zip(*np.nonzero(dist < r_max)):
            if i == j and not any(s):
                continue
            out.add((int(i), int(j), s))
    return out


def as_set(edge_index, shifts):
    assert shifts.dtype == np.float64
    assert np.all(shifts == np.round(shifts))
    return {
        (int(i), int(j), tuple(int(x) for x in s))
        for (i, j), s in zip(edge_index.T, shifts)
    }


def check(pos, cell, pbc, r_max):
    ei, sh = neighbor_list(pos, cell, pbc, r_max)
    assert ei.dtype == np.int64 and ei.shape[0] == 2
    assert sh.shape == (ei.shape[1], 3)
    got = as_set(ei, sh)
    assert len(got) == ei.shape[1], "duplicate edges"
    ref = brute_force(pos, cell, pbc, r_max)
    assert got == ref
    # edge lengths are strictly below the cutoff
    vec = pos[ei[1]] - pos[ei[0]] + sh @ cell
    assert np.all(np.linalg.norm(vec, axis=1) < r_max)
    return ei, sh


def random_triclinic(rng, scale):
    cell = np.eye(3) * scale + rng.uniform(-0.3, 0.3, (3, 3)) * scale
    if np.linalg.det(cell) < 0:
        cell[0] *= -1
    return cell


@pytest.mark.parametrize("seed", range(6))
@pytest.mark.parametrize(
    "pbc", [(True, True, True), (True, False, True), (False, True, False), (True, True, False)]
)
def test_random_triclinic(seed, pbc):
    rng = np.random.default_rng(seed)
    cell = random_triclinic(rng, 5.0)
    n = int(rng.integers(2, 12))
    # unwrapped positions: some atoms outside the cell
    pos = rng.uniform(-0.3, 1.3, (n, 3)) @ cell
    check(pos, cell, np.array(pbc), r_max=3.5)


@pytest.mark.parametrize("seed", range(4))
@pytest.mark.parametrize("pbc", [(True, True, True), (True, False, True), (False, False, True)])
def test_small_cell_cutoff_longer_than_cell(seed, pbc):
    rng = np.random.default_rng(100 + seed)
    cell = random_triclinic(rng, 2.0)
    pos = rng.uniform(0, 1, (3, 3)) @ cell
    ei, sh = check(pos, cell, np.array(pbc), r_max=4.5)
    # self-images exist and the zero-shift self pair does not
    self_pairs = ei[0] == ei[1]
    assert self_pairs.any()
    assert np.all(np.abs(sh[self_pairs]).sum(axis=1) > 0)


def test_one_atom_periodic_has_self_images():
    cell = np.eye(3) * 2.0
    ei, sh = check(np.zeros((1, 3)), cell, np.array([True] * 3), r_max=2.5)
    # 6 face neighbours at 2.0 Å; the 12 edge neighbours at 2.83 Å are outside
    assert ei.shape[1] == 6


def test_strict_cutoff():
    # a pair at exactly r_max is excluded
    pos = np.array([[0.0, 0.0, 0.0], [1.5, 0.0, 0.0]])
    ei, _ = neighbor_list(pos, np.zeros((3, 3)), np.zeros(3, bool), 1.5)
    assert ei.shape == (2, 0)
    ei, _ = neighbor_list(pos, np.zeros((3, 3)), np.zeros(3, bool), 1.5000001)
    assert ei.shape == (2, 2)


def test_non_periodic_zero_cell():
    rng = np.random.default_rng(7)
    pos = rng.uniform(-3, 3, (15, 3))
    check(pos, np.zeros((3, 3)), np.zeros(3, bool), 2.5)


def test_mixed_pbc_with_zero_vector_along_vacuum():
    rng = np.random.default_rng(8)
    cell = np.array([[3.0, 0.0, 0.0], [1.0, 2.8, 0.0], [0.0, 0.0, 0.0]])
    pos = np.c_[rng.uniform(0, 3, (6, 2)), rng.uniform(-5, 5, 6)]
    ei, sh = check(pos, cell, np.array([True, True, False]), 4.0)
    assert np.all(sh[:, 2] == 0)


@pytest.mark.parametrize(
    "cell,pbc",
    [
        ([[3.0, 0, 0], [0.5, 3, 0], [3.0, 0, 0]], (True, True, False)),  # vacuum vector parallel to a
        ([[1.0, 0, 0], [1.0, 0, 0], [0, 0, 0]], (False, False, False)),  # molecule with a junk cell
        ([[0.8, 0, 0], [0, 0, 0], [0, 0, 0]], (True, False, False)),  # wire, r_max > period
    ],
)
def test_non_periodic_vectors_are_ignored(cell, pbc):
    rng = np.random.default_rng(9)
    check(rng.uniform(0, 4, (5, 3)), np.array(cell), np.array(pbc), 3.0)


def test_atoms_far_outside_the_cell():
    rng = np.random.default_rng(10)
    cell = random_triclinic(rng, 2.5)
    check(rng.uniform(-20, 20, (2, 3)) @ cell, cell, np.ones(3, bool), 3.0)


@pytest.mark.parametrize(
    "pos,cell,pbc",
    [
        (np.zeros((1, 3)), np.zeros((3, 3)), np.zeros(3, bool)),  # one atom, no cell
        (np.array([[0.0, 0, 0], [10.0, 0, 0]]), np.eye(3) * 30, np.ones(3, bool)),  # isolated
        (np.zeros((0, 3)), np.eye(3) * 3, np.ones(3, bool)),  # empty system
    ],
)
def test_no_edges(pos, cell, pbc):
    ei, sh = neighbor_list(pos, cell, pbc, 3.0)
    assert ei.shape == (2, 0) and ei.dtype == np.int64
    assert sh.shape == (0, 3) and sh.dtype == np.float64


@pytest.mark.parametrize(
    "cell,pbc",
    [
        (np.zeros((3, 3)), [True, True, True]),
        (np.diag([3.0, 3.0, 0.0]), [True, True, True]),
        (np.array([[1.0, 0, 0], [2.0, 0, 0], [0, 0, 1.0]]), [True, True, False]),
    ],
)
def test_singular_cell_raises(cell, pbc):
    with pytest.raises(ValueError, match="singular along the periodic direction"):
        neighbor_list(np.zeros((2, 3)), cell, np.array(pbc), 2.0)


def test_bad_inputs_raise():
    with pytest.raises(ValueError, match=r"pos must have shape \[N, 3\]"):
        neighbor_list(np.zeros((2, 2)), np.eye(3), np.ones(3, bool), 2.0)
    with pytest.raises(ValueError, match="r_max"):
        neighbor_list(np.zeros((2, 3)), np.eye(3), np.ones(3, bool), 0.0)


def test_min_distance_names_the_shortest_pair():
    from nequip.data.neighborlist import CloseAtomsError

    pos = np.array([[0.0, 0.0, 0.0], [2.0, 0.0, 0.0], [2.05, 0.0, 0.0], [0.0, 2.0, 0.0]])
    with pytest.raises(CloseAtomsError, match="atoms 1 and 2 are 0.05 Å apart, closer than 0.1 Å") as info:
        neighbor_list(pos, np.zeros((3, 3)), np.zeros(3, bool), 3.0, min_distance=0.1)
    assert (info.value.i, info.value.j) == (1, 2)
    assert neighbor_list(pos, np.zeros((3, 3)), np.zeros(3, bool), 3.0, min_distance=0.04)[0].shape[1] == 12


def test_min_distance_sees_periodic_images():
    """One atom in a 0.05 Å periodic cell is 0.05 Å from its own image."""
    with pytest.raises(ValueError, match="atoms 0 and 0 are 0.05 Å apart"):
        neighbor_list(np.zeros((1, 3)), np.diag([0.05, 3.0, 3.0]), np.ones(3, bool), 1.0, min_distance=0.1)
