"""Allegro: strictly local E(3)-equivariant interatomic potentials, built on nequip's parts."""
