"""Per-layer stages of a message-passing (NequIP) model for the LAMMPS plugin, and the split of a
layer's joint forward/backward graph into a forward program and its vector-Jacobian product.

The plugin evaluates the model on the atoms a rank owns, with a ghost shell of r_max, and lets LAMMPS
fill the ghost atoms' node features between layers (forward communication) and sum the gradients on
ghost features into their owners (reverse communication); see cpp/README.md. The stages
(``N`` atoms, owned first; ``E`` edges, all with an owned center; ``F_k`` features after layer k)::

    embed       atom_types [N]                                   -> h_0 [N,F_0]
    layer k     edge_vectors [E,3], atom_types, edge_index, h_k   -> h_{k+1} [N,F_{k+1}], saved...
    layer k vjp edge_vectors, atom_types, edge_index, h_k, saved..., grad h_{k+1}
                                                                 -> grad h_k [N,F_k], grad edge_vectors [E,3]
    readout     h_L [N,F_L], atom_types, num_local [1]           -> atomic_energy [N] (zero on ghosts),
                                                                    total_energy [1], grad h_L [N,F_L]

Rows of ``h_{k+1}`` for ghost atoms are meaningless (ghosts have no edges here): the plugin
overwrites them with their owners' rows. ``saved`` are the forward intermediates the vjp needs, so
that the backward pass does not evaluate the layer again.

Every program takes its tensor inputs contiguous (``saved`` included): a compiled (AOT Inductor)
program assumes the strides it was traced with, and the compiled forward is free to return a saved
tensor in another layout than the eager trace (a view into a wider buffer, say), so the caller makes
the saved tensors contiguous before passing them to the vjp (``torch.Tensor.contiguous``).
"""

from typing import Callable, Dict, Sequence

import torch

from ..data import keys
from ..nn.edges import EdgeVectors


def _steps(model: torch.nn.Module) -> Dict[str, torch.nn.Module]:
    steps = getattr(getattr(model, "energy_model", None), "steps", None)
    if steps is None or "interaction_0" not in steps or not any(isinstance(s, EdgeVectors) for s in steps.values()):
        raise ValueError(
            "per-layer export needs a NequIP model (ForceStressOutput around a SequentialGraphNetwork with an "
            f"EdgeVectors step and 'interaction_<k>' steps); got {type(model).__name__}"
        )
    return dict(steps.items())


def num_layers(model: torch.nn.Module) -> int:
    return sum(1 for name in _steps(model) if name.startswith("interaction_"))


def _split_steps(model: torch.nn.Module):
    """(edge and attribute steps, embedding steps, layers, readout steps) of the pipeline."""
    steps = _steps(model)
    names = list(steps)
    first = names.index("interaction_0")
    last = max(i for i, n in enumerate(names) if n.startswith("interaction_"))
    # steps before the first layer that write node features (the chemical embedding) vs the rest
    embedding = [n for n in names[:first] if keys.NODE_FEATURES in (steps[n].irreps_out or {})
                 and keys.NODE_FEATURES not in (steps[n].irreps_in or {})]
    # the edge vectors are the programs' input: the step that computes them from positions is left out
    geometry = [n for n in names[:first] if n not in embedding and not isinstance(steps[n], EdgeVectors)]
    layers = names[first : last + 1]
    readout = names[last + 1 :]
    return steps, geometry, embedding, layers, readout


def _data(edge_vectors: torch.Tensor, atom_types: torch.Tensor, edge_index: torch.Tensor):
    n = atom_types.shape[0]
    return {
        # positions are only read for their dtype here: the edge vectors are given
        keys.POSITIONS: edge_vectors.new_zeros(n, 3),
        keys.ATOM_TYPES: atom_types,
        keys.EDGE_INDEX: edge_index,
        keys.EDGE_VECTORS: edge_vectors,
        keys.EDGE_LENGTHS: torch.linalg.norm(edge_vectors, dim=-1),
        keys.BATCH: torch.zeros(n, dtype=torch.long, device=atom_types.device),
        keys.NUM_ATOMS: torch.full((1,), n, dtype=torch.long, device=atom_types.device),
    }


