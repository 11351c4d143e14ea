"""Defaults (spec §5.3): the one place the core asks the registry what an absent field means.

A file leaves a field out when it equals the model's default; these functions say what
those defaults are, drop fields equal to them (`elide_defaults`, what the encoder writes)
and fill them back in (`resolve`, what a generator needs).
"""

from __future__ import annotations

from dataclasses import replace
from decimal import Decimal
from pathlib import Path

from .errors import UnknownModel
from .extensions import is_elided_default, normalised
from .registry import DEFAULT_MODEL_ID, Defaults, ModelEntry, get_registry
from .syntax import ResolvedSyntax, Syntax

# Spec §5.3: for a model without registry defaults (inline name or unknown ID).
GENERIC_DEFAULTS = {"steps": 50, "guidance": Decimal("7.5"), "width": 512, "height": 512, "negative_prompt": ""}


def model_entry(s: Syntax) -> ModelEntry | None:
    """The registry entry of the syntax's model; None for inline names and unknown IDs."""
    reg = get_registry()
    if s.model is None:
        return reg.find_model(DEFAULT_MODEL_ID)
    if isinstance(s.model, int):
        return reg.find_model(s.model)
    return None


def defaults(s: Syntax) -> dict:
    """The defaults that absent fields take (spec §5.3)."""
    entry = model_entry(s)
    if entry is None:
        return dict(GENERIC_DEFAULTS, scheduler=None)
    d = entry.defaults
    return {
        "steps": d.steps,
        "guidance": d.guidance,
        "width": d.width,
        "height": d.height,
        "negative_prompt": d.negative_prompt,
        "scheduler": d.scheduler,
    }


def elide_defaults(s: Syntax) -> Syntax:
    """A copy with every field equal to its model default removed (spec §5.3)."""
    s = replace(s, extensions=dict(s.extensions), payloads=list(s.payloads), unknown_segments=list(s.unknown_segments))
    if s.model == DEFAULT_MODEL_ID and s.model_fingerprint is None:
        s.model = None
    d = defaults(s)
    for key in ("steps", "width", "height", "negative_prompt", "scheduler"):
        if getattr(s, key) is not None and getattr(s, key) == d.get(key):
            setattr(s, key, None)
    if s.guidance is not None and d.get("guidance") is not None and s.guidance == d["guidance"]:
        s.guidance = None
    if s.seed == 0:
        s.seed = None
    # extensions equal to what their absence means (semantics {"engine": "diffusers"}, §7.1.1)
    s.extensions = {k: normalised(k, v) for k, v in s.extensions.items() if not is_elided_default(k, normalised(k, v))}
    return s


def resolve(s: Syntax, inline_entry: ModelEntry | None = None) -> ResolvedSyntax:
    """Every field concrete (spec §5.3 applied): what a generator needs.  inline_entry: the
    registry entry that stands in for an inline model name (aigif.regenerate.identified_model);
    the defaults stay an inline model's."""
    reg = get_registry()
    if s.model is None:
        entry = reg.model(DEFAULT_MODEL_ID)
    elif isinstance(s.model, int):
        entry = reg.model(s.model)
    else:
        entry = inline_entry or adhoc_entry(s.model)
    d = defaults(s)
    sched_id = s.scheduler if s.scheduler is not None else d["scheduler"]
    scheduler = None
    if sched_id is not None:
        scheduler = reg.find_scheduler(sched_id)
        if scheduler is None:
            raise UnknownModel(f"scheduler ID {sched_id} is not in this registry's scheduler table")
    return ResolvedSyntax(
        model=entry,
        prompt=s.prompt,
        negative_prompt=s.negative_prompt if s.negative_prompt is not None else d["negative_prompt"],
        seed=s.seed or 0,
        steps=s.steps if s.steps is not None else d["steps"],
        guidance=s.guidance if s.guidance is not None else d["guidance"],
        width=s.width if s.width is not None else d["width"],
        height=s.height if s.height is not None else d["height"],
        scheduler=scheduler,
        extensions=dict(s.extensions),
    )


def _is_local_model_folder(path: Path) -> bool:
    try:
        return path.is_dir() and (path / "model_index.json").is_file()
    except OSError:  # a name too long for a path (ENAMETOOLONG) is simply not a folder here
        return False


def adhoc_entry(name: str) -> ModelEntry:
    """A registry entry for an inline model name: a local diffusers folder or a hub repo id."""
    path = Path(name).expanduser()
    looks_local = _is_local_model_folder(path)
    looks_hub = not looks_local and name.count("/") == 1 and " " not in name
    if not (looks_local or looks_hub):
        raise UnknownModel(
            f"model '{name}' is not in the registry and is neither a local diffusers folder nor a hub repo id",
            model=name,
        )
    g = GENERIC_DEFAULTS
    return ModelEntry(
        id=0,
        name=name,
        aliases=(),
        family="other",
        status="private",
        license="",
        description="inline model (not registered)",
        defaults=Defaults(g["steps"], g["guidance"], g["width"], g["height"], 0),
        pipeline={"class": "DiffusionPipeline", "source": "local" if looks_local else "hub", "path": str(path), "repo": "" if looks_local else name, "revision": ""},
        origin="inline",
    )
