"""Kubernetes label selectors as strings (``a=b,c!=d,e in (f,g),!h``): parse, match, keys.

The pod cache filters pods in memory with the selector a provider gives for a deployment, so it
needs the same semantics as the API server's label selector.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass

_SET = re.compile(r"^\s*(?P<key>[^\s!=(),]+)\s+(?P<op>in|notin)\s+\((?P<values>[^()]*)\)\s*$")
_EQ = re.compile(r"^\s*(?P<key>[^\s!=(),]+)\s*(?P<op>==|=|!=)\s*(?P<value>[^\s!=(),]*)\s*$")
_EXISTS = re.compile(r"^\s*(?P<neg>!?)\s*(?P<key>[^\s!=(),]+)\s*$")


class SelectorError(ValueError):
    """The selector string is not a valid label selector."""


@dataclass(frozen=True)
class Requirement:
    key: str
    op: str  # "in", "notin", "exists", "!exists"
    values: frozenset[str] = frozenset()

    def matches(self, labels: Mapping[str, str]) -> bool:
        if self.op == "exists":
            return self.key in labels
        if self.op == "!exists":
            return self.key not in labels
        if self.op == "in":
            return labels.get(self.key) in self.values
        # notin and != also match objects without the label, as the API server does.
        return labels.get(self.key) not in self.values


def _split(selector: str) -> list[str]:
    """Splits on commas outside parentheses."""
    parts, depth, current = [], 0, ""
    for ch in selector:
        if ch == "(":
            depth += 1
        elif ch == ")":
            depth -= 1
        if ch == "," and depth == 0:
            parts.append(current)
            current = ""
        else:
            current += ch
    parts.append(current)
    return [p for p in parts if p.strip()]


def parse(selector: str) -> tuple[Requirement, ...]:
    reqs: list[Requirement] = []
    for part in _split(selector):
        if m := _SET.match(part):
            values = frozenset(v.strip() for v in m["values"].split(",") if v.strip())
            reqs.append(Requirement(m["key"], m["op"], values))
        elif m := _EQ.match(part):
            op = "notin" if m["op"] == "!=" else "in"
            reqs.append(Requirement(m["key"], op, frozenset({m["value"]})))
        elif m := _EXISTS.match(part):
            reqs.append(Requirement(m["key"], "!exists" if m["neg"] else "exists"))
        else:
            raise SelectorError(f"invalid label selector requirement {part!r} in {selector!r}")
    return tuple(reqs)


def matches(requirements: tuple[Requirement, ...], labels: Mapping[str, str]) -> bool:
    return all(r.matches(labels) for r in requirements)


def positive_keys(selector: str) -> list[str]:
    """Keys a matching object must carry (``key=v``, ``key in (...)``, ``key``)."""
    return [r.key for r in parse(selector) if r.op in ("in", "exists")]
