"""The generation syntax (spec §5) and its JSON form (spec §8).

`Syntax` holds exactly what a file says: a field is None when the file leaves it to the
model's default.  `resolve()` fills those in from the registry for generation.
"""

from __future__ import annotations

import base64
from dataclasses import dataclass, field, replace
from decimal import Decimal, InvalidOperation
from typing import Any

from . import limits
from .errors import InvalidSyntax, LimitExceeded, UnknownModel
from .extensions import BY_NAME, RawExtension, check_value
from .registry import DEFAULT_MODEL_ID, ModelEntry, SchedulerEntry, get_registry

DATA_KEYS = ("model", "prompt", "negative_prompt", "seed", "steps", "guidance", "width", "height", "scheduler")
TOP_KEYS = (*DATA_KEYS, "platform", "extensions", "fidelity", "payloads")

# Spec §5.3: for a model without registry defaults (inline name or unknown ID).
GENERIC_DEFAULTS = {"steps": 50, "guidance": Decimal("7.5"), "width": 512, "height": 512, "negative_prompt": ""}

DEVICES = ("unknown", "cpu", "cuda", "mps", "xpu", "other")
DTYPES = ("unknown", "float32", "float16", "bfloat16")
ATTENTIONS = ("default", "sdpa", "math", "xformers", "flash", "other")


@dataclass(frozen=True)
class Platform:
    """What ran the model (spec §5.4): everything that can change the pixels."""

    device: str = "unknown"
    dtype: str = "unknown"
    attention: str = "default"
    deterministic: bool = False
    threads: int | None = None
    torch: str = ""
    diffusers: str = ""
    transformers: str = ""
    gpu: str = ""

    def to_dict(self) -> dict:
        d = {
            "device": self.device,
            "dtype": self.dtype,
            "attention": self.attention,
            "deterministic": self.deterministic,
            "threads": self.threads,
            "torch": self.torch,
            "diffusers": self.diffusers,
            "transformers": self.transformers,
            "gpu": self.gpu,
        }
        return {k: v for k, v in d.items() if v not in ("", None)}

    @classmethod
    def from_dict(cls, d: dict) -> Platform:
        if not isinstance(d, dict):
            raise InvalidSyntax("platform must be an object")
        unknown = set(d) - set(cls.__dataclass_fields__)
        if unknown:
            raise InvalidSyntax(f"unknown platform keys: {sorted(unknown)}")
        p = cls(**{k: v for k, v in d.items() if v is not None})
        for name, allowed in (("device", DEVICES), ("dtype", DTYPES), ("attention", ATTENTIONS)):
            if getattr(p, name) not in allowed:
                raise InvalidSyntax(f"platform.{name} must be one of {allowed}")
        for name in ("torch", "diffusers", "transformers", "gpu"):
            v = getattr(p, name)
            if not isinstance(v, str) or len(v.encode("utf-8", "surrogatepass")) > 255:
                raise InvalidSyntax(f"platform.{name} must be a string of at most 255 bytes")
        if not isinstance(p.deterministic, bool):
            raise InvalidSyntax("platform.deterministic must be true or false")
        if p.threads is not None and (not isinstance(p.threads, int) or isinstance(p.threads, bool) or not 0 < p.threads < 1 << 16):
            raise InvalidSyntax("platform.threads must be a positive integer")
        return p


@dataclass(frozen=True)
class Fidelity:
    """A short hash of the generated pixels (spec §7.3)."""

    method: int
    digest: bytes

    def to_dict(self) -> dict:
        return {"method": self.method, "digest": self.digest.hex()}


@dataclass(frozen=True)
class Payload:
    """Coded pixels (spec §7.4): kind 'pixels' (fallback or kept original) or 'residual'."""

    kind: str
    codec_id: int
    data: bytes
    critical: bool = True

    def to_dict(self, with_data: bool = False) -> dict:
        d = {"kind": self.kind, "codec": self.codec_id, "bytes": len(self.data), "critical": self.critical}
        if with_data:
            d["data"] = base64.b64encode(self.data).decode("ascii")
        return d


