"""A1111 v1.10.x noise: the three RNG sources, per-image generators, variation seeds,
seed resize and ENSD, reimplemented here and checked bit-exactly against A1111's own
modules/rng.py + modules/rng_philox.py (tests/goldens/a1111/, tests/diffusion/engines/a1111/test_a1111_rng.py).

What A1111 does, in this project's words:

- Sources.  "CPU": torch.randn on a CPU torch.Generator.  "GPU" (A1111's default, the
  one an infotext without `RNG:` means): torch.randn on the CUDA device's generator.
  "NV": a CPU emulation of CUDA's generator — Philox4x32-10 keyed by the 64-bit seed,
  counter (offset, 0, element index, 0), and one Box-Muller output per element from the
  first two 32-bit words.  Each draw from an NV generator advances `offset` by one,
  whatever its size.
- One generator per image (seeds are seed + index within the batch; with a variation
  strength other than 0 every image keeps the same seed and the variation seeds count
  up instead — see `batch_seeds`).
- Variation: the image's noise is slerped towards the variation seed's noise by the
  strength.  A1111's slerp normalises over dim 1 of a (C, H, W) tensor — the height
  axis, not the whole tensor — and falls back to a (reversed) lerp when the mean cosine
  exceeds 0.9995; both quirks are kept because they decide the pixels.
- Seed resize: noise is drawn at the "resize from" latent size and pasted, centred, into
  noise drawn at the real size (cropped when the old size is larger).
- ENSD: after the initial noise, every image's generator is replaced by a fresh one
  seeded with seed + ENSD; the sampler's later draws come from those.  A1111 does
  this whatever the sampler, but writes `ENSD:` into the infotext only for samplers
  it marks as using it (Euler a, DPM2 a, DPM++ 2S a, DPM fast/adaptive) with eta != 0.
  Samplers that draw through randn_like without that mark (Restart, LCM, DDIM with
  eta > 0) were reseeded too, so their infotexts can lack an ENSD that mattered.
- k-diffusion's `torch.randn_like(x)` is routed to the next per-image draw (A1111's
  TorchHijack), ignoring x except for its shape, so a batch gets the same noise as the
  images made one by one.

"GPU" on a machine without CUDA is emulated with "NV" (that is what NV is for); the
choice made is reported in `NoiseChoice` so the caller can record it in the platform.

numpy is needed for NV, torch for everything that returns tensors; both are imported on
first use so that importing this module stays cheap.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

from ...._extras import require
from ....errors import InvalidSyntax

SOURCES = ("GPU", "CPU", "NV")
DEFAULT_SOURCE = "GPU"  # an A1111 infotext without `RNG:` was made with GPU noise

# Philox4x32-10's multipliers and Weyl key increments (Salmon et al., SC'11).
_PHILOX_M0 = 0xD2511F53
_PHILOX_M1 = 0xCD9E8D57
_PHILOX_W0 = 0x9E3779B9
_PHILOX_W1 = 0xBB67AE85
_MASK32 = 0xFFFFFFFF
_PHILOX_ROUNDS = 10

_SEED_LIMIT = 1 << 64  # NV keys Philox with the seed as one unsigned 64-bit number
_MAX_ELEMENTS = 1 << 32  # NV's element index is one 32-bit counter word
_SLERP_LERP_THRESHOLD = 0.9995


def _numpy():
    require("generate", "numpy")
    import numpy

    return numpy


def _torch():
    require("generate", "torch")
    import torch

    return torch


def _element_count(shape: Sequence[int]) -> int:
    count = 1
    for size in shape:
        if int(size) < 0:
            raise InvalidSyntax(f"noise shape {tuple(shape)} has a negative size")
        count *= int(size)
    return count


def _check_nv_seed(seed: int) -> int:
    seed = int(seed)
    if not 0 <= seed < _SEED_LIMIT:
        raise InvalidSyntax(f"seed {seed} is outside 0..2**64-1, which NV noise cannot key", seed=seed)
    return seed


# -- NV: Philox4x32-10 + Box-Muller ----------------------------------------------------
def philox_words(seed: int, offset: int, count: int):
    """The first two 32-bit output words of Philox4x32-10 for counters
    (offset, 0, i, 0), i = 0..count-1, under the 64-bit key `seed`; as uint64 arrays
    holding 32-bit values (so the 32x32 -> 64-bit products need no widening)."""
    np = _numpy()
    seed = _check_nv_seed(seed)
    if not 0 <= count <= _MAX_ELEMENTS:
        raise InvalidSyntax(f"NV noise can address at most 2**32 elements, not {count}")
    key_lo, key_hi = seed & _MASK32, seed >> 32
    # Counter words 0, 1 and 3 start the same for every element; only word 2 varies.
    c0 = np.full(count, int(offset) & _MASK32, dtype=np.uint64)
    c1 = np.zeros(count, dtype=np.uint64)
    c2 = np.arange(count, dtype=np.uint64)
    c3 = np.zeros(count, dtype=np.uint64)
    m0, m1, mask = np.uint64(_PHILOX_M0), np.uint64(_PHILOX_M1), np.uint64(_MASK32)
    shift = np.uint64(32)
    for round_index in range(_PHILOX_ROUNDS):
        if round_index:
            key_lo = (key_lo + _PHILOX_W0) & _MASK32
            key_hi = (key_hi + _PHILOX_W1) & _MASK32
        product0 = c0 * m0
        product1 = c2 * m1
        c0, c1, c2, c3 = (
            (product1 >> shift) ^ c1 ^ np.uint64(key_lo),
            product1 & mask,
            (product0 >> shift) ^ c3 ^ np.uint64(key_hi),
            product0 & mask,
        )
    return c0, c1


def _box_muller_first(x, y):
    """One normal deviate per (x, y) word pair: radius from x, angle from y, the sine
    branch only.  The constants are float32 values and the arithmetic is float64 —
    the same mixed precision as A1111's emulation, so the float32 results match bit
    for bit."""
    np = _numpy()
    inv_2_32 = np.float32(2.3283064e-10)
    inv_2_32_2pi = np.float32(2.3283064e-10 * 6.2831855)
    # Half-step offsets keep u away from 0 (log) and centre the bins.
    u = x.astype(np.float64) * np.float64(inv_2_32) + np.float64(inv_2_32 / np.float32(2))
    v = y.astype(np.float64) * np.float64(inv_2_32_2pi) + np.float64(inv_2_32_2pi / np.float32(2))
    radius = np.sqrt(-2.0 * np.log(u))
    return (radius * np.sin(v)).astype(np.float32)


class PhiloxGenerator:
    """A1111's "NV" generator: CUDA-compatible normal noise computed on the CPU."""

    def __init__(self, seed: int):
        self.seed = _check_nv_seed(seed)
        self.offset = 0

    def randn(self, shape: Sequence[int]):
        """float32 numpy array of `shape`; advances the offset by one draw."""
        shape = tuple(int(s) for s in shape)
        count = _element_count(shape)
        x, y = philox_words(self.seed, self.offset, count)
        self.offset += 1
        return _box_muller_first(x, y).reshape(shape)


