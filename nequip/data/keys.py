"""Fixed key names of the AtomicDataDict, the one ``Dict[str, torch.Tensor]`` that flows through
every module of the stack (see DESIGN.md, "Data in flight").

Graphs of a batch are concatenated: per-atom tensors have a leading dimension N (all atoms of the
batch), per-edge tensors E, per-frame tensors B. ``batch[n]`` is the frame index of atom n.
Edges point from a center atom ``edge_index[0]`` to a neighbor ``edge_index[1]``, and the edge
vector is ``pos[neighbor] - pos[center] + edge_cell_shift @ cell[batch[center]]`` (Å).
"""

from typing import Dict

import torch

AtomicDataDict = Dict[str, torch.Tensor]

# --- inputs -------------------------------------------------------------------------------------
POSITIONS = "pos"  # [N, 3] float, Å
ATOM_TYPES = "atom_types"  # [N] int64, index into the model's type_names
BATCH = "batch"  # [N] int64, frame of each atom
NUM_ATOMS = "num_atoms"  # [B] int64
CELL = "cell"  # [B, 3, 3] float, rows are lattice vectors (ASE convention); zeros if not periodic
PBC = "pbc"  # [B, 3] bool
EDGE_INDEX = "edge_index"  # [2, E] int64: (center, neighbor)
EDGE_CELL_SHIFT = "edge_cell_shift"  # [E, 3] float, integer lattice shifts of the neighbor
# what a model reads: everything else in a batch (labels, weights) is the loss's
MODEL_INPUT_KEYS = (POSITIONS, EDGE_INDEX, EDGE_CELL_SHIFT, CELL, BATCH, NUM_ATOMS, ATOM_TYPES, PBC)

# --- labels (targets in the data, predictions from the model) -----------------------------------
TOTAL_ENERGY = "total_energy"  # [B] eV
FORCES = "forces"  # [N, 3] eV/Å
STRESS = "stress"  # [B, 3, 3] eV/Å^3, ASE sign convention (positive = tensile)
VIRIAL = "virial"  # [B, 3, 3] eV, virial = -stress * volume
ATOMIC_ENERGY = "atomic_energy"  # [N] eV
FRAME_WEIGHT = "weight"  # [B] float, per-frame loss weight (default 1)

# --- where a frame comes from (datasets add these, so that errors during training name the frames) --
FRAME_INDEX = "frame_index"  # [B] int64, index of the frame in its data file
FRAME_SOURCE = "frame_source"  # [B] int64, index of the data file in AtomicDataModule.source_paths

# --- intermediates written by model modules ------------------------------------------------------
EDGE_VECTORS = "edge_vectors"  # [E, 3] Å
EDGE_LENGTHS = "edge_lengths"  # [E] Å
EDGE_SH = "edge_sh"  # [E, dim(irreps_sh)]
EDGE_EMBEDDING = "edge_embedding"  # [E, num_basis] radial basis times cutoff envelope
EDGE_CUTOFF = "edge_cutoff"  # [E] polynomial envelope value
NODE_ATTRS = "node_attrs"  # [N, num_types] one-hot of atom_types
NODE_FEATURES = "node_features"  # [N, dim(irreps)]

LABEL_KEYS = (TOTAL_ENERGY, FORCES, STRESS, VIRIAL)
PER_FRAME_KEYS = (NUM_ATOMS, CELL, PBC, TOTAL_ENERGY, STRESS, VIRIAL, FRAME_WEIGHT, FRAME_INDEX, FRAME_SOURCE)
PER_ATOM_KEYS = (POSITIONS, ATOM_TYPES, BATCH, FORCES, ATOMIC_ENERGY, NODE_ATTRS, NODE_FEATURES)
PER_EDGE_KEYS = (EDGE_CELL_SHIFT, EDGE_VECTORS, EDGE_LENGTHS, EDGE_SH, EDGE_EMBEDDING, EDGE_CUTOFF)
