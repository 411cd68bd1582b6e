"""A small Lennard-Jones model exported to the LAMMPS `.pt2` contract, for testing the plugin.

Exactly the contract of ``nequip-compile --target lammps`` (see cpp/pair_nequip.cpp):
inputs ``pos [N,3]``, ``atom_types [N]``, ``edge_index [2,E]`` (center, neighbor), ``num_local [1]``;
outputs ``atomic_energy [N]``, ``total_energy [1]``, ``forces [N,3]``, ``virial [1,3,3]``,
``atom_virial [N,3,3]``. Each ordered edge (i, j) adds half the pair energy to its center i, and
only owned centers (i < num_local) count, which is what LAMMPS's ``lj/cut`` computes.
"""

from __future__ import annotations

import torch

OUTPUT_KEYS = "atomic_energy total_energy forces virial atom_virial"
INPUT_KEYS = "pos atom_types edge_index num_local"


def lj_forward(pos, atom_types, edge_index, num_local, epsilon, sigma):
    """Energies, forces and virials of a per-type-pair LJ model (no cutoff shift)."""
    n = pos.shape[0]
    center, neighbor = edge_index[0], edge_index[1]
    vec = pos.index_select(0, neighbor) - pos.index_select(0, center)
    r2 = (vec * vec).sum(-1)
    ti, tj = atom_types.index_select(0, center), atom_types.index_select(0, neighbor)
    eps = epsilon[ti, tj]
    s6 = (sigma[ti, tj] ** 2 / r2) ** 3
    e_edge = 0.5 * 4.0 * eps * (s6 * s6 - s6)
    owned = (center < num_local).to(pos.dtype)
    e_edge = e_edge * owned
    atomic_energy = torch.zeros(n, dtype=pos.dtype, device=pos.device).index_add(0, center, e_edge)
    total_energy = atomic_energy.sum().reshape(1)
    (dedv,) = torch.autograd.grad(total_energy.sum(), [vec])
    forces = torch.zeros_like(pos).index_add(0, center, dedv).index_add(0, neighbor, -dedv)
    w_edge = -vec.unsqueeze(-1) * dedv.unsqueeze(-2)  # W = sum r (x) F, per edge
    atom_virial = (
        torch.zeros(n, 3, 3, dtype=pos.dtype, device=pos.device)
        .index_add(0, center, 0.5 * w_edge)
        .index_add(0, neighbor, 0.5 * w_edge)
    )
    virial = w_edge.sum(0).unsqueeze(0)
    return atomic_energy, total_energy, forces, virial, atom_virial


def smooth_cutoff(r2, r_max):
    return (1.0 - r2 / (r_max * r_max)).clamp(min=0.0) ** 2


def mp_energy(vec, atom_types, edge_index, owned_center, epsilon, sigma, r_max):
    """A 2-layer message-passing toy energy of edge vectors ``vec = pos[j] - pos[i] (+ shift)``.

    Layer 1: a density rho_i = sum_j sigma[t_i, t_j] w(r_ij) on every atom. Layer 2: the energy
    E_i = -eps[t_i, t_i] log(1 + sum_j w(r_ij) (1 + 0.3 rho_j)), so that E_i depends on atoms two
    hops (2 r_max) away: exactly what a NequIP model with 2 layers needs from LAMMPS.
    Returns per-atom energies with only owned centers counted (``owned_center`` [E]).
    """
    n = atom_types.shape[0]
    center, neighbor = edge_index[0], edge_index[1]
    ti, tj = atom_types.index_select(0, center), atom_types.index_select(0, neighbor)
    w = smooth_cutoff((vec * vec).sum(-1), r_max)
    rho = torch.zeros(n, dtype=vec.dtype, device=vec.device).index_add(0, center, sigma[ti, tj] * w)
    msg = w * (1.0 + 0.3 * rho.index_select(0, neighbor)) * owned_center
    s = torch.zeros(n, dtype=vec.dtype, device=vec.device).index_add(0, center, msg)
    return -torch.diagonal(epsilon).index_select(0, atom_types) * torch.log1p(s)


