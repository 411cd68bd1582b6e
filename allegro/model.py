"""The Allegro model (Musaelian et al., Nat. Commun. 2023): strictly local, equivariant pair features
updated by channel-wise tensor products with per-atom environment embeddings; pair energies from an
invariant latent, summed onto atoms, per-type scaled and shifted; forces and stress by autograd."""

from dataclasses import dataclass
from typing import List

from nequip.errors import ConfigError
from nequip.model.hyperparameters import ModelHyperparameters
from nequip.model.pipeline import build_pipeline
from nequip.model.spec import ModelSpec
from nequip.utils.setting import setting
from nequip.nn.forces import ForceStressOutput

from .nn import AllegroLayer, InitialPairFeatures, PairEnergyReadout, TwoBodyLatent, tensor_irreps


@dataclass
class AllegroConfig(ModelHyperparameters):
    """Hyperparameters of the ``model:`` section for ``kind: allegro`` (the shared ones: see
    :class:`nequip.model.hyperparameters.ModelHyperparameters`)."""

    kind: str = setting("allegro", "model architecture: nequip (message passing) or allegro (strictly local)")
    num_layers: int = setting(2, "Allegro layers (tensor-product updates of the pair features); the receptive field stays r_max")
    num_tensor_features: int = setting(16, "channels of the equivariant pair features")
    two_body_mlp: List[int] = setting([64, 128], "hidden sizes of the two-body MLP; the last is the width of the invariant latent")
    latent_mlp: List[int] = setting([128], "hidden sizes of the MLP that updates the latent in each layer")
    readout_mlp: List[int] = setting([32], "hidden sizes of the MLP from the latent to the pair energy")


def build_allegro(spec: ModelSpec) -> ForceStressOutput:
    """Builds Allegro from a resolved spec (see :func:`nequip.model.spec.resolve_model_spec`).

    Raises ``ValueError`` when ``num_layers < 1`` or a module's inputs do not fit.
    """
    hp = spec.hyperparameters
    if int(hp.num_layers) < 1:
        raise ConfigError(f"model.num_layers must be >= 1 for allegro, got {hp.num_layers}")
    features = tensor_irreps(hp.num_tensor_features, hp.l_max, hp.parity)

    def body(add) -> None:
        add("two_body_latent", lambda up: TwoBodyLatent(list(hp.two_body_mlp), irreps_in=up))
        add("pair_features", lambda up: InitialPairFeatures(hp.num_tensor_features, irreps_in=up))
        for layer in range(hp.num_layers):
            add(
                f"allegro_{layer}",
                lambda up: AllegroLayer(
                    features,
                    list(hp.latent_mlp),
                    hp.avg_num_neighbors,
                    tp_backend=hp.tp_backend,
                    last=(layer == hp.num_layers - 1),
                    irreps_in=up,
                ),
            )
        add("pair_readout", lambda up: PairEnergyReadout(list(hp.readout_mlp), hp.avg_num_neighbors, irreps_in=up))

    return build_pipeline(spec, body)
