"""The container (spec §3): signature, version byte, segment framing, END, CRC.

    file    = SIGNATURE(2) VERSION(1) segment* END(1) CRC(2 or 4)
    segment = TYPE(1) LENGTH(LEB128) BODY(LENGTH)

This module knows where segments may stand (SEGMENT_RULES, §3.4) but nothing about what
their bodies mean; `segments/` does, and `format.py` puts the two together.
"""

from __future__ import annotations

import binascii
import zlib
from dataclasses import dataclass, field

from . import limits
from .bits import leb128, read_leb128
from .errors import (
    IntegrityError,
    LimitExceeded,
    MalformedSegment,
    NotAigif,
    TrailingData,
    Truncated,
    UnknownCritical,
    UnsupportedVersion,
)

SIGNATURE = b"\xa1G"  # §3.1
FORMAT_MAJOR = 1
FORMAT_MINOR = 0
VERSION_CRC32_FLAG = 0x01  # §3.2: bit 0 of the version byte selects CRC-32 over CRC-16

# §3.3 segment type byte: bit 7 ancillary, bit 6 safe-to-copy, bits 5..0 kind
ANCILLARY = 0x80
SAFE_TO_COPY = 0x40
KIND_MASK = 0x3F

END = 0
SYNTAX = 1
PLATFORM = 2
FIDELITY = 3
EXTENSION = 4
PIXELS = 5
RESIDUAL = 6
KIND_NAMES = {
    END: "END",
    SYNTAX: "SYNTAX",
    PLATFORM: "PLATFORM",
    FIDELITY: "FIDELITY",
    EXTENSION: "EXTENSION",
    PIXELS: "PIXELS",
    RESIDUAL: "RESIDUAL",
}

# CRC-32 is used for files over this size (writer policy, not a decoder rule): CRC-16's
# 1/65536 miss rate is fine for tens of bytes, less so for pixel payloads.
CRC32_THRESHOLD = 4096


@dataclass(frozen=True)
class Segment:
    type: int
    body: bytes  # from unpack(): a memoryview into the file (bytes-like), copied only by what keeps it

    @property
    def kind(self) -> int:
        return self.type & KIND_MASK

    @property
    def critical(self) -> bool:
        return not self.type & ANCILLARY

    @property
    def safe_to_copy(self) -> bool:
        return bool(self.type & SAFE_TO_COPY)

    @property
    def name(self) -> str:
        return KIND_NAMES.get(self.kind, f"kind {self.kind}")

    def framed_size(self) -> int:
        return 1 + len(leb128(len(self.body))) + len(self.body)


# -- where segments may stand (§3.4), libpng style: one row per kind -----------------------
FIRST, BEFORE_PAYLOADS, PAYLOADS = "first", "before payloads", "payloads"


@dataclass(frozen=True)
class SegmentRule:
    name: str
    place: str  # FIRST: segment 0 only; BEFORE_PAYLOADS: before any PIXELS/RESIDUAL; PAYLOADS: starts them
    critical: bool | None  # the property bit the kind must have; None: either (it means something)
    safe_to_copy: bool | None  # the same for the safe-to-copy bit
    repeats: bool  # more than one per file (EXTENSION: one per extension code; PIXELS: ancillary ones)
    max_length: str | int | None  # a `limits` name (adjustable) or a fixed spec bound on the body


SEGMENT_RULES: dict[int, SegmentRule] = {
    SYNTAX: SegmentRule("SYNTAX", FIRST, critical=True, safe_to_copy=False, repeats=False, max_length=None),
    PLATFORM: SegmentRule("PLATFORM", BEFORE_PAYLOADS, critical=False, safe_to_copy=False, repeats=False, max_length="MAX_PLATFORM_BYTES"),
    FIDELITY: SegmentRule("FIDELITY", BEFORE_PAYLOADS, critical=False, safe_to_copy=False, repeats=False, max_length=33),
    EXTENSION: SegmentRule("EXTENSION", BEFORE_PAYLOADS, critical=None, safe_to_copy=None, repeats=True, max_length=None),
    PIXELS: SegmentRule("PIXELS", PAYLOADS, critical=None, safe_to_copy=False, repeats=True, max_length=None),
    RESIDUAL: SegmentRule("RESIDUAL", PAYLOADS, critical=True, safe_to_copy=False, repeats=False, max_length=None),
}


@dataclass
class Placement:
    """Applies SEGMENT_RULES to the segments of one file, in file order (§3.4).

    `check` is called once per segment before its body is decoded; `finish` once after
    the last.  Unknown kinds: critical ones are UnknownCritical, ancillary ones are
    skipped by the caller (kept when safe to copy, §3.5).
    """

    seen: set[int] = field(default_factory=set)
    in_payloads: bool = False
    critical_pixels: int = 0
    residuals: int = 0

    def check(self, index: int, seg: Segment) -> SegmentRule | None:
        rule = SEGMENT_RULES.get(seg.kind)
        if rule is None:
            if seg.critical:
                raise UnknownCritical(f"unknown critical segment kind {seg.kind} (type 0x{seg.type:02x})", segment=seg.kind)
            return None
        if rule.place == FIRST:
            if index != 0 or seg.critical != rule.critical or seg.safe_to_copy != rule.safe_to_copy:
                raise MalformedSegment(f"{rule.name} must be the first segment, critical and unsafe-to-copy")
        elif rule.place == BEFORE_PAYLOADS:
            if not rule.repeats and seg.kind in self.seen:
                raise MalformedSegment(f"more than one {rule.name} segment")
            fixed_type = rule.critical is not None and rule.safe_to_copy is not None
            if fixed_type:
                wanted = (0 if rule.critical else ANCILLARY) | (SAFE_TO_COPY if rule.safe_to_copy else 0) | seg.kind
                if seg.type != wanted or self.in_payloads:
                    raise MalformedSegment(f"{rule.name} must have type 0x{wanted:02x} and come before payloads")
            elif self.in_payloads:
                raise MalformedSegment(f"{rule.name} segments must come before payloads")
        else:
            self.in_payloads = True
            if rule.safe_to_copy is False and seg.safe_to_copy:
                raise MalformedSegment(f"{rule.name} segments are never safe to copy")
            if rule.critical and not seg.critical:
                raise MalformedSegment(f"{rule.name} must be critical")
            self.critical_pixels += seg.kind == PIXELS and seg.critical
            self.residuals += seg.kind == RESIDUAL
        self.seen.add(seg.kind)
        return rule

    def finish(self) -> None:
        """The rules on the file as a whole: what must be there, what only once."""
        if self.critical_pixels > 1 or self.residuals > 1:
            raise MalformedSegment("at most one critical PIXELS and one RESIDUAL segment")
        if SYNTAX not in self.seen:
            if not self.critical_pixels:
                raise MalformedSegment("a file needs a SYNTAX segment or a critical PIXELS segment")
            if self.residuals:
                raise MalformedSegment("a RESIDUAL segment needs a SYNTAX segment")


