"""The frame every model is built in: atom types and edge geometry first, the model's own layers,
then per-type scale and shift, the total energy, and forces and stress by autograd."""

from typing import Callable, Dict

from ..nn.edges import EdgeSphericalHarmonics, EdgeVectors, RadialEdgeEmbedding
from ..nn.embedding import OneHotTypes
from ..nn.forces import ForceStressOutput
from ..nn.graph_module import GraphModule, IrrepsDict
from ..nn.readout import PerTypeScaleShift, TotalEnergySum
from ..nn.sequential import SequentialGraphNetwork
from .spec import ModelSpec

# add(name, make): appends the step ``make(irreps written by the previous step)``
AddStep = Callable[[str, Callable[[IrrepsDict], GraphModule]], None]


def build_pipeline(spec: ModelSpec, body: Callable[[AddStep], None]) -> ForceStressOutput:
    """Builds ``one_hot, edge_vectors, spherical_harmonics, radial_embedding, <body>, scale_shift,
    total_energy`` inside :class:`ForceStressOutput`. ``body(add)`` adds the model's own steps, which
    must end by writing ``atomic_energy``. Uses ``l_max``, ``num_bessels``, ``bessel_trainable``,
    ``cutoff_p`` and the per-type scales/shifts of ``spec.hyperparameters``; the model keeps ``spec``."""
    hp = spec.hyperparameters
    steps: Dict[str, GraphModule] = {}

    def add(name: str, make: Callable[[IrrepsDict], GraphModule]) -> None:
        steps[name] = make(list(steps.values())[-1].irreps_out if steps else None)

    add("one_hot", lambda up: OneHotTypes(len(spec.type_names), irreps_in=up))
    add("edge_vectors", lambda up: EdgeVectors(irreps_in=up))
    add("spherical_harmonics", lambda up: EdgeSphericalHarmonics(hp.l_max, irreps_in=up))
    add(
        "radial_embedding",
        lambda up: RadialEdgeEmbedding(spec.r_max, hp.num_bessels, hp.bessel_trainable, hp.cutoff_p, irreps_in=up),
    )
    body(add)
    add(
        "scale_shift",
        lambda up: PerTypeScaleShift(
            hp.per_type_energy_scales, hp.per_type_energy_shifts, hp.scale_shift_trainable, irreps_in=up
        ),
    )
    add("total_energy", lambda up: TotalEnergySum(irreps_in=up))
    return ForceStressOutput(SequentialGraphNetwork(steps), spec)
