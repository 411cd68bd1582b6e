"""Tensor-product operators: our compiled kernels (extensions/) against the pure-PyTorch reference,
side by side in one run, on the shapes of the shipped configs.

    python bench/tp_ops.py                       # CPU, this machine's threads
    python bench/tp_ops.py --device cuda --e3nn  # GPU, with e3nn's TensorProduct as a third column

For each config, the largest tensor product of the model (the last layer's, by output width) runs on
a synthetic graph of ``--atoms`` atoms with ``--neighbors`` edges per atom. Three workloads:
``fwd`` (the product), ``fwd+bwd`` (gradients of all inputs), ``2nd`` (forward, gradients with
create_graph, then the gradient of their squared norm: what force training does). Times are the
minimum over ``--repeats`` calls; the ratio is reference / extension (higher is better).
``--deterministic`` runs under ``torch.use_deterministic_algorithms(True)`` (the GPU's owner kernels,
no atomics); ``--gpu H100|H200`` adds the bound of the performance model (bench/tp_model.py) for
``fwd`` and ``fwd+bwd``.
"""

import argparse
import os
import sys
import time

import torch

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))  # tp_model
CONFIGS = ("tutorial.yaml", "nequip.yaml", "allegro_tutorial.yaml", "allegro.yaml")


def largest_tp(config_name: str):
    """The widest ConvolutionTP / ChannelwiseTP of the model a config builds (reference backend)."""
    import yaml

    from nequip.model import build_model, resolve_model_spec
    from nequip.ops import ChannelwiseTP, ConvolutionTP

    with open(os.path.join(REPO, "configs", config_name)) as f:
        config = yaml.safe_load(f)  # only the model part; the data files of the full-size recipes are placeholders
    n_types = len(config["type_names"])
    stats = {"avg_num_neighbors": 40.0, "per_type_energy_shift": [-3.0] * n_types, "force_rms": 0.5}
    spec = resolve_model_spec(config["model"], config["type_names"], config["r_max"], "float32", stats)
    model = build_model(spec)
    tps = [m for m in model.modules() if isinstance(m, (ConvolutionTP, ChannelwiseTP))]
    return max(tps, key=lambda m: m.out_dim)


def twin(module, backend: str):
    from nequip.ops import ChannelwiseTP, ConvolutionTP

    if isinstance(module, ConvolutionTP):
        return ConvolutionTP(module.irreps_in, module.irreps_sh, module.irreps_out, backend=backend)
    return ChannelwiseTP(module.irreps_in1, module.irreps_in2, module.irreps_out, backend=backend)


class E3nnTwin(torch.nn.Module):
    """The same product with e3nn's ``o3.TensorProduct`` (gather, product, and for the convolution
    a sum onto atoms), for the ``--e3nn`` column."""

    def __init__(self, module):
        super().__init__()
        from e3nn import o3

        from nequip.ops import ConvolutionTP

        self.convolution = isinstance(module, ConvolutionTP)
        irreps1 = module.irreps_in if self.convolution else module.irreps_in1
        irreps2 = module.irreps_sh if self.convolution else module.irreps_in2
        index1, index2 = _block_index(irreps1), _block_index(irreps2)
        mode = "uvu" if self.convolution else "uuu"
        instructions = [
            (index1[p.in1_start], index2[p.in2_start], i, mode, self.convolution) for i, p in enumerate(module.paths)
        ]
        self.tp = o3.TensorProduct(
            irreps1, irreps2, module.irreps_out, instructions, shared_weights=False if self.convolution else None,
            internal_weights=False if self.convolution else None, irrep_normalization="component",
            path_normalization="element",
        )

    def forward(self, *args):
        if self.convolution:
            x, sh, weight, center, neighbor = args
            messages = self.tp(x[neighbor], sh, weight)
            return torch.zeros(x.shape[0], messages.shape[1], dtype=x.dtype, device=x.device).index_add(0, center, messages)
        x1, x2, index = args
        return self.tp(x1, x2[index])


def _block_index(irreps):
    """{start column of an irrep block: its index in ``irreps``}."""
    starts, offset = {}, 0
    for i, (mul, ir) in enumerate(irreps):
        starts[offset] = i
        offset += mul * ir.dim
    return starts


def inputs(module, atoms: int, neighbors: int, dtype, device):
    from nequip.ops import ConvolutionTP

    g = torch.Generator().manual_seed(0)
    edges = atoms * neighbors
    center = torch.arange(edges) // neighbors
    neighbor = torch.randint(0, atoms, (edges,), generator=g)

    def rand(*shape):
        return torch.randn(*shape, generator=g, dtype=torch.float64).to(dtype=dtype, device=device).requires_grad_()

    if isinstance(module, ConvolutionTP):
        tensors = (rand(atoms, module.irreps_in.dim), rand(edges, module.irreps_sh.dim), rand(edges, module.weight_numel))
        return tensors, (center.to(device), neighbor.to(device))
    return (rand(edges, module.irreps_in1.dim), rand(atoms, module.irreps_in2.dim)), (center.to(device),)


