"""Whole files: Syntax <-> bytes (spec §3-§7).

`encode` lays segments out in the canonical order of spec §3.4; `decode` checks the
container first (framing, END, CRC), then ordering, then each segment's fields.
"""

from __future__ import annotations

from dataclasses import dataclass

import msgpack

from . import container, limits
from .text.frames import from_utf8, utf8
from .bits import leb128, read_leb128
from .cfgcoding import decode_body, encode_body
from .container import (
    ANCILLARY,
    EXTENSION,
    FIDELITY,
    PIXELS,
    PLATFORM,
    RESIDUAL,
    SAFE_TO_COPY,
    SYNTAX,
    Segment,
)
from .errors import (
    AigifError,
    LimitExceeded,
    MalformedField,
    MalformedSegment,
    Truncated,
    UnknownCritical,
)
from .fileio import read_bytes, write_atomic
from .extensions import BY_CODE, BY_NAME, COMPACT, RawExtension, from_compact, json_value_problem
from .syntax import ATTENTIONS, DEVICES, DTYPES, Fidelity, Payload, Platform, Syntax

PAYLOAD_KINDS = {PIXELS: "pixels", RESIDUAL: "residual"}


# -- PLATFORM (§7.5) ------------------------------------------------------------------------
def encode_platform(p: Platform) -> bytes:
    out = bytearray(
        [
            DEVICES.index(p.device),
            DTYPES.index(p.dtype),
            ATTENTIONS.index(p.attention),
            (1 if p.deterministic else 0) | (2 if p.threads else 0),
        ]
    )
    if p.threads:
        out += leb128(p.threads)
    for s in (p.torch, p.diffusers, p.transformers, p.gpu):
        b = utf8(s)
        out += leb128(len(b)) + b
    return bytes(out)


def decode_platform(body: bytes) -> Platform:
    if len(body) < 4:
        raise MalformedField("PLATFORM segment too short")
    if len(body) > limits.MAX_PLATFORM_BYTES:  # E_FIELD like any extra bytes; checked before copying
        raise MalformedField("extra bytes at the end of the PLATFORM segment")
    body = bytes(body)
    device, dtype, attention, flags = body[:4]
    if flags & ~3:
        raise MalformedField("reserved PLATFORM flag bits set")

    def enum(table, i):  # values from later versions read as "other"/"unknown"
        return table[i] if i < len(table) else table[-1] if table is not DTYPES else "unknown"

    pos = 4
    threads = None
    try:
        if flags & 2:
            threads, pos = read_leb128(body, pos, max_bytes=3, what="thread count")
        strings = []
        for _ in range(4):
            n, pos = read_leb128(body, pos, max_bytes=2, what="string length")
            if n > 255 or pos + n > len(body):
                raise MalformedField("PLATFORM string runs past the segment")
            strings.append(from_utf8(body[pos : pos + n]))
            pos += n
    except (Truncated, MalformedSegment) as e:
        raise MalformedField(f"PLATFORM segment: {e.args[0]}") from None
    if pos != len(body):
        raise MalformedField("extra bytes at the end of the PLATFORM segment")
    return Platform(enum(DEVICES, device), enum(DTYPES, dtype), enum(ATTENTIONS, attention), bool(flags & 1), threads or None, *strings)


# -- EXTENSION (§7.1) ----------------------------------------------------------------------
def _no_ext(code, data):
    raise MalformedField("msgpack ext types are not allowed in extensions")


def unpack_msgpack(data: bytes):
    if len(data) > limits.MAX_EXTENSION_BYTES:
        raise LimitExceeded(f"extension of {len(data)} bytes is over the limit")
    try:
        return msgpack.unpackb(data, raw=False, strict_map_key=True, ext_hook=_no_ext, use_list=True)
    except MalformedField:
        raise
    except Exception as e:  # msgpack raises several unrelated types for bad input
        raise MalformedField(f"extension payload is not one valid msgpack object: {type(e).__name__}") from None


def encode_extension(name: str, value) -> Segment:
    if isinstance(value, RawExtension):
        t = (0 if value.critical else ANCILLARY) | (SAFE_TO_COPY if value.safe_to_copy and not value.critical else 0)
        return Segment(t | EXTENSION, leb128(value.code) + value.payload)
    ext = BY_NAME[name]
    t = EXTENSION if ext.critical else ANCILLARY | SAFE_TO_COPY | EXTENSION
    if name in COMPACT:
        value = COMPACT[name][0](value)
    payload = msgpack.packb(value, use_bin_type=True)
    if len(payload) > limits.MAX_EXTENSION_BYTES:
        raise LimitExceeded(f"extension '{name}' of {len(payload)} bytes is over the {limits.MAX_EXTENSION_BYTES}-byte limit")
    return Segment(t, leb128(ext.code) + payload)


