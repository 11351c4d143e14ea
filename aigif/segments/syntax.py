"""The SYNTAX segment body (spec §5): model + data configuration as one bit string.

    presence flags  9 bits: model, negative_prompt, seed, steps, guidance, width, height,
                            scheduler, reserved (must be 0 in 1.x)
    model           inline u(1); ID: ue(id-1) | name: ue(codec) ue(len) bytes; fingerprint u(1) [ue(len-1) bytes]
    seed            u(1) wide; u(32) | u(64)
    steps           ue_4(steps-1)
    guidance        ue(scale) se_3(mantissa)           guidance = mantissa / 10**scale
    width, height   size code (§5.2)
    scheduler       ue(id-1)
    negative_prompt ue(codec) ue(len) bytes
    prompt          ue(codec) align, then the rest of the segment

Fields appear in this order, each only when its flag is set.
"""

from __future__ import annotations

from .. import limits
from .. import text as textcodec
from ..bits import BitReader, BitWriter, ue_bits
from ..errors import LimitExceeded, MalformedField, UnsupportedVersion
from ..syntax import Syntax, decimal_parts, make_decimal

FLAG_ORDER = ("model", "negative_prompt", "seed", "steps", "guidance", "width", "height", "scheduler")
STEPS_K = 4
GUIDANCE_K = 3
SIZE_K = 4


