"""NVTC bitstream (codec ID 16): header, range coding of codeword indices, transforms.

Bitstream (spec/codecs.md §NVTC), big-endian header of 14 bytes, then the coder words:
  u8  version (1)
  u8  rate point (selects the weights; their sha256 is in zoo.py)
  u16 width, u16 height (1..65535)
  4B  weights tag: first 4 bytes of the weights file's sha256
  u32 CRC-32 of the header's first 10 bytes followed by the coder words
  u32[] range-coder words, little-endian (constriction RangeEncoder, 32-bit words)

Symbols are coded layer by layer in coding order (coarsest stage first, last layer
first), each layer's symbols in block raster order, then block position.  The model
of each symbol is an integer frequency row from the weights: per block position for
the first layer, else the row key_level[key] where key comes from the integer indices
of the previous layer (model.context_keys).  No float value reaches the coder.
"""

from __future__ import annotations

import hashlib
import json
import struct
import zlib
from functools import lru_cache

import numpy as np
from PIL import Image

from aigif._extras import require
from aigif.errors import CodecError, InvalidSyntax, LimitExceeded
from aigif.imagemodes import has_alpha

from .zoo import WEIGHTS, weights_path

VERSION = 1
HEADER = struct.Struct(">BBHH4sI")
MAX_SIDE = 65535


def _imports():
    require("codecs", "constriction", "torch", "safetensors")
    import constriction
    import torch
    from safetensors.torch import load_file

    return torch, constriction, load_file


class _Loaded:
    def __init__(self, model, freq, key_level, bits, lmbda, tag):
        self.model, self.freq, self.key_level, self.bits = model, freq, key_level, bits
        self.lmbda, self.tag = lmbda, tag


@lru_cache(maxsize=4)
def load(rate: int) -> _Loaded:
    torch, _, load_file = _imports()
    from .model import NVTC, NVTCConfig  # lazy: model.py imports torch, which only NVTC coding needs

    if rate not in WEIGHTS:
        raise CodecError(f"NVTC rate point {rate} is not known to this decoder (known: {sorted(WEIGHTS)})")
    path = weights_path(rate)
    if not path.is_file():
        raise CodecError(f"NVTC weights for rate point {rate} are missing: {path}")
    blob = path.read_bytes()
    digest = hashlib.sha256(blob).hexdigest()
    if digest != WEIGHTS[rate][1]:
        raise CodecError(f"NVTC weights {path.name} have sha256 {digest}, expected {WEIGHTS[rate][1]}")
    from safetensors import safe_open

    with safe_open(str(path), framework="pt") as f:
        meta = f.metadata()
    tensors = load_file(str(path))
    cfg = NVTCConfig.from_dict(json.loads(meta["config"]))
    with torch.random.fork_rng():
        torch.manual_seed(0)  # training-only parameters get a throwaway init
        model = NVTC(cfg)
    params = {k: v.float() for k, v in tensors.items() if not k.startswith("tables.")}
    missing, unexpected = model.load_state_dict(params, strict=False)
    needed = [k for k in missing if not any(p in ("logits", "key_embed", "param_table", "prior_mlp")
                                            for p in k.split("."))]
    if needed or unexpected:
        raise CodecError(f"NVTC weights {path.name} do not match the model: {needed[:3]} {unexpected[:3]}")
    model.eval()
    freq, key_level, bits = {}, {}, {}
    for s, l in cfg.coding_order():
        f = tensors[f"tables.{s}.{l}.freq"].numpy().astype(np.int64)
        freq[(s, l)] = f.astype(np.float64)  # exact: integers < 2**53
        bits[(s, l)] = torch.from_numpy(-np.log2(f / f.sum(-1, keepdims=True))).float()  # encoder only
        if f"tables.{s}.{l}.key_level" in tensors:
            key_level[(s, l)] = tensors[f"tables.{s}.{l}.key_level"].long()
    return _Loaded(model, freq, key_level, bits, float(meta["lmbda"]), bytes.fromhex(digest[:8]))


