"""WebP (RIFF) chunk walker: EXIF, XMP and the canvas size from VP8X/VP8/VP8L."""

from __future__ import annotations

import struct

from aigif import limits

from . import exif, xmp
from .fields import Container
from .text import max_field

def read(data: bytes) -> Container:
    c = Container("WEBP")
    end = min(len(data), 8 + struct.unpack("<I", data[4:8])[0])
    if end < len(data) - 1:
        c.warnings.append("WebP: bytes after the RIFF chunk were ignored")
    pos = 12
    n = 0
    while pos + 8 <= end:
        n += 1
        if n > limits.MAX_WEBP_CHUNKS:
            c.warnings.append("WebP: too many chunks; stopped reading")
            break
        fourcc, length = struct.unpack("<4sI", data[pos : pos + 8])
        # read only what is kept: the metadata chunks (bounded) and the size headers
        if fourcc in (b"EXIF", b"XMP ") and length > max_field() + 8:
            c.warnings.append(f"WebP {fourcc.decode().strip()} chunk of {length} bytes skipped (over MAX_TEXT_BYTES)")
            body = b""
        elif fourcc in (b"EXIF", b"XMP "):
            body = data[pos + 8 : pos + 8 + length]
        else:
            body = data[pos + 8 : pos + 8 + min(length, 16)]
        if pos + 8 + length > end:
            c.warnings.append(f"WebP truncated inside chunk {fourcc!r}")
            if fourcc not in (b"EXIF", b"XMP "):
                break
        pos += 8 + length + (length & 1)
        if fourcc == b"EXIF" and body:
            exif.read_into(c, body, "webp:exif")
        elif fourcc == b"XMP " and body:
            xmp.read_into(c, body, "webp:xmp")
        elif fourcc == b"VP8X" and len(body) >= 10:
            c.width = 1 + int.from_bytes(body[4:7], "little")
            c.height = 1 + int.from_bytes(body[7:10], "little")
        elif fourcc == b"VP8L" and c.width is None and len(body) >= 5:
            bits = int.from_bytes(body[1:5], "little")
            c.width, c.height = (bits & 0x3FFF) + 1, ((bits >> 14) & 0x3FFF) + 1
        elif fourcc == b"VP8 " and c.width is None and len(body) >= 10:
            c.width = struct.unpack("<H", body[6:8])[0] & 0x3FFF
            c.height = struct.unpack("<H", body[8:10])[0] & 0x3FFF
    return c