# -- sources -------------------------------------------------------------------------
@dataclass(frozen=True)
class NoiseChoice:
    """Which source was asked for, which one draws, and why they differ (if they do)."""

    requested: str
    used: str
    device: str
    note: str = ""

    @property
    def emulated(self) -> bool:
        return self.requested != self.used


def resolve_source(source: str | None, device: str = "cpu") -> NoiseChoice:
    """Map an infotext `RNG:` value (None = absent = GPU) and the device that will run
    the model to the source that draws.  GPU noise needs CUDA; elsewhere it is emulated
    with NV, and the choice says so."""
    requested = DEFAULT_SOURCE if source in (None, "") else str(source)
    if requested not in SOURCES:
        raise InvalidSyntax(f"RNG source {requested!r} is not one of {', '.join(SOURCES)}", rng=requested)
    device = str(device)
    if requested == "GPU":
        if device.split(":", 1)[0].lower() == "cuda":
            return NoiseChoice(requested, "GPU", device)
        return NoiseChoice(
            requested, "NV", device, note=f"GPU noise emulated with NV (Philox on the CPU): device {device!r} is not CUDA"
        )
    return NoiseChoice(requested, requested, device)


class _TorchGenerator:
    """A torch.Generator seeded the way A1111 seeds it, drawing float32 normals."""

    def __init__(self, seed: int, device: str):
        torch = _torch()
        self._device = torch.device(device)
        self._generator = torch.Generator(self._device).manual_seed(int(seed))

    def randn(self, shape: Sequence[int]):
        torch = _torch()
        return torch.randn(tuple(shape), generator=self._generator, device=self._device, dtype=torch.float32)


