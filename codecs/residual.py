"""Residual layer: original = regenerated + residual.

The residual image holds d = (original - regenerated + 128) mod 256 per channel.  The
+128 puts "no difference" at mid-grey, which is what a lossy codec needs (a plain
mod-256 difference wraps -1 to 255, and a lossy codec would blur across that jump).

Payload: one byte, then a standard image file coded by a fallback codec:
  0 = exact:   decoder computes (regenerated + d - 128) mod 256  - bit-exact original
  1 = clipped: decoder computes clip(regenerated + d - 128, 0, 255) - lossy residuals
The returned codec ID is the inner codec's (1 png, 2 webp, ...).
"""

from __future__ import annotations

import numpy as np
from PIL import Image

from aigif.errors import CodecError, InvalidSyntax
from aigif.imagemodes import ALPHA_MODES, has_alpha

from .table import decode as decode_image
from .table import encode_with, lookup

EXACT, CLIPPED = 0, 1


def _mode_for(image: Image.Image) -> str:
    return "RGBA" if has_alpha(image) else "RGB"


def encode(original: Image.Image, regenerated: Image.Image, spec: str = "png") -> tuple[int, bytes]:
    if original.size != regenerated.size:
        raise InvalidSyntax(f"residual: original is {original.size}, regeneration is {regenerated.size}")
    info, rate = lookup(spec)
    mode = _mode_for(original)
    o = np.asarray(original.convert(mode), dtype=np.int16)
    r = np.asarray(regenerated.convert(mode), dtype=np.int16)
    d = ((o - r + 128) % 256).astype(np.uint8)
    lossless = info.lossless or rate == "lossless"
    codec_id, data = encode_with(info, rate, Image.fromarray(d, mode))
    return codec_id, bytes([EXACT if lossless else CLIPPED]) + data


def decode(codec_id: int, data: bytes, regenerated: Image.Image, *, max_pixels: int) -> Image.Image:
    if len(data) < 2:
        raise CodecError("residual payload is empty")
    kind = data[0]
    if kind not in (EXACT, CLIPPED):
        raise CodecError(f"residual payload kind {kind} is not 0 (exact) or 1 (clipped)")
    res = decode_image(codec_id, data[1:], max_pixels=max_pixels)
    if res.size != regenerated.size:
        raise CodecError(f"residual is {res.size}, regeneration is {regenerated.size}")
    mode = "RGBA" if res.mode in ALPHA_MODES else "RGB"
    d = np.asarray(res.convert(mode), dtype=np.int16)
    r = np.asarray(regenerated.convert(mode), dtype=np.int16)
    out = r + d - 128
    out = out % 256 if kind == EXACT else np.clip(out, 0, 255)
    return Image.fromarray(out.astype(np.uint8), mode)
