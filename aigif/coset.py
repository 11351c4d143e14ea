"""The coset residual (spec §7.4.1): codec 32, a residual that survives platform drift.

A plain difference `original − regeneration` only works when the decoder regenerates the
encoder's pixels exactly. Another platform moves pixels by a level or two, so instead of
the difference we send, per pixel and channel, the original *modulo* m:

    s = O mod m,   m = 2·(d + e) + 1,   d = max |O − R_enc| in the block,  e = the margin

The decoder takes the one value congruent to s (mod m) within (m−1)/2 of its own
regeneration R_dec. That is O whenever |R_dec − R_enc| ≤ e: the original comes back bit
for bit although the decoder never saw R_enc. With e = 0 the code is exact-only and a block
the regeneration already gets right costs nothing (m = 1).

Symbols are packed in mixed radix per block (exactly ⌈n·log2 m⌉ bits), so no entropy
model and no floating point is involved: decoding is bit-exact on every machine.
"""

from __future__ import annotations

from . import limits
from ._extras import require
from .bits import leb128, read_leb128
from .errors import CodecError, LimitExceeded, MalformedSegment, Truncated, UnknownCodec

CODEC_ID = 32
VERSION = 1
BLOCK = 16
DEFAULT_MARGIN = 2


def _np():
    require("codecs", "numpy")
    import numpy as np

    return np


def _rgb(image):
    np = _np()
    return np.asarray(image.convert("RGB"), dtype=np.int16)


def parse_spec(spec: str | None) -> int:
    """'coset' or 'coset:MARGIN' (margin 0..127) -> margin."""
    if not spec or spec in ("coset", "png", "lossless"):
        return DEFAULT_MARGIN
    name, _, arg = spec.partition(":")
    if name != "coset" or not arg.isdigit() or not 0 <= int(arg) <= 127:
        raise CodecError(f"residual codec must be coset or coset:MARGIN (0-127), not {spec!r}")
    return int(arg)


def encode(original, regenerated, spec: str | None = None) -> tuple[int, bytes]:
    np = _np()
    margin = parse_spec(spec)
    o = _rgb(original)
    r = _rgb(regenerated)
    if o.shape != r.shape:
        raise CodecError(f"original {o.shape[1]}x{o.shape[0]} and regeneration {r.shape[1]}x{r.shape[0]} differ in size")
    h, w, _ = o.shape
    out = bytearray([VERSION, margin])
    out += leb128(w) + leb128(h)
    moduli = bytearray()
    packed = bytearray()
    for by in range(0, h, BLOCK):
        for bx in range(0, w, BLOCK):
            ob = o[by : by + BLOCK, bx : bx + BLOCK]
            rb = r[by : by + BLOCK, bx : bx + BLOCK]
            for c in range(3):
                oc = ob[..., c].ravel()
                d = int(np.abs(oc - rb[..., c].ravel()).max())
                m = min(256, 2 * (d + margin) + 1)
                moduli.append(m - 1)
                packed += _pack((oc % m).tolist(), m)
    out += bytes(moduli) + bytes(packed)
    return CODEC_ID, bytes(out)


def _pack(values: list[int], m: int) -> bytes:
    if m == 1:
        return b""
    n = 0
    for v in reversed(values):
        n = n * m + v
    nbytes = _packed_len(len(values), m)
    return n.to_bytes(nbytes, "little")


def _packed_len(count: int, m: int) -> int:
    return 0 if m == 1 else ((m**count - 1).bit_length() + 7) // 8


def _unpack(data: bytes, count: int, m: int) -> list[int]:
    n = int.from_bytes(data, "little")
    if n >= m**count:
        raise CodecError("residual block holds a value outside its modulus")
    out = []
    for _ in range(count):
        n, v = divmod(n, m)
        out.append(v)
    return out


def apply(codec_id: int, data: bytes, regenerated):
    """Regeneration + residual -> the original image (PIL, RGB)."""
    np = _np()
    from PIL import Image

    if codec_id != CODEC_ID:
        raise UnknownCodec(f"residual codec {codec_id}")
    if len(data) < 4 or data[0] != VERSION:
        raise CodecError("residual payload: bad header")
    margin = data[1]
    try:
        w, pos = read_leb128(data, 2, max_bytes=3, what="width")
        h, pos = read_leb128(data, pos, max_bytes=3, what="height")
    except (Truncated, MalformedSegment) as e:
        raise CodecError(f"residual payload: {e.args[0]}") from None
    if w * h > limits.MAX_PIXELS:
        raise LimitExceeded(f"residual of {w}x{h} is over the pixel limit")
    r = _rgb(regenerated)
    if r.shape[:2] != (h, w):
        raise CodecError(f"residual is {w}x{h} but the regeneration is {r.shape[1]}x{r.shape[0]}")
    blocks = [(by, bx) for by in range(0, h, BLOCK) for bx in range(0, w, BLOCK)]
    nmod = 3 * len(blocks)
    if len(data) < pos + nmod:
        raise CodecError("residual payload truncated (moduli)")
    moduli = [m + 1 for m in data[pos : pos + nmod]]
    pos += nmod
    out = np.empty_like(r)
    i = 0
    for by, bx in blocks:
        rb = r[by : by + BLOCK, bx : bx + BLOCK]
        bh, bw = rb.shape[:2]
        for c in range(3):
            m = moduli[i]
            i += 1
            if m != 256 and (m - 1) % 2:
                raise CodecError("residual modulus must be odd or 256")
            n = _packed_len(bh * bw, m)
            if pos + n > len(data):
                raise CodecError("residual payload truncated")
            s = np.array(_unpack(data[pos : pos + n], bh * bw, m), dtype=np.int16).reshape(bh, bw)
            pos += n
            if m == 256:
                out[by : by + bh, bx : bx + bw, c] = s
            else:
                half = (m - 1) // 2
                ref = rb[..., c]
                # the value congruent to s (mod m) in [ref - half, ref + half]
                out[by : by + bh, bx : bx + bw, c] = ref - half + (s - (ref - half)) % m
    if pos != len(data):
        raise CodecError("extra bytes after the residual payload")
    if out.min() < 0 or out.max() > 255:
        raise CodecError("regeneration drifted beyond the residual's margin (reconstruction out of range)")
    return Image.fromarray(out.astype(np.uint8), "RGB")