def mp_forward(pos, atom_types, edge_index, num_local, epsilon, sigma, r_max=5.0):
    """:func:`mp_energy` under the LAMMPS contract (ghost atoms explicit, no shifts)."""
    center, neighbor = edge_index[0], edge_index[1]
    vec = pos.index_select(0, neighbor) - pos.index_select(0, center)
    owned = (center < num_local).to(pos.dtype)
    atomic_energy = mp_energy(vec, atom_types, edge_index, owned, epsilon, sigma, r_max)
    atomic_energy = atomic_energy * (torch.arange(pos.shape[0], device=pos.device) < num_local).to(pos.dtype)
    total_energy = atomic_energy.sum().reshape(1)
    (dedv,) = torch.autograd.grad(total_energy.sum(), [vec])
    forces = torch.zeros_like(pos).index_add(0, center, dedv).index_add(0, neighbor, -dedv)
    w_edge = -vec.unsqueeze(-1) * dedv.unsqueeze(-2)
    atom_virial = (
        torch.zeros(pos.shape[0], 3, 3, dtype=pos.dtype, device=pos.device)
        .index_add(0, center, 0.5 * w_edge)
        .index_add(0, neighbor, 0.5 * w_edge)
    )
    return atomic_energy, total_energy, forces, w_edge.sum(0).unsqueeze(0), atom_virial


class _Traced(torch.nn.Module):
    """The make_fx graph (autograd already traced into it) with the parameters as buffers."""

    def __init__(self, gm, epsilon, sigma):
        super().__init__()
        self.gm = gm
        self.register_buffer("epsilon", epsilon)
        self.register_buffer("sigma", sigma)

    def forward(self, pos, atom_types, edge_index, num_local):
        return self.gm(pos, atom_types, edge_index, num_local, self.epsilon, self.sigma)


def export_lj(
    path,
    type_names,
    epsilon,
    sigma,
    r_max,
    model_kind="allegro",
    num_layers=1,
    dtype=torch.float64,
    target="lammps",
    forward=None,
):
    """Compile the LJ model into an AOT Inductor package at ``path`` (about 20 s cold).

    ``forward`` replaces :func:`lj_forward` (same signature; ``epsilon`` and ``sigma`` are passed
    to it as tensors), e.g. with the message-passing test model of :func:`mp_forward`.
    """
    forward = forward or lj_forward
    from torch.fx.experimental.proxy_tensor import make_fx

    eps_t = torch.as_tensor(epsilon, dtype=dtype)
    sig_t = torch.as_tensor(sigma, dtype=dtype)

    def fn(pos, atom_types, edge_index, num_local, eps, sig):
        with torch.enable_grad():
            pos = pos.detach().requires_grad_(True)
            return forward(pos, atom_types, edge_index, num_local, eps, sig)

    n, e = 7, 13
    g = torch.Generator().manual_seed(0)
    example = (
        torch.rand(n, 3, dtype=dtype, generator=g) * 3,
        torch.randint(0, len(type_names), (n,), generator=g),
        torch.randint(0, n, (2, e), generator=g),
        torch.tensor([5]),
    )
    with torch.no_grad():
        gm = make_fx(fn, tracing_mode="symbolic")(*example, eps_t, sig_t)
    model = _Traced(gm, eps_t, sig_t)
    num_atoms = torch.export.Dim("num_atoms", min=1)
    num_edges = torch.export.Dim("num_edges", min=0)
    dynamic = ({0: num_atoms}, {0: num_atoms}, {1: num_edges}, None)
    ep = torch.export.export(model, example, dynamic_shapes=dynamic, strict=False)
    meta = {
        "model_kind": model_kind,
        "r_max": repr(float(r_max)),
        "type_names": " ".join(type_names),
        "num_layers": str(num_layers),
        "target": target,
        "dtype": {torch.float64: "float64", torch.float32: "float32"}[dtype],
        "device": "cpu",
        "framework_version": "test-lj",
        "input_keys": INPUT_KEYS,
        "output_keys": OUTPUT_KEYS,
    }
    return torch._inductor.aoti_compile_and_package(
        ep, package_path=str(path), inductor_configs={"aot_inductor.metadata": meta}
    )


if __name__ == "__main__":
    import sys
    import time

    t = time.time()
    print(export_lj(sys.argv[1], ["Cu", "Au"], [[0.4, 0.3], [0.3, 0.5]], [[2.3, 2.4], [2.4, 2.5]], 5.0))
    print(f"{time.time() - t:.1f} s")
