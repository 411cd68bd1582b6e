"""Keys of Allegro's per-edge intermediates in the AtomicDataDict (edges are ordered pairs i -> j)."""

EDGE_LATENT = "edge_latent"  # [E, latent_dim] invariant latent of the pair (center i, neighbor j)
EDGE_FEATURES = "edge_features"  # [E, dim(tensor irreps)] equivariant pair features V_ij, U channels per irrep
