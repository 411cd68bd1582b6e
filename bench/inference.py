"""Inference speed: ms per energy+forces+stress call and atom-steps/s on FCC copper, eager vs
``torch.compile`` (nequip.model.compiled) vs AOT Inductor .pt2 (ase target), side by side in one run.

    OMP_NUM_THREADS=1 python bench/inference.py --kind nequip --sizes 256 2048 16384 --modes eager compiled pt2

The models (random weights: speed does not depend on training), float32, with our compiled
tensor-product operators (``--tp-backend``): ``nequip`` 3 layers, l_max 1, 32 features; ``allegro``
2 layers, l_max 1, 16 tensor features, latent 64. Peak memory is the process's max RSS after each run
(monotone; read it per size, smallest first).
"""

import argparse
import os
import resource
import subprocess
import sys
import tempfile
import time

import torch
from ase.build import bulk


SIZES = {
    "nequip": {"num_layers": 3, "l_max": 1, "num_features": 32},
    "allegro": {"num_layers": 2, "l_max": 1, "num_tensor_features": 16, "two_body_mlp": [32, 64], "latent_mlp": [64],
                "readout_mlp": [32]},
}


def build(kind: str, dtype: str, tp_backend: str):
    from nequip.model import build_model, resolve_model_spec

    hp = {"kind": kind, **SIZES[kind], "tp_backend": tp_backend}
    stats = {"avg_num_neighbors": 40.0, "per_type_energy_shift": [-3.5], "force_rms": 0.5}
    spec = resolve_model_spec(hp, ["Cu"], 4.5, dtype, stats)
    torch.manual_seed(0)
    return build_model(spec).eval(), spec


def copper(n: int):
    base = bulk("Cu", "fcc", a=3.61, cubic=True)  # 4 atoms
    k = round((n / 4) ** (1 / 3))
    atoms = base.repeat((k, k, k))
    atoms.rattle(0.05, seed=0)
    assert len(atoms) == n, (n, len(atoms))
    return atoms


def time_calls(fn, repeats: int, budget_s: float):
    for _ in range(2):  # warm-up: compilation, and the heap grows to its steady size over the first calls
        fn()
    times = []
    start = time.perf_counter()
    while len(times) < repeats and time.perf_counter() - start < budget_s:
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return min(times), len(times)


def run_mode(args) -> None:
    """This process times one mode at every size (a fresh process per mode: each one's allocations
    and caches start clean, as in an MD run)."""
    from nequip.data.atomic_data import from_ase
    from nequip.data.type_mapper import TypeMapper
    from nequip.export.targets import TARGETS
    from nequip.utils.memory import keep_freed_memory

    keep_freed_memory()
    model, spec = build(args.kind, args.dtype, args.tp_backend)
    if args.mode == "pt2":
        from nequip.export.aoti import compile_model, load_pt2

        path = os.path.join(tempfile.mkdtemp(), "bench.nequip.pt2")
        t = time.perf_counter()
        compile_model(model, spec, path, target="ase")
        print(f"# pt2 compile: {time.perf_counter() - t:.0f} s")
        compiled, _ = load_pt2(path, target="ase")
        run = lambda d: compiled(*[d[k] for k in TARGETS["ase"][0]])  # noqa: E731
    else:
        if args.mode == "compiled":
            from nequip.model.compiled import compile_gradients

            compile_gradients(model)
        run = model
    for n in args.sizes:
        data = from_ase(copper(n), TypeMapper(["Cu"]), spec.r_max, dtype=getattr(torch, args.dtype))
        best, count = time_calls(lambda: run(dict(data)), args.repeats, args.budget)
        rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        print(f"| {args.kind} {args.dtype} {args.tp_backend} | {args.mode} | {n} | {torch.get_num_threads()} | "
              f"{best * 1e3:.1f} | {n / best:.3g} | {best / n * 1e6:.1f} | {rss:.0f} |", flush=True)


def main():
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--sizes", type=int, nargs="+", default=[256, 2048, 16384])
    parser.add_argument("--modes", nargs="+", default=["eager", "compiled", "pt2"], choices=["eager", "compiled", "pt2"])
    parser.add_argument("--kind", default="nequip", choices=sorted(SIZES))
    parser.add_argument("--dtype", default="float32")
    parser.add_argument("--tp-backend", default="extension", choices=["reference", "extension"])
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--budget", type=float, default=30.0, help="seconds of timed calls per case")
    parser.add_argument("--mode", help=argparse.SUPPRESS)  # set for the worker processes
    args = parser.parse_args()
    if args.mode:
        run_mode(args)
        return
    rows = []
    for mode in args.modes:
        out = subprocess.run([sys.executable, os.path.abspath(__file__), *sys.argv[1:], "--mode", mode],
                             capture_output=True, text=True, check=True).stdout
        rows += [line for line in out.splitlines() if line.startswith("|")]
        print("\n".join(line for line in out.splitlines() if line.startswith("#")), flush=True)
    print("| model | mode | atoms | threads | ms/call | atom-steps/s | µs/atom | peak RSS MB |")
    print("|---|---|---|---|---|---|---|---|")
    for row in sorted(rows, key=lambda r: (int(r.split("|")[3]), args.modes.index(r.split("|")[2].strip()))):
        print(row)


if __name__ == "__main__":
    main()
