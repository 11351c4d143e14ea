"""Residual layer: original = regenerated + residual.

The residual image holds a level-shifted difference d per channel, "no difference" at
mid-grey (128), which is what a lossy codec needs: small differences stay away from the
ends of the 0-255 range.

Payload: one byte, then a standard image file coded by a fallback codec:
  0 = exact:   d = (original - regenerated + 128) mod 256, decoded as
               (regenerated + d - 128) mod 256: the bit-exact original (lossless codecs)
  1 = clipped: d = clip(original - regenerated + 128, 0, 255), decoded as
               clip(regenerated + d - 128, 0, 255): lossy codecs
The returned codec ID is the inner codec's (1 png, 2 webp, ...).

Why kind 1 clips instead of wrapping: a lossy codec cannot keep the jump between 255 and
0 that a wrapped difference puts at the edge of a large change (a red square pasted on a
dark regeneration), and the decoder's clip then turns every wrapped sample into the far
end of the range: the image came back worse than no residual.  A clipped difference
only ever moves a sample towards the original (by at most 127 levels where the change
was larger).  Files written with the wrapped form still decode by the same rule.

A lossy residual can still lose where the difference is tiny and the codec's own error
is larger (noise of +-1 under webp:10): the encoder decodes its payload and refuses one
that leaves the image further from the original than the plain regeneration.
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
    if info.name == "omni":
        raise InvalidSyntax("omni codes features for machines, not pixels: it cannot carry a residual")
    mode = _mode_for(original)
    o = np.asarray(original.convert(mode), dtype=np.int16)
    r = np.asarray(regenerated.convert(mode), dtype=np.int16)
    lossless = info.lossless or rate == "lossless"
    if lossless:
        d = ((o - r + 128) % 256).astype(np.uint8)
    else:
        d = np.clip(o - r + 128, 0, 255).astype(np.uint8)
    codec_id, data = encode_with(info, rate, Image.fromarray(d, mode))
    payload = bytes([EXACT if lossless else CLIPPED]) + data
    if not lossless:
        _refuse_if_worse(spec, codec_id, payload, o, r, regenerated, mode)
    return codec_id, payload


def _refuse_if_worse(spec, codec_id, payload, o, r, regenerated, mode) -> None:
    """A lossy residual that leaves the image further from the original (in squared
    error, what PSNR measures) than the regeneration alone is refused, not written."""
    restored = decode(codec_id, payload, regenerated.convert(mode), max_pixels=o.shape[0] * o.shape[1])
    x = np.asarray(restored.convert(mode), dtype=np.int64)
    with_residual = int(((x - o) ** 2).sum())
    without = int(((r.astype(np.int64) - o) ** 2).sum())
    if with_residual > without:
        if without == 0:
            why = "the regeneration already equals the original: no residual is needed"
        else:
            why = (f"{spec} adds more error than it removes (squared error {with_residual} with it, "
                   f"{without} without)")
        raise InvalidSyntax(f"residual {spec} would make the image worse than the plain regeneration: {why}; "
                            "use a lossless residual (coset, png, webp:lossless) or a higher rate")


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


def is_exact(data: bytes) -> bool:
    """Whether a residual payload reproduces the encoder's original bit for bit (kind 0)."""
    return len(data) >= 1 and data[0] == EXACT
