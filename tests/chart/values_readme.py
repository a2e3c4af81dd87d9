"""The chart README's table of values, generated from the `# --` comments in values.yaml.

    python tests/chart/values_readme.py            # print the table
    python tests/chart/values_readme.py --write    # put it between the README's markers

A comment `# -- text` (continued by `#   more` lines) documents the key right below it; a key
documented that way stands for everything under it.
"""

from __future__ import annotations

import json
import re
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

CHART = Path(__file__).resolve().parents[2] / "charts" / "lobstream"
VALUES = CHART / "values.yaml"
README = CHART / "README.md"
START, END = "<!-- values:start -->", "<!-- values:end -->"
KEY = re.compile(r"^(?P<indent> *)(?P<key>[A-Za-z0-9_]+):")


@dataclass(frozen=True)
class Value:
    key: str
    default: Any
    description: str


def documented(text: str) -> list[Value]:
    """The documented keys of a values file, in file order."""
    tree = yaml.safe_load(text)
    values: list[Value] = []
    path: list[tuple[int, str]] = []
    comment: list[str] = []
    for line in text.splitlines():
        stripped = line.strip()
        if stripped.startswith("# --"):
            comment = [stripped[4:].strip()]
            continue
        if stripped.startswith("#") and comment:
            comment.append(stripped[1:].strip())
            continue
        match = KEY.match(line)
        if match is None:
            continue
        indent = len(match["indent"])
        while path and path[-1][0] >= indent:
            path.pop()
        path.append((indent, match["key"]))
        if comment:
            keys = [key for _, key in path]
            default = tree
            for key in keys:
                default = default[key]
            values.append(Value(".".join(keys), default, " ".join(comment)))
        comment = []
    return values


def leaves(tree: Any, prefix: str = "") -> list[str]:
    """Every key path of a values tree that holds no map (or an empty one)."""
    if isinstance(tree, dict) and tree:
        return [leaf for key, sub in tree.items() for leaf in leaves(sub, f"{prefix}{key}.")]
    return [prefix.rstrip(".")]


def table(values: list[Value]) -> str:
    rows = ["| key | default | description |", "| --- | --- | --- |"]
    for value in values:
        default = json.dumps(value.default, separators=(", ", ": "))
        description = value.description.replace("|", "\\|")
        rows.append(f"| `{value.key}` | `{default}` | {description} |")
    return "\n".join(rows)


def readme_with_table(readme: str, values: list[Value]) -> str:
    head, rest = readme.split(START, 1)
    _, tail = rest.split(END, 1)
    return f"{head}{START}\n{table(values)}\n{END}{tail}"


def main(argv: list[str]) -> int:
    values = documented(VALUES.read_text())
    if "--write" in argv:
        README.write_text(readme_with_table(README.read_text(), values))
    else:
        print(table(values))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