def decode_extension(seg: Segment) -> tuple[str, object]:
    try:
        code, pos = read_leb128(seg.body, 0, max_bytes=3, what="extension code")
    except (Truncated, MalformedSegment) as e:
        raise MalformedField(f"EXTENSION segment: {e.args[0]}") from None
    ext = BY_CODE.get(code)
    if ext is None:
        if seg.critical:
            raise UnknownCritical(f"unknown critical extension {code}", extension=code)
        raw = RawExtension(code, False, seg.safe_to_copy, bytes(seg.body[pos:]))
        return raw.json_key, raw
    if ext.critical != seg.critical:
        raise MalformedSegment(f"extension '{ext.name}' must be {'critical' if ext.critical else 'ancillary'}")
    value = from_compact(ext.name, unpack_msgpack(seg.body[pos:]))
    problem = json_value_problem(value)
    if problem:
        raise MalformedField(f"extension '{ext.name}': {problem}")
    if value is None or not ext.check(value):
        raise MalformedField(f"extension '{ext.name}' has an invalid value")
    return ext.name, value


# -- whole files ---------------------------------------------------------------------------
SYNTAX_FIELDS = ("model", "model_fingerprint", "negative_prompt", "seed", "steps", "guidance", "width", "height", "scheduler")
# Everything a file carries, compared field by field by encode()'s self-check.
CHECKED_FIELDS = ("prompt", *SYNTAX_FIELDS, "platform", "fidelity", "payloads")


def writes_syntax(s: Syntax) -> bool:
    """Whether the file of `s` (defaults elided) has a SYNTAX segment (spec §3.4 item 4).

    It is left out only for a pixels file whose SYNTAX would say nothing at all: a
    field that is set (steps, a negative prompt, a size...) is always written.
    """
    has_critical_pixels = any(p.kind == "pixels" and p.critical for p in s.payloads)
    has_residual = any(p.kind == "residual" for p in s.payloads)  # a residual needs a SYNTAX (§3.4)
    says_nothing = not s.prompt and not s.extensions and all(getattr(s, k) is None for k in SYNTAX_FIELDS)
    return not (has_critical_pixels and says_nothing and not has_residual)


def segments_of(s: Syntax) -> list[Segment]:
    """The canonical segment list of spec §3.4, for a syntax whose defaults are elided."""
    segs: list[Segment] = []
    if writes_syntax(s):
        segs.append(Segment(SYNTAX, encode_body(s)))
    ext_segs = [encode_extension(k, v) for k, v in s.extensions.items()]
    segs += sorted(ext_segs, key=lambda g: read_leb128(g.body, 0)[0])
    if s.platform is not None:
        segs.append(Segment(ANCILLARY | PLATFORM, encode_platform(s.platform)))
    if s.fidelity is not None:
        segs.append(Segment(ANCILLARY | FIDELITY, bytes([s.fidelity.method]) + s.fidelity.digest))
    segs += s.unknown_segments
    for p in s.payloads:
        kind = PIXELS if p.kind == "pixels" else RESIDUAL
        t = kind if p.critical else ANCILLARY | kind
        segs.append(Segment(t, leb128(p.codec_id) + p.data))
    return segs


def _extension_form(value):
    """An extension value, comparable as its meaning: map order does not matter, a tuple
    equals a list, but 1, 1.0 and True differ (msgpack keeps them apart)."""
    if isinstance(value, RawExtension):
        return ("raw", value.code, value.critical, value.safe_to_copy, bytes(value.payload))
    if isinstance(value, dict):
        return ("map", sorted(((k, _extension_form(v)) for k, v in value.items()), key=repr))
    if isinstance(value, (list, tuple)):
        return ("array", [_extension_form(v) for v in value])
    return (type(value).__name__, value)


def round_trip_mismatch(given: Syntax, got: Syntax) -> str | None:
    """The first field `got` (decoded) does not carry as `given` (elided) had it, or None."""
    for name in CHECKED_FIELDS:
        a, b = getattr(given, name), getattr(got, name)
        same_type = type(a) is type(b) or isinstance(a, (bytes, bytearray)) and isinstance(b, bytes)
        if a != b or not same_type:  # True == 1, but a bool steps is not what reads back
            return f"{name}: {a!r} reads back as {b!r}"
    if set(given.extensions) != set(got.extensions):
        return f"extensions: {sorted(given.extensions)} read back as {sorted(got.extensions)}"
    for k, v in given.extensions.items():
        if _extension_form(v) != _extension_form(got.extensions[k]):
            return f"extension '{k}': {v!r} reads back as {got.extensions[k]!r}"
    kept = [(g.type, bytes(g.body)) for g in given.unknown_segments]
    if kept != [(g.type, bytes(g.body)) for g in got.unknown_segments]:
        return "unknown segments are not kept as given (only ancillary, safe-to-copy ones can be)"
    if got.has_syntax != writes_syntax(given):
        return "the SYNTAX segment is not where it should be"
    return None


