"""``nequip-data``: convert data files to the nequip HDF5 format and summarise data files.

    nequip-data convert train.xyz train.h5 [--chunk-frames 1024] [--format extxyz]
    nequip-data info train.xyz|train.h5

Exit codes: 0 success, 2 a usage or data error (missing/unreadable file, malformed frame).
"""

import argparse
import os
import sys
from collections import Counter
from typing import List, Optional

import numpy as np

from ..errors import DataError, DataFileNotFound, UserError
from ..utils.atomic import check_writable_folder
from ..utils.cli import cli_parser, run_cli


def _info_hdf5(path: str) -> dict:
    import h5py

    from nequip.data.hdf5 import check_format

    with h5py.File(path, "r") as f:
        check_format(f, path)
        offsets = f["frame_offsets"]
        num_frames = int(offsets.shape[0]) - 1
        numbers = Counter()
        step = 1 << 20
        for start in range(0, int(offsets[-1]), step):
            values, counts = np.unique(f["numbers"][start : start + step], return_counts=True)
            numbers.update(dict(zip(values.tolist(), counts.tolist())))
        # frames with a label = frames whose stored value is not NaN; read in blocks so that
        # memory stays bounded for large files
        block = 65536
        labels = {"energy": 0, "forces": 0, "stress": 0, "virial": 0}
        for frame_start in range(0, num_frames, block):
            frame_stop = min(frame_start + block, num_frames)
            for name in ("energy", "stress", "virial"):
                values = f[name][frame_start:frame_stop].reshape(frame_stop - frame_start, -1)
                labels[name] += int((~np.isnan(values)).any(axis=1).sum())
            local = offsets[frame_start : frame_stop + 1].astype(np.int64)
            a, b = int(local[0]), int(local[-1])
            rows = (~np.isnan(f["forces"][a:b]).any(axis=1)).astype(np.int64)
            per_frame = np.diff(np.concatenate([[0], np.cumsum(rows)])[local - a])
            labels["forces"] += int(np.count_nonzero(per_frame))
    return {"frames": num_frames, "numbers": numbers, "labels": labels}


def _info_ase(path: str, format: Optional[str]) -> dict:
    import ase.io

    from nequip.data import keys
    from nequip.data.atomic_data import extract_labels

    names = {
        keys.TOTAL_ENERGY: "energy",
        keys.FORCES: "forces",
        keys.STRESS: "stress",
        keys.VIRIAL: "virial",
    }
    numbers = Counter()
    labels = Counter({name: 0 for name in names.values()})
    num_frames = 0
    try:
        for atoms in ase.io.iread(path, index=":", format=format):
            numbers.update(atoms.get_atomic_numbers().tolist())
            for key in extract_labels(atoms, where=f"frame {num_frames} of {path}"):
                if key in names:
                    labels[names[key]] += 1
            num_frames += 1
    except UserError:
        raise
    except Exception as err:  # ASE raises many exception types on malformed input
        raise DataError(f"cannot read frame {num_frames} of '{path}' with ASE: {err}; check the file (or give --format)") from err
    return {"frames": num_frames, "numbers": numbers, "labels": dict(labels)}


def info(path: str, format: Optional[str] = None) -> str:
    """A human-readable summary of a data file (frames, atoms, species, labels present)."""
    from ase.data import chemical_symbols

    from nequip.data.dataset import HDF5_SUFFIXES

    if not os.path.isfile(path):
        raise DataFileNotFound(f"data file '{path}' not found")
    if path.lower().endswith(HDF5_SUFFIXES):
        try:
            summary = _info_hdf5(path)
        except OSError as err:  # h5py: not an HDF5 file, truncated, unreadable
            raise DataError(f"cannot read HDF5 data file '{path}': {err}") from err
    else:
        summary = _info_ase(path, format)
    n = summary["frames"]
    species = ", ".join(
        f"{chemical_symbols[z]} ({c})" for z, c in sorted(summary["numbers"].items())
    )
    labels = ", ".join(f"{name} {count}/{n}" for name, count in summary["labels"].items())
    total = sum(summary["numbers"].values())
    return "\n".join(
        [
            f"file:    {path}",
            f"frames:  {n}",
            f"atoms:   {total} (mean {total / max(n, 1):.1f} per frame)",
            f"species: {species}",
            f"labels:  {labels}  (frames with each label)",
        ]
    )


def _parser() -> argparse.ArgumentParser:
    parser = cli_parser("nequip-data", "Convert and inspect nequip data files.")
    sub = parser.add_subparsers(dest="command", required=True, metavar="{convert,info}")
    convert = sub.add_parser(
        "convert", help="convert an ASE-readable file (extxyz, ...) to nequip HDF5 (.h5)"
    )
    convert.add_argument("input", help="input file, any format ase.io can read")
    convert.add_argument("output", help="output .h5 file (overwritten)")
    convert.add_argument("--chunk-frames", type=int, default=1024, help="frames per write")
    convert.add_argument("--format", default=None, help="ASE format name; default: guessed from the file name")
    inf = sub.add_parser("info", help="frames, atoms, species and labels of a data file")
    inf.add_argument("file", help="any ASE-readable file or nequip HDF5")
    inf.add_argument("--format", default=None, help="ASE format name; default: guessed from the file name")
    return parser


def main(argv: Optional[List[str]] = None) -> int:
    parser = _parser()
    args = parser.parse_args(argv)  # exits with code 2 on usage errors

    def run() -> int:
        if args.command == "convert":
            from nequip.data.dataset import HDF5_SUFFIXES
            from nequip.data.hdf5 import convert_to_hdf5

            if not args.output.lower().endswith(HDF5_SUFFIXES):
                parser.error(f"output '{args.output}' must end in .h5 or .hdf5")
            if args.chunk_frames < 1:
                parser.error("--chunk-frames must be >= 1")
            if os.path.abspath(args.input) == os.path.abspath(args.output):
                parser.error("input and output are the same file")
            check_writable_folder(args.output)
            result = convert_to_hdf5(args.input, args.output, chunk_frames=args.chunk_frames, format=args.format)
            print(f"wrote {result['num_frames']} frames ({result['num_atoms']} atoms) to {args.output}")
        else:
            print(info(args.file, format=args.format))
        return 0

    return run_cli("nequip-data", run, args)

if __name__ == "__main__":
    sys.exit(main())
