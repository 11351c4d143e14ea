"""PNG chunk walker: tEXt, zTXt, iTXt and eXIf anywhere in the file (also after IDAT,
where Pillow only looks once the pixels are loaded), plus caBX (C2PA) detection.

The walk trusts no length field: a chunk longer than the rest of the file ends the walk
with a warning, so a truncated download still yields the text chunks before the cut.
CRCs are not checked: a text chunk with a bad CRC is still the best evidence we have,
and the result reports it.
"""

from __future__ import annotations

import struct

from aigif import limits, pngchunks
from aigif.errors import FormatError, LimitExceeded

from . import exif, xmp
from .fields import Container, Field
from .text import inflate, latin1_or_utf8, max_field

def read(data: bytes) -> Container:
    c = Container("PNG")
    text_total = 0
    exif_blobs: list[bytes] = []
    last = None
    for chunk in pngchunks.chunks(data):
        last = chunk
        ctype, length = chunk.type, chunk.length
        if not chunk.complete:
            c.warnings.append(f"PNG truncated inside a {ctype!r} chunk at byte {chunk.start}")
            break
        # Only the bodies that are kept are read (pixel data is never copied), and only
        # after their length is checked against the limits.
        if ctype == b"IHDR" and length >= 8:
            c.width, c.height = struct.unpack(">II", data[chunk.body_start : chunk.body_start + 8])
        elif ctype in (b"tEXt", b"zTXt", b"iTXt"):
            if length > max_field():  # stored text this large is not generation metadata
                c.warnings.append(f"PNG {ctype.decode()} chunk of {length} bytes skipped (over MAX_TEXT_BYTES)")
                continue
            body = data[chunk.body_start : chunk.body_end]
            crc_ok = pngchunks.crc_ok(data, chunk)
            try:
                key, value, repaired = _text_chunk(ctype, body)
            except ValueError as e:
                c.warnings.append(f"unreadable PNG {ctype.decode()} chunk: {e}")
                continue
            text_total += len(value)
            if text_total > limits.MAX_IMPORT_TEXT_TOTAL:
                raise LimitExceeded("PNG text chunks exceed MAX_IMPORT_TEXT_TOTAL", limit="MAX_IMPORT_TEXT_TOTAL")
            if repaired:
                c.warnings.append(f"PNG {ctype.decode()} '{key}' held UTF-8 in a Latin-1 chunk (mojibake repaired)")
            if not crc_ok:
                c.warnings.append(f"PNG {ctype.decode()} '{key}' has a bad CRC; its text was used anyway")
            if key == "XML:com.adobe.xmp":  # XMP packet (Draw Things and photo tools)
                xmp.read_into(c, value.encode("utf-8"), "png:xmp")
                continue
            c.fields.append(Field(f"png:{ctype.decode()}", key, value, length))
        elif ctype == b"eXIf":
            if length > max_field() + 8:
                c.warnings.append(f"PNG eXIf chunk of {length} bytes skipped (over MAX_TEXT_BYTES)")
                continue
            exif_blobs.append(data[chunk.body_start : chunk.body_end])
        elif ctype in (b"caBX", b"caBx"):
            c.c2pa = True
    if last is None or last.complete and last.type != b"IEND":
        pos = last.end if last is not None else len(pngchunks.SIGNATURE)
        c.warnings.append("PNG truncated: no IEND chunk" if pos >= len(data) else "PNG truncated inside a chunk header")
    if c.width is None:
        raise FormatError("PNG without an IHDR chunk", where="import")
    if exif_blobs:
        for blob in exif_blobs:
            exif.read_into(c, blob, "png:eXIf")
    return c


def _text_chunk(ctype: bytes, body: bytes) -> tuple[str, str, bool]:
    nul = body.find(b"\0")
    if nul < 1 or nul > 79:
        raise ValueError("keyword missing or longer than 79 bytes")
    key = body[:nul].decode("latin-1")
    rest = body[nul + 1 :]
    if ctype == b"tEXt":
        value, repaired = latin1_or_utf8(rest)
        return key, value, repaired
    if ctype == b"zTXt":
        if not rest or rest[0] != 0:
            raise ValueError("unknown compression method")
        value, repaired = latin1_or_utf8(inflate(rest[1:], f"zTXt '{key}'"))
        return key, value, repaired
    # iTXt: flag, method, language\0, translated keyword\0, UTF-8 text
    if len(rest) < 2:
        raise ValueError("iTXt header truncated")
    flag, method = rest[0], rest[1]
    lang_end = rest.find(b"\0", 2)
    tkey_end = rest.find(b"\0", lang_end + 1) if lang_end >= 0 else -1
    if tkey_end < 0:
        raise ValueError("iTXt header truncated")
    raw = rest[tkey_end + 1 :]
    if flag:
        if method != 0:
            raise ValueError("unknown compression method")
        raw = inflate(raw, f"iTXt '{key}'")
    try:
        return key, raw.decode("utf-8"), False
    except UnicodeDecodeError:
        return key, raw.decode("utf-8", "replace"), False
