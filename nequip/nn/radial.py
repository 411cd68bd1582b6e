"""Radial functions of the edge length: a Bessel basis and a smooth polynomial cutoff envelope."""

import math

import torch

from ..errors import ConfigError


class BesselBasis(torch.nn.Module):
    """``sqrt(2/r_max) * sin(n pi r / r_max) / r`` for n = 1..num_basis.

    Input ``r [E]`` in Å (must be > 0: edges never join an atom to itself); output ``[E, num_basis]``.
    The frequencies can be trained.
    """

    def __init__(self, r_max: float, num_basis: int = 8, trainable: bool = False):
        super().__init__()
        self.r_max = float(r_max)
        self.prefactor = math.sqrt(2.0 / self.r_max)
        freqs = torch.arange(1, num_basis + 1, dtype=torch.get_default_dtype()) * math.pi
        if trainable:
            self.frequencies = torch.nn.Parameter(freqs)
        else:
            self.register_buffer("frequencies", freqs)

    def forward(self, r: torch.Tensor) -> torch.Tensor:
        r = r.unsqueeze(-1)
        return self.prefactor * torch.sin(self.frequencies * r / self.r_max) / r


class PolynomialCutoff(torch.nn.Module):
    """Envelope ``u(r/r_max)`` that is 1 at r = 0 and goes to 0 at ``r_max`` with p continuous
    derivatives (Klicpera et al., DimeNet), so energies and forces are smooth when atoms cross r_max."""

    def __init__(self, r_max: float, p: int = 6):
        super().__init__()
        if p < 2:
            raise ConfigError(f"polynomial cutoff power p (model.cutoff_p) must be >= 2, got {p}")
        self.r_max = float(r_max)
        self.p = float(p)

    def forward(self, r: torch.Tensor) -> torch.Tensor:
        p = self.p
        x = r / self.r_max
        out = (
            1.0
            - 0.5 * (p + 1.0) * (p + 2.0) * x.pow(p)
            + p * (p + 2.0) * x.pow(p + 1.0)
            - 0.5 * p * (p + 1.0) * x.pow(p + 2.0)
        )
        return out * (x < 1.0)