def stage_functions(model: torch.nn.Module):
    """``(embed, [layer_0, ...], readout)`` as plain tensor functions (see the module docstring;
    ``layer_k`` returns only ``h_{k+1}``, and ``readout`` returns ``(atomic_energy, total_energy)``
    without the gradient). Raises ``ValueError`` for a model that is not a NequIP pipeline."""
    steps, geometry, embedding, layers, readout = _split_steps(model)
    dtype = next(iter(model.buffers()), torch.zeros((), dtype=torch.get_default_dtype())).dtype

    def embed(atom_types):
        # geometry steps run on zero edges: only the atom attributes (one-hot types) matter here
        data = _data(torch.zeros(0, 3, dtype=dtype, device=atom_types.device), atom_types,
                     torch.zeros(2, 0, dtype=torch.long, device=atom_types.device))
        for step in geometry + embedding:
            data = steps[step](data)
        return data[keys.NODE_FEATURES]

    def make_layer(name: str):
        def layer(edge_vectors, atom_types, edge_index, h):
            data = _data(edge_vectors, atom_types, edge_index)
            for step in geometry:
                data = steps[step](data)
            data[keys.NODE_FEATURES] = h
            return steps[name](data)[keys.NODE_FEATURES]

        return layer

    def read(h, atom_types, num_local):
        n = atom_types.shape[0]
        data = {keys.NODE_FEATURES: h, keys.ATOM_TYPES: atom_types,
                keys.NUM_ATOMS: torch.full((1,), n, dtype=torch.long, device=h.device),
                keys.BATCH: torch.zeros(n, dtype=torch.long, device=h.device)}
        for step in readout:
            if step == "total_energy":
                continue
            data = steps[step](data)
        local = torch.arange(n, device=h.device) < num_local
        atomic = torch.where(local, data[keys.ATOMIC_ENERGY], torch.zeros_like(data[keys.ATOMIC_ENERGY]))
        return atomic, atomic.sum().reshape(1)

    return embed, [make_layer(n) for n in layers], read


def _ancestors(roots: Sequence[torch.fx.Node]) -> set:
    seen, stack = set(), [r for r in roots if isinstance(r, torch.fx.Node)]
    while stack:
        node = stack.pop()
        if node not in seen:
            seen.add(node)
            stack.extend(node.all_input_nodes)
    return seen


def _is_tensor(node: torch.fx.Node) -> bool:
    return isinstance(node.meta.get("val"), torch.Tensor)


def split_joint(joint: torch.fx.GraphModule, num_primals: int, num_fwd_outputs: int):
    """``(forward, vjp, num_saved)`` from the traced, functional (no in-place ops) graph of
    ``f(*primals, *tangents) -> (*outputs, *grads)`` whose first ``num_fwd_outputs`` outputs do not
    depend on the tangents.

    ``forward(*primals) -> (*outputs, *saved)``: the forward part, which also returns the intermediates
    (tensors) that the backward part reads. ``vjp(*primals, *saved, *tangents) -> grads``: the rest.
    Sizes (symbolic integers) are recomputed from the primals in ``vjp`` instead of being saved, so
    both programs take and return tensors only.
    """
    graph = joint.graph
    for node in list(graph.nodes):  # no autograd in the programs: detach is the identity
        if node.op == "call_function" and node.target == torch.ops.aten.detach.default:
            node.replace_all_uses_with(node.args[0])
            graph.erase_node(node)
    placeholders = [n for n in graph.nodes if n.op == "placeholder"]
    primals, tangents = placeholders[:num_primals], placeholders[num_primals:]
    outputs = list(next(n for n in graph.nodes if n.op == "output").args[0])
    fwd_outputs, grads = outputs[:num_fwd_outputs], outputs[num_fwd_outputs:]
    forward_nodes = _ancestors(fwd_outputs)
    if forward_nodes & set(tangents):
        raise ValueError("a forward output depends on the tangents")
    backward_nodes = _ancestors(grads) - forward_nodes
    saved = [
        n for n in graph.nodes
        if n in forward_nodes and n.op != "placeholder" and _is_tensor(n)
        and any(user in backward_nodes for user in n.users)
    ]

    fwd = torch.fx.Graph()
    env: Dict[torch.fx.Node, torch.fx.Node] = {}
    for node in graph.nodes:
        if node in primals:
            env[node] = fwd.placeholder(node.name)
            env[node].meta = dict(node.meta)
        elif node in forward_nodes:
            env[node] = fwd.node_copy(node, lambda x: env[x])
    fwd.output(tuple(env[n] for n in fwd_outputs + saved))

    bwd = torch.fx.Graph()
    benv: Dict[torch.fx.Node, torch.fx.Node] = {}
    for node in primals + saved + tangents:
        benv[node] = bwd.placeholder(node.name)
        benv[node].meta = dict(node.meta)

    def get(node: torch.fx.Node) -> torch.fx.Node:
        # forward nodes that were not saved (sizes) are recomputed from their inputs
        if node not in benv:
            benv[node] = bwd.node_copy(node, get)
        return benv[node]

    for node in graph.nodes:
        if node in backward_nodes and node.op != "placeholder":
            get(node)
    bwd.output(tuple(get(n) for n in grads))
    fwd.lint()
    bwd.lint()
    return torch.fx.GraphModule(joint, fwd), torch.fx.GraphModule(joint, bwd), len(saved)


