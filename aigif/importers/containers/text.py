"""Byte -> str decoding shared by the container readers, with the guards and repairs
real files need."""

from __future__ import annotations

import zlib

from aigif import limits
from aigif.errors import LimitExceeded

def max_field() -> int:
    return limits.MAX_METADATA_BYTES


def inflate(data: bytes, what: str) -> bytes:
    """zlib-decompress at most MAX_TEXT_BYTES; a larger result is a decompression bomb."""
    cap = max_field()
    d = zlib.decompressobj()
    try:
        out = d.decompress(data, cap)
    except zlib.error as e:
        raise ValueError(f"{what}: corrupt zlib stream ({e})") from None
    if d.unconsumed_tail:
        raise LimitExceeded(f"{what}: decompresses to more than {cap} bytes", limit="MAX_TEXT_BYTES")
    return out


def gunzip(data: bytes, what: str) -> bytes:
    cap = max_field()
    d = zlib.decompressobj(16 + zlib.MAX_WBITS)
    try:
        out = d.decompress(data, cap)
    except zlib.error as e:
        raise ValueError(f"{what}: corrupt gzip stream ({e})") from None
    if d.unconsumed_tail:
        raise LimitExceeded(f"{what}: decompresses to more than {cap} bytes", limit="MAX_TEXT_BYTES")
    return out


def latin1_or_utf8(raw: bytes) -> tuple[str, bool]:
    """Decode a field that the format says is Latin-1 (PNG tEXt/zTXt, EXIF ASCII).

    Stability Matrix, Tensor.Art and NovelAI's WebP write UTF-8 bytes there; read as
    Latin-1 they turn into mojibake ("ãã¹ã").  Non-ASCII bytes that form valid UTF-8 are
    almost never genuine Latin-1 text, so they are decoded as UTF-8.  Returns (text,
    repaired).
    """
    if raw.isascii():
        return raw.decode("ascii"), False
    try:
        return raw.decode("utf-8"), True
    except UnicodeDecodeError:
        return raw.decode("latin-1"), False


def repair_mojibake(text: str) -> str:
    """Undo UTF-8-read-as-Latin-1 in an already decoded string (same rule as above)."""
    if text.isascii():
        return text
    try:
        return text.encode("latin-1").decode("utf-8")
    except (UnicodeEncodeError, UnicodeDecodeError):
        return text
