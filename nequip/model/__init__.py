"""Model builders, the model spec (config + statistics), save/load."""

from .spec import build_model, resolve_model_spec

__all__ = ["build_model", "resolve_model_spec"]
