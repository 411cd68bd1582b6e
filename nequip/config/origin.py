"""Where each config value came from, so an error names its true source: ``config.yaml, line 12``
for a key of the file, ``command line`` for a ``key=value`` override, the file alone for a default."""

from typing import Any, Dict, Iterable

import yaml


def _key_lines(node: Any, prefix: str, lines: Dict[str, int]) -> None:
    if not isinstance(node, yaml.MappingNode):
        return
    for key_node, value_node in node.value:
        dotted = f"{prefix}.{key_node.value}" if prefix else str(key_node.value)
        lines[dotted] = key_node.start_mark.line + 1
        _key_lines(value_node, dotted, lines)


class Origin:
    """Answers :meth:`of` for a dotted key: the most specific of the command line (an override of the
    key or of a section above it), the file's line of the key (or of its nearest section), the file."""

    def __init__(self, path: str, text: str, overrides: Iterable[str]):
        self.path = path
        self.lines: Dict[str, int] = {}
        try:
            _key_lines(yaml.compose(text), "", self.lines)
        except yaml.YAMLError:
            pass  # the loader reports the syntax error itself
        self.command_line = {item.split("=", 1)[0].strip() for item in overrides}

    def of(self, dotted: str) -> str:
        parts = dotted.split(".")
        for end in range(len(parts), 0, -1):
            if ".".join(parts[:end]) in self.command_line:
                return "command line"
        for end in range(len(parts), 0, -1):
            line = self.lines.get(".".join(parts[:end]))
            if line is not None:
                return f"{self.path}, line {line}"
        return self.path
