"""NequIP: E(3)-equivariant message-passing interatomic potentials (see DESIGN.md for the layout)."""

__version__ = "0.1.0"
