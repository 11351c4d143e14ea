"""NVTC bitstream (codec ID 16): header, range coding of codeword indices, transforms.

Bitstream (spec/codecs.md §4), big-endian header, then the coder words.  Version 4
(written today for rate points 4 and 5) is version 3 with the keyed layers coded under the
per-block-position tables of the rate point's positions file (zoo.POSITIONS); version 3
(written for the others) has version 2's layout and symbols and reconstructs with the
integer synthesis of intsynth.py (the same pixels on every machine); 2 runs it in float32:
  u8  version (4, 3, or 2)
  u8  model M (selects the weights; their sha256 is in zoo.py)
  u16 width, u16 height (1..65535)
  4B  tag: first 4 bytes of the sha256 of the weights file (or, version 4, of the positions file)
  u8  Q: the encoder's lambda 2**((Q + 10) / 10), 10..100, or 0 = the model's own
      (informative: the decoder never needs lambda)
  u8  n: layers coded, 1..all; the later ones in coding order are not (the
      complexity/rate knob D = all - n)
  u8[n] one adaptation byte per coded layer (entropy.py)
  u32 CRC-32 of the header bytes before it followed by the coder words
  u32[] range-coder words, little-endian (constriction RangeEncoder, 32-bit words)
Version 1 (still decoded): version, M, width, height, tag, CRC; every layer coded with
the static tables (no adaptation bytes).

Symbols are coded layer by layer in coding order (coarsest stage first, last layer
first), each layer's symbols in block raster order, then block position.  The model
of each symbol is an integer frequency row from the weights: per block position for
the first layer, else the row key_level[key] where key comes from the integer indices
of the previous layer (model.context_keys) - in version 4 the row p * R + key_level[key]
of the position table, p the block position.  No float value reaches the coder.

Region coding (for codec 17, spec/codecs.md §6.3; plain codec-16 payloads never use it):
encode/decode given a region (a boolean per pixel, known to both sides) and a margin M
code only the symbols whose cell - the d_s x d_s pixels of the padded image a stage-s
symbol covers - dilated by M pixels meets the region; the others take a fixed index
(entropy.fill_index) and are not in the bitstream; in the reconstruction they add their
static row's expected codeword.
"""

from __future__ import annotations

import struct
import zlib
from functools import lru_cache

import numpy as np
from PIL import Image

from aigif._extras import require
from aigif.errors import CodecError, InvalidSyntax, LimitExceeded
from aigif.imagemodes import has_alpha

from ..learned_weights import build_model, one_thread, read_checked
from . import entropy
from .zoo import POSITIONS, WEIGHTS, positions_path, weights_path

VERSION = 4  # written where the rate point has position tables, else 3; 1, 2 (float synthesis) and 3 still decode
VERSION_INT = 3
HEADER_V1 = struct.Struct(">BBHH4sI")
# versions 2-4: SHARED (version, model, width, height, tag, Q), then n; then the adaptation
# bytes and the CRC.  Codec 17 version 3 stores SHARED once for all its groups (split_shared).
SHARED = struct.Struct(">BBHH4sB")
FIXED_V2 = struct.Struct(SHARED.format + "B")
MAX_SIDE = 65535
Q_RANGE = (10, 100)


def q_lambda(q: int) -> float:
    """The ECVQ lambda of quality Q: Q=60 -> 128, 80 -> 512, 100 -> 2048 (the shipped fine-tunes' lambdas)."""
    return 2.0 ** ((q + 10) / 10)


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
        self._synthesis = {}
        # version 4 (load_positions): (P * R, K) rows of each keyed layer, row p * R + level
        self.pos_freq: dict | None = None
        self.pos_bits: dict | None = None
        self.pos_tag: bytes | None = None

    def coding_rows(self, s: int, l: int, static_rows: np.ndarray, version: int) -> tuple[np.ndarray, np.ndarray]:
        """(table, row of each symbol) a layer's symbols are coded with: version 4 codes a keyed
        layer under its position table (position_rows); before it, and the first layer always,
        under the static rows of F."""
        if version == 4 and (s, l) in self.key_level:
            return self.pos_freq[(s, l)], position_rows(static_rows, self.model.cfg.block ** 2, self.freq[(s, l)].shape[0])
        return self.freq[(s, l)], static_rows

    def synthesis(self, integer: bool):
        """The reconstruction of versions 1-2 (FloatSynthesis) or of version 3 (the integer
        one of intsynth.py), built on first use."""
        if integer not in self._synthesis:
            if integer:
                from .intsynth import IntSynthesis  # lazy: it imports torch, which only NVTC coding needs

                self._synthesis[integer] = IntSynthesis(self.model, self.freq)
            else:
                self._synthesis[integer] = FloatSynthesis(self)
        return self._synthesis[integer]