def create_generator(seed: int, choice: NoiseChoice):
    """One image's generator for the source `choice.used`."""
    if choice.used == "NV":
        return PhiloxGenerator(seed)
    if choice.used == "CPU":
        return _TorchGenerator(seed, "cpu")
    return _TorchGenerator(seed, choice.device)


def draw(generator, shape, device: str):
    """A float32 torch tensor on `device` from any of the generators above."""
    torch = _torch()
    values = generator.randn(shape)
    if isinstance(generator, PhiloxGenerator):
        return torch.from_numpy(values).to(device)
    return values.to(device)


def randn_local(seed: int, shape: Sequence[int], source: str | None = None, device: str = "cpu"):
    """The first draw of a fresh generator for `seed` (A1111's randn_local, which its
    Brownian-tree noise for the SDE samplers uses instead of torchsde's own)."""
    choice = resolve_source(source, device)
    return draw(create_generator(seed, choice), shape, device)


def slerp(strength: float, low, high):
    """A1111's variation blend of two (C, H, W) noises (see the module docstring)."""
    torch = _torch()
    low_unit = low / torch.norm(low, dim=1, keepdim=True)
    high_unit = high / torch.norm(high, dim=1, keepdim=True)
    cosine = (low_unit * high_unit).sum(1)
    if cosine.mean() > _SLERP_LERP_THRESHOLD:
        return low * strength + high * (1 - strength)
    angle = torch.acos(cosine)
    sine = torch.sin(angle)
    low_weight = (torch.sin((1.0 - strength) * angle) / sine).unsqueeze(1)
    high_weight = (torch.sin(strength * angle) / sine).unsqueeze(1)
    return low_weight * low + high_weight * high


def batch_seeds(seed: int, subseed: int, subseed_strength: float, count: int) -> tuple[list[int], list[int]]:
    """The per-image seeds and variation seeds of a batch of `count` images, as A1111's
    processing assigns them: seeds count up unless a variation strength is set, in which
    case they all stay `seed` and the variation seeds count up."""
    if count < 0:
        raise InvalidSyntax(f"batch size {count} is negative")
    step = 1 if subseed_strength == 0 else 0
    seeds = [int(seed) + step * index for index in range(count)]
    subseeds = [int(subseed) + index for index in range(count)]
    return seeds, subseeds


def _paste_centred(canvas, patch):
    """Paste `patch` (C, h, w) into `canvas` (C, H, W), centred; crops when larger.
    Odd differences round towards the top-left, as A1111's integer halving does."""
    offset_x = (canvas.shape[2] - patch.shape[2]) // 2
    offset_y = (canvas.shape[1] - patch.shape[1]) // 2
    width = patch.shape[2] if offset_x >= 0 else patch.shape[2] + 2 * offset_x
    height = patch.shape[1] if offset_y >= 0 else patch.shape[1] + 2 * offset_y
    to_x, to_y = max(offset_x, 0), max(offset_y, 0)
    from_x, from_y = max(-offset_x, 0), max(-offset_y, 0)
    canvas[:, to_y : to_y + height, to_x : to_x + width] = patch[:, from_y : from_y + height, from_x : from_x + width]
    return canvas


