"""The container (spec §3): signature, version byte, segment framing, END, CRC.

    file    = SIGNATURE(2) VERSION(1) segment* END(1) CRC(2 or 4)
    segment = TYPE(1) LENGTH(LEB128) BODY(LENGTH)

This module knows nothing about what segment bodies mean; `codec.py` does.
"""

from __future__ import annotations

import binascii
import zlib
from dataclasses import dataclass

from . import limits
from .bits import leb128, read_leb128
from .errors import (
    IntegrityError,
    LimitExceeded,
    MalformedSegment,
    NotAigif,
    TrailingData,
    Truncated,
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