def workloads(module, tensors, indices):
    def fwd():
        with torch.no_grad():
            module(*tensors, *indices)

    def fwd_bwd():
        out = module(*tensors, *indices)
        torch.autograd.grad(out.square().sum(), tensors)

    def second():
        out = module(*tensors, *indices)
        grads = torch.autograd.grad(out.square().sum(), tensors, create_graph=True)
        torch.autograd.grad(sum(g.square().sum() for g in grads), tensors)

    return {"fwd": fwd, "fwd+bwd": fwd_bwd, "2nd": second}


def best_time(fn, repeats: int, device) -> float:
    fn()
    times = []
    for _ in range(repeats):
        if device == "cuda":
            torch.cuda.synchronize()
        t = time.perf_counter()
        fn()
        if device == "cuda":
            torch.cuda.synchronize()
        times.append(time.perf_counter() - t)
    return min(times)


def model_bound(module, workload: str, atoms: int, neighbors: int, dtype: str, gpu: str):
    """Seconds the performance model (bench/tp_model.py) allows for a workload (None for ``2nd``,
    whose operator calls depend on the autograd graph)."""
    import tp_model

    from nequip.ops import ConvolutionTP

    conv = isinstance(module, ConvolutionTP)
    cost = tp_model.conv_cost if conv else tp_model.channelwise_cost
    slots = {"fwd": ["out"], "fwd+bwd": ["out", "x", "sh", "weight"] if conv else ["out", "x1", "x2"]}.get(workload)
    if slots is None:
        return None
    edges = atoms * neighbors
    return sum(tp_model.bound_seconds(cost(module, s, neighbors, tp_model.SIZE[dtype]), edges, gpu, dtype) for s in slots)


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--configs", nargs="+", default=list(CONFIGS))
    parser.add_argument("--atoms", type=int, default=256)
    parser.add_argument("--neighbors", type=int, default=40)
    parser.add_argument("--dtype", default="float32", choices=["float32", "float64"])
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--e3nn", action="store_true", help="add e3nn's TensorProduct as a third column")
    parser.add_argument("--deterministic", action="store_true", help="torch.use_deterministic_algorithms(True)")
    parser.add_argument("--gpu", choices=["H100", "H200"], help="add the performance model's bound for this GPU")
    args = parser.parse_args()
    dtype = getattr(torch, args.dtype)
    torch.use_deterministic_algorithms(args.deterministic)
    print(f"# {args.atoms} atoms x {args.neighbors} neighbors, {args.dtype}, {args.device}, "
          f"{torch.get_num_threads()} threads, torch {torch.__version__}, deterministic {args.deterministic}")
    e3nn_head = (" e3nn ms | speed-up vs e3nn |", "---|---|") if args.e3nn else ("", "")
    model_head = (f" model bound {args.gpu} µs | extension / bound |", "---|---|") if args.gpu else ("", "")
    print("| config | product | workload | reference ms | extension ms | speed-up |" + e3nn_head[0] + model_head[0])
    print("|---|---|---|---|---|---|" + e3nn_head[1] + model_head[1])
    for name in args.configs:
        found = largest_tp(name)
        ref, ext = (twin(found, b).to(device=args.device, dtype=dtype) for b in ("reference", "extension"))
        tensors, indices = inputs(found, args.atoms, args.neighbors, dtype, args.device)
        label = f"{type(found).__name__} -> {found.out_dim}"
        runs = {"ref": workloads(ref, tensors, indices), "ext": workloads(ext, tensors, indices)}
        if args.e3nn:
            runs["e3nn"] = workloads(E3nnTwin(found).to(device=args.device, dtype=dtype), tensors, indices)
        for workload in runs["ref"]:
            t = {kind: best_time(fns[workload], args.repeats, args.device) for kind, fns in runs.items()}
            row = f"| {name} | {label} | {workload} | {t['ref'] * 1e3:.2f} | {t['ext'] * 1e3:.2f} | {t['ref'] / t['ext']:.1f}x |"
            if args.e3nn:
                row += f" {t['e3nn'] * 1e3:.2f} | {t['e3nn'] / t['ext']:.1f}x |"
            if args.gpu:
                bound = model_bound(found, workload, args.atoms, args.neighbors, args.dtype, args.gpu)
                row += f" {bound * 1e6:.1f} | {t['ext'] / bound:.1f}x |" if bound else " - | - |"
            print(row, flush=True)


if __name__ == "__main__":
    main()
