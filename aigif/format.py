"""Whole files: Syntax <-> bytes (spec §3-§7), the public encode/decode/read/write.

`encode` lays segments out in the canonical order of spec §3.4; `decode` checks the
container first (framing, END, CRC), then ordering, then each segment's fields.
"""

from __future__ import annotations

from dataclasses import dataclass

import msgpack

from . import container
from .defaults import elide_defaults
from .container import ANCILLARY, EXTENSION, FIDELITY, PLATFORM, SYNTAX, Placement, Segment
from .errors import AigifError, InvalidSyntax, LimitExceeded, MalformedSegment
from .extensions import RawExtension
from .fileio import read_bytes, write_atomic
from .segments.extension import decode_extension, encode_extension, extension_code, extension_name
from .segments.fidelity import decode_fidelity, encode_fidelity
from .segments.payload import decode_payload, encode_payload
from .segments.platform import decode_platform, encode_platform
from .segments.syntax import decode_body, encode_body
from .syntax import SYNTAX_FIELDS, Syntax, has_generation_content


# -- whole files ---------------------------------------------------------------------------
# Everything a file carries, compared field by field by encode()'s self-check.
CHECKED_FIELDS = ("prompt", *SYNTAX_FIELDS, "platform", "fidelity", "payloads")


def writes_syntax(s: Syntax) -> bool:
    """Whether the file of `s` (defaults elided) has a SYNTAX segment (spec §3.4 item 4).

    It is left out only for a pixels file whose SYNTAX would say nothing at all: a
    field that is set (steps, a negative prompt, a size...) is always written.
    """
    has_critical_pixels = s.critical_pixels() is not None
    has_residual = any(p.kind == "residual" for p in s.payloads)  # a residual needs a SYNTAX (§3.4)
    return not (has_critical_pixels and not has_generation_content(s) and not has_residual)


def segments_of(s: Syntax) -> list[Segment]:
    """The canonical segment list of spec §3.4, for a syntax whose defaults are elided."""
    segs: list[Segment] = []
    if writes_syntax(s):
        segs.append(Segment(SYNTAX, encode_body(s)))
    ext_segs = [encode_extension(k, v) for k, v in s.extensions.items()]
    segs += sorted(ext_segs, key=extension_code)
    if s.platform is not None:
        segs.append(Segment(ANCILLARY | PLATFORM, encode_platform(s.platform)))
    if s.fidelity is not None:
        segs.append(Segment(ANCILLARY | FIDELITY, encode_fidelity(s.fidelity)))
    segs += s.unknown_segments
    segs += [encode_payload(p) for p in s.payloads]
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
    given = elide_defaults(s)
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
    """The syntax a file's segments say, with container.SEGMENT_RULES applied (§3.4)."""
    s = None
    extensions: dict = {}
    platform = fidelity = None
    payloads = []
    unknown: list[Segment] = []
    placement = Placement()
    for i, seg in enumerate(segments):
        rule = placement.check(i, seg)
        if rule is None:
            if seg.safe_to_copy:  # unknown ancillary: skipped, and kept for rewriting if safe (§3.5)
                unknown.append(Segment(seg.type, bytes(seg.body)))
            continue
        if seg.kind == SYNTAX:
            s = decode_body(seg.body)
        elif seg.kind == PLATFORM:
            platform = decode_platform(seg.body)
        elif seg.kind == FIDELITY:
            fidelity = decode_fidelity(seg.body)
        elif seg.kind == EXTENSION:
            name, value = decode_extension(seg)
            if name in extensions:
                raise MalformedSegment(f"extension '{name}' appears twice")
            extensions[name] = value
        else:
            payloads.append(decode_payload(seg))
    placement.finish()
    if s is None:
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
            name = f"EXTENSION {extension_name(seg)}"
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