class ImageNoise:
    """The noise of one A1111 batch: `next()` gives the initial latent noise on its first
    call and each per-step sampler draw after that; `randn_like` is what k-diffusion's
    samplers must call instead of torch.randn_like.

    shape is one image's latent shape (C, H, W); seeds and subseeds are per image
    (`batch_seeds`); seed_resize_from is the (height, width) in pixels of the
    infotext's "Seed resize from" (0 = none).
    """

    def __init__(
        self,
        shape: Sequence[int],
        seeds: Sequence[int],
        *,
        subseeds: Sequence[int] | None = None,
        subseed_strength: float = 0.0,
        seed_resize_from: tuple[int, int] = (0, 0),
        eta_noise_seed_delta: int = 0,
        source: str | None = None,
        device: str = "cpu",
    ):
        self.shape = tuple(int(s) for s in shape)
        if len(self.shape) != 3:
            raise InvalidSyntax(f"latent shape {self.shape} is not (channels, height, width)")
        _element_count(self.shape)
        self.seeds = [int(s) for s in seeds]
        if not self.seeds:
            raise InvalidSyntax("a batch needs at least one seed")
        self.subseeds = None if subseeds is None else [int(s) for s in subseeds]
        self.subseed_strength = float(subseed_strength)
        self.seed_resize_from = (int(seed_resize_from[0]), int(seed_resize_from[1]))
        self.eta_noise_seed_delta = int(eta_noise_seed_delta or 0)
        self.device = str(device)
        self.choice = resolve_source(source, self.device)
        self._generators = [create_generator(seed, self.choice) for seed in self.seeds]
        self._started = False

    def _fresh(self, seed: int, shape):
        return draw(create_generator(seed, self.choice), shape, self.device)

    def _noise_shape(self):
        height, width = self.seed_resize_from
        if height <= 0 or width <= 0:
            return self.shape
        return (self.shape[0], height // 8, width // 8)

    def first(self):
        """The initial latent noise, (batch, C, H, W); switches to ENSD generators."""
        torch = _torch()
        noise_shape = self._noise_shape()
        resized = noise_shape != self.shape
        # A1111 moves every draw to the model's device before blending and pasting,
        # so the slerp runs there too (its float result can depend on the device)
        local = self.device
        images = []
        for index, (seed, generator) in enumerate(zip(self.seeds, self._generators)):
            variation = None
            if self.subseeds is not None and self.subseed_strength != 0:
                subseed = self.subseeds[index] if index < len(self.subseeds) else 0
                variation = self._fresh(subseed, noise_shape)
            noise = self._fresh(seed, noise_shape) if resized else draw(generator, self.shape, local)
            if variation is not None:
                noise = slerp(self.subseed_strength, noise, variation)
            if resized:
                noise = _paste_centred(draw(generator, self.shape, local), noise)
            images.append(noise)
        if self.eta_noise_seed_delta:
            self._generators = [create_generator(seed + self.eta_noise_seed_delta, self.choice) for seed in self.seeds]
        return torch.stack(images).to(self.device)

    def next(self):
        """The initial noise on the first call, then one draw per image generator."""
        torch = _torch()
        if not self._started:
            self._started = True
            return self.first()
        return torch.stack([draw(g, self.shape, self.device) for g in self._generators])

    def randn_like(self, x):
        """k-diffusion's torch.randn_like(x), answered from the per-image generators."""
        expected = (len(self.seeds),) + self.shape
        if tuple(x.shape) != expected:
            raise ValueError(f"randn_like asked for {tuple(x.shape)}, this batch's noise is {expected}")
        return self.next().to(dtype=x.dtype, device=x.device)