# -- guidance as an exact decimal -------------------------------------------------------
def decimal_parts(value: Decimal) -> tuple[int, int]:
    """(mantissa, scale) with value == mantissa / 10**scale and the smallest scale >= 0."""
    sign, digits, exp = value.as_tuple()
    mantissa = int("".join(map(str, digits)) or "0")
    if exp > 0:
        mantissa *= 10**exp
        exp = 0
    scale = -exp
    while scale and mantissa % 10 == 0:
        mantissa //= 10
        scale -= 1
    return (-mantissa if sign else mantissa), scale


def make_decimal(mantissa: int, scale: int) -> Decimal:
    return Decimal(mantissa).scaleb(-scale)


def parse_guidance(value) -> Decimal:
    if isinstance(value, bool) or not isinstance(value, (int, float, str, Decimal)):
        raise InvalidSyntax(f"guidance must be a number, not {value!r}")
    try:
        d = Decimal(repr(value) if isinstance(value, float) else str(value).strip())
    except InvalidOperation:
        raise InvalidSyntax(f"guidance is not a decimal number: {value!r}") from None
    if not d.is_finite():
        raise InvalidSyntax("guidance must be finite")
    # bound the exponent before anything expands it: '1e999999999' must not become an int
    exponent = d.as_tuple().exponent
    if not -(limits.MAX_GUIDANCE_SCALE + limits.MAX_GUIDANCE_DIGITS) <= exponent <= limits.MAX_GUIDANCE_DIGITS:
        raise InvalidSyntax(f"guidance {value!r} is out of range")
    if d and not -limits.MAX_GUIDANCE_SCALE - 1 <= d.adjusted() <= limits.MAX_GUIDANCE_DIGITS:
        raise InvalidSyntax(f"guidance {value!r} is out of range")
    d = d.normalize() if d else Decimal(0)
    m, s = decimal_parts(d)
    if len(str(abs(m))) > limits.MAX_GUIDANCE_DIGITS or s > limits.MAX_GUIDANCE_SCALE:
        raise InvalidSyntax(f"guidance {value!r} has more than {limits.MAX_GUIDANCE_DIGITS} digits or {limits.MAX_GUIDANCE_SCALE} decimals")
    return make_decimal(m, s)


def guidance_json(d: Decimal):
    m, s = decimal_parts(d)
    return m if s == 0 else float(str(make_decimal(m, s)))


