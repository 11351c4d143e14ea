"""Group-mask structured coding (codec ID 17): every group of a label mask coded on its own.

The image is decoupled into groups of irregular shape by a label mask (the user's, or
segment.builtin_groups).  Each group is coded as an NVTC payload (codec 16) of its
bounding box in which the pixels outside the group are filled from the group's own
pixels (fill_outside: the group mirrored across its boundary near it, push-pull further
out), so the group's stream depends on nothing but its own pixels and the mask:
no information crosses a group boundary in analysis, synthesis or entropy coding (each
stream has its own range coder and CRC).  A decoder of a group reads the shared header
and mask and that group's stream only, and keeps only the group's pixels.

Versions 2 and 3 code only the NVTC symbols whose cell, dilated by a margin M,
meets the group (NVTC region coding, nvtc/codec.py): the filled pixels and the box's
padding cost (almost) nothing; a symbol left out takes its static row's most probable
index (the next layer's context) and adds its expected codeword.  The encoder also weighs
ECVQ's distortion per pixel (outside the group O, in the group's boundary band B).  The
mask is run-coded (maskcoder.py) when that is smaller than zlib.  An optional rate cap
re-codes the groups that would read more than their area share + the cap (_cap_rates).

Bitstream (spec/codecs.md §6), big-endian.  Version 3 (written today) is version 2 with
the NVTC header fields every group's stream repeats said once: after version 2's fixed
header, u8 NVTC version, u8 model, 4B tag, u8 Q (the template); stream g is its NVTC
payload without the first 11 bytes (version, model, box width and height, tag, Q), which
a decoder rebuilds from the template and the box before decoding it (the stream's CRC is
the NVTC payload's, over the rebuilt bytes too).  Version 2:
  u8  version (2), u16 width, u16 height, u8 G (1..255)
  u8  margin M (0..64 pixels), u8 mask method (0 zlib row differences, 1 run coder)
  u32 L, length of the mask stream
  u32 CRC-32 of bytes 0..11, the mask stream and the group table
  L   mask stream
  G x 5 group table: u8 label, u32 length of its stream (the box is the mask's)
  the G streams in table order, each an NVTC payload of the group's box, region-coded
Version 1 (still decoded, and written by encode(version=1)):
  u8  version (1), u16 width, u16 height, u8 G, u32 L, u32 CRC of bytes 0..9 + mask + table
  L   mask stream: zlib of W*H bytes: the first row of group indices 0..G-1, then each
      row minus the row above, mod 256 (region masks repeat rows: 1.6 -> 0.6 KB on Kodak)
  G x 13 group table: u8 label, u16 x0, u16 y0, u16 w, u16 h (the group's bounding box),
      u32 length of its stream
  the G streams in table order, each an NVTC payload of the w x h box (every symbol coded)
"""

from __future__ import annotations

import itertools
import math
import struct
import zlib

import numpy as np
from PIL import Image

from aigif.errors import CodecError, InvalidSyntax, LimitExceeded
from aigif.imagemodes import has_alpha

from . import maskcoder
from .nvtc import parse_rate
from .nvtc.codec import MAX_MARGIN, SHARED, join_shared, split_shared

