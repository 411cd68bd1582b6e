"""Performance model of the tensor-product operators (extensions/), computed from the path tables of
real models: for each operator and `open` slot, the bytes a kernel must move to and from memory per
edge and the FLOPs per edge, the time these imply at a GPU's memory bandwidth, and what the present
scatter kernels move beyond that.

    python bench/tp_model.py                 # Markdown tables (bench/RESULTS.md)

Model (per edge, one call of one operator; s = bytes per scalar):

- compulsory bytes: every operand read once and the result written once. Edge-sized tensors count
  in full, node-sized ones (x, y of the convolution, x2 of the channel-wise product) once per atom,
  i.e. divided by the neighbours per atom, plus the int64 indices.
- FLOPs: the kernels' sparse loops, 3 per Clebsch-Gordan nonzero and (path, channel) (4 for the
  weight slot), plus 2 per element of the weighted block.
- bound: max(bytes / bandwidth, FLOPs / peak); H100 SXM 3.35 TB/s, H200 4.8 TB/s, both 67 TFLOP/s
  FP32 and 34 TFLOP/s FP64 (no tensor cores: the blocks are too small).
- scatter kernels (one thread per edge, path, channel): the operand blocks each thread loads (from L2
  or L1: x re-read once per path that uses its irrep, sh once per channel), the Clebsch-Gordan
  nonzeros each thread reads, the atomics (one per element of its block, per edge, on the node
  slots), and the `locate` steps (binary search, log2 of the path count; the linear search before
  it took the path index, on average P/2).
- staged kernel (deterministic x / out slots of the convolution): a block per atom and 128 units
  reads the nonzeros of its units' paths once per edge to form their M_p in shared memory.
"""

import argparse
import math
import os
import sys
from dataclasses import dataclass
from typing import Dict, List

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, REPO)

BANDWIDTH = {"H100": 3.35e12, "H200": 4.8e12}  # bytes / s
PEAK_FLOPS = {"float32": 67e12, "float64": 34e12}
SIZE = {"float32": 4, "float64": 8}

# a foundation-size NequIP (MACE-MP / NequIP-OAM scale): l_max 3, both parities, 64 and 128 channels
FOUNDATION = {"kind": "nequip", "num_layers": 4, "l_max": 3, "parity": True, "num_features": 64}
MODELS = {
    "tutorial (configs/tutorial.yaml)": ("tutorial.yaml", None, 40),
    "alloy NequIP (configs/nequip.yaml)": ("nequip.yaml", None, 40),
    "alloy Allegro (configs/allegro.yaml)": ("allegro.yaml", None, 40),
    "foundation NequIP, 64 ch": ("nequip.yaml", FOUNDATION, 50),
    "foundation NequIP, 128 ch": ("nequip.yaml", dict(FOUNDATION, num_features=128), 50),
}
CONV_SLOTS = ("out", "x", "sh", "weight")
CHANNELWISE_SLOTS = ("x1", "x2", "out")


@dataclass
class Cost:
    compulsory: float = 0.0  # bytes per edge
    flops: float = 0.0
    loaded: float = 0.0  # operand bytes per edge loaded by the scatter kernels' threads (L1/L2)
    cg_loaded: float = 0.0  # Clebsch-Gordan bytes per edge read by those threads (int64 i, j, k + value)
    staged_cg: float = 0.0  # the same for the staged kernel: each block forms every M_p once per edge
    atomics: float = 0.0  # per edge
    threads: float = 0.0  # per edge
    locate_steps: float = 0.0  # per thread, averaged

    def __iadd__(self, other):
        for name in vars(self):
            setattr(self, name, getattr(self, name) + getattr(other, name))
        return self


def tensor_products(config: str, override, dtype: str = "float32"):
    """All ConvolutionTP / ChannelwiseTP modules of the model a config builds (every layer)."""
    import yaml

    from nequip.model import build_model, resolve_model_spec
    from nequip.ops import ChannelwiseTP, ConvolutionTP

    with open(os.path.join(REPO, "configs", config)) as f:
        cfg = yaml.safe_load(f)
    model = dict(cfg["model"], **(override or {}))
    stats = {"avg_num_neighbors": 40.0, "per_type_energy_shift": [-3.0] * len(cfg["type_names"]), "force_rms": 0.5}
    spec = resolve_model_spec(model, cfg["type_names"], cfg["r_max"], dtype, stats)
    return [m for m in build_model(spec).modules() if isinstance(m, (ConvolutionTP, ChannelwiseTP))]


def _nonzeros(path) -> int:
    from nequip.ops.paths import cg_block

    return int((cg_block(path.l1, path.l2, path.l_out, __import__("torch").float64).abs() > 1e-12).sum())