# -- the syntax ---------------------------------------------------------------------------
@dataclass
class Syntax:
    model: int | str | None = None
    model_fingerprint: bytes | None = None
    prompt: str = ""
    negative_prompt: str | None = None
    seed: int | None = None
    steps: int | None = None
    guidance: Decimal | None = None
    width: int | None = None
    height: int | None = None
    scheduler: int | None = None
    platform: Platform | None = None
    extensions: dict[str, Any] = field(default_factory=dict)
    fidelity: Fidelity | None = None
    payloads: list[Payload] = field(default_factory=list)
    # unknown ancillary, safe-to-copy segments, kept for rewriting (§3.5); raw container.Segment
    unknown_segments: list = field(default_factory=list)
    # False for a pixels-only file: it has no SYNTAX segment, so nothing to regenerate or export
    has_syntax: bool = True

    # -- registry view --------------------------------------------------------------
    def model_entry(self) -> ModelEntry | None:
        reg = get_registry()
        if self.model is None:
            return reg.find_model(DEFAULT_MODEL_ID)
        if isinstance(self.model, int):
            return reg.find_model(self.model)
        return None

    def defaults(self) -> dict:
        """The defaults that absent fields take (spec §5.3)."""
        entry = self.model_entry()
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

    def elide_defaults(self) -> Syntax:
        """A copy with every field equal to its model default removed (spec §5.3)."""
        s = replace(self, extensions=dict(self.extensions), payloads=list(self.payloads), unknown_segments=list(self.unknown_segments))
        if s.model == DEFAULT_MODEL_ID and s.model_fingerprint is None:
            s.model = None
        defaults = s.defaults()
        for key in ("steps", "width", "height", "negative_prompt", "scheduler"):
            if getattr(s, key) is not None and getattr(s, key) == defaults.get(key):
                setattr(s, key, None)
        if s.guidance is not None and defaults.get("guidance") is not None and s.guidance == defaults["guidance"]:
            s.guidance = None
        if s.seed == 0:
            s.seed = None
        return s

    def resolve(self) -> ResolvedSyntax:
        reg = get_registry()
        if self.model is None:
            entry = reg.model(DEFAULT_MODEL_ID)
        elif isinstance(self.model, int):
            entry = reg.model(self.model)
        else:
            entry = adhoc_entry(self.model)
        d = self.defaults()
        sched_id = self.scheduler if self.scheduler is not None else d["scheduler"]
        scheduler = None
        if sched_id is not None:
            scheduler = reg.find_scheduler(sched_id)
            if scheduler is None:
                raise UnknownModel(f"scheduler ID {sched_id} is not in this registry's scheduler table")
        return ResolvedSyntax(
            model=entry,
            prompt=self.prompt,
            negative_prompt=self.negative_prompt if self.negative_prompt is not None else d["negative_prompt"],
            seed=self.seed or 0,
            steps=self.steps if self.steps is not None else d["steps"],
            guidance=self.guidance if self.guidance is not None else d["guidance"],
            width=self.width if self.width is not None else d["width"],
            height=self.height if self.height is not None else d["height"],
            scheduler=scheduler,
            extensions=dict(self.extensions),
        )

    # -- JSON form (spec §8) ------------------------------------------------------------
    def to_dict(self, *, resolved: bool = False, payload_data: bool = False) -> dict:
        reg = get_registry()
        s = self
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
            r = s.resolve()
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

    @classmethod
    def from_dict(cls, d: dict) -> Syntax:
        """Validate the JSON form and normalise it (names resolved, defaults elided)."""
        if not isinstance(d, dict):
            raise InvalidSyntax("the syntax must be a JSON object")
        unknown = set(d) - set(TOP_KEYS)
        if unknown:
            raise InvalidSyntax(f"unknown keys: {sorted(unknown)} (allowed: {', '.join(TOP_KEYS)})")
        reg = get_registry()
        s = cls()
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
        return s.elide_defaults()


@dataclass
class ResolvedSyntax:
    """Every field concrete: what a generator needs (spec §5.3 applied)."""

    model: ModelEntry
    prompt: str
    negative_prompt: str
    seed: int
    steps: int
    guidance: Decimal
    width: int
    height: int
    scheduler: SchedulerEntry | None  # None: the pipeline's own default (models without registry defaults)
    extensions: dict


def _raw_extension(key: str, v) -> RawExtension:
    from .extensions import BY_CODE

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
    import binascii

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


def adhoc_entry(name: str) -> ModelEntry:
    """A registry entry for an inline model name: a local diffusers folder or a hub repo id."""
    from pathlib import Path

    from .registry import Defaults

    path = Path(name).expanduser()
    looks_local = path.is_dir() and (path / "model_index.json").is_file()
    looks_hub = not looks_local and name.count("/") == 1 and " " not in name
    if not (looks_local or looks_hub):
        raise UnknownModel(
            f"model '{name}' is not in the registry and is neither a local diffusers folder nor a hub repo id",
            model=name,
        )
    return ModelEntry(
        id=0,
        name=name,
        aliases=(),
        family="other",
        status="private",
        license="",
        description="inline model (not registered)",
        defaults=Defaults(50, Decimal("7.5"), 512, 512, 0),
        pipeline={"class": "DiffusionPipeline", "source": "local" if looks_local else "hub", "path": str(path), "repo": "" if looks_local else name, "revision": ""},
        origin="inline",
    )
