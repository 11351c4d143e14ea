"""Write an A1111 `parameters` chunk into a copy of a PNG: tEXt when the text is Latin-1,
else uncompressed iTXt (what A1111 does), placed right after IHDR; any earlier
`parameters` chunk is dropped.  Written atomically."""

from __future__ import annotations

from aigif import limits, pngchunks
from aigif.errors import FormatError, UnsupportedFeature
from aigif.fileio import read_bytes, write_atomic

from .a1111 import to_a1111

_TEXT_TYPES = (b"tEXt", b"zTXt", b"iTXt")


def parameters_chunk(text: str, key: str = "parameters") -> bytes:
    try:
        return pngchunks.write_chunk(b"tEXt", key.encode("latin-1") + b"\0" + text.encode("latin-1"))
    except UnicodeEncodeError:
        return pngchunks.write_chunk(b"iTXt", key.encode("latin-1") + b"\0\0\0\0\0" + text.encode("utf-8"))


def embed_text(png: bytes, text: str, key: str = "parameters") -> bytes:
    if not png.startswith(pngchunks.SIGNATURE):
        raise UnsupportedFeature("--embed writes PNG files only")
    out = [pngchunks.SIGNATURE]
    inserted = False
    marker = key.encode("latin-1") + b"\0"
    for chunk in pngchunks.chunks(png):
        if not chunk.complete:
            raise FormatError("the PNG to embed into is truncated", where="export")
        if chunk.type in _TEXT_TYPES and png[chunk.body_start : chunk.body_start + len(marker)] == marker:
            continue
        out.append(png[chunk.start : chunk.end])
        if chunk.type == b"IHDR" and not inserted:
            out.append(parameters_chunk(text, key))
            inserted = True
    if not inserted:
        raise FormatError("the PNG to embed into has no IHDR chunk", where="export")
    return b"".join(out)


def embed_a1111(syntax, image_path, out_path) -> bytes:
    png = read_bytes(image_path, limits.MAX_FILE_BYTES, "image")
    data = embed_text(png, to_a1111(syntax))
    write_atomic(out_path, data)
    return data
