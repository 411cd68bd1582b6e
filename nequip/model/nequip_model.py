"""The NequIP model: chemical embedding, edge geometry, interaction blocks, per-type scaled energy
readout, forces and stress by autograd."""

from dataclasses import dataclass
from e3nn import o3

from ..nn.embedding import TypeEmbedding
from ..nn.forces import ForceStressOutput
from ..nn.interaction import InteractionBlock, hidden_irreps
from ..nn.readout import AtomicEnergyReadout
from .hyperparameters import ModelHyperparameters
from .pipeline import build_pipeline
from .spec import ModelSpec


@dataclass
class NequIPConfig(ModelHyperparameters):
    """Hyperparameters of the ``model:`` section for ``kind: nequip`` (the shared ones: see
    :class:`nequip.model.hyperparameters.ModelHyperparameters`)."""

    kind: str = "nequip"
    num_layers: int = 3
    num_features: int = 32
    radial_mlp_depth: int = 2
    radial_mlp_width: int = 64
    resnet: bool = True


def build_nequip(spec: ModelSpec) -> ForceStressOutput:
    """Builds the model from a resolved spec (see :func:`nequip.model.spec.resolve_model_spec`)."""
    hp = spec.hyperparameters
    target = hidden_irreps(hp.num_features, hp.l_max, hp.parity)

    def body(add) -> None:
        add("chemical_embedding", lambda up: TypeEmbedding(o3.Irreps(f"{hp.num_features}x0e"), irreps_in=up))
        for layer in range(hp.num_layers):
            add(
                f"interaction_{layer}",
                lambda up: InteractionBlock(
                    target,
                    avg_num_neighbors=hp.avg_num_neighbors,
                    radial_mlp_depth=hp.radial_mlp_depth,
                    radial_mlp_width=hp.radial_mlp_width,
                    tp_backend=hp.tp_backend,
                    resnet=hp.resnet,
                    irreps_in=up,
                ),
            )
        add("readout", lambda up: AtomicEnergyReadout(irreps_in=up))

    return build_pipeline(spec, body)
