"""What every tool parser fills in: the JSON-form syntax under construction, plus the
record of everything it could not represent.  Model and scheduler resolution live here
so that every tool resolves names the same way."""

from __future__ import annotations

import json
import math
import re
from dataclasses import dataclass, field
from typing import Any, Callable, Mapping

from aigif import limits
from aigif.errors import InvalidSyntax
from aigif.extensions import check_value
from aigif.registry import get_registry

from .schedulers import map_scheduler

_MODEL_SUFFIX = re.compile(r"\.(safetensors|ckpt|pt|pth|bin|gguf|sft)$", re.I)
_HEX = re.compile(r"^[0-9a-f]+$")
FINGERPRINT_HEX = 10


_INT_RANGES = {
    "seed": (0, (1 << 64) - 1),
    "steps": (1, limits.MAX_STEPS),
    "width": (1, limits.MAX_WIDTH),
    "height": (1, limits.MAX_HEIGHT),
}  # A1111 / Civitai "AutoV2": the first 10 hex digits of the sha256


@dataclass
class ImportResult:
    tool: str
    syntax: dict
    unmapped: list[str] = field(default_factory=list)
    metadata_bytes: int = 0
    warnings: list[str] = field(default_factory=list)
    source: str | None = None  # the file path, when imported from a file
    image_bytes: int = 0  # the size of the image file (or of the bytes given)
    original: bytes | None = field(default=None, repr=False)  # the file's bytes, when asked to keep them

    @property
    def partial(self) -> bool:
        return bool(self.unmapped)


def registry():
    """The registry, or None when it cannot be loaded (a broken user config): a broken
    registry must not stop an import; the names are then kept inline, and said so."""
    try:
        return get_registry()
    except Exception:  # noqa: BLE001
        return None


def model_stem(name: str) -> str:
    """'models/Stable-diffusion/sd_xl_base_1.0.safetensors' -> 'sd_xl_base_1.0'."""
    base = re.split(r"[\\/]", name.strip())[-1]
    return _MODEL_SUFFIX.sub("", base)


def normalise_hash(value: Any) -> tuple[str | None, str | None]:
    """-> (full hex for lookups, short hex to store) or (None, None) if not a hash."""
    if value is None:
        return None, None
    v = str(value).strip().lower()
    for prefix in ("0x", "blake3:", "sha256:", "autov2:"):
        if v.startswith(prefix):
            v = v[len(prefix) :]
    if not v or not _HEX.match(v) or len(v) < 4:
        return None, None
    short = v[:FINGERPRINT_HEX] if len(v) > FINGERPRINT_HEX else v
    if len(short) % 2:
        short = short[:-1]
    return v, short


