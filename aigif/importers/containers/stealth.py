"""Metadata hidden in the least-significant bits of the pixels.

A1111 stealth-pnginfo and NovelAI share one layout: the bits are read column by column
(x outer, y inner), from the alpha channel or from R, G, B in turn; a 15-byte magic
(`stealth_pnginfo`/`stealth_pngcomp` for alpha, `stealth_rgbinfo`/`stealth_rgbcomp` for
RGB), a 32-bit big-endian payload length in bits, then the payload (gzip in the `comp`
variants).  NovelAI's payload is the JSON of its PNG text chunks.
"""

from __future__ import annotations

import io
import json
import warnings

from aigif import limits
from aigif.errors import LimitExceeded
from aigif.imagemodes import has_alpha

from .fields import Field
from .text import gunzip, max_field

MAGICS = {
    b"stealth_pnginfo": ("alpha", False),
    b"stealth_pngcomp": ("alpha", True),
    b"stealth_rgbinfo": ("rgb", False),
    b"stealth_rgbcomp": ("rgb", True),
}
_LSB_CHARS = bytes((0x30 | (b & 1)) for b in range(256))  # byte -> b"0"/b"1"


def read(src, warn: list[str]) -> list[Field]:
    """src: the image file (a path or an open binary file), or its bytes."""
    try:
        from PIL import Image
    except ImportError:  # Pillow is a core dependency; be explicit anyway
        warn.append("Pillow is missing: hidden LSB metadata not checked")
        return []
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            im = Image.open(io.BytesIO(src) if isinstance(src, (bytes, bytearray)) else src)
            with im:
                if im.width * im.height > limits.MAX_STEALTH_PIXELS:  # checked on the header, before decoding
                    warn.append("image too large to scan for hidden LSB metadata")
                    return []
                im.load()
                return _scan(im, warn)
    except LimitExceeded:
        raise
    except Exception as e:  # Pillow raises many types on corrupt data; none may escape
        warn.append(f"pixels unreadable, hidden LSB metadata not checked ({type(e).__name__})")
        return []


def _scan(im, warn: list[str]) -> list[Field]:
    """Memory: the decoded image (at most MAX_STEALTH_PIXELS) and the few columns the bits lie in;
    no converted, transposed or byte copy of the whole image.  The 152 header bits are
    read first, and the payload's columns only when the magic matches."""
    planes = []
    if has_alpha(im):
        planes.append("alpha")
    planes.append("rgb")
    for plane in planes:
        found = _decode(lambda n, plane=plane: _plane_values(im, plane, n), plane, warn)
        if found is not None:
            return found
    return []


def _plane_values(im, plane: str, n: int) -> bytes:
    """The first n values of the plane in the stealth order (x outer, y inner; R, G, B
    interleaved for "rgb"), from a crop of just the columns they lie in."""
    from PIL import Image

    per_pixel = 1 if plane == "alpha" else 3
    columns = min(im.width, -(-n // (per_pixel * im.height)))
    part = im.crop((0, 0, columns, im.height))
    if plane == "alpha":
        part = part.convert("RGBA").getchannel("A")
    else:
        part = part.convert("RGB")
    return part.transpose(Image.Transpose.TRANSPOSE).tobytes()[:n]


def _bits_to_bytes(bits: bytes) -> bytes:
    n = len(bits) // 8
    return int(bits[: n * 8], 2).to_bytes(n, "big") if n else b""


def _decode(values, plane: str, warn: list[str]) -> list[Field] | None:
    """values(n) -> the first n plane values (fewer if the image holds fewer)."""
    head = values(152).translate(_LSB_CHARS)
    if len(head) < 152:
        return None
    magic = _bits_to_bytes(head[:120])
    kind = MAGICS.get(magic)
    if kind is None or kind[0] != plane:
        return None
    compressed = kind[1]
    nbits = int(head[120:152], 2)
    if nbits > 8 * (max_field() + 64):
        raise LimitExceeded(f"hidden LSB payload of {nbits} bits", limit="MAX_TEXT_BYTES")
    body = values(152 + nbits)
    if len(body) < 152 + nbits:
        warn.append("hidden LSB payload is longer than the image; ignored")
        return None
    payload = _bits_to_bytes(body[152:].translate(_LSB_CHARS))
    where = f"stealth:{plane}"
    try:
        raw = gunzip(payload, magic.decode()) if compressed else payload
        text = raw.decode("utf-8")
    except (ValueError, UnicodeDecodeError) as e:
        warn.append(f"hidden LSB payload '{magic.decode()}' is corrupt ({e})")
        return None
    size = len(payload)
    try:
        obj = json.loads(text)
    except (ValueError, RecursionError):
        obj = None
    if isinstance(obj, dict) and ("Comment" in obj or "Software" in obj):
        # NovelAI: the JSON of its text chunks; split it back into fields
        fields = []
        for k, v in obj.items():
            if isinstance(v, str):
                fields.append(Field(where, str(k), v, 0))
        if fields:
            fields[0].size = size
        return fields
    return [Field(where, "parameters", text, size)]
