"""Reads a YAML config plus ``key=value`` overrides into a typed :class:`~.schema.TrainConfig`.

omegaconf checks key names (with "did you mean"), types and choices against the schema, the
``model:`` section against its kind's dataclass; :mod:`.checks` checks the values; data sources
are resolved into :class:`~nequip.data.source.DataSource` lists. Every problem is one
:class:`~nequip.errors.ConfigError` line naming where the value came from and the fix.
"""

import dataclasses
import os
import re
from enum import Enum
from typing import Any, Dict, Optional, Sequence

import yaml
from omegaconf import DictConfig, OmegaConf
from omegaconf.errors import ConfigKeyError, OmegaConfBaseException

from ..data.source import resolve_sources
from ..errors import ConfigError
from ..model.registry import get_model_kind
from .checks import check_values
from .origin import Origin
from .schema import TrainConfig


def _read_yaml(path: str) -> tuple:
    if not os.path.isfile(path):
        raise ConfigError(f"config file '{path}' not found")
    with open(path) as f:
        text = f.read()
    try:
        content = yaml.safe_load(text)
    except yaml.MarkedYAMLError as err:
        line = err.problem_mark.line + 1 if err.problem_mark else "?"
        raise ConfigError(f"{path}, line {line}: invalid YAML: {err.problem}") from None
    if content is None:
        content = {}
    if not isinstance(content, dict):
        raise ConfigError(f"{path}: the config must be a mapping of keys to values, got {type(content).__name__}")
    return text, content


def _parse_overrides(overrides: Sequence[str]) -> DictConfig:
    for item in overrides:
        if "=" not in item:
            raise ConfigError(f"command line: override '{item}' is not of the form key=value (e.g. trainer.max_epochs=10)")
    try:
        return OmegaConf.from_dotlist(list(overrides))
    except OmegaConfBaseException as err:
        raise ConfigError(f"command line: cannot parse the overrides: {str(err).splitlines()[0]}") from None


def _field_type(schema: DictConfig, dotted: str) -> Optional[type]:
    """The annotated type of the schema field at ``dotted`` (None if not a dataclass field)."""
    node_type: Any = OmegaConf.get_type(schema)
    for part in dotted.split("."):
        fields = {f.name: f for f in dataclasses.fields(node_type)} if dataclasses.is_dataclass(node_type) else {}
        if part not in fields:
            return None
        node_type = fields[part].type
        if part == "model" and node_type is Any:
            node_type = OmegaConf.get_type(schema.model)
    return node_type


def _merge_error(err: OmegaConfBaseException, schema: DictConfig, where: str, kind: str) -> ConfigError:
    key = getattr(err, "full_key", None) or "?"
    reason = str(err).splitlines()[0]
    if isinstance(err, ConfigKeyError):
        hint = re.search(r"Did you mean(?: one of)?: (.*)\?", reason)
        for_kind = f" for kind '{kind}'" if key.startswith("model.") else ""
        valid = [f.name for f in dataclasses.fields(err.object_type)] if dataclasses.is_dataclass(err.object_type) else []
        suggestion = f"did you mean {hint.group(1).replace(', ', ' or ')}?" if hint else f"valid keys: {', '.join(sorted(valid))}"
        return ConfigError(f"{where}: unknown key '{key}'{for_kind}; {suggestion}")
    expected = _field_type(schema, key)
    if isinstance(expected, type) and issubclass(expected, Enum):
        value = re.search(r"Invalid value '(.*?)'", reason)
        shown = value.group(1) if value else "?"
        return ConfigError(f"{where}: '{key}' is '{shown}'; choose one of {', '.join(e.value for e in expected)}")
    return ConfigError(f"{where}: bad value for key '{key}': {reason}")


def _model_kind(user: Dict[str, Any], cli: DictConfig, origin: Origin) -> str:
    model = user.get("model", {"kind": "nequip"})
    if not isinstance(model, dict):
        raise ConfigError(f"{origin.of('model')}: 'model' must be a mapping with at least 'kind: nequip' or 'kind: allegro'")
    kind = OmegaConf.select(cli, "model.kind", default=model.get("kind", "nequip"))
    try:
        get_model_kind(kind)
    except ValueError as err:
        raise ConfigError(f"{origin.of('model.kind')}: {err}") from None
    return kind


_REQUIRED = {
    "type_names": "list the chemical species of the data, e.g. [Cu, O]",
    "r_max": "give the cutoff radius in Å",
    "data.train": "give the path of the training data file",
}


def _is_missing(config: DictConfig, dotted: str) -> bool:
    parent, _, key = dotted.rpartition(".")
    return OmegaConf.is_missing(OmegaConf.select(config, parent) if parent else config, key)


def _schema(kind: str) -> DictConfig:
    schema = OmegaConf.structured(TrainConfig)
    schema.model = OmegaConf.structured(get_model_kind(kind).config_class)
    return schema


def load_config(path: str, overrides: Sequence[str] = ()) -> TrainConfig:
    """Config file + ``key=value`` overrides -> a validated :class:`TrainConfig` (all defaults filled in,
    ``config.model`` an instance of its kind's dataclass, ``config.data.train/val/test`` lists of
    :class:`~nequip.data.source.DataSource`)."""
    text, user = _read_yaml(path)
    origin = Origin(path, text, overrides)
    cli = _parse_overrides(overrides)
    kind = _model_kind(user, cli, origin)
    schema = _schema(kind)
    merged = schema
    for layer, from_file in ((user, True), (cli, False)):
        try:
            merged = OmegaConf.merge(merged, layer)
        except OmegaConfBaseException as err:
            where = origin.of(getattr(err, "full_key", None) or "") if from_file else "command line"
            raise _merge_error(err, schema, where, kind) from None
    for key, what in _REQUIRED.items():
        if _is_missing(merged, key):
            raise ConfigError(f"{path}: '{key}' is missing: {what}")
    try:
        config: TrainConfig = OmegaConf.to_object(merged)
    except OmegaConfBaseException as err:
        raise _merge_error(err, schema, origin.of(getattr(err, "full_key", "") or ""), kind) from None
    _require_type_names(config, origin)
    check_values(config, origin)
    base_dir = os.path.dirname(os.path.abspath(path))
    for key in ("train", "val", "test"):
        value = getattr(config.data, key)
        if value is not None:
            setattr(config.data, key, resolve_sources(value, f"data.{key}", base_dir, origin.of(f"data.{key}")))
    return config


def _require_type_names(config: TrainConfig, origin: Origin) -> None:
    if not config.type_names or not all(isinstance(t, str) and t for t in config.type_names):
        raise ConfigError(f"{origin.of('type_names')}: 'type_names' must list the chemical species of the data, e.g. [Cu, O]")


def config_to_dict(config: Any) -> Dict[str, Any]:
    """The config as plain data (enums as their values, data sources as ``{path, weight}``): what
    ``run_dir/config.yaml`` and checkpoints hold."""

    def plain(pairs):
        return {key: value.value if isinstance(value, Enum) else value for key, value in pairs}

    return dataclasses.asdict(config, dict_factory=plain)