class Draft:
    def __init__(self, tool: str):
        self.tool = tool
        self.syntax: dict[str, Any] = {}
        self.ext: dict[str, Any] = {}
        self.unmapped: dict[str, Any] = {}
        self.items: list[str] = []
        self.warnings: list[str] = []

    # -- plain fields -------------------------------------------------------------
    def set(self, key: str, value: Any) -> None:
        """Set a core field; a value outside what AIGIF can store goes to `unmapped`."""
        if value is None:
            return
        raw = value
        if key in ("prompt", "negative_prompt"):
            if not isinstance(value, str):
                self.leave(key, raw, "not text")
                return
            try:
                value.encode("utf-8")
            except UnicodeEncodeError:
                value = value.encode("utf-8", "replace").decode("utf-8")
                self.warnings.append(f"{key}: invalid Unicode (lone surrogates) replaced by U+FFFD")
        elif key in _INT_RANGES:
            value = to_int(value)
            lo, hi = _INT_RANGES[key]
            if value is None or not lo <= value <= hi:
                why = "random seed: the seed actually used is not recorded" if key == "seed" and value == -1 else "out of range"
                self.leave(key, raw, why)
                return
        elif key == "guidance":
            value = to_number(value)
            if value is None or abs(value) >= 1e6:
                self.leave(key, raw, "not a usable number")
                return
            if isinstance(value, float):
                value = round(value, 6)  # float noise (7.000000000000001) is not a real digit
        self.syntax[key] = value

    def take(self, source: dict[str, Any] | Callable[[str], Any], fields: Mapping[str, str]) -> None:
        """Set core fields by a declarative map, AIGIF field -> the tool's key, in the map's
        order (the order in which unstorable values reach `unmapped`).  `source` is the
        tool's dict, from which each key is popped (so that what is left is what the parser
        has still to map or leave), or a function of the key (a case-insensitive lookup, a
        command line's first value)."""
        get = source if callable(source) else (lambda key: source.pop(key, None))
        for name, key in fields.items():
            self.set(name, get(key))

    def extend(self, name: str, value: Any) -> None:
        if value is None or value == {} or value == []:
            return
        if isinstance(value, dict) and isinstance(self.ext.get(name), dict):
            self.ext[name].update(value)
        else:
            self.ext[name] = value

    def leave(self, key: str, value: Any, why: str | None = None) -> None:
        """Keep a tool value AIGIF cannot represent, verbatim, and report it."""
        if value is None or value == "" or value == [] or value == {}:
            return
        self.unmapped[key] = value
        try:
            shown = repr(value)
        except RecursionError:  # a list nested 900 deep: JSON allows it
            shown = f"<{type(value).__name__} nested too deeply to show>"
        if len(shown) > 80:
            shown = shown[:77] + "..."
        self.items.append(f"{key} = {shown}" + (f" ({why})" if why else ""))

    def ignore(self, keys, why: str) -> None:
        """Values that do not affect the pixels (timestamps, UI state): reported, not kept."""
        keys = [k for k in keys if k]
        if keys:
            self.warnings.append(f"ignored ({why}): {', '.join(map(str, keys))}")

    # -- model ----------------------------------------------------------------------
    def set_model(self, name: str | None = None, hash: Any = None, key: str = "model") -> None:
        full, short = normalise_hash(hash)
        if hash not in (None, "") and full is None:
            self.leave(f"{key}_hash", hash, "not a hex hash")
        value = resolve_model(name, full, short, self.warnings)
        if value is not None:
            self.syntax[key] = value

    def model_ref(self, name) -> str | None:
        """A second model (refiner, ...) named inside an extension: registry name or stem."""
        if not name:
            return None
        value = resolve_model(str(name), None, None, self.warnings)
        return value["name"] if isinstance(value, dict) else value

    # -- scheduler --------------------------------------------------------------------
    def set_scheduler(self, dialect: str, sampler: Any, schedule: Any = None) -> None:
        """The scheduler of a tool's sampler (+ schedule) name, written in `dialect`
        (schedulers.map_scheduler); names AIGIF has no scheduler for go to `unmapped`."""
        match = map_scheduler(registry(), dialect, sampler, schedule)
        if match is None:
            return
        if match.entry is None:
            self.leave("sampler", match.sampler, f"no AIGIF scheduler for {match.tool} sampler")
            if match.schedule is not None:
                self.leave("schedule", match.schedule)
            return
        self.syntax["scheduler"] = match.entry.name
        if match.note:
            self.warnings.append(match.note)
        if match.schedule_left_over:
            self.leave("schedule", match.schedule, f"{match.tool} schedule not part of scheduler '{match.entry.name}'")

    def scheduler_name(self, dialect: str, sampler: Any, schedule: Any = None) -> str | None:
        """The AIGIF scheduler name of a second pass's sampler (hires fix), or None."""
        match = map_scheduler(registry(), dialect, sampler, schedule)
        if match is None or match.entry is None:
            return None
        if match.note:
            self.warnings.append(match.note)
        return match.entry.name

    # -- output ------------------------------------------------------------------------
    def finish(self) -> dict:
        self._check_extensions()
        out = dict(self.syntax)
        ext = dict(self.ext)  # each value already as an extension holds it (_check_extensions)
        if self.unmapped:
            notes: list[str] = []
            ext["unmapped"] = _storable(self.unmapped, notes)
            # one value JSON allows but an extension cannot hold (NaN, a lone surrogate,
            # 40 levels of lists) must not cost the whole image its generation syntax
            self.warnings.extend(f"unmapped: {n}" for n in notes)
        if ext:
            out["extensions"] = ext
        return out

    def _check_extensions(self) -> None:
        """Each extension value as an extension holds it; one that AIGIF's table rejects is
        kept in `unmapped` instead.  (jsonform.syntax_from_dict checks them again: that is
        the JSON form's contract, which refuses; this check keeps the import going.)"""
        for name in list(self.ext):
            notes: list[str] = []
            value = _storable(self.ext[name], notes)
            try:
                if notes:  # storing it would change it: the tool's value is kept as it was
                    raise InvalidSyntax("; ".join(notes))
                check_value(name, value)
            except InvalidSyntax:
                self.leave(f"extension {name}", self.ext.pop(name), "invalid value for this AIGIF extension")
            else:
                self.ext[name] = value


def _storable(v, notes: list[str], depth: int = 0, path: str = ""):
    """The value as an extension can hold it; every change made is described in `notes`.

    msgpack stores 64-bit integers: larger ones are kept as their decimal text (as
    before, silently: no digit is lost).  A non-finite number becomes its JSON-ish text,
    a lone surrogate U+FFFD, and a list or map nested deeper than the extension limit its
    compact JSON text.  Recursion is bounded by that limit, not by the input.
    """
    if isinstance(v, bool) or v is None:
        return v
    if isinstance(v, int):
        return v if -(1 << 63) <= v < (1 << 64) else str(v)
    if isinstance(v, float):
        if math.isfinite(v):
            return v
        text = "NaN" if v != v else ("Infinity" if v > 0 else "-Infinity")
        notes.append(f"{path or 'value'}: non-finite number kept as the text {text!r}")
        return text
    if isinstance(v, str):
        return _text(v, notes, path)
    if isinstance(v, (dict, list, tuple)):
        if depth >= limits.MAX_EXTENSION_DEPTH:
            notes.append(f"{path or 'value'}: nested deeper than {limits.MAX_EXTENSION_DEPTH} levels, kept as JSON text")
            return _deep_as_text(v)
        if isinstance(v, dict):
            out = {}
            for k, x in v.items():
                key = _text(str(k), notes, f"{path}.{k!r}" if path else repr(k))
                out[key] = _storable(x, notes, depth + 1, f"{path}.{key}" if path else key)
            return out
        return [_storable(x, notes, depth + 1, f"{path}[{i}]") for i, x in enumerate(v)]
    notes.append(f"{path or 'value'}: a {type(v).__name__} kept as its text")
    return _text(str(v), notes, path)