def max_body_length(kind: int) -> int | None:
    """The bound SEGMENT_RULES puts on a kind's body, read at call time (limits may change)."""
    rule = SEGMENT_RULES.get(kind)
    if rule is None or rule.max_length is None:
        return None
    return getattr(limits, rule.max_length) if isinstance(rule.max_length, str) else rule.max_length


def accept(prefix: bytes) -> bool:
    """Cheap magic test, Pillow style: does this look like an AIGIF file?"""
    return prefix[:2] == SIGNATURE


def crc16(data: bytes) -> int:
    """CRC-16/CCITT-FALSE: poly 0x1021, init 0xFFFF, no reflection, no final xor."""
    return binascii.crc_hqx(data, 0xFFFF)


def pack(segments: list[Segment], minor: int = FORMAT_MINOR) -> bytes:
    """Frame segments into a complete file."""
    out = bytearray(SIGNATURE)
    version_at = len(out)
    out.append(0)
    for seg in segments:
        if seg.kind == END:
            raise ValueError("END is written by pack()")
        out.append(seg.type)
        out += leb128(len(seg.body))
        out += seg.body
    out.append(END)
    use_crc32 = len(out) + 2 > CRC32_THRESHOLD
    out[version_at] = (FORMAT_MAJOR << 4) | (minor << 1) | (VERSION_CRC32_FLAG if use_crc32 else 0)
    if use_crc32:
        out += zlib.crc32(out).to_bytes(4, "big")
    else:
        out += crc16(bytes(out)).to_bytes(2, "big")
    return bytes(out)


def unpack(data: bytes) -> tuple[int, list[Segment]]:
    """Check framing, END, trailing bytes and CRC, in the order of spec §9.3.

    Returns (minor version, segments).  Meaning is checked later, by the caller.
    Segment bodies are memoryviews into `data`: nothing here copies a body, so a file of
    n bytes costs n bytes of memory, not 3n (the caller copies the bodies it keeps).
    """
    if len(data) > limits.MAX_FILE_BYTES:
        raise LimitExceeded(f"file of {len(data)} bytes is over the {limits.MAX_FILE_BYTES}-byte limit")
    if len(data) < 3:
        if SIGNATURE.startswith(bytes(data[:2])):
            raise Truncated("file ends inside the header") if data else Truncated("empty file")
        raise NotAigif("not an AIGIF file (bad signature)")
    if data[:2] != SIGNATURE:
        raise NotAigif("not an AIGIF file (bad signature)")
    version = data[2]
    major, minor = version >> 4, (version >> 1) & 0x07
    if major != FORMAT_MAJOR:
        raise UnsupportedVersion(f"format version {major}.{minor} is not supported (this decoder reads 1.x)")
    crc_len = 4 if version & VERSION_CRC32_FLAG else 2
    view = memoryview(data)

    segments: list[Segment] = []
    pos = 3
    while True:
        if pos >= len(data):
            raise Truncated("file ends before its END marker")
        seg_type = data[pos]
        pos += 1
        if seg_type & KIND_MASK == END:
            if seg_type != END:
                raise MalformedSegment(f"END marker with property bits set (0x{seg_type:02x})")
            break
        length, pos = read_leb128(data, pos, max_bytes=5, what="segment length")
        if length > limits.MAX_SEGMENT_BYTES:
            raise LimitExceeded(f"segment of {length} bytes is over the {limits.MAX_SEGMENT_BYTES}-byte limit")
        if pos + length > len(data):
            raise Truncated(f"file ends inside a {KIND_NAMES.get(seg_type & KIND_MASK, 'segment')} segment")
        segments.append(Segment(seg_type, view[pos : pos + length]))
        pos += length
        if len(segments) > limits.MAX_SEGMENTS:
            raise LimitExceeded(f"more than {limits.MAX_SEGMENTS} segments")

    if len(data) < pos + crc_len:
        raise Truncated("file ends inside its CRC")
    if len(data) > pos + crc_len:
        raise TrailingData(f"{len(data) - pos - crc_len} bytes after the CRC")
    covered = view[:pos]
    stored = int.from_bytes(data[pos : pos + crc_len], "big")
    actual = zlib.crc32(covered) if crc_len == 4 else crc16(covered)
    if stored != actual:
        raise IntegrityError(f"CRC mismatch (stored {stored:0{2 * crc_len}x}, computed {actual:0{2 * crc_len}x})")
    return minor, segments
