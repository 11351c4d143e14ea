"""Shared by the exporters: normalise the input to a concrete JSON-form dict."""

from __future__ import annotations

from aigif.defaults import GENERIC_DEFAULTS
from aigif.errors import AigifError, InvalidSyntax
from aigif.jsonform import syntax_from_dict, syntax_to_dict
from aigif.registry import get_registry
from aigif.syntax import Syntax, guidance_json


def concrete(syntax) -> dict:
    """-> the JSON form with every field filled (absent = the model's default, spec §5.3;
    the generic defaults for an unregistered model): the exporters need no fallbacks."""
    if isinstance(syntax, dict):
        syntax = syntax_from_dict(syntax)
    if not isinstance(syntax, Syntax):
        raise InvalidSyntax(f"expected an aigif.Syntax or its JSON form, got {type(syntax).__name__}")
    try:
        d = syntax_to_dict(syntax, resolved=True)
    except AigifError:
        # an unregistered inline model cannot be resolved; the encoder elided the values
        # equal to the generic defaults, so those are what fills the gaps
        d = syntax_to_dict(syntax)
        for key, value in GENERIC_DEFAULTS.items():
            d.setdefault(key, guidance_json(value) if key == "guidance" else value)
    d.setdefault("seed", 0)  # an absent seed is seed 0 (spec §5.3)
    return d


def model_name_and_hash(d: dict) -> tuple[str | None, str | None]:
    m = d.get("model")
    if isinstance(m, dict):
        return m.get("name"), m.get("fingerprint")
    if m is None:
        return None, None
    entry = get_registry().find_model(m)
    if entry is None:
        return str(m), None
    fp = None
    for f in entry.fingerprints or []:
        v = str(f.get("value", ""))
        if len(v) >= 10 and all(ch in "0123456789abcdefABCDEF" for ch in v):
            fp = v[:10].lower()  # A1111 "Model hash": the first 10 hex digits of the sha256
            break
    return entry.name, fp


def tool_scheduler(name, tool: str) -> tuple[str | None, str | None]:
    """Canonical scheduler -> (sampler, schedule) in a tool's vocabulary, via the registry
    aliases.  A combined 'sampler|schedule' alias with an explicit schedule wins."""
    if name is None:
        return None, None
    entry = get_registry().find_scheduler(name)
    if entry is None:
        return str(name), None
    aliases = list((entry.aliases or {}).get(tool, []))
    if not aliases and tool == "a1111":
        # no A1111 name: ComfyUI's names are what A1111-style writers use then (and what
        # the A1111 importer falls back to)
        aliases = list((entry.aliases or {}).get("comfyui", []))
    explicit = [a for a in aliases if "|" in a and a.split("|", 1)[1].lower() not in ("automatic", "uniform")]
    if explicit:
        s, sch = explicit[0].split("|", 1)
        return s, sch
    bare = [a for a in aliases if "|" not in a and not a.startswith("k_")]
    if bare:
        return bare[0], None
    if aliases:
        a = aliases[0]
        return (a.split("|", 1)[0], a.split("|", 1)[1]) if "|" in a else (a, None)
    return entry.name, None
