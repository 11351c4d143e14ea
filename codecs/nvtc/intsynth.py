"""NVTC's synthesis in integer arithmetic: bitstream version 3 (spec/codecs.md §4.4.1).

Versions 1 and 2 run the synthesis transforms in float32, so two machines (or two BLAS
builds) may reconstruct an image a few least-significant bits apart.  Version 3 fixes
every number of the synthesis on a binary fixed-point grid and specifies each operation
on integers, so the pixels are the same on every machine:

* an activation x is the integer round(x * 2**A), A = 16, clamped to |x| < 2**8 after
  every operation that can grow it (it never reaches 4 on Kodak: the clamp is there so
  that the bound below holds for any payload);
* a weight w is round(w * 2**A) (the fp16 weights times 2**16 are exact in binary64;
  round half to even), a bias round(b * 2**(2A)); |w| < 4 is checked when the model loads;
* a linear map (1x1 convolution, channel or block-position matrix, each tap of a 3x3
  convolution) sums integer products, adds the bias and rescales by
  floor((sum + 2**(A-1)) / 2**A);
* GELU is a table of round(gelu(i / 2**G) * 2**A) for |i| <= 8 * 2**G (G = 10), linearly
  interpolated between its entries in integers; x <= -8 gives 0, x >= 8 gives x.

The integers are held in binary64 tensors and the sums run through ordinary matrix
products: every product and every partial sum is an integer below 2**51 in magnitude
(432 terms of clamped activations < 2**24 and weights < 2**18 in a 3x3 convolution; the
unclamped base + projection, < 2**25, meets only fc1's 64 terms), so binary64 represents each
exactly and the result does not depend on the order of the additions, the BLAS library
or the number of threads.  tests/codecs/test_nvtc_intsynth.py checks the float64 path
against the same operations in int64.
"""

from __future__ import annotations

import hashlib
import math
from functools import lru_cache

import numpy as np
import torch
import torch.nn as nn

from aigif.errors import CodecError

from .model import ChannelFC, ResBlock, ResBlocks, VTUnit

A = 16  # fractional bits of activations and weights
HALF_INT = 1 << (A - 1)
LIMIT_INT = (1 << (A + 8)) - 1  # |x| < 2**8 as an integer of the grid
WEIGHT_LIMIT = 4.0
BIAS_LIMIT = 256.0  # |B| < 2**40 on the 2**-32 grid: the sums' bound still holds
G = 10  # GELU table step 2**-G
GELU_SPAN = 8  # the table covers -8..8
# sha256 of the GELU table as little-endian int64: a machine whose erf would give another
# table refuses to decode version 3 rather than reconstruct other pixels.
GELU_TABLE_SHA256 = "331cbe97111a67ad4ba1b21743a50f03092ccd596e688c1b2f178b27577af059"


@lru_cache(maxsize=1)
def gelu_table() -> np.ndarray:
    """T[i + 8192] for i = -8192..8192 (spec/codecs.md §4.4.1), int64; checked against its sha256."""
    n = GELU_SPAN << G
    x = [i / (1 << G) for i in range(-n, n + 1)]
    t = np.array([round(v * 0.5 * (1.0 + math.erf(v / math.sqrt(2.0))) * (1 << A)) for v in x], dtype=np.int64)
    if hashlib.sha256(t.astype("<i8").tobytes()).hexdigest() != GELU_TABLE_SHA256:
        raise CodecError("this machine's erf gives another GELU table than spec/codecs.md §4.4.1: "
                         "nvtc version-3 payloads cannot be decoded exactly here")
    return t


def _shift_down(a, bits: int):
    """floor(a / 2**bits) of integers: exact either way (a power-of-two scaling, then floor,
    of an integer below 2**53 in binary64; an arithmetic shift in int64)."""
    if a.is_floating_point():
        return (a * (2.0 ** -bits)).floor_()
    return a >> bits


def _rescale_in_place(acc):
    """floor((acc + 2**(A-1)) / 2**A), clamped to the activation range, of a fresh sum
    whose 2**(A-1) is already in it (every linear map folds it into its bias)."""
    if acc.is_floating_point():
        acc.mul_(2.0 ** -A).floor_()
    else:
        torch.bitwise_right_shift(acc, A, out=acc)
    return acc.clamp_(-LIMIT_INT, LIMIT_INT)


def grid(t, bits: int, dtype):
    """round(t * 2**bits) as integers held in `dtype` (round half to even)."""
    return torch.round(t.detach().to(torch.float64) * float(1 << bits)).to(dtype)


def _weight(t, name: str, dtype):
    if float(t.detach().abs().max()) >= WEIGHT_LIMIT:
        raise CodecError(f"nvtc weights {name} exceed |w| < {WEIGHT_LIMIT}: no integer synthesis for them")
    return grid(t, A, dtype)


