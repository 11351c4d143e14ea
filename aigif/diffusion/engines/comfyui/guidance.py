"""ComfyUI's guided denoiser: what its CFGGuider -> sampling_function -> calc_cond_batch ->
BaseModel.apply_model chain computes for one positive and one negative conditioning
without areas, masks, hooks or ControlNets.

- the UNet sees one batch [negative, positive] (calc_cond_batch pops the batchable conds
  in reverse order; A1111 batches [cond, uncond]), the input x / sqrt(sigma^2 + 1) and the
  *integer* timestep of the nearest training level, as float;
- denoised = x - eps * sigma (EPS), from the float32 output;
- cfg: uncond + (cond - uncond) * cfg; at cfg 1 (math.isclose) only the positive is run;
- calc_cond_batch's accumulation (zeros + out * 1, then / (1 + 1e-37)) is exact in float32
  for strength-1 conds without areas, so it is left out.
"""

from __future__ import annotations

import math
from typing import Callable

import torch

from aigif.diffusion.kdiffusion.model import UNetFn

from .model_sampling import ModelSamplingDiscrete


class ComfyModel:
    """BaseModel.apply_model: D(x, sigma) for a batch of (x, sigma, context)."""

    def __init__(self, unet: UNetFn, model_sampling: ModelSamplingDiscrete):
        self.unet = unet
        self.model_sampling = model_sampling

    def __call__(self, x: torch.Tensor, sigma: torch.Tensor, context: torch.Tensor,
                 y: torch.Tensor | None = None) -> torch.Tensor:
        ms = self.model_sampling
        xc = ms.calculate_input(sigma, x)
        t = ms.timestep(sigma).float()
        # y (SDXL's adm) only for a UNet that takes it: SD1's UNet fn has three arguments
        output = (self.unet(xc, t, context) if y is None else self.unet(xc, t, context, y)).float()
        return ms.calculate_denoised(sigma, output, x)


def cfg_denoiser(model: ComfyModel, positive: torch.Tensor, negative: torch.Tensor,
                 cfg: float) -> Callable[[torch.Tensor, torch.Tensor], torch.Tensor]:
    """The sampler's model(x, sigma_batch): sampling_function with ComfyUI's cfg_function."""

    def call(x: torch.Tensor, sigma: torch.Tensor) -> torch.Tensor:
        if math.isclose(cfg, 1.0):
            return model(x, sigma, positive)
        x_in = torch.cat([x, x])
        sigma_in = torch.cat([sigma, sigma])
        out_negative, out_positive = model(x_in, sigma_in, torch.cat([negative, positive])).chunk(2)
        return out_negative + (out_positive - out_negative) * cfg

    return call
