"""NVTC: nonlinear vector transform coding (Feng, Guo, Li, Chen, CVPR 2023), scaled for CPU.

Follows the structure of USTC-IMCL/NVTC `image/nvtc_image/model/nvtc.py` (Apache-2.0):
multi-stage (/4, /8, /16) coarse-to-fine residual vector quantisation, VT units
(intra-vector channel FC + inter-vector depthwise block FC over 4x4 block positions),
entropy-constrained VQ with one codebook per block position, dead-codeword
re-activation, an unconditional prior for the first coded layer and conditional priors
after it, with the prior parameter snapped to a finite table.

One deliberate change, for cross-machine determinism of the entropy decoder: the
original predicts the prior parameter with a conv net from the float reconstruction
x_hat.  A float net can land on the other side of a snapping boundary on another
machine and desynchronise the arithmetic decoder.  Here the prior parameter is a
learned embedding of an *integer* key - (block position, codeword index) of the
previously coded layer at the same place (the parent at the coarser stage for a stage's
first layer) - snapped to the parameter table.  After training the key -> table-row
map and the table's pmfs are exported as integers, so the decoder's contexts and
CDFs never touch float arithmetic (see spec/codecs.md).

torch is imported at module level: this module is only reached through the lazy
NVTC path of aigif_codecs.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field

import torch
import torch.nn as nn
import torch.nn.functional as F

LN2 = math.log(2.0)


@dataclass(frozen=True)
class NVTCConfig:
    n_layer: tuple = (3, 4, 4)  # quantisation layers per stage (original: 4, 6, 6)
    downscale: tuple = (4, 8, 16)
    vt_dim: tuple = (48, 64, 64)  # original: 192 everywhere
    vt_nunit: tuple = (1, 1, 1)  # original: 2
    block: int = 4
    cb_dim: tuple = (4, 8, 16)
    cb_size: tuple = (128, 256, 512)
    param_dim: int = 4
    param_nlevel: tuple = (64, 32, 32)  # original: 128, 64, 32
    prior_hidden: int = 64
    stage0_resblocks: int = 2  # original: 3

    def to_dict(self) -> dict:
        return {k: list(v) if isinstance(v, tuple) else v for k, v in asdict(self).items()}

    @classmethod
    def from_dict(cls, d: dict) -> "NVTCConfig":
        return cls(**{k: tuple(v) if isinstance(v, list) else v for k, v in d.items()})

    @property
    def n_stage(self) -> int:
        return len(self.n_layer)

    @property
    def pad_multiple(self) -> int:
        return self.block * max(self.downscale)

    def coding_order(self) -> list[tuple[int, int]]:
        """(stage, layer) in coding order: coarsest stage first, last layer first."""
        return [(s, l) for s in reversed(range(self.n_stage)) for l in reversed(range(self.n_layer[s]))]


# -- building blocks (as in the original) ----------------------------------------------
class ChannelFC(nn.Module):
    def __init__(self, c_in: int, c_hid: int, c_out: int):
        super().__init__()
        self.fc1 = nn.Conv2d(c_in, c_hid, 1)
        self.act = nn.GELU()
        self.fc2 = nn.Conv2d(c_hid, c_out, 1)
        for m in (self.fc1, self.fc2):
            nn.init.trunc_normal_(m.weight, std=0.02)
            nn.init.zeros_(m.bias)

    def forward(self, x):
        return self.fc2(self.act(self.fc1(x)))


class DepthwiseBlockFC(nn.Module):
    """A dense matrix over the b*b positions of a block, one per channel."""

    def __init__(self, channels: int, block: int):
        super().__init__()
        n = block * block
        self.weight = nn.Parameter(torch.empty(channels, n, n))
        self.bias = nn.Parameter(torch.empty(channels, n))
        nn.init.kaiming_uniform_(self.weight, a=math.sqrt(5))
        bound = 1 / math.sqrt(n)
        nn.init.uniform_(self.bias, -bound, bound)

    def forward(self, x):
        shape = x.shape
        x = x.flatten(start_dim=-2)  # (N, C, n)
        x = torch.einsum("bcn,cnm->bcm", x, self.weight) + self.bias
        return x.reshape(shape)


class VTUnit(nn.Module):
    def __init__(self, channels: int, block: int):
        super().__init__()
        self.intra = ChannelFC(channels, channels // 2, channels)
        self.inter = DepthwiseBlockFC(channels, block)

    def forward(self, x):
        x = x + self.intra(x)
        return x + self.inter(x)


class ResBlock(nn.Module):
    def __init__(self, c: int, ks: int = 3):
        super().__init__()
        self.m = nn.Sequential(nn.Conv2d(c, c, ks, 1, ks // 2), nn.GELU(), nn.Conv2d(c, c, ks, 1, ks // 2))

    def forward(self, x):
        return x + self.m(x)


class ResBlocks(nn.Module):
    def __init__(self, c: int, n: int):
        super().__init__()
        self.m = nn.Sequential(*[ResBlock(c) for _ in range(n)])

    def forward(self, x):
        return x + self.m(x)


class LinearResBlock(nn.Module):
    def __init__(self, c: int):
        super().__init__()
        self.m = nn.Sequential(nn.Linear(c, c), nn.GELU(), nn.Linear(c, c))

    def forward(self, x):
        return x + self.m(x)


def partition(x: torch.Tensor, b: int) -> torch.Tensor:
    """(B, C, H, W) -> (B * H/b * W/b, C, b, b), blocks in raster order."""
    B, C, H, W = x.shape
    x = x.view(B, C, H // b, b, W // b, b).permute(0, 2, 4, 1, 3, 5)
    return x.reshape(B * (H // b) * (W // b), C, b, b)


def combine(x: torch.Tensor, b: int, hw: tuple[int, int]) -> torch.Tensor:
    H, W = hw
    C = x.shape[1]
    x = x.view(-1, H // b, W // b, C, b, b).permute(0, 3, 1, 4, 2, 5)
    return x.reshape(-1, C, H, W)


# -- entropy-constrained VQ with an integer-keyed conditional prior ----------------------
class ECVQ(nn.Module):
    def __init__(self, n_pos: int, cb_size: int, cb_dim: int, n_keys: int, param_dim: int,
                 param_nlevel: int, hidden: int):
        super().__init__()
        self.n_pos, self.cb_size, self.cb_dim = n_pos, cb_size, cb_dim
        self.codebook = nn.Parameter(torch.randn(n_pos, cb_size, cb_dim) / math.sqrt(cb_dim))
        self.logits = nn.Parameter(torch.zeros(n_pos, cb_size))
        self.n_keys = n_keys
        if n_keys:
            self.key_embed = nn.Parameter(torch.randn(n_keys, param_dim) / math.sqrt(param_dim))
            self.param_table = nn.Parameter(torch.randn(param_nlevel, param_dim) / math.sqrt(param_dim))
            self.prior_mlp = nn.Sequential(
                nn.Linear(param_dim, hidden), LinearResBlock(hidden), LinearResBlock(hidden),
                nn.Linear(hidden, cb_size),
            )

    def uncond_bits(self) -> torch.Tensor:
        return -F.log_softmax(self.logits, dim=-1) / LN2  # (P, K)

    def snap_keys(self, keys: torch.Tensor | None = None):
        """Prior parameter of the given keys (default: all), snapped to the table (straight-through)."""
        e = (self.key_embed if keys is None else self.key_embed[keys]).clamp(-1, 1)
        d = torch.cdist(e, self.param_table)  # (n_keys, nlevel)
        level = d.argmin(dim=-1)
        q = self.param_table[level]
        snap_loss = ((q - e.detach()) ** 2).sum(-1).mean() + 0.25 * ((q.detach() - e) ** 2).sum(-1).mean()
        return e + (q - e).detach(), level, snap_loss

    def table_bits(self, params: torch.Tensor) -> torch.Tensor:
        return -F.log_softmax(self.prior_mlp(params), dim=-1) / LN2

    def quantize(self, r: torch.Tensor, bits: torch.Tensor | None, lmbda: float | None):
        """r: (N, P, d); bits: (N, P, K) or (P, K) rate of each codeword; -> index (N, P)."""
        cb = self.codebook
        dist = (r * r).sum(-1, keepdim=True) + (cb * cb).sum(-1).unsqueeze(0) - 2 * torch.einsum("npd,pkd->npk", r, cb)
        if bits is not None and lmbda:
            dist = dist + bits / lmbda
        return dist.argmin(dim=-1)

    def lookup(self, index: torch.Tensor) -> torch.Tensor:
        pos = torch.arange(self.n_pos, device=index.device).unsqueeze(0)
        return self.codebook[pos, index]

    @torch.no_grad()
    def reactivate(self, threshold: float = 1e-6) -> int:
        """Dead codewords (p < threshold) are re-seeded near live ones (original NVTC)."""
        logp = F.log_softmax(self.logits, dim=-1)
        live = logp > math.log(threshold)
        n_dead = 0
        for p in range(self.n_pos):
            dead = (~live[p]).nonzero().flatten()
            if len(dead) == 0 or live[p].sum() == 0:
                continue
            src_ids = live[p].nonzero().flatten()
            pick = src_ids[logp[p, src_ids].exp().multinomial(len(dead), replacement=True)]
            self.codebook.data[p, dead] = self.codebook.data[p, pick] + 1e-4 * torch.randn(len(dead), self.cb_dim)
            self.logits.data[p, dead] = self.logits.data[p, pick]
            n_dead += len(dead)
        return n_dead


class NVTC(nn.Module):
    def __init__(self, cfg: NVTCConfig = NVTCConfig()):
        super().__init__()
        self.cfg = cfg
        b = cfg.block
        P = b * b
        self.down, self.up = nn.ModuleList(), nn.ModuleList()
        self.vt_enc, self.vt_dec = nn.ModuleList(), nn.ModuleList()
        self.proj_in, self.proj_out, self.vq = nn.ModuleList(), nn.ModuleList(), nn.ModuleList()
        for s in range(cfg.n_stage):
            factor = cfg.downscale[s] if s == 0 else cfg.downscale[s] // cfg.downscale[s - 1]
            c_up = 3 if s == 0 else cfg.vt_dim[s - 1]
            inner = c_up * factor * factor
            c = cfg.vt_dim[s]
            rb = [ResBlocks(c, cfg.stage0_resblocks)] if s == 0 else []
            self.down.append(nn.Sequential(nn.PixelUnshuffle(factor), nn.Conv2d(inner, c, 1), *rb))
            rb = [ResBlocks(c, cfg.stage0_resblocks)] if s == 0 else []
            self.up.append(nn.Sequential(*rb, nn.Conv2d(c, inner, 1), nn.PixelShuffle(factor)))
            enc, dec, pin, pout, vq = (nn.ModuleList() for _ in range(5))
            for l in range(cfg.n_layer[s]):
                enc.append(nn.Sequential(*[VTUnit(c, b) for _ in range(cfg.vt_nunit[s])]))
                dec.append(nn.Sequential(*[VTUnit(c, b) for _ in range(cfg.vt_nunit[s])]))
                pin.append(nn.Conv2d(c, cfg.cb_dim[s], 1))
                pout.append(nn.Conv2d(cfg.cb_dim[s], c, 1))
                prev = self.previous(s, l)
                n_keys = P * cfg.cb_size[prev[0]] if prev else 0
                vq.append(ECVQ(P, cfg.cb_size[s], cfg.cb_dim[s], n_keys, cfg.param_dim,
                               cfg.param_nlevel[s], cfg.prior_hidden))
            for lst, new in zip((self.vt_enc, self.vt_dec, self.proj_in, self.proj_out, self.vq), (enc, dec, pin, pout, vq)):
                lst.append(new)

    def previous(self, s: int, l: int) -> tuple[int, int] | None:
        """The layer coded just before (s, l), whose indices key its prior."""
        if l + 1 < self.cfg.n_layer[s]:
            return (s, l + 1)
        if s + 1 < self.cfg.n_stage:
            return (s + 1, 0)
        return None

    # -- index bookkeeping ------------------------------------------------------------
    def context_keys(self, s: int, prev: tuple[int, int], prev_index: torch.Tensor, B: int,
                     hw: tuple[int, int]) -> torch.Tensor:
        """Integer keys (N_s, P) = parent block position * K_parent + parent codeword index."""
        b = self.cfg.block
        P = b * b
        ps = prev[0]
        K = self.cfg.cb_size[ps]
        pos = torch.arange(P, device=prev_index.device).unsqueeze(0).expand_as(prev_index)
        key = pos * K + prev_index
        if ps == s:
            return key
        f = self.cfg.downscale[ps] // self.cfg.downscale[s]
        H, W = hw
        kmap = combine(key.view(-1, 1, b, b), b, (H // f, W // f))  # (B, 1, H/f, W/f)
        kmap = kmap.repeat_interleave(f, dim=2).repeat_interleave(f, dim=3)
        return partition(kmap, b).reshape(-1, P)

    # -- transforms ---------------------------------------------------------------------
    def analysis(self, x: torch.Tensor) -> list[list[torch.Tensor]]:
        b = self.cfg.block
        H, W = x.shape[2:]
        vectors = []
        for s in range(self.cfg.n_stage):
            x = partition(self.down[s](x), b)
            v = []
            for l in range(self.cfg.n_layer[s]):
                x = self.vt_enc[s][l](x)
                v.append(x)
            vectors.append(v)
            f = self.cfg.downscale[s]
            x = combine(x, b, (H // f, W // f))
        return vectors

    def _to_vectors(self, t: torch.Tensor) -> torch.Tensor:
        return t.flatten(start_dim=-2).transpose(1, 2)  # (N, d, b, b) -> (N, P, d)

    def from_vectors(self, v: torch.Tensor) -> torch.Tensor:
        b = self.cfg.block
        return v.transpose(1, 2).reshape(v.shape[0], v.shape[2], b, b)

    def coarse_to_fine(self, H: int, W: int, layer, synthesis=None) -> torch.Tensor | None:
        """The synthesis loop that training, tuning and the codec share: stages from the
        coarsest, layers from the last; per layer x_hat = vt_dec(base + proj_out(codewords)).

        layer(s, l, base, hw) -> the layer's codewords (N, P, d), or None where the layer adds
        nothing (an inactive stage of the progressive schedule); base is the reconstruction
        so far in blocks (0 before the first), hw the stage's size.  None when no layer added.
        synthesis: the transforms to run (default this model's float ones; the codec's
        version 3 passes intsynth.IntSynthesis, the same parts in integer arithmetic)."""
        cfg = self.cfg
        b = cfg.block
        syn = self if synthesis is None else synthesis
        x_hat = None
        for s in reversed(range(cfg.n_stage)):
            hw = (H // cfg.downscale[s], W // cfg.downscale[s])
            if x_hat is not None:
                x_hat = partition(x_hat, b)
            for l in reversed(range(cfg.n_layer[s])):
                base = 0 if x_hat is None else x_hat
                r_hat = layer(s, l, base, hw)
                if r_hat is not None:
                    x_hat = base + syn.proj_out[s][l](syn.from_vectors(r_hat))
                if x_hat is not None:
                    x_hat = syn.vt_dec[s][l](x_hat)
            if x_hat is not None:
                x_hat = syn.up[s](combine(x_hat, b, hw))
        return x_hat

    def forward(self, x: torch.Tensor, lmbda: float, *, active: tuple, rate_constrain: bool,
                conditional: bool) -> dict:
        """Training pass. active[s] = whether stage s is quantised (progressive schedule)."""
        B, _, H, W = x.shape
        numel = x.numel()
        vectors = self.analysis(x)
        index_of: dict = {}
        acc = {"vq_dist": 0.0, "rate_u": 0.0, "rate_cond": 0.0, "rate_plain": 0.0, "snap": 0.0}

        def layer(s, l, base, hw):
            if not active[s]:
                return None
            vq = self.vq[s][l]
            r = self._to_vectors(self.proj_in[s][l](vectors[s][l] - base))
            bits_u = vq.uncond_bits()
            prev = self.previous(s, l)
            bits = bits_u
            cond_bits = None
            if conditional and prev is not None and prev in index_of:
                keys = self.context_keys(s, prev, index_of[prev], B, hw)
                # only the keys present in the batch: a fraction of all keys, same gradients
                used, inverse = torch.unique(keys, return_inverse=True)
                params, _, snap_loss = vq.snap_keys(used)
                cond_bits = vq.table_bits(params)[inverse]  # (N, P, K)
                bits = cond_bits
                acc["snap"] = acc["snap"] + snap_loss
            index = vq.quantize(r.detach(), bits.detach() if rate_constrain else None, lmbda)
            index_of[(s, l)] = index
            r_hat = vq.lookup(index)
            acc["vq_dist"] = acc["vq_dist"] + ((r - r_hat) ** 2).sum() / numel
            bu = bits_u.unsqueeze(0).expand(index.shape[0], -1, -1).gather(-1, index.unsqueeze(-1)).sum()
            acc["rate_u"] = acc["rate_u"] + bu / numel
            if cond_bits is not None:
                acc["rate_cond"] = acc["rate_cond"] + cond_bits.gather(-1, index.unsqueeze(-1)).sum() / numel
            else:
                acc["rate_plain"] = acc["rate_plain"] + bu / numel
            return r + (r_hat - r).detach()

        x_hat = self.coarse_to_fine(H, W, layer)
        if x_hat is None:
            x_hat = torch.zeros_like(x)
        mse = ((x - x_hat) ** 2).mean()
        rate = acc["rate_plain"] + acc["rate_cond"]  # bits per dimension the coder spends
        # rate_u always trains the unconditional logits: they pick dead codewords
        loss = acc["rate_u"] + acc["rate_cond"] + lmbda * mse + lmbda * acc["vq_dist"] + acc["snap"]
        return {"x_hat": x_hat, "rate_bpd": rate, "mse": mse, "loss": loss}

    def reactivate(self, active: tuple) -> int:
        n = 0
        for s in range(self.cfg.n_stage):
            if active[s]:
                for vq in self.vq[s]:
                    n += vq.reactivate()
        return n


def param_count(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())
