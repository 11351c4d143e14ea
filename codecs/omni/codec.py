"""Omni-ICM bitstream (codec ID 18): features for machines, integer-exact to decode.

Bitstream versions 1 and 2 (spec/codecs.md section 7), big-endian header, then the coder words:
  u8  version (1: every location of the feature grid; 2: the features averaged over a
      G x G grid, preprocess.pooled_grid)
  u8  Q, 1..8: quantiser step STEP_64[Q] / 64
  u16 width, u16 height (1..65535): the coded image's size; the feature grid
      (rows, cols) follows from it (preprocess.feature_grid)
  4B  weights tag: first 4 bytes of the sha256 of the weights file (version 1) or of the
      grids file (version 2, whose tables code it and whose metadata names the weights)
  u8  G, 1..GRID_MAX (version 2 only)
  u8  adaptation byte: high nibble a (0 = off, else count weight 2**(a + 3), a <= 11),
      low nibble 0
  u32 CRC-32 of the header bytes before it followed by the coder words
  u32[] range-coder words, little-endian (constriction RangeEncoder, 32-bit words)

Symbols s = clamp(round(y / step), -63, 63) + 63 are coded location by location (the
feature grid in raster order), each location's C channels in channel order.  The model
of each symbol is the integer row tables.freq[Q-1, c] of the weights plus W * the counts
of the symbols already coded in the same channel, the counts updated between chunks of
locations: nvtc/entropy.py's layer model with the channel as the "block position", so
every chunk is one vectorised coder call.  The decoded output is the int8 array s - 63 of shape
(C, rows, cols) (version 2: the pooled grid, its row tables.freq.grid[G-1, Q-1, c] of the
grids file), the features being that array times the step: integers in, integers
out, no float value reaches the coder, so the array is bit-identical on every machine.
"""

from __future__ import annotations

import struct
import zlib
from dataclasses import dataclass
from functools import lru_cache

import numpy as np
from PIL import Image

from aigif._extras import require
from aigif.errors import CodecError, InvalidSyntax, LimitExceeded
from aigif.imagemodes import has_alpha

from ..learned_weights import build_model, one_thread, read_checked
from ..nvtc import entropy
from . import GRID_MAX, STEP_64
from .preprocess import feature_grid, network_input, pool, pooled_grid
from .zoo import GRIDS_SHA256, WEIGHTS_SHA256, grids_path, weights_path

VERSION = 1  # every location of the feature grid
VERSION_GRID = 2  # the features pooled to a G x G grid
HEADER = struct.Struct(">BBHH4sB")  # then the CRC
HEADER_GRID = struct.Struct(">BBHH4sBB")
CRC = struct.Struct(">I")
MAX_SIDE = 65535
ALPHABET_HALF = 63


@dataclass(frozen=True)
class Features:
    """A decoded omni payload: integers (C, rows, cols) and the step they are multiples of."""

    q: int
    step: float
    width: int  # the coded image's size
    height: int
    ints: np.ndarray  # int8, (C, rows, cols)
    grid: int = 0  # G of a version-2 payload (features averaged over G x G cells); 0: every location

    def values(self) -> np.ndarray:
        """float32 features: ints * step, exact (step is a small binary fraction)."""
        return self.ints.astype(np.float32) * np.float32(self.step)


def _imports():
    require("codecs", "constriction", "torch", "safetensors")
    import constriction
    import torch
    from safetensors.torch import load_file

    return torch, constriction, load_file


class _Loaded:
    def __init__(self, model, freq, tag):
        self.model, self.freq, self.tag = model, freq, tag  # freq: float64 (Q, C, K), integer-valued


@lru_cache(maxsize=1)
def load() -> _Loaded:
    _imports()
    from .model import OmniConfig, OmniICM  # lazy: model.py imports torch, which only omni coding needs

    path = weights_path()
    tensors, meta, digest = read_checked(path, WEIGHTS_SHA256, f"Omni-ICM ({path.name})")
    model, cfg = build_model(OmniICM, OmniConfig, tensors, meta,
                             lambda k: k.split(".")[0] in ("projector", "log_scale", "loc"), f"Omni-ICM {path.name}")
    freq = tensors["tables.freq"].numpy().astype(np.int64)
    if freq.shape != (len(STEP_64), cfg.channels, 2 * ALPHABET_HALF + 1):
        raise CodecError(f"Omni-ICM weights {path.name} have coding tables of shape {tuple(freq.shape)}")
    return _Loaded(model, freq.astype(np.float64), bytes.fromhex(digest[:8]))