def layer_joint(layer: Callable) -> Callable:
    """``joint(edge_vectors, atom_types, edge_index, h, grad_out) -> (h_out, grad_h, grad_edge_vectors)``."""

    def joint(edge_vectors, atom_types, edge_index, h, grad_out):
        with torch.enable_grad():
            vec = edge_vectors.detach().requires_grad_(True)
            h_in = h.detach().requires_grad_(True)
            out = layer(vec, atom_types, edge_index, h_in)
            grad_h, grad_vec = torch.autograd.grad([out], [h_in, vec], [grad_out])
        return out.detach(), grad_h, grad_vec

    return joint


def readout_with_gradient(read: Callable) -> Callable:
    """``f(h, atom_types, num_local) -> (atomic_energy, total_energy, d total_energy / d h)``."""

    def f(h, atom_types, num_local):
        with torch.enable_grad():
            h_in = h.detach().requires_grad_(True)
            atomic, total = read(h_in, atom_types, num_local)
            (grad_h,) = torch.autograd.grad([total.sum()], [h_in])
        return atomic.detach(), total.detach(), grad_h

    return f


def example_graph(dtype: torch.dtype, device: str, num_types: int, n: int = 7, e: int = 22):
    """Edge vectors, atom types and edge index of a small graph whose sizes differ from each other
    and from 0, 1, 3 (so that tracing does not specialise a dynamic size)."""
    g = torch.Generator().manual_seed(0)
    pos = torch.rand(n, 3, generator=g, dtype=torch.float64) * 3.0
    types = torch.arange(n) % max(num_types, 1)
    edge_index = torch.stack([torch.arange(e) % 5, (torch.arange(e) * 3 + 1) % n])
    edge_index[1] = torch.where(edge_index[1] == edge_index[0], (edge_index[1] + 1) % n, edge_index[1])
    vec = (pos[edge_index[1]] - pos[edge_index[0]]).to(dtype)
    return vec.to(device), types.to(device), edge_index.to(device)