@lru_cache(maxsize=4)
def load(rate: int) -> _Loaded:
    torch, _, _ = _imports()
    from .model import NVTC, NVTCConfig  # lazy: model.py imports torch, which only NVTC coding needs

    if rate not in WEIGHTS:
        raise CodecError(f"NVTC rate point {rate} is not known to this decoder (known: {sorted(WEIGHTS)})")
    path = weights_path(rate)
    tensors, meta, digest = read_checked(path, WEIGHTS[rate][1], f"NVTC rate point {rate} ({path.name})")
    training_only = ("logits", "key_embed", "param_table", "prior_mlp")  # the priors, replaced by tables at export
    model, cfg = build_model(NVTC, NVTCConfig, tensors, meta, lambda k: any(p in training_only for p in k.split(".")),
                             f"NVTC {path.name}")
    freq, key_level, bits = {}, {}, {}
    for s, l in cfg.coding_order():
        f = tensors[f"tables.{s}.{l}.freq"].numpy().astype(np.int64)
        freq[(s, l)] = f.astype(np.float64)  # exact: integers < 2**53
        bits[(s, l)] = torch.from_numpy(-np.log2(f / f.sum(-1, keepdims=True))).float()  # encoder only
        if f"tables.{s}.{l}.key_level" in tensors:
            key_level[(s, l)] = tensors[f"tables.{s}.{l}.key_level"].long()
    ld = _Loaded(model, freq, key_level, bits, float(meta["lmbda"]), bytes.fromhex(digest[:8]))
    if rate in POSITIONS:
        _load_positions(ld, rate, digest, torch)
    return ld


def _load_positions(ld: _Loaded, rate: int, weights_sha256: str, torch) -> None:
    """Version 4's tables (spec/codecs.md §4.3, §4.5): verified in full, bound to these weights."""
    path = positions_path(rate)
    tensors, meta, digest = read_checked(path, POSITIONS[rate][1], f"NVTC position tables {rate} ({path.name})")
    if meta.get("weights_sha256") != weights_sha256:
        raise CodecError(f"NVTC position tables {path.name} were measured on other weights ({meta.get('weights_sha256')})")
    P = ld.model.cfg.block ** 2
    pos_freq, pos_bits = {}, {}
    for layer in ld.key_level:
        s, l = layer
        f = tensors[f"tables.{s}.{l}.freq_pos"].numpy().astype(np.int64)
        if f.shape != (P * ld.freq[layer].shape[0], ld.freq[layer].shape[1]) or (f < 1).any():
            raise CodecError(f"NVTC position tables {path.name}: layer {s}.{l} has shape {f.shape}")
        pos_freq[layer] = f.astype(np.float64)
        pos_bits[layer] = torch.from_numpy(-np.log2(f / f.sum(-1, keepdims=True))).float()  # encoder only
    ld.pos_freq, ld.pos_bits, ld.pos_tag = pos_freq, pos_bits, bytes.fromhex(digest[:8])