VERSION = 3
HEAD = struct.Struct(">BHHBI")  # version 1; then the CRC
ENTRY = struct.Struct(">BHHHHI")  # version 1
HEAD_V2 = struct.Struct(">BHHBBBI")  # then the CRC
ENTRY_V2 = struct.Struct(">BI")  # versions 2 and 3
TEMPLATE = struct.Struct(">BB4sB")  # version 3, after HEAD_V2: NVTC version, model, tag, Q
NVTC_FIXED = SHARED.size  # the bytes of each group's NVTC header that version 3 leaves out
ZLIB_ROWS, RUNS = 0, 1  # version 2's mask methods
# version 2's margin (bench/RESULTS-groupmask.md): M = 0 loses up to 0.4 dB in the boundary
# band, M = 8 and 16 code more symbols twice (by both groups along a boundary) for no more PSNR
DEFAULT_MARGIN = 4
# encoder-only ECVQ distortion weights (bench/RESULTS-groupmask.md): the filled pixels outside
# the group count O (their reconstruction matters only through the synthesis), the group's
# pixels in the 8-px boundary band count B (the band is where grouping loses PSNR)
DEFAULT_OUTSIDE_WEIGHT = 0.25
# B and the fill by the group's shape (None = by shape, the default; BENCHMARKS.md).  A group
# made of whole NVTC coarsest blocks (BLOCK_ALIGNED) shares no vector transform with its ring,
# and its ring is a thin share of it: there B = 4 and the mirror fill cost little (built-in
# 64-px split, Kodak 1-12: +2.9 % BD-rate against plain nvtc, band gap 0.92 dB at Q 70,
# against +2.0 %, 1.08 dB for B = 2 and push-pull).  On finer shapes they cost more (16-px
# regions: +7.6 % against +4.83 %), so those keep B = 2 and push-pull.
ALIGNED_BAND_WEIGHT, ALIGNED_FILL = 4.0, "mirror"
FINE_BAND_WEIGHT, FINE_FILL = 2.0, "push-pull"
BLOCK_ALIGNED = 64  # NVTC's coarsest block: 4 x 4 positions of its 16-px cells (a test keeps them equal)
MAX_GROUPS = 255
# the groups' bounding boxes may cover at most this many times the image: decode work is
# one NVTC decode per box, so this bounds it by the pixel limit (spec/codecs.md §6.1)
MAX_BOX_COVER = 8


def boxes(index: np.ndarray, n_groups: int) -> list[tuple[int, int, int, int] | None]:
    """(x0, y0, w, h) of each group index's pixels, None for an empty one; O(W*H + G*(W+H))."""
    h, w = index.shape
    rows = np.zeros((n_groups, h), bool)
    cols = np.zeros((n_groups, w), bool)
    rows[index, np.arange(h)[:, None]] = True
    cols[index, np.arange(w)[None, :]] = True
    out = []
    for g in range(n_groups):
        ys, xs = np.nonzero(rows[g])[0], np.nonzero(cols[g])[0]
        out.append(None if len(ys) == 0 else (int(xs[0]), int(ys[0]), int(xs[-1] + 1 - xs[0]), int(ys[-1] + 1 - ys[0])))
    return out


def _push_pull(rgb: np.ndarray, inside: np.ndarray) -> np.ndarray:
    """Float (h, w, 3): mask-weighted means up a 2x pyramid, pulled back down where the
    group has no pixel - the smooth extension far from the group."""
    levels = []
    v = rgb.astype(np.float64) * inside[..., None]
    wgt = inside.astype(np.float64)
    while True:
        levels.append((v, wgt))
        h, w = wgt.shape
        if h == 1 and w == 1:
            break
        ph, pw = h % 2, w % 2
        v = np.pad(v, ((0, ph), (0, pw), (0, 0)))
        wgt = np.pad(wgt, ((0, ph), (0, pw)))
        H, W = v.shape[0] // 2, v.shape[1] // 2
        v = v.reshape(H, 2, W, 2, 3).sum((1, 3))
        wgt = wgt.reshape(H, 2, W, 2).sum((1, 3))
    filled = None
    for v, wgt in reversed(levels):
        mean = v / np.maximum(wgt, 1e-12)[..., None]
        if filled is not None:
            up = filled.repeat(2, 0).repeat(2, 1)[: wgt.shape[0], : wgt.shape[1]]
            mean = np.where((wgt > 0)[..., None], mean, up)
        filled = mean
    return filled


# the mirror's reach in pixels: NVTC's coarsest cell, the widest ring region coding's margin
# adds around a group (bench/groupmask.py, BENCHMARKS.md: against push-pull alone, the band
# gains 0.07-0.08 dB at Q 50-70 for +0.04 % rate on the built-in split)
MIRROR_REACH = 16
_OFFSETS = sorted(((dy, dx) for dy in range(-MIRROR_REACH, MIRROR_REACH + 1)
                   for dx in range(-MIRROR_REACH, MIRROR_REACH + 1) if (dy, dx) != (0, 0)),
                  key=lambda o: (o[0] ** 2 + o[1] ** 2, o))


FILLS = ("mirror", "push-pull")


