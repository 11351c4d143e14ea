"""Omni-ICM network (torch): backbone, information-filtering module, rate model, task head.

After Feng, Bai, Guo et al., "Image Coding for Machines with Omnipotent Feature Learning"
(ECCV 2022), scaled to what two CPU cores can train:

  image (RGB in [0,1], longest side <= preprocess.MAX_SIDE)
    -> backbone        4 stride-2 convolutions with residual 3x3 blocks (stride 16)
    -> filter (IFM)    1x1 bottleneck to C channels times a learned per-channel gate:
                       trained against a rate term, it keeps what instance discrimination
                       needs and lets the rest (texture detail) collapse to 0, which costs
                       almost no bits once quantised
    -> y / step, rounded to integers: the coded features (codec.py)
  decoded integers * step
    -> head            1x1 convolutions + global average pooling: the task embedding
    -> projector       training only (SimCLR's projection head)

Training (tools/train_omni.py) is SimCLR/InfoNCE on two augmented views plus lambda times
the rate of the quantised features under a per-channel Laplace model (rate_bits); the
step is drawn per batch from the codec's Q range, so one model serves every Q.  The
shipped entropy tables are not this Laplace model but integer histograms measured at
export (export.py), so nothing float reaches the coder.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import torch
from torch import nn
from torch.nn import functional as F


@dataclass(frozen=True)
class OmniConfig:
    widths: tuple[int, ...] = (32, 48, 64, 96)  # one stride-2 stage each: stride 16
    channels: int = 32  # coded feature channels C
    head_dim: int = 128  # task embedding size
    proj_dim: int = 64  # SimCLR projection (training only)

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict) -> "OmniConfig":
        return cls(**{k: tuple(v) if isinstance(v, list) else v for k, v in d.items()})

    @property
    def stride(self) -> int:
        return 2 ** len(self.widths)


class ResBlock(nn.Module):
    def __init__(self, c: int):
        super().__init__()
        self.a = nn.Conv2d(c, c, 3, padding=1)
        self.b = nn.Conv2d(c, c, 3, padding=1)

    def forward(self, x):
        return x + self.b(F.gelu(self.a(x)))


class Backbone(nn.Module):
    def __init__(self, widths: tuple[int, ...]):
        super().__init__()
        layers, c_in = [], 3
        for i, c in enumerate(widths):
            layers += [nn.Conv2d(c_in, c, 3, stride=2, padding=1), nn.GELU()]
            if i >= 2:  # residual blocks only at the coarse, cheap resolutions
                layers.append(ResBlock(c))
            c_in = c
        self.net = nn.Sequential(*layers)

    def forward(self, x):
        return self.net(x)


class InformationFilter(nn.Module):
    """Bottleneck to the coded channels, each scaled by a learned gate in (0, 1)."""

    GAIN = 16.0  # at initialisation features have std ~0.05: the gain puts them at the scale of the steps

    def __init__(self, c_in: int, c_out: int):
        super().__init__()
        self.mix = nn.Conv2d(c_in, c_in, 1)
        self.out = nn.Conv2d(c_in, c_out, 1)
        self.gate_logit = nn.Parameter(torch.full((c_out,), 2.0))

    def gates(self):
        return torch.sigmoid(self.gate_logit)

    def forward(self, x):
        return self.out(F.gelu(self.mix(x))) * (self.GAIN * self.gates()).view(1, -1, 1, 1)


class Head(nn.Module):
    """Decoded features -> task embedding (1x1 convolutions, global average pooling)."""

    def __init__(self, c: int, dim: int):
        super().__init__()
        self.a = nn.Conv2d(c, dim, 1)
        self.b = nn.Conv2d(dim, dim, 1)

    def forward(self, y):
        return self.b(F.gelu(self.a(y))).mean(dim=(2, 3))


class OmniICM(nn.Module):
    def __init__(self, cfg: OmniConfig = OmniConfig()):
        super().__init__()
        self.cfg = cfg
        self.backbone = Backbone(cfg.widths)
        self.filter = InformationFilter(cfg.widths[-1], cfg.channels)
        self.head = Head(cfg.channels, cfg.head_dim)
        # training only: SimCLR projector and the rate model's per-channel Laplace scale
        self.projector = nn.Sequential(nn.Linear(cfg.head_dim, cfg.head_dim), nn.GELU(),
                                       nn.Linear(cfg.head_dim, cfg.proj_dim))
        self.log_scale = nn.Parameter(torch.zeros(cfg.channels))
        self.loc = nn.Parameter(torch.zeros(cfg.channels))

    def analysis(self, x):
        """Pixels (B, 3, H, W), H and W multiples of the stride -> unquantised features."""
        return self.filter(self.backbone(x))

    def embed(self, y):
        return self.head(y)

    def rate_bits(self, y_noisy, step):
        """Bits of each element under a discretised Laplace(loc_c, scale_c) at this step;
        y_noisy = y + U(-step/2, step/2) (the usual training proxy for rounding)."""
        scale = torch.exp(self.log_scale).view(1, -1, 1, 1).clamp_min(1e-3)
        loc = self.loc.view(1, -1, 1, 1)

        def cdf(v):
            z = (v - loc) / scale
            return 0.5 + 0.5 * torch.sign(z) * (1 - torch.exp(-z.abs()))

        p = (cdf(y_noisy + step / 2) - cdf(y_noisy - step / 2)).clamp_min(1e-9)
        return -torch.log2(p)


def info_nce(z1, z2, temperature: float = 0.2):
    """SimCLR's NT-Xent over a batch of positive pairs (z1[i], z2[i])."""
    z = F.normalize(torch.cat([z1, z2]), dim=1)
    sim = z @ z.t() / temperature
    n = z1.shape[0]
    sim.fill_diagonal_(float("-inf"))
    target = torch.cat([torch.arange(n, 2 * n), torch.arange(0, n)])
    return F.cross_entropy(sim, target)


def param_count(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())