def _text(v: str, notes: list[str], path: str) -> str:
    try:
        v.encode("utf-8")
        return v
    except UnicodeEncodeError:
        notes.append(f"{path or 'value'}: invalid Unicode (lone surrogates) replaced by U+FFFD")
        return v.encode("utf-8", "replace").decode("utf-8")


def _deep_as_text(v) -> str:
    try:
        text = json.dumps(v, ensure_ascii=False, separators=(",", ":"))
    except (RecursionError, ValueError, TypeError):
        return "<nested too deeply to keep>"
    return text.encode("utf-8", "replace").decode("utf-8")


def resolve_model(name: str | None, full_hash: str | None, short_hash: str | None, warnings: list[str]):
    """Registry lookup by weights hash, then by name; else an inline name (+ fingerprint)."""
    reg = registry()
    if reg is None:
        warnings.append("model registry unavailable: model kept as an inline name")
    if reg is not None and full_hash:
        entry = reg.model_by_fingerprint(full_hash)
        if entry is not None:
            return entry.name
    if name and len(model_stem(str(name)).encode("utf-8", "replace")) > 1024:
        warnings.append("model name longer than 1024 bytes: not kept as the model")
        name = None
    if name and model_stem(str(name)).strip():
        stem = model_stem(str(name))
        if reg is not None:
            for key in (str(name).strip(), stem):
                entry = reg.find_model(key)
                if entry is not None:
                    if short_hash and not _fingerprint_matches(entry, full_hash):
                        warnings.append(
                            f"model '{stem}' is in the registry as '{entry.name}' but its hash {short_hash} is not; kept both"
                        )
                        return {"name": entry.name, "fingerprint": short_hash}
                    return entry.name
        warnings.append(f"model '{stem}' is not in the registry; kept as an inline name")
        return {"name": stem, "fingerprint": short_hash} if short_hash else stem
    if short_hash:
        warnings.append(f"model with hash {short_hash} is not in the registry; kept as fingerprint only")
        return {"name": "unknown", "fingerprint": short_hash}
    return None


def _fingerprint_matches(entry, full_hash: str | None) -> bool:
    fps = getattr(entry, "fingerprints", None) or []
    if not fps:
        return True  # nothing to contradict
    for fp in fps:
        v = str(fp.get("value", "")).lower()
        if full_hash and (v.startswith(full_hash) or full_hash.startswith(v)):
            return True
    return False


# -- number helpers -----------------------------------------------------------------------
# Every number a tool wrote is foreign input: an integer of 400 digits, "1e999", NaN or a
# list where a number belongs must give None here, never OverflowError or ValueError.
_INT_TEXT = re.compile(r"[+-]?\d{1,4000}")  # under Python's 4300-digit int() limit


def to_float(v: Any) -> float | None:
    """A finite float from a foreign value (number or numeric text), else None."""
    if isinstance(v, bool) or v is None:
        return None
    if isinstance(v, (int, float)):
        try:
            f = float(v)
        except OverflowError:  # an int beyond 1.8e308
            return None
    elif isinstance(v, str):
        text = v.strip()
        if len(text) > 4000:
            return None
        try:
            f = float(text)
        except (ValueError, OverflowError):
            return None
    else:
        return None
    return f if math.isfinite(f) else None


def to_weight(v: Any, default: float | None = None) -> float | None:
    """A LoRA/ControlNet weight or strength, rounded to 6 places (float noise is not a digit)."""
    if v is None:
        return default
    f = to_float(v)
    return None if f is None else round(f, 6)


def to_int(v: Any) -> int | None:
    if isinstance(v, bool) or v is None:
        return None
    if isinstance(v, int):
        return v
    if isinstance(v, float):
        return int(v) if math.isfinite(v) and v.is_integer() else None
    if not isinstance(v, str):
        return None
    s = v.strip()
    if _INT_TEXT.fullmatch(s):
        return int(s)
    f = to_float(s)
    return int(f) if f is not None and f.is_integer() else None


def to_number(v: Any) -> int | float | None:
    """An int stays an int (any size: the caller range-checks it); anything else becomes a
    finite float, an integral one an int, or None."""
    if isinstance(v, bool) or v is None:
        return None
    if isinstance(v, int):
        return v
    f = to_float(v)
    if f is None:
        return None
    return int(f) if f.is_integer() else f