def encode(s: Syntax) -> bytes:
    """The complete .aigif file for a syntax (defaults elided, cheapest text codecs).

    The result is decoded once before it is returned and compared with what was given,
    field by field: AIGIF never hands out a file that it would refuse to read, or that
    reads back as anything but the syntax it was given (a syntax built by hand can hold
    values the format cannot).
    """
    from .errors import InvalidSyntax

    given = s.elide_defaults()
    try:
        data = container.pack(segments_of(given))
    except (ValueError, TypeError, OverflowError, AttributeError, UnicodeEncodeError) as e:
        # a hand-built Syntax can hold values of the wrong type (a float guidance, a str seed)
        raise InvalidSyntax(f"this syntax cannot be written: {e}") from None
    except msgpack.PackException as e:
        raise InvalidSyntax(f"an extension value cannot be written: {e}") from None
    try:
        got = decode(data)
    except LimitExceeded:
        raise
    except AigifError as e:
        raise InvalidSyntax(f"this syntax would make an unreadable file ({e})") from None
    problem = round_trip_mismatch(given, got)
    if problem:
        raise InvalidSyntax(f"this syntax does not survive writing (internal consistency check): {problem}", field=problem.split(":")[0])
    return data


def decode(data: bytes) -> Syntax:
    _, segments = container.unpack(data)
    return syntax_from_segments(segments)


def syntax_from_segments(segments: list[Segment]) -> Syntax:
    s = None
    seen: set[int] = set()
    extensions: dict = {}
    platform = fidelity = None
    payloads: list[Payload] = []
    in_payloads = False
    unknown: list[Segment] = []
    for i, seg in enumerate(segments):
        kind = seg.kind
        if kind == SYNTAX:
            if i != 0 or not seg.critical or seg.safe_to_copy:
                raise MalformedSegment("SYNTAX must be the first segment, critical and unsafe-to-copy")
            s = decode_body(seg.body)
        elif kind in (PLATFORM, FIDELITY):
            if kind in seen:
                raise MalformedSegment(f"more than one {seg.name} segment")
            if seg.type != ANCILLARY | kind or in_payloads:
                raise MalformedSegment(f"{seg.name} must have type 0x{ANCILLARY | kind:02x} and come before payloads")
            if kind == PLATFORM:
                platform = decode_platform(seg.body)
            else:
                if len(seg.body) < 2 or len(seg.body) > 33:
                    raise MalformedField("FIDELITY digest must be 1 to 32 bytes")
                fidelity = Fidelity(seg.body[0], bytes(seg.body[1:]))
        elif kind == EXTENSION:
            if in_payloads:
                raise MalformedSegment("EXTENSION segments must come before payloads")
            name, value = decode_extension(seg)
            if name in extensions:
                raise MalformedSegment(f"extension '{name}' appears twice")
            extensions[name] = value
        elif kind in PAYLOAD_KINDS:
            in_payloads = True
            if seg.safe_to_copy:
                raise MalformedSegment(f"{seg.name} segments are never safe to copy")
            if kind == RESIDUAL and not seg.critical:
                raise MalformedSegment("RESIDUAL must be critical")
            try:
                codec_id, pos = read_leb128(seg.body, 0, max_bytes=3, what="codec ID")
            except (Truncated, MalformedSegment) as e:
                raise MalformedField(f"{seg.name} segment: {e.args[0]}") from None
            # the one copy of a payload the decoder makes (the container hands out views)
            payloads.append(Payload(PAYLOAD_KINDS[kind], codec_id, bytes(seg.body[pos:]), seg.critical))
        else:
            if seg.critical:
                raise UnknownCritical(f"unknown critical segment kind {kind} (type 0x{seg.type:02x})", segment=kind)
            if seg.safe_to_copy:  # unknown ancillary: skipped, and kept for rewriting if safe (§3.5)
                unknown.append(Segment(seg.type, bytes(seg.body)))
            continue
        seen.add(kind)
    critical_pixels = [p for p in payloads if p.kind == "pixels" and p.critical]
    if len(critical_pixels) > 1 or sum(p.kind == "residual" for p in payloads) > 1:
        raise MalformedSegment("at most one critical PIXELS and one RESIDUAL segment")
    if s is None:
        if not critical_pixels:
            raise MalformedSegment("a file needs a SYNTAX segment or a critical PIXELS segment")
        if any(p.kind == "residual" for p in payloads):
            raise MalformedSegment("a RESIDUAL segment needs a SYNTAX segment")
        s = Syntax(has_syntax=False)
    s.extensions = extensions
    s.platform = platform
    s.fidelity = fidelity
    s.payloads = payloads
    s.unknown_segments = unknown
    return s


@dataclass
class SegmentCost:
    name: str
    type: int
    critical: bool
    framed_bytes: int
    body_bytes: int


def inspect(data: bytes) -> tuple[list[SegmentCost], int]:
    """Per-segment byte costs, and the bytes of signature + version + END + CRC."""
    _, segments = container.unpack(data)
    costs = []
    for seg in segments:
        name = seg.name
        if seg.kind == EXTENSION:
            code = read_leb128(seg.body, 0)[0]
            name = f"EXTENSION {BY_CODE[code].name if code in BY_CODE else code}"
        costs.append(SegmentCost(name, seg.type, seg.critical, seg.framed_size(), len(seg.body)))
    overhead = len(data) - sum(c.framed_bytes for c in costs)
    return costs, overhead


# -- files ---------------------------------------------------------------------------------
def read(path) -> Syntax:
    return decode(read_bytes(path))


def write(s: Syntax, path) -> bytes:
    data = encode(s)
    write_atomic(path, data)
    return data
