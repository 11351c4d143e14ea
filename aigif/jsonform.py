"""The JSON form of a syntax (spec §8): validation on the way in, names on the way out.

`syntax_from_dict` checks every key and value and resolves model and scheduler names to
registry IDs (defaults elided, like a file); `syntax_to_dict` names them again.
"""

from __future__ import annotations

import base64
import binascii
from typing import Any

from . import limits
from .defaults import elide_defaults, resolve
from .errors import InvalidSyntax, LimitExceeded
from .extensions import BY_CODE, RawExtension, check_value
from .registry import get_registry
from .syntax import Fidelity, Payload, Platform, Syntax, guidance_json, parse_guidance

DATA_KEYS = ("model", "prompt", "negative_prompt", "seed", "steps", "guidance", "width", "height", "scheduler")
TOP_KEYS = (*DATA_KEYS, "platform", "extensions", "fidelity", "payloads")


def syntax_to_dict(s: Syntax, *, resolved: bool = False, payload_data: bool = False) -> dict:
    """The JSON form (spec §8); resolved=True also writes every default (spec §5.3)."""
    reg = get_registry()
    out: dict[str, Any] = {}
    if s.model is not None:
        name: Any = s.model
        if isinstance(s.model, int):
            entry = reg.find_model(s.model)
            name = entry.name if entry else s.model
        out["model"] = {"name": name, "fingerprint": s.model_fingerprint.hex()} if s.model_fingerprint else name
    out["prompt"] = s.prompt
    if s.negative_prompt is not None:
        out["negative_prompt"] = s.negative_prompt
    if s.seed is not None:
        out["seed"] = s.seed
    for key in ("steps", "width", "height"):
        if getattr(s, key) is not None:
            out[key] = getattr(s, key)
    if s.guidance is not None:
        out["guidance"] = guidance_json(s.guidance)
    if s.scheduler is not None:
        entry = reg.find_scheduler(s.scheduler)
        out["scheduler"] = entry.name if entry else s.scheduler
    if resolved:
        r = resolve(s)
        out.setdefault("model", r.model.name)
        out.setdefault("negative_prompt", r.negative_prompt)
        out.setdefault("seed", r.seed)
        out.setdefault("steps", r.steps)
        out.setdefault("guidance", guidance_json(r.guidance))
        out.setdefault("width", r.width)
        out.setdefault("height", r.height)
        if r.scheduler is not None:
            out.setdefault("scheduler", r.scheduler.name)
    if s.platform is not None:
        out["platform"] = s.platform.to_dict()
    if s.extensions:
        ext = {}
        for k, v in s.extensions.items():
            if isinstance(v, RawExtension):
                ext[v.json_key] = {"critical": v.critical, "safe_to_copy": v.safe_to_copy, "msgpack": v.payload.hex()}
            else:
                ext[k] = v
        out["extensions"] = ext
    if s.fidelity is not None:
        out["fidelity"] = s.fidelity.to_dict()
    if s.payloads:
        out["payloads"] = [p.to_dict(payload_data) for p in s.payloads]
    return out


def syntax_from_dict(d: dict) -> Syntax:
    """Validate the JSON form and normalise it (names resolved, defaults elided)."""
    if not isinstance(d, dict):
        raise InvalidSyntax("the syntax must be a JSON object")
    unknown = set(d) - set(TOP_KEYS)
    if unknown:
        raise InvalidSyntax(f"unknown keys: {sorted(unknown)} (allowed: {', '.join(TOP_KEYS)})")
    reg = get_registry()
    s = Syntax()
    if d.get("model") is not None:
        m = d["model"]
        if isinstance(m, dict):
            if set(m) - {"name", "fingerprint"} or "name" not in m:
                raise InvalidSyntax("model object must be {name, fingerprint}")
            fp = m.get("fingerprint")
            if fp is not None:
                try:
                    s.model_fingerprint = bytes.fromhex(fp[2:] if str(fp).lower().startswith("0x") else fp)
                except (ValueError, TypeError):
                    raise InvalidSyntax(f"model fingerprint must be hex: {fp!r}") from None
                if not 1 <= len(s.model_fingerprint) <= 32:
                    raise InvalidSyntax("model fingerprint must be 1 to 32 bytes")
            m = m["name"]
        if isinstance(m, bool) or not isinstance(m, (int, str)):
            raise InvalidSyntax("model must be a name or a registry ID")
        if isinstance(m, int):
            if not 1 <= m < 1 << 31:
                raise InvalidSyntax(f"model ID {m} out of range")
            s.model = m
        else:
            entry = reg.find_model(m)
            if entry is not None:
                s.model = entry.id
            else:
                if not m or len(m.encode("utf-8", "surrogatepass")) > limits.MAX_NAME_BYTES:
                    raise InvalidSyntax("inline model name must be 1 to 1024 bytes")
                s.model = _check_text(m, "model")
    s.prompt = _check_text(d["prompt"] if d.get("prompt") is not None else "", "prompt")
    if d.get("negative_prompt") is not None:
        s.negative_prompt = _check_text(d["negative_prompt"], "negative_prompt")
    if d.get("seed") is not None:
        s.seed = _check_int(d["seed"], "seed", 0, (1 << 64) - 1)
    if d.get("steps") is not None:
        s.steps = _check_int(d["steps"], "steps", 1, limits.MAX_STEPS)
    if d.get("width") is not None:
        s.width = _check_int(d["width"], "width", 1, limits.MAX_WIDTH)
    if d.get("height") is not None:
        s.height = _check_int(d["height"], "height", 1, limits.MAX_HEIGHT)
    if d.get("guidance") is not None:
        s.guidance = parse_guidance(d["guidance"])
    if d.get("scheduler") is not None:
        sc = d["scheduler"]
        if isinstance(sc, int) and not isinstance(sc, bool):
            if not 1 <= sc < 1 << 16:
                raise InvalidSyntax(f"scheduler ID {sc} out of range")
            s.scheduler = sc
        elif isinstance(sc, str):
            entry = reg.find_scheduler(sc)
            if entry is None:
                raise InvalidSyntax(f"unknown scheduler '{sc}' (see `aigif registry schedulers`)")
            s.scheduler = entry.id
        else:
            raise InvalidSyntax("scheduler must be a name or an ID")
    if d.get("platform") is not None:
        s.platform = Platform.from_dict(d["platform"])
    if d.get("extensions") is not None:
        ext = d["extensions"]
        if not isinstance(ext, dict):
            raise InvalidSyntax("extensions must be an object")
        for k, v in ext.items():
            if not isinstance(k, str):
                raise InvalidSyntax(f"extension names must be strings, not {k!r}")
            if k.startswith("ext-"):
                s.extensions[k] = _raw_extension(k, v)
            else:
                check_value(k, v)
                s.extensions[k] = v
    if d.get("fidelity") is not None:
        s.fidelity = _fidelity(d["fidelity"])
    payloads = d.get("payloads") or []
    if not isinstance(payloads, list):
        raise InvalidSyntax("payloads must be a list")
    s.payloads = [_payload(p) for p in payloads]
    if sum(p.kind == "pixels" and p.critical for p in s.payloads) > 1 or sum(p.kind == "residual" for p in s.payloads) > 1:
        raise InvalidSyntax("at most one critical pixels payload and one residual payload")
    return elide_defaults(s)


