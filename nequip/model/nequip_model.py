"""The NequIP model: chemical embedding, edge geometry, interaction blocks, per-type scaled energy
readout, forces and stress by autograd."""

from dataclasses import dataclass
from e3nn import o3

from ..nn.embedding import TypeEmbedding
from ..nn.forces import ForceStressOutput
from ..nn.interaction import InteractionBlock, hidden_irreps
from ..nn.readout import AtomicEnergyReadout
from ..utils.setting import setting
from .hyperparameters import ModelHyperparameters
from .pipeline import build_pipeline
from .spec import ModelSpec


@dataclass
class NequIPConfig(ModelHyperparameters):
    """Hyperparameters of the ``model:`` section for ``kind: nequip`` (the shared ones: see
    :class:`nequip.model.hyperparameters.ModelHyperparameters`)."""

    kind: str = setting("nequip", "model architecture: nequip (message passing) or allegro (strictly local)")
    num_layers: int = setting(3, "interaction blocks; each widens the receptive field (and the LAMMPS ghost shell) by r_max")
    num_features: int = setting(32, "channels of each irrep of the node features")
    radial_mlp_depth: int = setting(2, "hidden layers of the MLP from the radial basis to the tensor-product weights")
    radial_mlp_width: int = setting(64, "width of those hidden layers")
    resnet: bool = setting(True, "residual updates of the node features where the irreps allow")


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