def _bias(t, name: str, dtype):
    if float(t.detach().abs().max()) >= BIAS_LIMIT:
        raise CodecError(f"nvtc biases {name} exceed |b| < {BIAS_LIMIT}: no integer synthesis for them")
    return grid(t, 2 * A, dtype)


class Gelu:
    """The table GELU of spec/codecs.md §4.4.1 on grid integers."""

    def __init__(self, dtype):
        t = gelu_table()
        self.table = torch.from_numpy(t).to(dtype)
        self.slope = torch.from_numpy(np.append(np.diff(t), 0)).to(dtype)  # T[i+1] - T[i]

    def __call__(self, x):
        n = GELU_SPAN << G
        step = 1 << (A - G)
        top = n * step  # 2**19: x = 8
        lo = torch.clamp(x, -top, top)
        q = _shift_down(lo, A - G)  # table index - n
        frac = lo - q * step  # 0 <= frac < 2**(A-G)
        i = (q + n).long()
        # x <= -8 lands on T[-8192] = 0 with frac 0: the table gives the rule's 0 itself
        y = self.table[i] + _shift_down(self.slope[i] * frac, A - G)
        return torch.where(x >= top, x, y)


class Conv:
    """A 1x1 or 3x3 (padding 1) convolution on (N, C, H, W) grid integers."""

    def __init__(self, conv, name: str, dtype):
        k = conv.kernel_size[0]
        if conv.kernel_size != (k, k) or k not in (1, 3) or conv.stride != (1, 1) or conv.groups != 1 \
                or conv.padding != (k // 2, k // 2):
            raise CodecError(f"nvtc integer synthesis has no form for {name} ({conv})")
        self.k = k
        w = _weight(conv.weight, name, dtype)  # (O, I, k, k)
        # (k*k*I, O): tap-major rows, matching the column order of __call__
        self.w_mat = w.permute(2, 3, 1, 0).reshape(k * k * w.shape[1], w.shape[0]).contiguous()
        b = _bias(conv.bias, name, dtype) if conv.bias is not None else torch.zeros(w.shape[0], dtype=dtype)
        self.b_half = b + HALF_INT  # the bias with rescale's rounding offset folded in

    def __call__(self, x):
        N, C, H, W = x.shape
        # channels last, so that each tap is one matrix product over the channels
        xl = x.permute(0, 2, 3, 1)
        if self.k == 1:
            acc = torch.matmul(xl, self.w_mat).add_(self.b_half)
        else:
            # Output on the padded width W + 2 (its last 2 columns dropped): tap (dy, dx) of
            # every output is then one contiguous run of the flattened padded input, at
            # offset dy (W + 2) + dx, so each tap is a plain product, accumulated in place.
            Wq = W + 2
            L = H * Wq
            flat = torch.nn.functional.pad(xl, (0, 0, 1, 1, 1, 1)).reshape(N, (H + 2) * Wq, C)
            flat = torch.nn.functional.pad(flat, (0, 0, 0, 2))  # the last taps run 2 past the end
            O = self.w_mat.shape[1]
            acc = self.b_half.expand(N, L, O).clone()
            for t, (dy, dx) in enumerate((dy, dx) for dy in range(3) for dx in range(3)):
                off = dy * Wq + dx
                tap = self.w_mat[t * C:(t + 1) * C]
                for n in range(N):
                    acc[n].addmm_(flat[n, off:off + L], tap)
            acc = acc.view(N, H, Wq, O)[:, :, :W, :]
        return _rescale_in_place(acc).permute(0, 3, 1, 2)


class BlockFC:
    """DepthwiseBlockFC: per channel, a matrix over the b*b positions of a block."""

    def __init__(self, m, name: str, dtype):
        self.w = _weight(m.weight, name, dtype)  # (C, n, n)
        self.b_half = _bias(m.bias, name, dtype) + HALF_INT  # (C, n), rescale's offset folded in

    def __call__(self, x):
        shape = x.shape
        flat = x.flatten(start_dim=-2)
        acc = torch.einsum("bcn,cnm->bcm", flat, self.w).add_(self.b_half)
        return _rescale_in_place(acc).reshape(shape)


def build(module, name: str, dtype):
    """The integer form of a synthesis module of codecs/nvtc/model.py (CodecError for others)."""
    if isinstance(module, nn.Sequential):
        parts = [build(m, f"{name}.{i}", dtype) for i, m in enumerate(module)]

        def seq(x):
            for p in parts:
                x = p(x)
            return x
        return seq
    if isinstance(module, VTUnit):
        intra, inter = build(module.intra, f"{name}.intra", dtype), BlockFC(module.inter, f"{name}.inter", dtype)

        def vt(x):
            x = (x + intra(x)).clamp_(-LIMIT_INT, LIMIT_INT)
            return (x + inter(x)).clamp_(-LIMIT_INT, LIMIT_INT)
        return vt
    if isinstance(module, ChannelFC):
        fc1, fc2, act = Conv(module.fc1, f"{name}.fc1", dtype), Conv(module.fc2, f"{name}.fc2", dtype), Gelu(dtype)
        return lambda x: fc2(act(fc1(x)))
    if isinstance(module, (ResBlock, ResBlocks)):
        inner = build(module.m, f"{name}.m", dtype)
        return lambda x: (x + inner(x)).clamp_(-LIMIT_INT, LIMIT_INT)
    if isinstance(module, nn.Conv2d):
        return Conv(module, name, dtype)
    if isinstance(module, nn.GELU):
        if module.approximate != "none":
            raise CodecError(f"nvtc integer synthesis has the erf GELU only, not {name}")
        return Gelu(dtype)
    if isinstance(module, nn.PixelShuffle):
        f = module.upscale_factor
        return lambda x: torch.nn.functional.pixel_shuffle(x, f)  # a permutation: exact
    raise CodecError(f"nvtc integer synthesis has no form for {name} ({type(module).__name__})")


def round_div(a: np.ndarray, b) -> np.ndarray:
    """round(a / b) for int64 a, positive int64 b, halves up: floor((2a + b) / 2b)."""
    return (2 * a + b) // (2 * b)


class IntSynthesis:
    """The integer synthesis of one NVTC model: the parts NVTC.coarse_to_fine drives
    (proj_out, vt_dec, up, from_vectors) and the codewords it adds; the same methods as
    codec.FloatSynthesis, the reconstruction of versions 1 and 2."""

    def __init__(self, model, freq: dict, dtype=None):
        """dtype: what holds the integers, torch.float64 (the decoder: BLAS products) or
        torch.int64 (tests: the same operations in integer arithmetic)."""
        dtype = torch.float64 if dtype is None else dtype
        self.dtype = dtype
        self.from_vectors = model.from_vectors  # a reshape
        self.proj_out = [[build(m, f"proj_out.{s}.{l}", dtype) for l, m in enumerate(ms)] for s, ms in enumerate(model.proj_out)]
        self.vt_dec = [[build(m, f"vt_dec.{s}.{l}", dtype) for l, m in enumerate(ms)] for s, ms in enumerate(model.vt_dec)]
        self.up = [build(m, f"up.{s}", dtype) for s, m in enumerate(model.up)]
        self.codebook = {}
        self.expected = {}  # (s, l) -> (R, P, d) int64: each table row's expected codeword per position
        for s, l in model.cfg.coding_order():
            cb = _weight(model.vq[s][l].codebook, f"vq.{s}.{l}.codebook", dtype)  # (P, K, d)
            self.codebook[(s, l)] = cb
            f = np.asarray(freq[(s, l)], dtype=np.int64)  # (R, K) integer rows
            c = cb.to(torch.int64).numpy()
            # |sum_k F[r][k] c[p][k]| <= 2**16 (a row's sum, §4.3) * 2**18: exact in int64
            num = np.einsum("rk,pkd->rpd", f, c)
            self.expected[(s, l)] = round_div(num, f.sum(-1)[:, None, None])

    def lookup(self, s: int, l: int, index):
        cb = self.codebook[(s, l)]
        pos = torch.arange(cb.shape[0]).unsqueeze(0)
        return cb[pos, index]

    def mean_codeword(self, s: int, l: int, keyed: bool, n_blocks: int):
        """An uncoded layer's codewords: row p's expected codeword at position p, or, for a
        layer keyed on the previous one, the rounded mean over its rows."""
        e = self.expected[(s, l)]  # (R, P, d)
        if keyed:
            m = round_div(e.sum(0), e.shape[0])
        else:
            P = e.shape[1]
            m = e[np.arange(P), np.arange(P)]
        return torch.from_numpy(m).to(self.dtype).unsqueeze(0).expand(n_blocks, -1, -1)

    def expected_rows(self, s: int, l: int, rows: np.ndarray, pos: np.ndarray):
        return torch.from_numpy(self.expected[(s, l)][rows, pos]).to(self.dtype)

    @property
    def transforms(self):
        return self  # proj_out, vt_dec, up and from_vectors, for NVTC.coarse_to_fine

    def to_image(self, x_hat, w: int, h: int):
        """round(clamp(x, 0, 1) * 255) on the grid, halves up, as an RGB image."""
        from PIL import Image

        a = x_hat[0, :, :h, :w]
        px = _shift_down(a * 255 + HALF_INT, A).clamp_(0, 255)
        return Image.fromarray(px.permute(1, 2, 0).contiguous().numpy().astype(np.uint8), "RGB")
