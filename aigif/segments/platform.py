"""The PLATFORM segment body (spec §7.5): what ran the model.

    device u8, dtype u8, attention u8, flags u8 (bit 0 deterministic, bit 1 threads present)
    [threads LEB128, at most 3 bytes]
    torch, diffusers, transformers, gpu: LEB128 length (at most 255) + UTF-8 each
"""

from __future__ import annotations

from ..bits import leb128, read_leb128
from ..container import PLATFORM, max_body_length
from ..errors import MalformedField, MalformedSegment, Truncated
from ..syntax import ATTENTIONS, DEVICES, DTYPES, Platform
from ..text.frames import from_utf8, utf8


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
    if len(body) > max_body_length(PLATFORM):  # E_FIELD like any extra bytes; checked before copying
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
