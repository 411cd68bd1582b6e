"""Equivariance of every equivariant module, in float64, under random rotations and reflections:
``module(D_in(R) x) == D_out(R) module(x)`` to 1e-10 relative."""

import pytest
import torch
from e3nn import o3

from helpers import random_orthogonal, relative_error
from nequip.data import keys
from nequip.model.spec import default_dtype
from nequip.nn.edges import EdgeSphericalHarmonics, RadialEdgeEmbedding, sh_irreps
from nequip.nn.embedding import AtomwiseLinear
from nequip.nn.interaction import InteractionBlock, hidden_irreps

TOL = 1e-10
pytestmark = pytest.mark.usefixtures("float64_default")
CASES = [(seed, improper) for seed in range(3) for improper in (False, True)]


def _edges(num_nodes: int, num_edges: int, seed: int):
    g = torch.Generator().manual_seed(seed)
    center = torch.randint(0, num_nodes, (num_edges,), generator=g)
    neighbor = (center + torch.randint(1, num_nodes, (num_edges,), generator=g)) % num_nodes
    vectors = torch.randn(num_edges, 3, generator=g, dtype=torch.float64) * 2.0
    return torch.stack([center, neighbor]), vectors


@pytest.mark.parametrize("seed,improper", CASES)
def test_spherical_harmonics(seed, improper):
    with default_dtype(torch.float64):
        module = EdgeSphericalHarmonics(l_max=3, irreps_in={keys.EDGE_VECTORS: o3.Irreps("1o")})
    _, vec = _edges(5, 20, seed)
    R = random_orthogonal(seed, improper)
    out = module({keys.EDGE_VECTORS: vec})[keys.EDGE_SH]
    out_rot = module({keys.EDGE_VECTORS: vec @ R.T})[keys.EDGE_SH]
    D = module.irreps_sh.D_from_matrix(R)
    assert relative_error(out_rot, out @ D.T) < TOL


@pytest.mark.parametrize("seed,improper", CASES)
def test_radial_embedding_invariant(seed, improper):
    with default_dtype(torch.float64):
        module = RadialEdgeEmbedding(r_max=4.0, num_basis=6, irreps_in={keys.EDGE_LENGTHS: o3.Irreps("0e")})
    _, vec = _edges(5, 20, seed)
    R = random_orthogonal(seed, improper)
    a = module({keys.EDGE_LENGTHS: vec.norm(dim=-1)})[keys.EDGE_EMBEDDING]
    b = module({keys.EDGE_LENGTHS: (vec @ R.T).norm(dim=-1)})[keys.EDGE_EMBEDDING]
    assert relative_error(b, a) < TOL


@pytest.mark.parametrize("seed,improper", CASES)
def test_atomwise_linear(seed, improper):
    irreps = o3.Irreps("3x0e+2x1o+2x2e")
    with default_dtype(torch.float64):
        module = AtomwiseLinear(o3.Irreps("4x0e+1x1o"), irreps_in={keys.NODE_FEATURES: irreps})
    x = irreps.randn(6, -1, dtype=torch.float64)
    R = random_orthogonal(seed, improper)
    out = module({keys.NODE_FEATURES: x})[keys.NODE_FEATURES]
    out_rot = module({keys.NODE_FEATURES: x @ irreps.D_from_matrix(R).T})[keys.NODE_FEATURES]
    assert relative_error(out_rot, out @ module.irreps_out[keys.NODE_FEATURES].D_from_matrix(R).T) < TOL


@pytest.mark.parametrize("seed,improper", CASES)
@pytest.mark.parametrize("parity", [True, False])
def test_interaction_block(seed, improper, parity):
    num_nodes, l_max = 7, 2
    irreps_h = o3.Irreps("4x0e+3x1o+2x2e")
    irreps_sh = sh_irreps(l_max)
    upstream = {
        keys.NODE_FEATURES: irreps_h,
        keys.NODE_ATTRS: o3.Irreps("2x0e"),
        keys.EDGE_SH: irreps_sh,
        keys.EDGE_EMBEDDING: o3.Irreps("5x0e"),
    }
    torch.manual_seed(seed)
    with default_dtype(torch.float64):
        block = InteractionBlock(hidden_irreps(4, l_max, parity), avg_num_neighbors=3.0, radial_mlp_width=8, irreps_in=upstream)
        sh = o3.SphericalHarmonics(irreps_sh, normalize=True, normalization="component")
    edge_index, vec = _edges(num_nodes, 25, seed)
    types = torch.randint(0, 2, (num_nodes,))
    x = irreps_h.randn(num_nodes, -1, dtype=torch.float64)
    radial = torch.randn(vec.shape[0], 5, dtype=torch.float64)

    def run(x, vec):
        data = {
            keys.NODE_FEATURES: x,
            keys.NODE_ATTRS: torch.nn.functional.one_hot(types, 2).double(),
            keys.EDGE_SH: sh(vec),
            keys.EDGE_EMBEDDING: radial,
            keys.EDGE_INDEX: edge_index,
        }
        return block(data)[keys.NODE_FEATURES]

    R = random_orthogonal(seed, improper)
    out = run(x, vec)
    out_rot = run(x @ irreps_h.D_from_matrix(R).T, vec @ R.T)
    D_out = block.irreps_out[keys.NODE_FEATURES].D_from_matrix(R)
    assert out.abs().max() > 1e-3  # a zero output would pass trivially
    assert relative_error(out_rot, out @ D_out.T) < TOL