def fill_outside(rgb: np.ndarray, inside: np.ndarray, fill: str = "mirror") -> np.ndarray:
    """rgb (h, w, 3) uint8 with the pixels where inside is False replaced by an extension of
    the inside pixels (a function of the inside pixels and the mask only).  "mirror" (the
    fill of block-aligned groups) reflects the group across its boundary: a pixel within
    MIRROR_REACH (Chebyshev) of the group takes the pixel reflected through its nearest
    group pixel (Euclidean; ties in _OFFSETS order) where that is in the group, so the ring
    the synthesis mixes into the group's edge continues its texture; every other pixel
    takes push-pull.  "push-pull" (finer groups', and every group's before the mirror):
    push-pull everywhere."""
    if fill not in FILLS:
        raise InvalidSyntax(f"groupmask fill {fill!r} is not one of {FILLS}")
    out = np.clip(np.round(_push_pull(rgb, inside)), 0, 255).astype(np.uint8)
    out[inside] = rgb[inside]
    if fill == "push-pull" or inside.all():
        return out
    h, w = inside.shape
    near = _window(inside, MIRROR_REACH, np.maximum)  # a group pixel within the reach
    ys, xs = np.nonzero(near & ~inside)
    ny, nx = np.full(len(ys), -1), np.full(len(ys), -1)
    todo = np.arange(len(ys))
    for dy, dx in _OFFSETS:  # nearest group pixel of each, in increasing distance
        if len(todo) == 0:
            break
        y, x = ys[todo] + dy, xs[todo] + dx
        ok = (y >= 0) & (y < h) & (x >= 0) & (x < w)
        hit = np.zeros(len(todo), bool)
        hit[ok] = inside[y[ok], x[ok]]
        ny[todo[hit]], nx[todo[hit]] = y[hit], x[hit]
        todo = todo[~hit]
    found = ny >= 0
    ys, xs, ny, nx = ys[found], xs[found], ny[found], nx[found]
    ry, rx = 2 * ny - ys, 2 * nx - xs
    ok = (ry >= 0) & (ry < h) & (rx >= 0) & (rx < w)
    ok[ok] = inside[ry[ok], rx[ok]]
    out[ys[ok], xs[ok]] = rgb[ry[ok], rx[ok]]
    return out


def mask_from_image(mask: Image.Image, size: tuple[int, int]) -> np.ndarray:
    """A user label mask (one integer label 0..254 per pixel, grey or palette PNG) -> (H, W) labels."""
    if mask.size != size:
        raise InvalidSyntax(f"the group mask is {mask.size[0]}x{mask.size[1]}, the image {size[0]}x{size[1]}")
    if mask.mode in ("L", "P"):
        a = np.asarray(mask)
    elif mask.mode in ("I", "I;16", "I;16B", "I;16L", "1"):
        a = np.asarray(mask).astype(np.int64)
    else:
        raise InvalidSyntax(f"the group mask must be a grey or palette image of labels, got mode {mask.mode}")
    if a.max(initial=0) > 254 or a.min(initial=0) < 0:
        raise InvalidSyntax("group mask labels must be integers 0..254")
    return a.astype(np.uint8)


BAND = 8  # the boundary band of the acceptance measure (bench/groupmask.py): pixels within 8 px of another group


def _window(a: np.ndarray, width: int, op) -> np.ndarray:
    """op (np.maximum / np.minimum) over each pixel's (2 width + 1)^2 window, clipped to the
    array (edge copies are pixels of the clipped window); separable, O(width * size)."""
    for axis in (0, 1):
        pad = [(0, 0), (0, 0)]
        pad[axis] = (width, width)
        p = np.pad(a, pad, mode="edge")
        n = a.shape[axis]
        out = p.take(range(0, n), axis=axis)
        for k in range(1, 2 * width + 1):
            out = op(out, p.take(range(k, k + n), axis=axis))
        a = out
    return a


def boundary_band(index: np.ndarray, width: int = BAND) -> np.ndarray:
    """Pixels with a pixel of another group within `width` (Chebyshev distance): those whose
    (2 width + 1)^2 window (clipped to the image) has a minimum or maximum label not theirs."""
    return (_window(index, width, np.maximum) != index) | (_window(index, width, np.minimum) != index)


