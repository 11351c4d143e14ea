"""ComfyUI's noise: the initial latent noise and the per-step noise of its samplers.

- Initial noise (comfy.sample.prepare_noise): the *global* CPU generator seeded with the
  seed, one torch.randn of the whole latent's shape; with a latent "batch_index" list,
  one randn per image index from 0 to the largest index, each shaped like one image,
  keeping those whose index is listed (repeats share noise).  Always drawn on the CPU.
- Per-step noise of the ancestral / LCM / res_multistep samplers (k_diffusion.sampling.
  default_noise_sampler): one generator on the latent's device, seeded with the same seed
  (the KSampler's), created afresh at each sampler call, torch.randn of the whole batch's
  shape per step.  On the CPU its first draw therefore equals the initial noise.
- The SDE samplers (dpmpp_sde, dpmpp_2m_sde, dpmpp_3m_sde and their non-"_gpu" names):
  one torchsde Brownian tree over [min positive sigma, max sigma] for the whole batch,
  entropy = the seed, built on the CPU and moved to the latent's device (kdiffusion.brownian
  reproduces torchsde's tree); the "_gpu" variants build it on the latent's device.
"""

from __future__ import annotations

from typing import Sequence

import torch

from aigif.diffusion.kdiffusion.brownian import BrownianTreeNoiseSampler

SEED_MAX = 0xFFFFFFFFFFFFFFFF  # ComfyUI's KSampler seed widget: 0 .. 2**64 - 1


def _check_seed(seed: int) -> int:
    if isinstance(seed, bool) or not isinstance(seed, int) or not 0 <= seed <= SEED_MAX:
        raise ValueError(f"a ComfyUI seed is an integer in [0, 2**64 - 1], not {seed!r}")
    return seed


def _cpu_generator(seed: int) -> torch.Generator:
    # torch.manual_seed(seed) seeds the default CPU generator with the seed; torch keeps
    # the value modulo 2**64, which a fresh Generator's manual_seed does identically.
    return torch.Generator("cpu").manual_seed(_check_seed(seed))


def prepare_noise(shape: Sequence[int], seed: int, batch_index: Sequence[int] | None = None,
                  dtype: torch.dtype = torch.float32) -> torch.Tensor:
    """comfy.sample.prepare_noise for a latent of this shape (always on the CPU)."""
    shape = [int(s) for s in shape]
    if not shape or any(s < 0 for s in shape):
        raise ValueError(f"bad latent shape {shape!r}")
    generator = _cpu_generator(seed)
    if batch_index is None:
        return torch.randn(shape, dtype=dtype, generator=generator, device="cpu")
    indices = [int(i) for i in batch_index]
    if not indices or any(i < 0 for i in indices):
        raise ValueError(f"batch_index must be non-negative integers, not {batch_index!r}")
    wanted = set(indices)
    drawn: dict[int, torch.Tensor] = {}
    for i in range(max(indices) + 1):
        noise = torch.randn([1] + shape[1:], dtype=dtype, generator=generator, device="cpu")
        if i in wanted:
            drawn[i] = noise
    return torch.cat([drawn[i] for i in indices], dim=0)


def default_noise_sampler(x: torch.Tensor, seed: int | None):
    """k_diffusion.sampling.default_noise_sampler: unit noise shaped like x from one generator
    on x's device seeded with `seed` (None: the device's global generator, unseeded)."""
    if seed is not None:
        generator = torch.Generator(device=x.device)
        generator.manual_seed(_check_seed(seed))
    else:
        generator = None
    size, dtype, layout, device = x.size(), x.dtype, x.layout, x.device

    def draw(sigma, sigma_next):
        return torch.randn(size, dtype=dtype, layout=layout, device=device, generator=generator)

    return draw


def brownian_noise_sampler(x: torch.Tensor, sigmas: torch.Tensor, seed: int, cpu: bool = True):
    """The SDE samplers' BrownianTreeNoiseSampler(x, min positive sigma, max sigma, seed, cpu).

    With cpu=True ComfyUI's tree lives on the CPU (queried with float32 CPU times) and its
    increments are moved to x's device before the division by sqrt|sigma_next - sigma|."""
    _check_seed(seed)
    sigma_min, sigma_max = sigmas[sigmas > 0].min(), sigmas.max()
    if not cpu or x.device.type == "cpu":
        return BrownianTreeNoiseSampler(x, sigma_min, sigma_max, seed=seed)
    cpu_like = torch.empty(x.shape, dtype=x.dtype, device="cpu")
    cpu_sampler = BrownianTreeNoiseSampler(cpu_like, sigma_min.cpu(), sigma_max.cpu(), seed=seed)
    device = x.device

    def draw(sigma, sigma_next):
        sigma, sigma_next = torch.as_tensor(sigma), torch.as_tensor(sigma_next)
        # undo the CPU-side division to divide on the device as ComfyUI does
        lo, hi = sorted((float(sigma), float(sigma_next)))
        w = cpu_sampler.trees[0](lo, hi) * (cpu_sampler.sign * (1 if float(sigma) < float(sigma_next) else -1))
        return w.to(device) / (sigma_next - sigma).abs().sqrt()

    return draw
