"""Container readers: pull every text field that may hold generation metadata out of an
image file, without interpreting it.  The tool parsers (one module per tool, one level up)
decide what the fields mean.

Each reader returns plain `Field`s so that a tool parser never needs to know whether its
JSON came from a PNG iTXt chunk, an EXIF UserComment or the alpha channel's low bits.
"""

from __future__ import annotations

from aigif import pngchunks
from aigif.errors import FormatError

from . import jpeg, png, webp
from .fields import Container, Field, FileBytes

__all__ = ["Container", "Field", "FileBytes", "read_container"]


def read_container(data) -> Container:
    """Identify the container by its magic bytes and read its text fields.  `data`: bytes
    or a FileBytes view."""
    if data[:8] == pngchunks.SIGNATURE:
        return png.read(data)
    if data[:2] == b"\xff\xd8":
        return jpeg.read(data)
    if data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return webp.read(data)
    raise FormatError("not a PNG, JPEG or WebP image", where="import")
