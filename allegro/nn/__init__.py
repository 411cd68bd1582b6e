"""Allegro's layers: two-body latent, initial pair features, Allegro layers, pair energy readout."""

from .keys import EDGE_FEATURES, EDGE_LATENT
from .layer import AllegroLayer
from .pair_features import InitialPairFeatures, tensor_irreps
from .readout import PairEnergyReadout
from .two_body import TwoBodyLatent

__all__ = [
    "EDGE_FEATURES", "EDGE_LATENT", "AllegroLayer", "InitialPairFeatures", "PairEnergyReadout",
    "TwoBodyLatent", "tensor_irreps",
]
