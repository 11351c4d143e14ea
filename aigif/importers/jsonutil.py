"""Lenient JSON loading for metadata fields (bounded by the container's size limits)."""

from __future__ import annotations

import json


def load_json(text: str | None):
    """-> the decoded object, or None if the text is not JSON."""
    if not text:
        return None
    t = text.strip().strip("\0").strip().lstrip("\ufeff")
    if not t or t[0] not in "{[":
        return None
    try:
        return json.loads(t)
    except (ValueError, RecursionError):
        return None


def loads(text: str, default=None):
    """json.loads for foreign text: invalid or too deeply nested JSON gives `default`."""
    try:
        return json.loads(text)
    except (ValueError, TypeError, RecursionError):
        return default


def first_json(c, *keys, require: str | None = None):
    """The first of the container fields `keys` that is a JSON object (holding `require`)."""
    for k in keys:
        obj = c.json(c.get(k))
        if isinstance(obj, dict) and (require is None or require in obj):
            return obj
    return None


def compact(value) -> str:
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"))
