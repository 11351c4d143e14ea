"""The generation syntax (spec §5): the data a file holds, and nothing that needs the registry.

`Syntax` holds exactly what a file says: a field is None when the file leaves it to the
model's default.  `defaults.resolve()` fills those in from the registry for generation;
`jsonform` reads and writes the JSON form (spec §8).
"""

from __future__ import annotations

import base64
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from typing import Any

from . import limits
from .errors import InvalidSyntax

# The platform vocabulary (spec §5.4, §7.5): the index of a name is its byte in PLATFORM.
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

    def critical_pixels(self) -> Payload | None:
        """The critical PIXELS payload (spec §7.4): the file *is* these pixels, not a regeneration."""
        return next((p for p in self.payloads if p.kind == "pixels" and p.critical), None)

    def stored_pixels(self) -> Payload | None:
        """The critical PIXELS payload, else the first ancillary one (a kept original)."""
        return self.critical_pixels() or next((p for p in self.payloads if p.kind == "pixels"), None)


# The SYNTAX segment's fields besides the prompt (spec §5.1); None = absent.
SYNTAX_FIELDS = ("model", "model_fingerprint", "negative_prompt", "seed", "steps", "guidance", "width", "height", "scheduler")


def has_generation_content(s: Syntax) -> bool:
    """Whether `s` says anything about how an image is generated: a prompt, an extension,
    or any SYNTAX field set (a steps count, a negative prompt, a size...).  A file whose
    syntax says nothing is pixels only (spec §3.4 item 4); everything else must be written."""
    return bool(s.prompt) or bool(s.extensions) or any(getattr(s, k) is not None for k in SYNTAX_FIELDS)


@dataclass
class ResolvedSyntax:
    """Every field concrete: what a generator needs (spec §5.3 applied)."""

    model: ModelEntry  # registry.ModelEntry (named only: the data model does not import the registry)
    prompt: str
    negative_prompt: str
    seed: int
    steps: int
    guidance: Decimal
    width: int
    height: int
    scheduler: SchedulerEntry | None  # None: the pipeline's own default (models without registry defaults)
    extensions: dict