def _padded_size(w: int, h: int, m: int) -> tuple[int, int]:
    return -(-w // m) * m, -(-h // m) * m


def _expected_where_skipped(ld: _Loaded, syn, s: int, l: int, r_hat, keep: np.ndarray, level, n_blocks: int):
    """r_hat (N, P, d) with each symbol that is not coded (keep False) replaced by its static
    row's expected codeword sum_k pmf_r(k) c_{p,k}.  Its index (the row's most probable) still
    keys the next layer; measured on kodim05 at Q 60, margin 0: +0.18 dB overall and +0.5 dB in
    the boundary band against that index's own codeword, whose speckle leaks into the group."""
    import torch

    P = ld.model.cfg.block ** 2
    skip = ~keep
    rows = _static_rows(ld, s, l, level, n_blocks)[skip]
    pos = np.tile(np.arange(P), n_blocks)[skip]
    flat = r_hat.reshape(-1, r_hat.shape[-1]).clone()
    flat[torch.from_numpy(skip)] = syn.expected_rows(s, l, rows, pos)
    return flat.view_as(r_hat)


def _run(ld: _Loaded, B: int, Hp: int, Wp: int, choose, n_coded: int | None = None, coded=None,
         integer: bool = False):
    """The coarse-to-fine loop shared by encoder and decoder: same order, same contexts.

    Only the first n_coded layers in coding order are coded; a later layer adds its
    expected codeword instead (mean_codeword), and its synthesis VT units still run.
    coded: region coding's maps (coded_maps); a symbol not coded adds its expected codeword.
    integer: the synthesis of bitstream version 3 (intsynth.py): grid integers out."""
    m, cfg = ld.model, ld.model.cfg
    b = cfg.block
    idx = {}
    n_coded = len(cfg.coding_order()) if n_coded is None else n_coded
    syn = ld.synthesis(integer)

    def layer(s, l, base, hw):
        n_blocks = B * (hw[0] // b) * (hw[1] // b)
        if len(idx) >= n_coded:
            return syn.mean_codeword(s, l, (s, l) in ld.key_level, n_blocks)
        prev = m.previous(s, l)
        level = None
        if prev is not None:
            level = ld.key_level[(s, l)][m.context_keys(s, prev, idx[prev], B, hw)]
        index = choose(s, l, base, level, n_blocks)
        idx[(s, l)] = index
        r_hat = syn.lookup(s, l, index)
        if coded is not None:
            r_hat = _expected_where_skipped(ld, syn, s, l, r_hat, coded[s], level, n_blocks)
        return r_hat

    return m.coarse_to_fine(Hp, Wp, layer, syn.transforms)


class FloatSynthesis:
    """The reconstruction of versions 1 and 2: the model's own float32 transforms and the
    codewords they add (intsynth.IntSynthesis is version 3's, with the same methods)."""

    transforms = None  # NVTC.coarse_to_fine runs the model's own modules

    def __init__(self, ld: _Loaded):
        self.ld = ld

    def lookup(self, s: int, l: int, index):
        return self.ld.model.vq[s][l].lookup(index)

    def _pmf(self, s: int, l: int):
        import torch

        f = torch.from_numpy(self.ld.freq[(s, l)])
        return f / f.sum(-1, keepdim=True)

    def mean_codeword(self, s: int, l: int, keyed: bool, n_blocks: int):
        """(n_blocks, P, d): each position's codewords averaged with the static table's
        probabilities (its row p for a position-keyed layer, else the mean of its rows) - what
        an uncoded layer adds.  Measured on kodim07 at nvtc:80/1: 27.9 dB, against 15.5 dB when
        the layer added nothing."""
        import torch

        pmf = self._pmf(s, l)
        P = self.ld.model.cfg.block ** 2
        w = pmf.mean(0).expand(P, -1) if keyed else pmf
        cb = self.ld.model.vq[s][l].codebook
        return torch.einsum("pk,pkd->pd", w.to(cb.dtype), cb).unsqueeze(0).expand(n_blocks, -1, -1)

    def expected_rows(self, s: int, l: int, rows: np.ndarray, pos: np.ndarray):
        """Static row rows[i]'s expected codeword at block position pos[i]."""
        import torch

        cb = self.ld.model.vq[s][l].codebook  # (P, K, d)
        table = torch.einsum("rk,pkd->rpd", self._pmf(s, l).to(cb.dtype), cb)  # (R, P, d)
        return table[torch.from_numpy(rows), torch.from_numpy(pos)]

    def to_image(self, x_hat, w: int, h: int) -> Image.Image:
        import torch

        a = x_hat[0, :, :h, :w].clamp(0, 1).mul(255).round().to(dtype=torch.uint8)
        return Image.fromarray(a.permute(1, 2, 0).contiguous().numpy(), "RGB")


def position_rows(static_rows: np.ndarray, n_pos: int, n_rows: int) -> np.ndarray:
    """Version 4's row p * R + r of each symbol (block-major, position p minor; r its static row)."""
    return np.tile(np.arange(n_pos, dtype=np.int64), len(static_rows) // n_pos) * n_rows + static_rows


def split_shared(data: bytes) -> tuple[tuple, bytes]:
    """(the SHARED fields, the bytes after them) of a version 2-4 payload; no other check."""
    if len(data) < SHARED.size or data[0] not in (2, 3, 4):
        raise CodecError("nvtc payload has no version 2-4 header")
    return SHARED.unpack_from(data), data[SHARED.size:]


def join_shared(fields: tuple, rest: bytes) -> bytes:
    """split_shared's inverse."""
    return SHARED.pack(*fields) + rest


def _static_rows(ld: _Loaded, s: int, l: int, level, n_blocks: int) -> np.ndarray:
    """Row of the static table of each symbol (block-major, position-minor)."""
    P = ld.model.cfg.block ** 2
    if level is None:  # unconditional: one row per block position
        return np.tile(np.arange(P, dtype=np.int64), n_blocks)
    return level.reshape(-1).numpy().astype(np.int64)


MAX_MARGIN = 64  # region coding's margin in pixels: 64 already codes whole coarsest blocks around the region


def coded_maps(cfg, region: np.ndarray, margin: int, Wp: int, Hp: int) -> dict[int, np.ndarray]:
    """Stage -> bool per symbol of each of its layers (block-major, position-minor): whether
    the symbol's cell, dilated by `margin` pixels (clipped to the padded image), holds a
    pixel of `region` ((h, w) bool; the padding is outside it).  Integer work, O(Wp * Hp)."""
    h, w = region.shape
    ii = np.zeros((Hp + 1, Wp + 1), np.int64)  # integral image of the region
    ii[1:h + 1, 1:w + 1] = np.asarray(region, bool).cumsum(0, dtype=np.int64).cumsum(1)
    ii[h + 1:, :] = ii[h, :]
    ii[:, w + 1:] = ii[:, w:w + 1]
    b = cfg.block
    out = {}
    for s, d in enumerate(cfg.downscale):
        y = np.arange(Hp // d)
        x = np.arange(Wp // d)
        y0, y1 = np.clip(y * d - margin, 0, Hp), np.clip((y + 1) * d + margin, 0, Hp)
        x0, x1 = np.clip(x * d - margin, 0, Wp), np.clip((x + 1) * d + margin, 0, Wp)
        count = ii[y1][:, x1] - ii[y0][:, x1] - ii[y1][:, x0] + ii[y0][:, x0]
        gh, gw = count.shape
        out[s] = (count > 0).reshape(gh // b, b, gw // b, b).transpose(0, 2, 1, 3).reshape(-1)
    return out


def _cell_means(cfg, values: np.ndarray) -> dict[int, np.ndarray]:
    """Stage -> mean of `values` ((Hp, Wp) floats) over each symbol's cell, block-major."""
    b = cfg.block
    out = {}
    for s, d in enumerate(cfg.downscale):
        hp, wp = values.shape[0] // d, values.shape[1] // d
        cells = values.reshape(hp, d, wp, d).mean((1, 3))
        out[s] = cells.reshape(hp // b, b, wp // b, b).transpose(0, 2, 1, 3).reshape(-1)
    return out


def _check_region(region, margin: int, w: int, h: int, error) -> None:
    if region.shape != (h, w):
        raise error(f"nvtc region is {region.shape[1]}x{region.shape[0]}, the image {w}x{h}")
    if not region.any():
        raise error("nvtc region holds no pixel")
    if not 0 <= margin <= MAX_MARGIN:
        raise error(f"nvtc region margin {margin} outside 0..{MAX_MARGIN}")


def n_layers(ld: _Loaded) -> int:
    return len(ld.model.cfg.coding_order())


def encode(image: Image.Image, model: int, *, q: int | None = None, drop: int = 0, adapt: bool = True,
           trace: list | None = None, region: np.ndarray | None = None, margin: int = 0,
           weight: np.ndarray | None = None, version: int | None = None) -> bytes:
    """Code an RGB image with weights `model`; q (10..100) sets ECVQ's lambda (None: the
    model's own), drop = layers left uncoded at the fine end, adapt=False codes every
    layer with the static tables (the cheapest decode).  trace, if given, receives
    (layer, symbols, rows, adaptation byte, the table the rows index) per coded layer (bench/).
    region, margin: region coding (module docstring); decode needs the same two.
    weight: (h, w) per-pixel weight of the distortion in ECVQ's choice (default 1; the
    padding takes its nearest pixel's): a symbol's distortion counts its cell's mean weight,
    i.e. its rate is divided by it.  An encoder choice; the decoder never needs it.
    version: 4 (the rate point's position tables) or 3; None = 4 where the rate point has
    position tables, else 3."""
    torch, constriction, _ = _imports()
    if has_alpha(image):
        raise InvalidSyntax("nvtc codes RGB only; use png or webp for images with alpha")
    w, h = image.size
    if w > MAX_SIDE or h > MAX_SIDE:
        raise InvalidSyntax(f"nvtc codes images up to {MAX_SIDE} pixels a side, got {w}x{h}")
    if q is not None and not Q_RANGE[0] <= q <= Q_RANGE[1]:
        raise InvalidSyntax(f"nvtc quality {q} outside {Q_RANGE[0]}..{Q_RANGE[1]}")
    ld = load(model)
    if version is None:
        version = VERSION if ld.pos_freq is not None else VERSION_INT
    if version not in (VERSION_INT, VERSION) or (version == VERSION and ld.pos_freq is None):
        raise InvalidSyntax(f"nvtc rate point {model} writes version {VERSION_INT}"
                            f"{'' if ld.pos_freq is None else f' or {VERSION}'}, not {version}")
    if not 0 <= drop < n_layers(ld):
        raise InvalidSyntax(f"nvtc can leave 0..{n_layers(ld) - 1} layers uncoded, not {drop}")
    lmbda = ld.lmbda if q is None else q_lambda(q)
    cfg = ld.model.cfg
    P = cfg.block ** 2
    Wp, Hp = _padded_size(w, h, cfg.pad_multiple)
    maps = None
    if region is not None:
        _check_region(region, margin, w, h, InvalidSyntax)
        maps = coded_maps(cfg, region, margin, Wp, Hp)
    scale = None
    if weight is not None:
        if weight.shape != (h, w) or not (weight > 0).all():
            raise InvalidSyntax("nvtc distortion weights must be positive, one per pixel")
        scale = {s: torch.from_numpy(1.0 / c).float().view(-1, P, 1) for s, c in
                 _cell_means(cfg, np.pad(weight.astype(np.float64), ((0, Hp - h), (0, Wp - w)), mode="edge")).items()}
    x = torch.from_numpy(np.asarray(image.convert("RGB"), dtype=np.float32) / 255.0).permute(2, 0, 1)[None]
    x = torch.nn.functional.pad(x, (0, Wp - w, 0, Hp - h), mode="replicate")
    m = ld.model
    coded = []  # (layer, symbols, static rows, adaptation byte); symbols: the coded ones only
    masks = []  # the layers' coded maps (None: every symbol)
    with torch.no_grad(), one_thread(torch):
        vectors = m.analysis(x)

        def choose(s, l, base, level, n_blocks):
            r = m._to_vectors(m.proj_in[s][l](vectors[s][l] - base))
            static = _static_rows(ld, s, l, level, n_blocks)
            table, rows = ld.coding_rows(s, l, static, version)
            if level is None:
                bits = ld.bits[(s, l)]
            elif version == 4:  # the rate ECVQ weighs is the one the rows will code
                bits = ld.pos_bits[(s, l)][torch.from_numpy(rows).view(level.shape)]
            else:
                bits = ld.bits[(s, l)][level]
            if scale is not None:  # distortion x w: the same argmin as rate / w
                bits = bits * scale[s]
            index = m.vq[s][l].quantize(r, bits, lmbda)
            sym = index.reshape(-1).numpy().astype(np.int64)
            keep = None if maps is None else maps[s]
            if keep is not None:  # the later layers see the fixed index, as the decoder will
                sym = np.where(keep, sym, entropy.fill_index(ld.freq[(s, l)], static))
                index = torch.from_numpy(sym).view(index.shape)
                sym = sym[keep]
            mix = entropy.best_mix(table, rows, P, sym, keep)[0] if adapt else 0
            coded.append(((s, l), sym, rows, mix, table))
            masks.append(keep)
            return index

        _run(ld, 1, Hp, Wp, choose, n_layers(ld) - drop, maps)
    enc = constriction.stream.queue.RangeEncoder()
    family = constriction.stream.model.Categorical(perfect=False)
    for (layer, sym, rows, mix, table), keep in zip(coded, masks):
        lm = entropy.LayerModel(table, rows, P, *entropy.unpack_mix(mix), keep)
        for a, b in lm.symbol_ranges():
            enc.encode(sym[a:b].astype(np.int32), family, lm.rows_for(a, b).astype(np.float64))
            lm.update(a, b, sym[a:b])
    if trace is not None:
        trace.extend(coded)
    words = enc.get_compressed().astype("<u4").tobytes()
    tag = ld.pos_tag if version == 4 else ld.tag
    head = FIXED_V2.pack(version, model, w, h, tag, 0 if q is None else q, len(coded))
    head += bytes(mix for _, _, _, mix, _ in coded)
    return head + struct.pack(">I", zlib.crc32(head + words)) + words


class Header:
    def __init__(self, version, model, w, h, tag, q, n_coded, mixes, size):
        self.version, self.model, self.width, self.height, self.tag = version, model, w, h, tag
        self.q, self.n_coded, self.mixes, self.size = q, n_coded, mixes, size  # n_coded None: all


def parse_header(data: bytes) -> Header:
    """The header of a version 1, 2 or 3 payload; validates framing and the CRC only."""
    if len(data) < 1:
        raise CodecError("nvtc payload is empty")
    version = data[0]
    if version == 1:
        if len(data) < HEADER_V1.size:
            raise CodecError(f"nvtc payload is {len(data)} bytes, shorter than its {HEADER_V1.size}-byte header")
        _, model, w, h, tag, crc = HEADER_V1.unpack_from(data)
        hd = Header(1, model, w, h, tag, 0, None, None, HEADER_V1.size)
        covered = data[:10]
    elif version in (2, 3, 4):  # the same header; 3 and 4 reconstruct with the integer synthesis
        if len(data) < FIXED_V2.size:
            raise CodecError(f"nvtc payload is {len(data)} bytes, shorter than its {FIXED_V2.size}-byte fixed header")
        _, model, w, h, tag, q, n = FIXED_V2.unpack_from(data)
        if q != 0 and not Q_RANGE[0] <= q <= Q_RANGE[1]:
            raise CodecError(f"nvtc payload declares quality {q}, outside 0 or {Q_RANGE[0]}..{Q_RANGE[1]}")
        if n < 1:
            raise CodecError("nvtc payload codes no layer: at least one must be coded")
        end = FIXED_V2.size + n
        if len(data) < end + 4:
            raise CodecError("nvtc payload is shorter than its header")
        (crc,) = struct.unpack_from(">I", data, end)
        hd = Header(version, model, w, h, tag, q, n, data[FIXED_V2.size:end], end + 4)
        covered = data[:end]
    else:
        raise CodecError(f"nvtc bitstream version {version} is not supported (this decoder reads 1, 2, 3 and 4)")
    if w == 0 or h == 0:
        raise CodecError("nvtc payload declares an empty image")
    if (len(data) - hd.size) % 4:
        raise CodecError("nvtc payload is not a whole number of 32-bit coder words")
    if zlib.crc32(covered + data[hd.size:]) != crc:
        raise CodecError("nvtc payload CRC mismatch: the payload is corrupt")
    return hd


def with_version(data: bytes, version: int) -> bytes:
    """A version-2 or -3 payload relabelled as the other (their layout and symbols are the
    same, §4.1), CRC recomputed: the same symbols through the float or the integer
    synthesis, for measuring one against the other (bench/nvtc_intsynth.py, tests)."""
    hd = parse_header(data)
    if hd.version not in (2, 3) or version not in (2, 3):
        raise InvalidSyntax(f"only versions 2 and 3 share a layout, not {hd.version} -> {version}")
    head = bytes([version]) + data[1:hd.size - 4]
    return head + struct.pack(">I", zlib.crc32(head + data[hd.size:])) + data[hd.size:]


def read_header(data: bytes) -> tuple[int, int, int, bytes]:
    """-> (model, width, height, weights tag); validates framing only."""
    hd = parse_header(data)
    return hd.model, hd.width, hd.height, hd.tag


def decode(data: bytes, *, max_pixels: int, trace: list | None = None, region: np.ndarray | None = None,
           margin: int = 0) -> Image.Image:
    """trace, if given, receives (layer, symbols) per decoded layer: the integer-exact part.
    region, margin: those the payload was encoded with (region coding, codec 17 only)."""
    if len(data) >= 6:  # the pixel limit comes before everything, even the CRC
        _, _, w, h = struct.unpack_from(">BBHH", data)
        if w * h > max_pixels:
            raise LimitExceeded(f"nvtc payload is {w}x{h} = {w * h} pixels, over the limit {max_pixels}")
    hd = parse_header(data)
    torch, constriction, _ = _imports()
    ld = load(hd.model)
    if hd.version == 4 and ld.pos_tag is None:
        raise CodecError(f"nvtc version-4 payload of rate point {hd.model}, which has no position tables here")
    tag = ld.pos_tag if hd.version == 4 else ld.tag
    if hd.tag != tag:
        raise CodecError(f"nvtc payload was coded with other weights (tag {hd.tag.hex()}, installed {tag.hex()})")
    n_coded = n_layers(ld) if hd.n_coded is None else hd.n_coded
    if n_coded > n_layers(ld):
        raise CodecError(f"nvtc payload codes {n_coded} layers; these weights have {n_layers(ld)}")
    cfg = ld.model.cfg
    P = cfg.block ** 2
    w, h = hd.width, hd.height
    Wp, Hp = _padded_size(w, h, cfg.pad_multiple)
    maps = None
    if region is not None:
        _check_region(region, margin, w, h, CodecError)
        maps = coded_maps(cfg, region, margin, Wp, Hp)
    words = np.frombuffer(data, dtype="<u4", offset=hd.size).astype(np.uint32)
    if len(words) == 0:
        raise CodecError("nvtc payload has no coder words")
    mixes = [entropy.unpack_mix(b) for b in hd.mixes] if hd.mixes is not None else None
    dec = constriction.stream.queue.RangeDecoder(words)
    family = constriction.stream.model.Categorical(perfect=False)
    layer_no = [0]

    def choose(s, l, base, level, n_blocks):
        w1, w2 = (0, 0) if mixes is None else mixes[layer_no[0]]
        layer_no[0] += 1
        static = _static_rows(ld, s, l, level, n_blocks)
        table, rows_all = ld.coding_rows(s, l, static, hd.version)
        lm = entropy.LayerModel(table, rows_all, P, w1, w2, None if maps is None else maps[s])
        K = table.shape[1]
        out = np.empty(len(lm.rows), dtype=np.int64)  # the coded symbols
        for a, b in lm.symbol_ranges():
            rows = lm.rows_for(a, b).astype(np.float64)
            try:
                sym = dec.decode(family, rows)
            except Exception as e:  # constriction reports corrupt data as ValueError/AssertionError
                raise CodecError(f"nvtc range decoder failed: {e}") from None
            sym = np.asarray(sym, dtype=np.int64)
            if sym.min(initial=0) < 0 or sym.max(initial=0) >= K:
                raise CodecError("nvtc payload decodes to an out-of-range codeword")
            out[a:b] = sym
            lm.update(a, b, sym)
        if lm.sel is not None:  # the uncoded symbols: version 3's fill, whatever the version
            full = entropy.fill_index(ld.freq[(s, l)], static)
            full[lm.sel] = out
            out = full
        if trace is not None:
            trace.append(((s, l), out.copy()))
        return torch.from_numpy(out).view(n_blocks, -1)

    integer = hd.version >= 3
    with torch.no_grad(), one_thread(torch):
        x_hat = _run(ld, 1, Hp, Wp, choose, n_coded, maps, integer=integer)
    return ld.synthesis(integer).to_image(x_hat, w, h)
