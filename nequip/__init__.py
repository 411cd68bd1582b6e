"""NequIP: E(3)-equivariant message-passing interatomic potentials (see DESIGN.md for the layout).

This is the ``nequip-stack`` distribution, not the public mir-group ``nequip``: the two share import
names and console scripts but not file formats, and cannot live in one environment (checked here,
see nequip.utils.distribution)."""

__version__ = "0.1.0"  # the single source of the distribution's version (pyproject.toml reads it)

from .utils.distribution import warn_if_foreign_installed as _warn_if_foreign_installed  # noqa: E402

_warn_if_foreign_installed()
