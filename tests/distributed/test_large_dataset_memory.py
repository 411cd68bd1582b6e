"""A data set larger than the memory budget trains with bounded resident memory: frames are read
lazily from HDF5 per worker, statistics are streamed, so peak memory does not grow with the file."""

import subprocess
import sys

import h5py
import numpy as np
import pytest
from ase.build import bulk

FRAME = bulk("Cu", "fcc", a=3.61, cubic=True).repeat(4)  # 256 atoms


def write_hdf5(path, num_frames: int) -> int:
    """Synthetic frames in the nequip HDF5 layout (nequip/data/hdf5.py); returns the file size."""
    rng = np.random.default_rng(0)
    n = len(FRAME)
    with h5py.File(path, "w") as f:
        f.attrs.update(format="nequip-hdf5", format_version=1, num_frames=num_frames, num_atoms=n * num_frames,
                       species=np.array([29]), source="synthetic")
        chunk = 1000
        positions = f.create_dataset("positions", (n * num_frames, 3), np.float64)
        forces = f.create_dataset("forces", (n * num_frames, 3), np.float64)
        for start in range(0, num_frames, chunk):
            count = min(chunk, num_frames - start)
            noise = rng.normal(0.0, 0.05, (count, n, 3))
            positions[start * n : (start + count) * n] = (FRAME.positions[None] + noise).reshape(-1, 3)
            forces[start * n : (start + count) * n] = -noise.reshape(-1, 3)
        f["numbers"] = np.full(n * num_frames, 29, np.int16)
        f["frame_offsets"] = np.arange(num_frames + 1, dtype=np.int64) * n
        f["cell"] = np.broadcast_to(FRAME.cell.array, (num_frames, 3, 3))
        f["pbc"] = np.ones((num_frames, 3), bool)
        f["energy"] = rng.normal(-3.5 * n, 1.0, num_frames)
        f["stress"] = np.full((num_frames, 3, 3), np.nan)
        f["virial"] = np.full((num_frames, 3, 3), np.nan)
        f["weight"] = np.ones(num_frames)
    return path.stat().st_size


def peak_rss_of_training(config, run_dir) -> int:
    """Peak resident memory (bytes) of a nequip-train process, measured by the kernel."""
    code = (
        "import resource, sys\nfrom nequip.scripts.train import main\n"
        f"rc = main([{str(config)!r}, 'run_dir={run_dir}'])\n"
        "print('PEAK', resource.getrusage(resource.RUSAGE_SELF).ru_maxrss)\nsys.exit(rc)\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stderr[-3000:]
    return int(result.stdout.rsplit("PEAK", 1)[1].split()[0]) * 1024


@pytest.mark.slow
def test_peak_memory_does_not_grow_with_the_data_set(tmp_path):
    small, large = tmp_path / "small.h5", tmp_path / "large.h5"
    write_hdf5(small, 40)
    large_bytes = write_hdf5(large, 8000)
    assert large_bytes > 90 * 2**20
    peaks = {}
    for name, path in (("small", small), ("large", large)):
        config = tmp_path / f"{name}.yaml"
        config.write_text(
            f"type_names: [Cu]\nr_max: 3.0\nmodel_dtype: float32\nnum_threads: 1\n"
            "model: {kind: nequip, num_layers: 1, l_max: 1, num_features: 4, radial_mlp_width: 8, radial_mlp_depth: 1}\n"
            f"data: {{train: {path}, split: [0.995, 0.005, 0.0], batch_size: 2, val_batch_size: 4, num_workers: 1}}\n"
            "trainer: {max_steps: 4, limit_val_batches: 1, enable_progress_bar: false}\n"
        )
        peaks[name] = peak_rss_of_training(config, tmp_path / name)
    growth = peaks["large"] - peaks["small"]
    print(f"peak RSS: small {peaks['small'] / 2**20:.0f} MB, large {peaks['large'] / 2**20:.0f} MB; large file {large_bytes / 2**20:.0f} MB")
    # the large file is 200x the small one; resident memory may not grow by more than a fifth of it
    assert growth < 0.2 * large_bytes, (peaks, large_bytes)
