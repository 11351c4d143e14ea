"""Write an A1111 `parameters` chunk into a copy of a PNG: tEXt when the text is Latin-1,
else uncompressed iTXt (what A1111 does), placed right after IHDR; any earlier
`parameters` chunk is dropped.  Written atomically."""

from __future__ import annotations

import struct
import zlib
from pathlib import Path

from aigif.errors import FormatError, UnsupportedFeature

from .a1111 import to_a1111

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
_TEXT_TYPES = (b"tEXt", b"zTXt", b"iTXt")


def _chunk(ctype: bytes, body: bytes) -> bytes:
    return struct.pack(">I", len(body)) + ctype + body + struct.pack(">I", zlib.crc32(ctype + body) & 0xFFFFFFFF)


def parameters_chunk(text: str, key: str = "parameters") -> bytes:
    try:
        return _chunk(b"tEXt", key.encode("latin-1") + b"\0" + text.encode("latin-1"))
    except UnicodeEncodeError:
        return _chunk(b"iTXt", key.encode("latin-1") + b"\0\0\0\0\0" + text.encode("utf-8"))


def embed_text(png: bytes, text: str, key: str = "parameters") -> bytes:
    if not png.startswith(PNG_SIGNATURE):
        raise UnsupportedFeature("--embed writes PNG files only")
    out = [PNG_SIGNATURE]
    pos, inserted = len(PNG_SIGNATURE), False
    while pos + 12 <= len(png):
        length, ctype = struct.unpack(">I4s", png[pos : pos + 8])
        end = pos + 12 + length
        if end > len(png):
            raise FormatError("the PNG to embed into is truncated", where="export")
        chunk = png[pos:end]
        pos = end
        if ctype in _TEXT_TYPES and png[pos - 4 - length + 0 : pos - 4 - length + len(key) + 1] == key.encode("latin-1") + b"\0":
            continue
        out.append(chunk)
        if ctype == b"IHDR" and not inserted:
            out.append(parameters_chunk(text, key))
            inserted = True
        if ctype == b"IEND":
            break
    if not inserted:
        raise FormatError("the PNG to embed into has no IHDR chunk", where="export")
    return b"".join(out)


from aigif import limits  # noqa: E402


def embed_a1111(syntax, image_path, out_path) -> bytes:
    from aigif.codec import write_atomic

    from aigif.codec import read_bytes

    png = read_bytes(image_path, limits.MAX_FILE_BYTES, "image")
    data = embed_text(png, to_a1111(syntax))
    write_atomic(out_path, data)
    return data
