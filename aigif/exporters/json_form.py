"""The AIGIF JSON form with every field concrete (model defaults filled in)."""

from __future__ import annotations

from .common import concrete


def to_json(syntax) -> dict:
    return concrete(syntax)
