"""ComfyUI's KSampler / KSamplerAdvanced nodes end to end on the latent (nodes.common_ksampler
-> comfy.sample.sample -> comfy.samplers.KSampler -> CFGGuider -> KSAMPLER.sample).

Latents come in and go out in ComfyUI's latent space (what EmptyLatentImage makes and
VAEDecode takes): the sampler works on latent * scale_factor (SD 1.x: 0.18215), applied
only to a non-empty input latent, and the result is divided back (process_latent_in/out).
"""

from __future__ import annotations

from typing import Sequence

import numpy as np
import torch

from .guidance import ComfyModel, cfg_denoiser
from .noise import prepare_noise
from .samplers import SAMPLERS
from .schedulers import ksampler_sigmas, step_window

SD15_SCALE_FACTOR = 0.18215


def common_ksampler(model: ComfyModel, positive: torch.Tensor, negative: torch.Tensor, *, seed: int,
                    steps: int, cfg: float, sampler_name: str, scheduler: str, latent_image: torch.Tensor,
                    denoise: float = 1.0, add_noise: bool = True, start_step: int | None = None,
                    last_step: int | None = None, force_full_denoise: bool = False,
                    batch_index: Sequence[int] | None = None,
                    scale_factor: float = SD15_SCALE_FACTOR) -> torch.Tensor:
    """KSampler is (denoise, add_noise=True, no start/last); KSamplerAdvanced is (denoise 1,
    add_noise, start_at_step, end_at_step, force_full_denoise = not return_with_leftover_noise)."""
    if sampler_name not in SAMPLERS:
        raise ValueError(f"unsupported ComfyUI sampler {sampler_name!r}")
    device = latent_image.device
    if add_noise:
        noise = prepare_noise(latent_image.shape, seed, batch_index, dtype=latent_image.dtype)
    else:
        noise = torch.zeros(latent_image.shape, dtype=latent_image.dtype)
    ms = model.model_sampling
    sigmas = ksampler_sigmas(ms, sampler_name, scheduler, steps, denoise)
    window = step_window(sigmas, start_step, last_step, force_full_denoise)
    if window.skip or window.sigmas.numel() == 0:
        return latent_image
    sigmas = window.sigmas.to(device)
    noise = noise.to(device)
    latent = latent_image
    if torch.count_nonzero(latent) > 0:  # ComfyUI does not scale an empty latent
        latent = latent * scale_factor
    x = ms.noise_scaling(sigmas[0], noise, latent, ms.is_max_denoise(sigmas))
    denoiser = cfg_denoiser(model, positive.to(device), negative.to(device), cfg)
    samples = SAMPLERS[sampler_name](denoiser, x, sigmas, seed=seed)
    return samples.to(torch.float32) / scale_factor


def to_pixels(image: torch.Tensor):
    """VAE decode output (B, C, H, W in [-1, 1]) -> what SaveImage writes: clamp((x + 1) / 2),
    then np.clip(255. * x, 0, 255).astype(uint8) per image (H, W, C; truncation)."""
    image = torch.clamp((image + 1.0) / 2.0, min=0.0, max=1.0).movedim(1, -1)
    return np.clip(255. * image.cpu().numpy(), 0, 255).astype(np.uint8)