@lru_cache(maxsize=1)
def load_grids() -> tuple[np.ndarray, bytes]:
    """(float64 (GRID_MAX, Q, C, K) integer-valued tables, tag) of the grids file: version 2's
    coding tables, bound to the installed weights by the sha256 its metadata names."""
    ld = load()
    path = grids_path()
    tensors, meta, digest = read_checked(path, GRIDS_SHA256, f"Omni-ICM grids ({path.name})")
    if meta.get("weights_sha256") != WEIGHTS_SHA256:
        raise CodecError(f"Omni-ICM grids {path.name} were measured on other weights ({meta.get('weights_sha256')})")
    freq = tensors["tables.freq.grid"].numpy().astype(np.int64)
    if freq.shape != (GRID_MAX,) + ld.freq.shape:
        raise CodecError(f"Omni-ICM grids {path.name} have coding tables of shape {tuple(freq.shape)}")
    return freq.astype(np.float64), bytes.fromhex(digest[:8])


def analyse(image: Image.Image):
    """Unquantised features (C, rows, cols) float32 of an image: what the encoder quantises."""
    torch, _, _ = _imports()
    ld = load()
    x = torch.from_numpy(network_input(image))[None]
    with torch.no_grad(), one_thread(torch):
        return ld.model.analysis(x)[0].numpy()


def _rows(C: int, n_loc: int) -> np.ndarray:
    """Static row of each symbol (location-major, channel-minor): its channel."""
    return np.tile(np.arange(C, dtype=np.int64), n_loc)


def _tables(q: int, grid: int) -> tuple[np.ndarray, bytes]:
    """(static rows (C, K) of quality q, the tag a payload names) for the full grid (grid 0) or a pooled one."""
    if grid:
        freq, tag = load_grids()
        return freq[grid - 1, q - 1], tag
    ld = load()
    return ld.freq[q - 1], ld.tag


def _model(freq: np.ndarray, n_loc: int, w: int) -> entropy.LayerModel:
    # the channel is both the static row and the "position" whose counts adapt
    C = freq.shape[0]
    return entropy.LayerModel(freq, _rows(C, n_loc), C, w, 0)


def quantise(y: np.ndarray, q: int) -> np.ndarray:
    """int8 (C, rows, cols): round half to even of y / step, clamped to -63..63."""
    return np.clip(np.rint(y / (STEP_64[q] / 64)), -ALPHABET_HALF, ALPHABET_HALF).astype(np.int8)


def encode(image: Image.Image, q: int, *, grid: int = 0, adapt: bool = True) -> bytes:
    """Code the features of an RGB image at quality q (1..8): every location (grid 0,
    version 1), or averaged over grid x grid cells (grid 1..GRID_MAX, version 2)."""
    torch, constriction, _ = _imports()
    if has_alpha(image):
        raise InvalidSyntax("omni codes RGB only; use png or webp for images with alpha")
    w, h = image.size
    if w > MAX_SIDE or h > MAX_SIDE:
        raise InvalidSyntax(f"omni codes images up to {MAX_SIDE} pixels a side, got {w}x{h}")
    if q not in STEP_64:
        raise InvalidSyntax(f"omni quality {q} outside {min(STEP_64)}..{max(STEP_64)}")
    if not 0 <= grid <= GRID_MAX:
        raise InvalidSyntax(f"omni grid {grid} outside 1..{GRID_MAX}")
    freq, tag = _tables(q, grid)
    y = analyse(image)
    ints = quantise(pool(y, grid) if grid else y, q)
    C = ints.shape[0]
    sym = ints.reshape(C, -1).T.reshape(-1).astype(np.int64) + ALPHABET_HALF  # location-major
    n_loc = sym.size // C
    nibble = 0
    if adapt:  # one weight for all channels: the header stays one byte
        lengths = {a: entropy.code_length(freq, _rows(C, n_loc), C, entropy.weight(a), 0, sym) for a in entropy.SEARCH}
        nibble = min(entropy.SEARCH, key=lambda a: (lengths[a], a))
    enc = constriction.stream.queue.RangeEncoder()
    family = constriction.stream.model.Categorical(perfect=False)
    lm = _model(freq, n_loc, entropy.weight(nibble))
    for a, b in lm.symbol_ranges():
        enc.encode(sym[a:b].astype(np.int32), family, lm.rows_for(a, b).astype(np.float64))
        lm.update(a, b, sym[a:b])
    words = enc.get_compressed().astype("<u4").tobytes()
    head = (HEADER_GRID.pack(VERSION_GRID, q, w, h, tag, grid, nibble << 4) if grid
            else HEADER.pack(VERSION, q, w, h, tag, nibble << 4))
    return head + CRC.pack(zlib.crc32(head + words)) + words