def conv_cost(module, slot: str, neighbors: float, s: int) -> Cost:
    """Per-edge cost of one conv_contract call with `slot` open (see the module docstring)."""
    d_in, d_sh, d_w, d_out = module.irreps_in.dim, module.irreps_sh.dim, module.weight_numel, module.out_dim
    node = {"x": d_in, "out": d_out}
    edge = {"sh": d_sh, "weight": d_w}
    cost = Cost()
    # every slot is read once, or written once when open: the same total for each slot
    cost.compulsory = s * (sum(edge.values()) + sum(node.values()) / neighbors) + 16
    paths = module.paths
    steps = math.log2(max(len(paths), 1)) + 1
    for p in paths:
        d1, d2, d3, nnz = 2 * p.l1 + 1, 2 * p.l2 + 1, 2 * p.l_out + 1, _nonzeros(p)
        block = {"out": d3, "x": d1, "sh": d2, "weight": 1}
        operands = sum(size for name, size in block.items() if name != slot)  # x, sh, w, y blocks
        cost.flops += p.mul * (4 * nnz if slot == "weight" else 3 * nnz + 2 * block[slot])
        cost.loaded += p.mul * (s * operands + 16)
        cost.cg_loaded += p.mul * nnz * (24 + s)
        cost.atomics += 0 if slot == "weight" else p.mul * block[slot]
        cost.threads += p.mul
        cost.locate_steps += p.mul * steps
    cost.locate_steps /= max(cost.threads, 1)
    # staged kernel (x and out): blocks of 128 units (path-major, as the out slot's), each forming the M_p
    # of the paths its units belong to, reading their nonzeros once per edge
    staged, first = 0, 0
    for p in paths:
        chunks = (first + p.mul - 1) // 128 - first // 128 + 1  # blocks this path's units fall into
        staged += chunks * _nonzeros(p)
        first += p.mul
    cost.staged_cg = staged * (24 + s) if slot in ("out", "x") else float("nan")
    return cost


def channelwise_cost(module, slot: str, neighbors: float, s: int) -> Cost:
    d1, d2, d_out = module.irreps_in1.dim, module.irreps_in2.dim, module.out_dim
    cost = Cost()
    cost.compulsory = s * (d1 + d_out + d2 / neighbors) + 8
    cost.staged_cg = float("nan")  # no staged kernel for the channel-wise product
    steps = math.log2(max(len(module.paths), 1)) + 1
    for p in module.paths:
        a, b, c, nnz = 2 * p.l1 + 1, 2 * p.l2 + 1, 2 * p.l_out + 1, _nonzeros(p)
        block = {"x1": a, "x2": b, "out": c}
        cost.flops += p.mul * 3 * nnz
        cost.loaded += p.mul * (s * sum(v for k, v in block.items() if k != slot) + 8)
        cost.cg_loaded += p.mul * nnz * (24 + s)
        cost.atomics += 0 if slot == "out" else p.mul * block[slot]
        cost.threads += p.mul
        cost.locate_steps += p.mul * steps
    cost.locate_steps /= max(cost.threads, 1)
    return cost


def model_costs(config, override, neighbors, dtype) -> Dict[str, Dict[str, Cost]]:
    """{operator: {slot: Cost summed over the model's layers}}."""
    from nequip.ops import ConvolutionTP

    s = SIZE[dtype]
    totals: Dict[str, Dict[str, Cost]] = {}
    for module in tensor_products(config, override):
        conv = isinstance(module, ConvolutionTP)
        name = "conv_contract" if conv else "channelwise_contract"
        for slot in CONV_SLOTS if conv else CHANNELWISE_SLOTS:
            cost = (conv_cost if conv else channelwise_cost)(module, slot, neighbors, s)
            totals.setdefault(name, {}).setdefault(slot, Cost())
            totals[name][slot] += cost
    return totals


def bound_seconds(cost: Cost, edges: float, gpu: str, dtype: str) -> float:
    return edges * max(cost.compulsory / BANDWIDTH[gpu], cost.flops / PEAK_FLOPS[dtype])


def table(dtype: str) -> List[str]:
    lines = [
        f"{dtype}; per edge, all layers of the model summed; bound = max(bytes / bandwidth, FLOPs / peak) per 10^6 edges",
        "",
        "| model | neighbours | operator | open slot | compulsory B/edge | FLOP/edge | FLOP/B | bound H100 µs | bound H200 µs "
        "| scatter: operand B/edge loaded | loaded / compulsory | CG B/edge loaded | atomics/edge | locate steps "
        "| staged: CG B/edge loaded |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for label, (config, override, neighbors) in MODELS.items():
        for op, slots in model_costs(config, override, neighbors, dtype).items():
            for slot, c in slots.items():
                h100, h200 = (bound_seconds(c, 1e6, g, dtype) * 1e6 for g in ("H100", "H200"))
                lines.append(
                    f"| {label} | {neighbors} | {op} | {slot} | {c.compulsory:.0f} | {c.flops:.0f} | "
                    f"{c.flops / c.compulsory:.1f} | {h100:.0f} | {h200:.0f} | {c.loaded:.0f} | "
                    f"{c.loaded / c.compulsory:.1f}x | {c.cg_loaded:.0f} | {c.atomics:.0f} | {c.locate_steps:.1f} | "
                    f"{'-' if math.isnan(c.staged_cg) else f'{c.staged_cg:.0f}'} |"
                )
    return lines


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--dtype", default="float32", choices=sorted(SIZE))
    args = parser.parse_args()
    print("\n".join(table(args.dtype)))


if __name__ == "__main__":
    main()
