import numpy as np
import pytest
import torch

from nequip.data import collate, compute_statistics, keys


def synthetic(seed=0, num_frames=40):
    """Frames whose energies are exactly sum_t count_t * shift_t; type 2 never appears."""
    rng = np.random.default_rng(seed)
    shifts = np.array([-1.25, 3.5, 0.0, 0.75])
    frames, all_forces, all_types, num_edges = [], [], [], 0
    for k in range(num_frames):
        n = int(rng.integers(1, 9))
        types = rng.choice([0, 1, 3], size=n)
        forces = rng.normal(size=(n, 3)) * np.where(types == 1, 2.0, 1.0)[:, None]
        e = int(rng.integers(0, 3 * n))
        frame = {
            keys.POSITIONS: torch.zeros(n, 3, dtype=torch.float64),
            keys.ATOM_TYPES: torch.as_tensor(types),
            keys.BATCH: torch.zeros(n, dtype=torch.int64),
            keys.NUM_ATOMS: torch.tensor([n]),
            keys.EDGE_INDEX: torch.zeros(2, e, dtype=torch.int64),
            keys.EDGE_CELL_SHIFT: torch.zeros(e, 3, dtype=torch.float64),
            keys.TOTAL_ENERGY: torch.tensor([np.bincount(types, minlength=4) @ shifts]),
            keys.FORCES: torch.as_tensor(forces),
        }
        frames.append(frame)
        all_forces.append(forces)
        all_types.append(types)
        num_edges += e
    return frames, shifts, np.concatenate(all_forces), np.concatenate(all_types), num_edges


def test_exact_on_synthetic_set():
    frames, shifts, forces, types, num_edges = synthetic()
    with pytest.warns(UserWarning, match=r"types \[2\] never appear"):
        stats = compute_statistics(frames, num_types=4)
    assert np.allclose(stats["per_type_energy_shift"], shifts, atol=1e-9)
    assert stats["per_type_energy_shift"][2] == 0.0
    assert stats["force_rms"] == pytest.approx(np.sqrt(np.mean(forces**2)), rel=1e-12)
    for t in (0, 1, 3):
        ref = np.sqrt(np.mean(forces[types == t] ** 2))
        assert stats["per_type_force_rms"][t] == pytest.approx(ref, rel=1e-12)
    assert stats["per_type_force_rms"][2] == stats["force_rms"]
    assert stats["avg_num_neighbors"] == pytest.approx(num_edges / len(types))
    assert stats["num_frames"] == 40 and stats["num_atoms"] == len(types)
    # plain Python values (YAML, weights_only checkpoints)
    assert all(isinstance(x, float) for x in stats["per_type_energy_shift"])
    assert isinstance(stats["num_frames"], int) and isinstance(stats["force_rms"], float)


def test_batches_with_nan_labels_give_same_result():
    frames, *_ = synthetic(seed=1)
    # drop energies/forces of some frames: statistics must skip them, not see NaN
    partial = [dict(f) for f in frames]
    for f in partial[::3]:
        del f[keys.TOTAL_ENERGY]
    for f in partial[1::4]:
        del f[keys.FORCES]
    with pytest.warns(UserWarning, match="never appear"):
        ref = compute_statistics(partial, 4)
    with pytest.warns(UserWarning, match="never appear"):
        batched = compute_statistics([collate(partial[i : i + 7]) for i in range(0, 40, 7)], 4)
    assert np.allclose(batched["per_type_energy_shift"], ref["per_type_energy_shift"])
    assert batched["force_rms"] == pytest.approx(ref["force_rms"], rel=1e-12)
    assert batched["num_frames"] == 40
    assert batched["num_atoms_with_forces"] == ref["num_atoms_with_forces"] > 0
    assert batched["num_frames_with_energy"] == ref["num_frames_with_energy"] == 26
    assert not np.isnan(batched["per_type_energy_shift"]).any()


def test_no_labels_fallbacks_and_errors():
    frames, *_ = synthetic(seed=2, num_frames=5)
    for f in frames:
        del f[keys.TOTAL_ENERGY], f[keys.FORCES]
    with pytest.warns(UserWarning):
        stats = compute_statistics(frames, 4)
    assert stats["per_type_energy_shift"] == [0.0] * 4
    assert stats["force_rms"] == 1.0
    with pytest.raises(ValueError, match="no frames"):
        compute_statistics([], 4)
    with pytest.raises(ValueError, match="atom_types outside"):
        compute_statistics(frames, 2)
