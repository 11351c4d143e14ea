"""The optional dependency groups of pyproject.toml, and the one seam that checks them.

`require("generate")` raises MissingExtra naming the pip command unless the packages that
prove the extra is installed import; a caller that needs one more package of the same
extra (one codec's backend, the hub client) names it: `require("codecs", "constriction")`.
"""

from __future__ import annotations

import importlib

from .errors import MissingExtra

# extra -> the imports that prove it is installed (what its code needs first)
PROOF: dict[str, tuple[str, ...]] = {
    "generate": ("torch", "diffusers", "transformers"),
    "codecs": ("aigif_codecs",),
    "metrics": ("lpips", "torch"),
}


def missing(extra: str, *modules: str) -> MissingExtra | None:
    """The MissingExtra that `require` would raise, or None when everything imports."""
    if extra not in PROOF:
        raise ValueError(f"unknown extra '{extra}'")
    for name in modules or PROOF[extra]:
        try:
            importlib.import_module(name)
        except ImportError as e:
            module = e.name or name
            return MissingExtra(f"this needs the optional '{module}' package: pip install \"aigif[{extra}]\"", extra=extra)
    return None


def require(extra: str, *modules: str) -> None:
    """Raise MissingExtra (with the pip command) unless `extra` is installed."""
    error = missing(extra, *modules)
    if error is not None:
        raise error