def _raw_extension(key: str, v) -> RawExtension:
    digits = key[4:]
    if not (digits.isascii() and digits.isdigit()) or int(digits) >= 1 << 21:
        raise InvalidSyntax(f"unknown extension '{key}': raw extensions are 'ext-<code>' with a code below 2**21")
    code = int(digits)
    if code in BY_CODE:
        raise InvalidSyntax(f"{key} is the known extension '{BY_CODE[code].name}': use its name")
    if not isinstance(v, dict) or not isinstance(v.get("msgpack"), str):
        raise InvalidSyntax(f"{key} must be {{critical, safe_to_copy, msgpack}}")
    try:
        payload = bytes.fromhex(v["msgpack"])
    except ValueError:
        raise InvalidSyntax(f"{key}: msgpack must be hex") from None
    critical = v.get("critical") is True
    return RawExtension(code, critical, v.get("safe_to_copy") is True and not critical, payload)


def _fidelity(f) -> Fidelity:
    if not isinstance(f, dict) or not isinstance(f.get("method"), int) or isinstance(f.get("method"), bool):
        raise InvalidSyntax("fidelity must be {method: integer, digest: hex}")
    if not 0 <= f["method"] <= 255:
        raise InvalidSyntax("fidelity method must be 0..255")
    try:
        digest = bytes.fromhex(f.get("digest"))
    except (TypeError, ValueError):
        raise InvalidSyntax("fidelity digest must be hex") from None
    if not 1 <= len(digest) <= 32:
        raise InvalidSyntax("fidelity digest must be 1 to 32 bytes")
    return Fidelity(f["method"], digest)


def _payload(p) -> Payload:
    if not isinstance(p, dict) or p.get("kind") not in ("pixels", "residual"):
        raise InvalidSyntax("a payload is {kind: pixels|residual, codec, data (base64), critical}")
    codec = p.get("codec")
    if not isinstance(codec, int) or isinstance(codec, bool) or not 0 <= codec < 1 << 21:
        raise InvalidSyntax("payload codec must be an integer 0..2**21-1")
    try:
        data = base64.b64decode(p.get("data"), validate=True)
    except (TypeError, ValueError, binascii.Error):
        raise InvalidSyntax("payload data must be base64") from None
    critical = p.get("critical", True)
    if not isinstance(critical, bool):
        raise InvalidSyntax("payload critical must be true or false")
    if p["kind"] == "residual" and not critical:
        raise InvalidSyntax("a residual payload is always critical")
    return Payload(p["kind"], codec, data, critical)


def _check_text(v, name: str) -> str:
    if not isinstance(v, str):
        raise InvalidSyntax(f"{name} must be a string")
    try:
        n = len(v.encode("utf-8"))
    except UnicodeEncodeError:
        raise InvalidSyntax(f"{name} is not valid Unicode (lone surrogate?)") from None
    if n > limits.MAX_TEXT_BYTES:
        raise LimitExceeded(f"{name} of {n} bytes is over the {limits.MAX_TEXT_BYTES}-byte limit")
    return v


def _check_int(v, name: str, lo: int, hi: int) -> int:
    if isinstance(v, float) and v.is_integer():
        v = int(v)
    if isinstance(v, bool) or not isinstance(v, int):
        raise InvalidSyntax(f"{name} must be an integer, not {v!r}")
    if not lo <= v <= hi:
        raise InvalidSyntax(f"{name} = {v} is out of range [{lo}, {hi}]")
    return v