def export_stages(model: torch.nn.Module, dtype: torch.dtype, device: str, num_types: int):
    """``{program name: ExportedProgram}`` of the stages (``embed``, ``layer_<k>``, ``layer_<k>_vjp``,
    ``readout``) with dynamic atom and edge counts, and the feature sizes ``[F_0, ..., F_L]``."""
    from torch.fx.experimental.proxy_tensor import make_fx

    embed, layers, read = stage_functions(model)
    vec, types, edge_index = example_graph(dtype, device, num_types)
    n_dim = torch.export.Dim("num_atoms", min=1, max=2**31 - 2)
    e_dim = torch.export.Dim("num_edges", min=0, max=2**31 - 2)
    graph_shapes = ({0: e_dim}, {0: n_dim}, {1: e_dim})
    num_local = torch.tensor([5], device=device)

    def export(fn, args, shapes):
        with torch.enable_grad():
            gm = make_fx(fn, tracing_mode="symbolic", _allow_non_fake_inputs=True)(*args)
        return torch.export.export(gm, args, dynamic_shapes=shapes, strict=False)

    programs = {"embed": export(embed, (types,), ({0: n_dim},))}
    h = embed(types)
    sizes = [h.shape[1]]
    for k, layer in enumerate(layers):
        h_out = layer(vec, types, edge_index, h)
        grad_out = torch.randn(h_out.shape, generator=torch.Generator().manual_seed(k), dtype=torch.float64).to(h_out)
        primals = (vec, types, edge_index, h)
        with torch.enable_grad():
            joint = make_fx(layer_joint(layer), tracing_mode="symbolic", _allow_non_fake_inputs=True)(*primals, grad_out)
        # without in-place ops, every node that a result needs is an ancestor of it (split_joint)
        joint = make_fx(torch.func.functionalize(joint, remove="mutations"), tracing_mode="symbolic",
                        _allow_non_fake_inputs=True)(*primals, grad_out)
        forward, vjp, num_saved = split_joint(joint, num_primals=4, num_fwd_outputs=1)
        primal_shapes = graph_shapes + ({0: n_dim},)
        programs[f"layer_{k}"] = torch.export.export(forward, primals, dynamic_shapes=primal_shapes, strict=False)
        # the layout the vjp is traced (and compiled) for: contiguous, as callers pass them (see top)
        saved = tuple(t.contiguous() for t in forward(*primals)[1:])
        symbols = {}  # trace symbol -> Dim (dynamic) or its example value (static)
        for node, spec, example in zip(primals_of(forward), primal_shapes, primals):
            for d, size in enumerate(node.meta["val"].shape):
                if not isinstance(size, int):
                    symbols[_expr(size)] = (spec or {}).get(d, example.shape[d])
        saved_shapes = tuple(_saved_shapes(forward, num_saved, symbols))
        programs[f"layer_{k}_vjp"] = torch.export.export(
            vjp, primals + saved + (grad_out,), dynamic_shapes=primal_shapes + saved_shapes + ({0: n_dim},), strict=False
        )
        h = h_out
        sizes.append(h.shape[1])
    programs["readout"] = export(readout_with_gradient(read), (h, types, num_local), ({0: n_dim}, {0: n_dim}, None))
    return programs, sizes


def primals_of(gm: torch.fx.GraphModule):
    return [n for n in gm.graph.nodes if n.op == "placeholder"]


def _expr(size):
    return size.node.expr if isinstance(size, torch.SymInt) else size


def _saved_shapes(forward: torch.fx.GraphModule, num_saved: int, symbols):
    """Dynamic-shape specs of the saved tensors: each symbolic dimension as ``a * Dim + b`` of the
    atom or edge count it was traced as (``symbols``: trace symbol -> Dim)."""
    import sympy

    out_node = next(n for n in forward.graph.nodes if n.op == "output")
    saved = list(out_node.args[0])[len(out_node.args[0]) - num_saved :]
    specs = []
    for node in saved:
        spec = {}
        for d, size in enumerate(node.meta["val"].shape):
            if isinstance(size, int):
                continue
            expr = sympy.sympify(_expr(size)).subs({k: v for k, v in symbols.items() if isinstance(v, int)})
            if expr.is_Integer:
                continue
            (symbol,) = expr.free_symbols
            a, b = (int(c) for c in sympy.Poly(expr, symbol).all_coeffs())
            if sympy.Poly(expr, symbol).degree() != 1 or symbol not in symbols:
                raise ValueError(f"saved tensor {node.name}: size {expr} is not linear in the atom or edge count")
            dim = symbols[symbol]
            spec[d] = dim if (a, b) == (1, 0) else a * dim + b
        specs.append(spec)
    return specs