def _zlib_rows(index: np.ndarray) -> bytes:
    rows = index.copy()
    rows[1:] = index[1:] - index[:-1]  # uint8: mod 256
    return zlib.compress(rows.tobytes(), 9)


def is_block_aligned(inside: np.ndarray, block: int = BLOCK_ALIGNED) -> bool:
    """Whether a group (its box's inside map, the box starting on the group's first row and
    column) is made of whole block x block squares of its box's grid: every square, cut by
    the box's edge where it must, all inside or all outside (edge padding repeats a cut
    square's own pixels, so it stays uniform exactly when its pixels in the box are)."""
    h, w = inside.shape
    t = np.pad(inside, ((0, -h % block), (0, -w % block)), mode="edge")
    t = t.reshape(t.shape[0] // block, block, t.shape[1] // block, block)
    return bool((t.all((1, 3)) | ~t.any((1, 3))).all())


CAP_MARGIN = 0.002  # aim this far under the cap, so that rounding of the others' lengths keeps it
CAP_ROUNDS = 10  # rounds of re-encodes at most: bounds the encoder's work
# a step's and the scale's bounds: where bytes hardly follow the scale the secant would jump
# past any rate (to a scale of 0, which NVTC refuses); the cheapest stream is reached anyway
CAP_MAX_STEP = math.log(64.0)
CAP_MIN_SCALE = 1e-6


def _cap_rates(streams: list[bytes], code_group, area: np.ndarray, cap: float, shared: int,
               left_out: int) -> list[bytes]:
    """Streams re-coded so that each group's read share (shared + its stream) / payload is
    at most its area share + cap: a group over it is coded again with its ECVQ weights
    scaled down by s (lambda / s), s found by a secant on log bytes against log s.  The
    one encoder decision that looks past a group: s depends on the other streams' lengths
    (spec/codecs.md §6.3).  left_out: the bytes version 3 drops from each stream."""
    streams = list(streams)
    scale = [1.0] * len(streams)
    tried: list[list[tuple[float, float]]] = [[] for _ in streams]
    for rounds in itertools.count():
        sizes = np.array([len(d) - left_out for d in streams], float)
        total = shared + sizes.sum()
        over = [g for g in range(len(streams)) if (shared + sizes[g]) / total > area[g] + cap]
        if not over:
            return streams
        if rounds == CAP_ROUNDS:  # said, not written over the cap
            g = over[0]
            raise InvalidSyntax(f"groupmask rate cap {cap}: group index {g} still reads "
                                f"{(shared + sizes[g]) / total:.3f} of the payload after {CAP_ROUNDS} "
                                f"re-encodes (its area {area[g]:.3f}; the shared header and mask, "
                                f"{shared} B, are {shared / total:.3f} of it and count in every read)")
        for g in over:
            c = area[g] + cap - CAP_MARGIN
            # (shared + x) / (rest + x) <= c, with rest the payload without this stream
            target = max((c * (total - sizes[g]) - shared) / (1 - c), 1.0)
            tried[g].append((math.log(scale[g]), math.log(sizes[g])))
            slope = 0.4  # d log bytes / d log s, a first guess
            if len(tried[g]) >= 2 and tried[g][-1][0] != tried[g][-2][0]:
                (a0, b0), (a1, b1) = tried[g][-2:]
                slope = max((b1 - b0) / (a1 - a0), 0.05)
            step = max((math.log(target) - math.log(sizes[g])) / slope, -CAP_MAX_STEP)
            scale[g] = max(scale[g] * math.exp(step), CAP_MIN_SCALE)
            streams[g] = code_group(g, scale[g])


def encode(image: Image.Image, labels: np.ndarray, nvtc_rate: str, *, version: int = VERSION,
           margin: int = DEFAULT_MARGIN, outside_weight: float = DEFAULT_OUTSIDE_WEIGHT,
           band_weight: float | None = None, rate_cap: float | None = None,
           fill: str | None = None) -> bytes:
    """labels: (H, W) integers 0..254, one group per distinct value.  version 1 (every
    symbol of each box coded, zlib mask, no weights) and 2 (each group's whole NVTC payload)
    are kept for comparison and old readers.  band_weight and fill None (the default): by
    each group's shape (is_block_aligned: ALIGNED_* or FINE_*).  rate_cap (versions 2 and
    3; None, the default: off): re-code groups until each reads at most its area share +
    rate_cap of the payload (_cap_rates; BENCHMARKS.md: it costs rate where content is
    uneven, +8.6 points of BD-rate on the built-in split of Kodak 1-12 at 0.05)."""
    from .nvtc import codec as nvtc_codec  # lazy: torch, only when this codec is used

    if has_alpha(image):
        raise InvalidSyntax("groupmask codes RGB only; use png or webp for images with alpha")
    if version not in (1, 2, 3):
        raise InvalidSyntax(f"groupmask writes versions 1, 2 and 3, not {version}")
    if rate_cap is not None and (version == 1 or not 0 <= rate_cap < 1):
        raise InvalidSyntax(f"groupmask rate cap {rate_cap}: a share 0..1, for versions 2 and 3")
    if not 0 <= margin <= MAX_MARGIN:
        raise InvalidSyntax(f"groupmask margin {margin} outside 0..{MAX_MARGIN}")
    w, h = image.size
    if labels.shape != (h, w):
        raise InvalidSyntax(f"group mask shape {labels.shape[::-1]} differs from the image {w}x{h}")
    present = np.unique(labels)
    if len(present) > MAX_GROUPS:
        raise InvalidSyntax(f"at most {MAX_GROUPS} groups, the mask has {len(present)}")
    index = np.searchsorted(present, labels).astype(np.uint8)
    bxs = boxes(index, len(present))
    cover = sum(bw * bh for _, _, bw, bh in bxs) / (w * h)
    if cover > MAX_BOX_COVER:
        raise InvalidSyntax(f"the groups are too interleaved: their bounding boxes cover {cover:.1f}x the image "
                            f"(at most {MAX_BOX_COVER}x)")
    rgb = np.asarray(image.convert("RGB"))
    kw = parse_rate(nvtc_rate)
    band = boundary_band(index, BAND) if band_weight != 1.0 else np.zeros(index.shape, bool)
    method, mask_stream = ZLIB_ROWS, _zlib_rows(index)
    if version >= 2 and maskcoder.count_runs(index) <= maskcoder.max_runs(w, h):
        runs = maskcoder.encode(index, len(present))
        if len(runs) < len(mask_stream):
            method, mask_stream = RUNS, runs

    def prepared(g: int) -> tuple[np.ndarray, Image.Image, float]:
        """Group g's inside map, filled box and band weight: what every encode of it reuses."""
        x0, y0, bw, bh = bxs[g]
        inside = index[y0:y0 + bh, x0:x0 + bw] == g
        if version == 1:  # as written before version 2: push-pull, no weights
            g_fill, g_band = "push-pull", 1.0
        else:
            aligned = is_block_aligned(inside)
            g_fill = fill or (ALIGNED_FILL if aligned else FINE_FILL)
            g_band = band_weight if band_weight is not None else ALIGNED_BAND_WEIGHT if aligned else FINE_BAND_WEIGHT
        return inside, Image.fromarray(fill_outside(rgb[y0:y0 + bh, x0:x0 + bw], inside, g_fill), "RGB"), g_band

    groups = [prepared(g) for g in range(len(present))]

    def code_group(g: int, scale: float = 1.0) -> bytes:
        inside, box, g_band = groups[g]
        if version == 1:
            return nvtc_codec.encode(box, **kw)
        x0, y0, bw, bh = bxs[g]
        weight = None
        if outside_weight != 1.0 or g_band != 1.0 or scale != 1.0:
            weight = scale * np.where(inside, np.where(band[y0:y0 + bh, x0:x0 + bw], g_band, 1.0), outside_weight)
        return nvtc_codec.encode(box, **kw, region=inside, margin=margin, weight=weight)

    streams = [code_group(g) for g in range(len(present))]
    if version == 1:
        table = b"".join(ENTRY.pack(int(label), *map(int, bxs[g]), len(d))
                         for g, (label, d) in enumerate(zip(present, streams)))
    elif rate_cap is not None:
        area = np.bincount(index.reshape(-1), minlength=len(present)) / index.size
        shared = (HEAD_V2.size + (TEMPLATE.size if version == 3 else 0) + 4 + len(mask_stream)
                  + len(present) * ENTRY_V2.size)
        streams = _cap_rates(streams, code_group, area, rate_cap, shared, NVTC_FIXED if version == 3 else 0)
    template = b""
    if version == 3:  # every stream shares its NVTC fields but the box size (the same rate): said once
        split = [split_shared(d) for d in streams]
        nv_version, model, _, _, tag, q = split[0][0]
        template = TEMPLATE.pack(nv_version, model, tag, q)
        streams = [rest for _, rest in split]
    if version >= 2:
        table = b"".join(ENTRY_V2.pack(int(label), len(d)) for label, d in zip(present, streams))
    if version == 1:
        head = HEAD.pack(1, w, h, len(present), len(mask_stream))
    else:
        head = HEAD_V2.pack(version, w, h, len(present), margin, method, len(mask_stream)) + template
    crc = zlib.crc32(head + mask_stream + table)
    return head + struct.pack(">I", crc) + mask_stream + table + b"".join(streams)


class Parsed:
    def __init__(self, version, w, h, index, entries, offsets, header_bytes, margin=None, method=ZLIB_ROWS,
                 template=None):
        self.version, self.width, self.height, self.index = version, w, h, index
        self.entries, self.offsets, self.header_bytes = entries, offsets, header_bytes
        self.margin, self.method = margin, method  # margin None: version 1, every symbol coded
        self.template = template  # version 3: (NVTC version, model, tag, Q) of every stream

    def nvtc_payload(self, g: int, stream: bytes) -> bytes:
        """Group g's NVTC payload: version 3's stream with its first 11 bytes rebuilt."""
        if self.template is None:
            return stream
        nv_version, model, tag, q = self.template
        _, _, _, bw, bh, _ = self.entries[g]
        return join_shared((nv_version, model, bw, bh, tag, q), stream)

    def labels(self) -> list[int]:
        return [e[0] for e in self.entries]


def _inflate_rows(stream: bytes, w: int, h: int) -> np.ndarray:
    dec = zlib.decompressobj()
    try:
        raw = dec.decompress(stream, w * h + 1)  # bounded: one byte past W*H shows excess
    except zlib.error as e:
        raise CodecError(f"groupmask mask stream is not valid zlib: {e}") from None
    if len(raw) != w * h or not dec.eof or dec.unused_data:
        raise CodecError("groupmask mask stream does not hold exactly W*H bytes")
    return np.cumsum(np.frombuffer(raw, np.uint8).reshape(h, w), axis=0, dtype=np.uint8)  # undo the row differences, mod 256


def parse(data: bytes, *, max_pixels: int) -> Parsed:
    """Header, mask and group table (what every selective decode reads); streams untouched.
    Entries are (label, x0, y0, w, h, stream length) in both versions."""
    if len(data) >= 5:
        _, w, h = struct.unpack_from(">BHH", data)
        if w * h > max_pixels:
            raise LimitExceeded(f"groupmask payload is {w}x{h} = {w * h} pixels, over the limit {max_pixels}")
    if not data:
        raise CodecError("groupmask payload is empty")
    version = data[0]
    if version not in (1, 2, 3):
        raise CodecError(f"groupmask version {version} is not supported (this decoder reads 1, 2 and 3)")
    head, entry = (HEAD, ENTRY) if version == 1 else (HEAD_V2, ENTRY_V2)
    head_size = head.size + (TEMPLATE.size if version == 3 else 0)
    if len(data) < head_size + 4:
        raise CodecError("groupmask payload is shorter than its header")
    margin, method, template = None, ZLIB_ROWS, None
    if version == 1:
        _, w, h, G, M = head.unpack_from(data)
    else:
        _, w, h, G, margin, method, M = head.unpack_from(data)
    if version == 3:
        template = TEMPLATE.unpack_from(data, head.size)
        if template[0] not in (2, 3, 4):
            raise CodecError(f"groupmask streams declare NVTC version {template[0]}, not 2, 3 or 4")
    if w == 0 or h == 0 or G == 0:
        raise CodecError("groupmask payload declares an empty image or no group")
    if version >= 2:
        if margin > MAX_MARGIN:
            raise CodecError(f"groupmask margin {margin} outside 0..{MAX_MARGIN}")
        if method not in (ZLIB_ROWS, RUNS):
            raise CodecError(f"groupmask mask method {method} is not 0 (zlib) or 1 (runs)")
    (crc,) = struct.unpack_from(">I", data, head_size)
    start = head_size + 4
    tab = start + M
    end = tab + G * entry.size
    if end > len(data):
        raise CodecError("groupmask payload is shorter than its mask and group table")
    if zlib.crc32(data[:head_size] + data[start:end]) != crc:
        raise CodecError("groupmask header CRC mismatch: the payload is corrupt")
    if method == RUNS:
        index = maskcoder.decode(data[start:tab], w, h, G)
    else:
        index = _inflate_rows(data[start:tab], w, h)
    if index.max() >= G:
        raise CodecError("groupmask mask names a group past the group table")
    entries, offsets, pos, seen = [], [], end, set()
    bxs = boxes(index, G)
    for g in range(G):
        e = entry.unpack_from(data, tab + g * entry.size)
        label, n = e[0], e[-1]
        if label in seen:
            raise CodecError(f"groupmask label {label} appears twice in the group table")
        seen.add(label)
        if label > 254:
            raise CodecError(f"groupmask label {label} outside 0..254")
        if bxs[g] is None:
            raise CodecError(f"groupmask group {label} has no pixel in the mask")
        if version == 1 and tuple(e[1:5]) != bxs[g]:
            raise CodecError(f"groupmask group {label}: its box does not bound its mask pixels")
        entries.append((label, *bxs[g], n))
        offsets.append(pos)
        pos += n
    if pos != len(data):
        raise CodecError("groupmask stream lengths do not add up to the payload")
    if sum(e[3] * e[4] for e in entries) > MAX_BOX_COVER * w * h:
        raise CodecError(f"groupmask boxes cover more than {MAX_BOX_COVER}x the image")
    return Parsed(version, w, h, index, entries, offsets, end, margin, method, template)


def decode(data: bytes, *, max_pixels: int, groups: list[int] | None = None) -> tuple[Image.Image, int]:
    """-> (image, bytes read).  groups=None: every group, RGB.  Else only those labels,
    RGBA with alpha 0 outside them; only their streams are read."""
    from .nvtc import codec as nvtc_codec  # lazy: torch, only when this codec is used

    p = parse(data, max_pixels=max_pixels)
    labels = p.labels()
    want = labels if groups is None else list(groups)
    unknown = sorted(set(want) - set(labels))
    if unknown:
        raise InvalidSyntax(f"no group {unknown[0]} in this image; its groups are {labels}")
    out = np.zeros((p.height, p.width, 3), np.uint8)
    alpha = np.zeros((p.height, p.width), np.uint8)
    read = p.header_bytes
    for g, (label, x0, y0, bw, bh, n) in enumerate(p.entries):
        if label not in want:
            continue
        stream = p.nvtc_payload(g, data[p.offsets[g]:p.offsets[g] + n])
        read += n
        inside = p.index[y0:y0 + bh, x0:x0 + bw] == g
        if p.margin is None:
            box = nvtc_codec.decode(stream, max_pixels=max_pixels)
        else:  # region coding needs the box's size: a stream of another size is refused by nvtc_codec
            box = nvtc_codec.decode(stream, max_pixels=max_pixels, region=inside, margin=p.margin)
        if box.size != (bw, bh):
            raise CodecError(f"groupmask group {label}: its stream is {box.size}, its box {bw}x{bh}")
        region = out[y0:y0 + bh, x0:x0 + bw]
        region[inside] = np.asarray(box)[inside]
        alpha[y0:y0 + bh, x0:x0 + bw][inside] = 255
    if groups is None:
        return Image.fromarray(out, "RGB"), read
    return Image.fromarray(np.dstack([out, alpha]), "RGBA"), read


def group_sizes(data: bytes, *, max_pixels: int) -> list[dict]:
    """Per group: label, pixels, stream bytes (for `aigif info`), plus the shared bytes."""
    p = parse(data, max_pixels=max_pixels)
    counts = np.bincount(p.index.reshape(-1), minlength=len(p.entries))
    return [{"label": e[0], "pixels": int(counts[g]), "bytes": e[5], "box": list(e[1:5])} for g, e in enumerate(p.entries)]