@dataclass(frozen=True)
class Header:
    q: int
    width: int
    height: int
    tag: bytes
    weight: int  # the adaptation count weight W (0 = static tables)
    grid: int  # G of version 2; 0 for version 1
    size: int  # header bytes before the coder words, the CRC included


def parse_header(data: bytes, *, max_pixels: int) -> Header:
    """Validate framing, limits and the CRC (spec/codecs.md 7.1, steps 1-2)."""
    if len(data) >= 6:  # the pixel limit comes before everything, even the CRC
        _, _, w, h = struct.unpack_from(">BBHH", data)
        if w * h > max_pixels:
            raise LimitExceeded(f"omni payload is {w}x{h} = {w * h} pixels, over the limit {max_pixels}")
    if len(data) < 1:
        raise CodecError("omni payload is empty")
    if data[0] not in (VERSION, VERSION_GRID):
        raise CodecError(f"omni bitstream version {data[0]} is not supported (this decoder reads {VERSION} and {VERSION_GRID})")
    head = HEADER_GRID if data[0] == VERSION_GRID else HEADER
    size = head.size + CRC.size
    if len(data) < size:
        raise CodecError(f"omni payload is {len(data)} bytes, shorter than its {size}-byte header")
    if head is HEADER_GRID:
        _, q, w, h, tag, grid, adapt = HEADER_GRID.unpack_from(data)
        if not 1 <= grid <= GRID_MAX:
            raise CodecError(f"omni payload declares grid {grid}, outside 1..{GRID_MAX}")
    else:
        (_, q, w, h, tag, adapt), grid = HEADER.unpack_from(data), 0
    if q not in STEP_64:
        raise CodecError(f"omni payload declares quality {q}, outside {min(STEP_64)}..{max(STEP_64)}")
    if w == 0 or h == 0:
        raise CodecError("omni payload declares an empty image")
    a, low = adapt >> 4, adapt & 15
    if low or a > entropy.MAX_NIBBLE:
        raise CodecError(f"omni adaptation byte {adapt:#04x} is not a weight nibble 0..{entropy.MAX_NIBBLE} over 0")
    if (len(data) - size) % 4:
        raise CodecError("omni payload is not a whole number of 32-bit coder words")
    (crc,) = CRC.unpack_from(data, head.size)
    if zlib.crc32(data[:head.size] + data[size:]) != crc:
        raise CodecError("omni payload CRC mismatch: the payload is corrupt")
    return Header(q, w, h, tag, entropy.weight(a), grid, size)


def decode(data: bytes, *, max_pixels: int) -> Features:
    """The integer features of a payload; CodecError / LimitExceeded for bad input."""
    hd = parse_header(data, max_pixels=max_pixels)
    _, constriction, _ = _imports()
    freq, tag = _tables(hd.q, hd.grid)
    if hd.tag != tag:
        raise CodecError(f"omni payload was coded with other weights (tag {hd.tag.hex()}, installed {tag.hex()})")
    rows, cols = pooled_grid(hd.width, hd.height, hd.grid) if hd.grid else feature_grid(hd.width, hd.height)
    (C, K), n = freq.shape, rows * cols
    words = np.frombuffer(data, dtype="<u4", offset=hd.size).astype(np.uint32)
    dec = constriction.stream.queue.RangeDecoder(words)
    family = constriction.stream.model.Categorical(perfect=False)
    out = np.empty(C * n, np.int64)
    lm = _model(freq, n, hd.weight)
    for a, b in lm.symbol_ranges():
        try:
            sym = np.asarray(dec.decode(family, lm.rows_for(a, b).astype(np.float64)), dtype=np.int64)
        except Exception as e:  # constriction reports exhausted or corrupt data as ValueError/AssertionError
            raise CodecError(f"omni range decoder failed: {e}") from None
        if sym.min(initial=0) < 0 or sym.max(initial=0) >= K:
            raise CodecError("omni payload decodes to an out-of-range symbol")
        out[a:b] = sym
        lm.update(a, b, sym)
    ints = (out - ALPHABET_HALF).astype(np.int8).reshape(n, C).T.reshape(C, rows, cols)
    return Features(hd.q, STEP_64[hd.q] / 64, hd.width, hd.height, ints, hd.grid)


def embed(features: Features) -> np.ndarray:
    """The task embedding (float32, head_dim) of decoded features: the shipped head (1x1
    convolutions, global average pooling) on ints * step.  Float, one torch thread."""
    torch, _, _ = _imports()
    ld = load()
    with torch.no_grad(), one_thread(torch):
        return ld.model.embed(torch.from_numpy(features.values())[None])[0].numpy()