def _padded_size(w: int, h: int, m: int) -> tuple[int, int]:
    return -(-w // m) * m, -(-h // m) * m


def _run(ld: _Loaded, B: int, Hp: int, Wp: int, choose):
    """The coarse-to-fine loop shared by encoder and decoder: same order, same contexts."""
    from .model import combine, partition  # lazy: model.py imports torch, which only NVTC coding needs

    m, cfg = ld.model, ld.model.cfg
    b = cfg.block
    x_hat, idx = None, {}
    for s in reversed(range(cfg.n_stage)):
        hw = (Hp // cfg.downscale[s], Wp // cfg.downscale[s])
        if x_hat is not None:
            x_hat = partition(x_hat, b)
        for l in reversed(range(cfg.n_layer[s])):
            base = 0 if x_hat is None else x_hat
            prev = m.previous(s, l)
            level = None
            if prev is not None:
                level = ld.key_level[(s, l)][m.context_keys(s, prev, idx[prev], B, hw)]
            n_blocks = B * (hw[0] // b) * (hw[1] // b)
            index = choose(s, l, base, level, n_blocks)
            idx[(s, l)] = index
            r_hat = m.vq[s][l].lookup(index)
            x_hat = base + m.proj_out[s][l](m.from_vectors(r_hat))
            x_hat = m.vt_dec[s][l](x_hat)
        x_hat = m.up[s](combine(x_hat, b, hw))
    return x_hat


def _rows(ld: _Loaded, s: int, l: int, level, n_blocks: int) -> np.ndarray:
    f = ld.freq[(s, l)]
    if level is None:  # unconditional: one row per block position
        return np.tile(f, (n_blocks, 1))
    return f[level.reshape(-1).numpy()]


def _to_image(x_hat, w: int, h: int) -> Image.Image:
    import torch

    a = x_hat[0, :, :h, :w].clamp(0, 1).mul(255).round().to(dtype=torch.uint8)
    return Image.fromarray(a.permute(1, 2, 0).contiguous().numpy(), "RGB")


def encode(image: Image.Image, rate: int) -> bytes:
    torch, constriction, _ = _imports()
    if has_alpha(image):
        raise InvalidSyntax("nvtc codes RGB only; use png or webp for images with alpha")
    w, h = image.size
    if w > MAX_SIDE or h > MAX_SIDE:
        raise InvalidSyntax(f"nvtc codes images up to {MAX_SIDE} pixels a side, got {w}x{h}")
    ld = load(rate)
    cfg = ld.model.cfg
    Wp, Hp = _padded_size(w, h, cfg.pad_multiple)
    x = torch.from_numpy(np.asarray(image.convert("RGB"), dtype=np.float32) / 255.0).permute(2, 0, 1)[None]
    x = torch.nn.functional.pad(x, (0, Wp - w, 0, Hp - h), mode="replicate")
    enc = constriction.stream.queue.RangeEncoder()
    family = constriction.stream.model.Categorical(perfect=False)
    m = ld.model
    with torch.no_grad():
        vectors = m.analysis(x)

        def choose(s, l, base, level, n_blocks):
            r = m._to_vectors(m.proj_in[s][l](vectors[s][l] - base))
            bits = ld.bits[(s, l)] if level is None else ld.bits[(s, l)][level]
            index = m.vq[s][l].quantize(r, bits, ld.lmbda)
            enc.encode(index.reshape(-1).numpy().astype(np.int32), family, _rows(ld, s, l, level, n_blocks))
            return index

        _run(ld, 1, Hp, Wp, choose)
    words = enc.get_compressed().astype("<u4").tobytes()
    head = struct.pack(">BBHH4s", VERSION, rate, w, h, ld.tag)
    return head + struct.pack(">I", zlib.crc32(head + words)) + words


def read_header(data: bytes) -> tuple[int, int, int, bytes]:
    """-> (rate, width, height, weights tag); validates framing only."""
    if len(data) < HEADER.size:
        raise CodecError(f"nvtc payload is {len(data)} bytes, shorter than its {HEADER.size}-byte header")
    version, rate, w, h, tag, crc = HEADER.unpack_from(data)
    if version != VERSION:
        raise CodecError(f"nvtc bitstream version {version} is not supported (this decoder reads {VERSION})")
    if w == 0 or h == 0:
        raise CodecError("nvtc payload declares an empty image")
    if (len(data) - HEADER.size) % 4:
        raise CodecError("nvtc payload is not a whole number of 32-bit coder words")
    if zlib.crc32(data[:10] + data[HEADER.size:]) != crc:
        raise CodecError("nvtc payload CRC mismatch: the payload is corrupt")
    return rate, w, h, tag


def decode(data: bytes, *, max_pixels: int) -> Image.Image:
    if len(data) >= 6:  # the pixel limit comes before everything, even the CRC
        _, _, w, h = struct.unpack_from(">BBHH", data)
        if w * h > max_pixels:
            raise LimitExceeded(f"nvtc payload is {w}x{h} = {w * h} pixels, over the limit {max_pixels}")
    rate, w, h, tag = read_header(data)
    torch, constriction, _ = _imports()
    ld = load(rate)
    if tag != ld.tag:
        raise CodecError(f"nvtc payload was coded with other weights (tag {tag.hex()}, installed {ld.tag.hex()})")
    cfg = ld.model.cfg
    Wp, Hp = _padded_size(w, h, cfg.pad_multiple)
    words = np.frombuffer(data, dtype="<u4", offset=HEADER.size).astype(np.uint32)
    if len(words) == 0:
        raise CodecError("nvtc payload has no coder words")
    dec = constriction.stream.queue.RangeDecoder(words)
    family = constriction.stream.model.Categorical(perfect=False)

    def choose(s, l, base, level, n_blocks):
        rows = _rows(ld, s, l, level, n_blocks)
        try:
            sym = dec.decode(family, rows)
        except Exception as e:  # constriction reports corrupt data as ValueError/AssertionError
            raise CodecError(f"nvtc range decoder failed: {e}") from None
        sym = np.asarray(sym, dtype=np.int64)
        if sym.min(initial=0) < 0 or sym.max(initial=0) >= rows.shape[1]:
            raise CodecError("nvtc payload decodes to an out-of-range codeword")
        return torch.from_numpy(sym).view(n_blocks, -1)

    with torch.no_grad():
        x_hat = _run(ld, 1, Hp, Wp, choose)
    return _to_image(x_hat, w, h)