def write_size(w: BitWriter, v: int) -> None:
    """Multiples of 64 are the common case, then multiples of 8 (§5.2)."""
    if v % 64 == 0:
        w.u(1, 1)
        w.ue(v // 64 - 1)
    elif v % 8 == 0:
        w.u(1, 2)
        w.ue(v // 8 - 1)
    else:
        w.u(0, 2)
        w.ue(v - 1, SIZE_K)


def read_size(r: BitReader, name: str, maximum: int) -> int:
    if r.flag():
        v = 64 * (r.ue(max_bits=16) + 1)
    elif r.flag():
        v = 8 * (r.ue(max_bits=16) + 1)
        if v % 64 == 0:
            raise MalformedField(f"{name} {v} must use the multiple-of-64 code")
    else:
        v = r.ue(SIZE_K, max_bits=16) + 1
        if v % 8 == 0:
            raise MalformedField(f"{name} {v} must use the multiple-of-8 code")
    if v > maximum:
        raise LimitExceeded(f"{name} {v} is over the limit of {maximum}")
    return v


def write_text(w: BitWriter, text: str, force_codec: int | None = None) -> None:
    """A length-prefixed text field (§5.5): ue(codec) ue(len) payload, cheapest codec."""
    if force_codec is None:
        codec, payload = textcodec.cheapest(text, lambda c, p: ue_bits(c) + ue_bits(len(p)) + 8 * len(p))
    else:
        codec, payload = force_codec, textcodec.encode(force_codec, text)
    w.ue(codec)
    w.ue(len(payload))
    w.raw(payload)


class TextBudget:
    """What is left of MAX_TOTAL_TEXT_BYTES for the text fields of one SYNTAX body (§9.1)."""

    def __init__(self) -> None:
        self.left = limits.MAX_TOTAL_TEXT_BYTES

    def decode(self, codec: int, payload: bytes, what: str, field_max: int) -> str:
        cap = min(field_max, self.left)
        try:
            text = textcodec.decode(codec, payload, cap)
        except LimitExceeded:
            if cap < field_max:
                raise LimitExceeded(f"the text fields together are over the {limits.MAX_TOTAL_TEXT_BYTES}-byte limit") from None
            raise
        n = len(text.encode("utf-8"))
        if n > cap:  # codecs check `cap` themselves; this keeps the rule in one place too
            raise LimitExceeded(f"{what} of {n} bytes is over the limit")
        self.left -= n
        return text


def read_text(r: BitReader, what: str, budget: TextBudget, max_bytes: int | None = None) -> str:
    codec = r.ue(max_bits=16)
    n = r.ue(max_bits=32)
    if 8 * n > r.remaining_bits:
        raise MalformedField(f"{what} runs past the end of the segment")
    if n > limits.MAX_TEXT_BYTES:  # before copying it out of the segment
        raise LimitExceeded(f"{what} payload of {n} bytes is over the {limits.MAX_TEXT_BYTES}-byte limit")
    return budget.decode(codec, r.raw(n), what, limits.MAX_TEXT_BYTES if max_bytes is None else max_bytes)


def encode_body(s: Syntax, force_codec: int | None = None) -> bytes:
    """The SYNTAX body; `force_codec` pins the text codec (conformance vectors)."""
    w = BitWriter()
    present = [getattr(s, k) is not None for k in FLAG_ORDER]
    for p in present:
        w.flag(p)
    w.flag(False)  # reserved for fields of later 1.x versions

    if s.model is not None:
        if isinstance(s.model, int):
            w.u(0, 1)
            w.ue(s.model - 1)
        else:
            # inline names ("juggernautXL_v9", "waiIllustriousSDXL_v160") are text too: they
            # get the cheapest text codec, like the prompts they usually come with
            w.u(1, 1)
            write_text(w, s.model, force_codec)
        w.flag(s.model_fingerprint is not None)
        if s.model_fingerprint is not None:
            w.ue(len(s.model_fingerprint) - 1)
            w.raw(s.model_fingerprint)
    if s.seed is not None:
        wide = s.seed >> 32 != 0
        w.flag(wide)
        w.u(s.seed, 64 if wide else 32)
    if s.steps is not None:
        w.ue(s.steps - 1, STEPS_K)
    if s.guidance is not None:
        mantissa, scale = decimal_parts(s.guidance)
        w.ue(scale)
        w.se(mantissa, GUIDANCE_K)
    if s.width is not None:
        write_size(w, s.width)
    if s.height is not None:
        write_size(w, s.height)
    if s.scheduler is not None:
        w.ue(s.scheduler - 1)
    if s.negative_prompt is not None:
        write_text(w, s.negative_prompt, force_codec)
    # The prompt comes last so its length is implied by the segment's: no length field.
    pad_at = w.bit_length
    if force_codec is None:
        codec, payload = textcodec.cheapest(s.prompt, lambda c, p: ((pad_at + ue_bits(c) + 7) // 8) * 8 + 8 * len(p))
    else:
        codec, payload = force_codec, textcodec.encode(force_codec, s.prompt)
    w.ue(codec)
    w.align()
    w.raw(payload)
    return w.getvalue()


def decode_body(body: bytes) -> Syntax:
    r = BitReader(body)
    budget = TextBudget()
    present = dict(zip(FLAG_ORDER, (r.flag() for _ in FLAG_ORDER)))
    if r.flag():
        raise UnsupportedVersion("SYNTAX segment announces fields of a later 1.x version")
    s = Syntax()
    if present["model"]:
        if r.flag():
            s.model = read_text(r, "inline model name", budget, limits.MAX_NAME_BYTES)
            if not s.model:
                raise MalformedField("inline model name is empty")
        else:
            s.model = r.ue(max_bits=31) + 1
            if s.model >= 1 << 31:
                raise MalformedField("model ID out of range")
        if r.flag():
            n = r.ue(max_bits=8) + 1
            if n > 32:
                raise MalformedField("model fingerprint longer than 32 bytes")
            s.model_fingerprint = r.raw(n)
    if present["seed"]:
        wide = r.flag()
        s.seed = r.u(64 if wide else 32)
        if wide and s.seed >> 32 == 0:
            raise MalformedField("seed below 2**32 must use the 32-bit code")
    if present["steps"]:
        s.steps = r.ue(STEPS_K, max_bits=20) + 1
        if s.steps > limits.MAX_STEPS:
            raise LimitExceeded(f"steps {s.steps} is over the limit of {limits.MAX_STEPS}")
    if present["guidance"]:
        scale = r.ue(max_bits=8)
        mantissa = r.se(GUIDANCE_K, max_bits=48)
        if scale > limits.MAX_GUIDANCE_SCALE or len(str(abs(mantissa))) > limits.MAX_GUIDANCE_DIGITS:
            raise MalformedField("guidance out of range")
        if scale and mantissa % 10 == 0:
            raise MalformedField("guidance has a trailing zero decimal (not canonical)")
        s.guidance = make_decimal(mantissa, scale)
    if present["width"]:
        s.width = read_size(r, "width", limits.MAX_WIDTH)
    if present["height"]:
        s.height = read_size(r, "height", limits.MAX_HEIGHT)
    if s.width and s.height and s.width * s.height > limits.MAX_PIXELS:
        raise LimitExceeded(f"{s.width}x{s.height} is over the pixel limit")
    if present["scheduler"]:
        s.scheduler = r.ue(max_bits=16) + 1
    if present["negative_prompt"]:
        s.negative_prompt = read_text(r, "negative prompt", budget)
    codec = r.ue(max_bits=16)
    r.align()
    if r.remaining_bits // 8 > limits.MAX_TEXT_BYTES:  # before copying it out of the segment
        raise LimitExceeded(f"prompt payload of {r.remaining_bits // 8} bytes is over the {limits.MAX_TEXT_BYTES}-byte limit")
    s.prompt = budget.decode(codec, r.rest(), "prompt", limits.MAX_TEXT_BYTES)
    return s
