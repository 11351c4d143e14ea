"""The table of tool parsers: each module of `tools/` registers its detector and parser
here by name; `aigif.importers` tries them from the highest priority down.

A module of its own (not the package's __init__) so that the tool modules import it
without importing the package that imports them."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable


@dataclass(frozen=True)
class Parser:
    name: str
    detect: Callable
    parse: Callable
    priority: int


_PARSERS: dict[str, Parser] = {}


def register(name: str, detect: Callable, parse: Callable, priority: int = 50) -> None:
    """Register a tool parser: detect(container) -> bool, parse(container) -> Draft | None."""
    _PARSERS[name] = Parser(name, detect, parse, priority)


def by_priority() -> list[Parser]:
    """The registered parsers, highest priority first (registration order among equals)."""
    return sorted(_PARSERS.values(), key=lambda p: -p.priority)
