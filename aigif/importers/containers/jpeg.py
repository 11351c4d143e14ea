"""JPEG marker walker: APP1 EXIF and XMP, COM, APP11 (C2PA/JUMBF), frame size.
Stops at the first scan: metadata segments precede the entropy-coded data."""

from __future__ import annotations

import struct

from . import exif, xmp
from .fields import Container, Field
from .text import latin1_or_utf8

_XMP_ID = b"http://ns.adobe.com/xap/1.0/\0"
_SOF = {0xC0, 0xC1, 0xC2, 0xC3, 0xC5, 0xC6, 0xC7, 0xC9, 0xCA, 0xCB, 0xCD, 0xCE, 0xCF}


def read(data: bytes) -> Container:
    c = Container("JPEG")
    pos = 2
    while pos + 4 <= len(data):
        if data[pos] != 0xFF:
            c.warnings.append(f"JPEG: no marker at byte {pos}; stopped reading")
            break
        marker = data[pos + 1]
        if marker == 0xFF:  # fill byte
            pos += 1
            continue
        if marker in (0xD8, 0x01) or 0xD0 <= marker <= 0xD7:
            pos += 2
            continue
        if marker in (0xDA, 0xD9):
            break
        length = struct.unpack(">H", data[pos + 2 : pos + 4])[0]
        if length < 2 or pos + 2 + length > len(data):
            c.warnings.append(f"JPEG truncated inside segment 0x{marker:02X} at byte {pos}")
            break
        body = data[pos + 4 : pos + 2 + length]
        pos += 2 + length
        if marker == 0xE1 and body.startswith(b"Exif\0"):
            exif.read_into(c, body[6:], "jpeg:exif")
        elif marker == 0xE1 and body.startswith(_XMP_ID):
            xmp.read_into(c, body[len(_XMP_ID) :], "jpeg:xmp")
        elif marker == 0xFE:
            text, _ = latin1_or_utf8(body.rstrip(b"\0"))
            if text.strip():
                c.fields.append(Field("jpeg:COM", "Comment", text, len(body)))
        elif marker == 0xEB and (b"jumb" in body[:64] or b"c2pa" in body[:128]):
            c.c2pa = True
        elif marker in _SOF and len(body) >= 5:
            c.height, c.width = struct.unpack(">HH", body[1:5])
    return c
