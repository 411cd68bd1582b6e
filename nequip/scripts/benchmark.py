"""``nequip-benchmark MODEL [--sizes 256,2048,16384] [--device cpu] [--structure file.xyz --repeat 2,2,2]``:
time energy+forces+stress calls of a model (``.ckpt``, ``.nequip.zip`` or ``.nequip.pt2``) on FCC cells of
its own species or a given structure (as an MD step through the ASE calculator, neighbor list
included) after warm-up; print ms/step, atom-steps/s and peak memory as a table or JSON."""

import json
import os
import sys
import threading
import time
from typing import Dict, List, Optional

import numpy as np
import torch
from ase import Atoms
from ase.build import bulk
from ase.data import atomic_numbers, covalent_radii, reference_states
from ase.calculators.calculator import all_changes
from ase.io import read

from ..errors import ConfigError, DataFileNotFound, ModelFileError
from ..integrations.ase import NequIPCalculator
from ..utils.cli import cli_parser, run_cli

def _neighbor_distance(symbol: str) -> float:
    """Nearest-neighbour distance (Å) of ``symbol`` in an FCC crystal: from ASE's reference lattice
    constant when its reference state is FCC (Cu: 3.61 Å / sqrt 2), else twice its covalent radius."""
    state = reference_states[atomic_numbers[symbol]] or {}
    if state.get("symmetry") == "fcc":
        return state["a"] / np.sqrt(2)
    return 2 * covalent_radii[atomic_numbers[symbol]]


def fcc_cell(type_names: List[str], num_atoms: int) -> Atoms:
    """The cubic FCC supercell (4 n^3 atoms) closest to ``num_atoms`` holding the model's species in
    turn on its sites, at the mean nearest-neighbour distance of those species, slightly rattled.
    Raises ``ValueError`` when a type name is not a chemical symbol (benchmark a ``--structure``)."""
    unknown = [name for name in type_names if name not in atomic_numbers]
    if unknown:
        raise ModelFileError(f"the model's type name '{unknown[0]}' is not a chemical symbol; "
                         f"give a structure to benchmark with --structure")
    n = max(1, round((num_atoms / 4) ** (1 / 3)))
    a = np.sqrt(2) * float(np.mean([_neighbor_distance(name) for name in type_names]))
    atoms = bulk("X", "fcc", a=a, cubic=True).repeat(n)
    atoms.set_chemical_symbols([type_names[i % len(type_names)] for i in range(len(atoms))])
    atoms.rattle(0.05, seed=0)
    return atoms


class PeakMemory:
    """Peak memory during a block: device allocations on CUDA, resident set size on CPU (sampled)."""

    def __init__(self, device: torch.device):
        self.device = device
        self.peak_bytes = 0
        self._stop = threading.Event()

    @staticmethod
    def _rss() -> int:
        with open("/proc/self/statm") as f:
            return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")

    def _sample(self) -> None:
        while not self._stop.is_set():
            self.peak_bytes = max(self.peak_bytes, self._rss())
            time.sleep(0.002)

    def __enter__(self) -> "PeakMemory":
        if self.device.type == "cuda":
            torch.cuda.reset_peak_memory_stats(self.device)
        else:
            self.peak_bytes = self._rss()
            self._thread = threading.Thread(target=self._sample, daemon=True)
            self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        if self.device.type == "cuda":
            self.peak_bytes = torch.cuda.max_memory_allocated(self.device)
        else:
            self._stop.set()
            self._thread.join()


def time_calls(calc: NequIPCalculator, atoms: Atoms, warmup: int = 2, min_seconds: float = 1.0, min_calls: int = 3) -> Dict:
    """Median seconds of one energy+forces(+stress) call on ``atoms``, positions nudged every call so
    nothing is cached; returns the row of the table."""
    properties = ["energy", "forces"] + (["stress"] if atoms.pbc.all() else [])
    rng = np.random.default_rng(0)

    def step() -> None:
        atoms.positions += rng.normal(0.0, 1e-4, atoms.positions.shape)
        calc.calculate(atoms, properties, all_changes)
        if calc.device.type == "cuda":
            torch.cuda.synchronize(calc.device)

    for _ in range(warmup):
        step()
    times: List[float] = []
    with PeakMemory(calc.device) as memory:
        start = time.perf_counter()
        while len(times) < min_calls or time.perf_counter() - start < min_seconds:
            t0 = time.perf_counter()
            step()
            times.append(time.perf_counter() - t0)
    seconds = float(np.median(times))
    return {
        "atoms": len(atoms),
        "ms_per_step": seconds * 1e3,
        "atom_steps_per_s": len(atoms) / seconds,
        "us_per_atom_step": seconds / len(atoms) * 1e6,
        "peak_memory_mb": memory.peak_bytes / 2**20,
        "calls": len(times),
    }


def format_rows(rows: List[Dict]) -> str:
    header = f"{'atoms':>8} {'ms/step':>10} {'atom-steps/s':>14} {'µs/atom-step':>13} {'peak MB':>9}"
    lines = [header] + [
        f"{r['atoms']:>8} {r['ms_per_step']:>10.2f} {r['atom_steps_per_s']:>14.0f} {r['us_per_atom_step']:>13.2f} {r['peak_memory_mb']:>9.0f}"
        for r in rows
    ]
    return "\n".join(lines)


def main(argv: Optional[List[str]] = None) -> int:
    parser = cli_parser("nequip-benchmark", __doc__)
    parser.add_argument("model", help="model file: .ckpt, .nequip.zip or .nequip.pt2 (ase target)")
    parser.add_argument("--sizes", default="256,2048,16384", help="sizes in atoms of FCC cells of the model's species (rounded to 4 n^3)")
    parser.add_argument("--structure", help="benchmark this structure (any ASE-readable file) instead of FCC cells")
    parser.add_argument("--repeat", default="1,1,1", help="supercell of --structure, e.g. 4,4,4")
    parser.add_argument("--device", default="cpu", help="cpu, cuda or cuda:N")
    parser.add_argument("--min-seconds", type=float, default=1.0, help="time each size for at least this long")
    parser.add_argument("--json", action="store_true", help="print the rows as JSON")
    args = parser.parse_args(argv)

    def run() -> int:
        calc = NequIPCalculator.from_file(args.model, device=args.device)
        if args.structure:
            if not os.path.isfile(args.structure):
                raise DataFileNotFound(f"structure file '{args.structure}' not found")
            repeat = [int(x) for x in args.repeat.split(",")]
            if len(repeat) != 3 or min(repeat) < 1:
                raise ConfigError(f"--repeat takes three positive integers like 2,2,2, got '{args.repeat}'")
            systems = [read(args.structure).repeat(repeat)]
        else:
            try:
                sizes = [int(s) for s in args.sizes.split(",")]
            except ValueError:
                raise ConfigError(f"--sizes takes comma-separated atom counts like 256,2048, got '{args.sizes}'") from None
            systems = [fcc_cell(list(calc.spec.type_names), n) for n in sizes]
        rows = [time_calls(calc, atoms, min_seconds=args.min_seconds) for atoms in systems]
        for row in rows:
            row.update(model=args.model, device=args.device, threads=torch.get_num_threads())
        print(json.dumps(rows, indent=2) if args.json else format_rows(rows))
        return 0

    return run_cli("nequip-benchmark", run, args)


if __name__ == "__main__":
    sys.exit(main())
