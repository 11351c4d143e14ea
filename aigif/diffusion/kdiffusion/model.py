"""A discrete-time diffusion model seen as a continuous denoiser D(x, sigma).

k-diffusion samplers work in sigma space; a Stable Diffusion UNet was trained on 1000
discrete timesteps.  This module is the bridge, with the arithmetic A1111 and k-diffusion
use (their `CompVisDenoiser` / `CompVisVDenoiser`, reimplemented here):

- the training noise levels come from the betas the way the original LDM code builds them
  (square-root-spaced betas in float64, cumulative product in float64, stored as float32),
  which is *not* how diffusers builds them (float32 throughout): the last bits of the
  sigmas differ, and every schedule is derived from these sigmas;
- `sigma_to_t` interpolates linearly in log-sigma between the two neighbouring training
  levels, `t_to_sigma` is its inverse;
- for epsilon prediction the denoised image is x - sigma * eps(x / sqrt(sigma^2 + 1), t);
  for v prediction, c_skip * x + c_out * v(c_in * x, t).

The arithmetic is kept in the same order as the peers' so that float32 results match
bit for bit (tests/goldens/kdiffusion/).
"""

from __future__ import annotations

from typing import Callable

import numpy as np
import torch

# The noise-prediction network: (scaled latent, timestep batch, conditioning) -> output.
UNetFn = Callable[[torch.Tensor, torch.Tensor, torch.Tensor], torch.Tensor]


def ldm_alphas_cumprod(beta_start: float = 0.00085, beta_end: float = 0.012,
                       num_train_timesteps: int = 1000, beta_schedule: str = "scaled_linear",
                       downcast_to_fp16: bool = False) -> torch.Tensor:
    """The cumulative alphas as the LDM checkpoints A1111 loads define them (float32).

    `scaled_linear` is what LDM configs call "linear": betas evenly spaced in sqrt.
    `downcast_to_fp16` is A1111's "Downcast model alphas_cumprod to fp16" compatibility
    option (old images were made with the half-precision values).
    """
    if num_train_timesteps < 2:
        raise ValueError("num_train_timesteps must be at least 2")
    if beta_schedule == "scaled_linear":
        betas = torch.linspace(beta_start ** 0.5, beta_end ** 0.5, num_train_timesteps,
                               dtype=torch.float64) ** 2
    elif beta_schedule == "linear":
        # LDM's "sqrt_linear": betas evenly spaced themselves.
        betas = torch.linspace(beta_start, beta_end, num_train_timesteps, dtype=torch.float64)
    else:
        raise ValueError(f"unsupported beta schedule {beta_schedule!r}")
    alphas_cumprod = np.cumprod(1.0 - betas.numpy(), axis=0)
    out = torch.tensor(alphas_cumprod, dtype=torch.float32)
    if downcast_to_fp16:
        out = out.half().float()
    return out


class DiscreteSchedule:
    """The model's training noise levels and the maps between sigma and timestep."""

    def __init__(self, sigmas: torch.Tensor):
        if sigmas.ndim != 1 or sigmas.numel() < 2:
            raise ValueError("sigmas must be a 1-d tensor of at least two levels")
        self.sigmas = sigmas
        self.log_sigmas = sigmas.log()

    @classmethod
    def from_alphas_cumprod(cls, alphas_cumprod: torch.Tensor) -> "DiscreteSchedule":
        return cls(((1 - alphas_cumprod) / alphas_cumprod) ** 0.5)

    @property
    def sigma_min(self) -> torch.Tensor:
        return self.sigmas[0]

    @property
    def sigma_max(self) -> torch.Tensor:
        return self.sigmas[-1]

    def get_sigmas(self, n: int | None = None) -> torch.Tensor:
        """n levels evenly spaced in timestep from the last training step to the first,
        then a final 0 (A1111's "Uniform" schedule)."""
        if n is None:
            return append_zero(self.sigmas.flip(0))
        last_t = len(self.sigmas) - 1
        t = torch.linspace(last_t, 0, n, device=self.sigmas.device)
        return append_zero(self.t_to_sigma(t))

    def sigma_to_t(self, sigma: torch.Tensor, quantize: bool = False) -> torch.Tensor:
        log_sigma = sigma.log()
        dists = log_sigma - self.log_sigmas[:, None]
        if quantize:
            return dists.abs().argmin(dim=0).view(sigma.shape)
        # The last training level at or below sigma (clamped so a neighbour above exists).
        low = dists.ge(0).cumsum(dim=0).argmax(dim=0).clamp(max=self.log_sigmas.shape[0] - 2)
        high = low + 1
        log_low, log_high = self.log_sigmas[low], self.log_sigmas[high]
        w = ((log_low - log_sigma) / (log_low - log_high)).clamp(0, 1)
        t = (1 - w) * low + w * high
        return t.view(sigma.shape)

    def t_to_sigma(self, t: torch.Tensor) -> torch.Tensor:
        t = t.float()
        low, high, w = t.floor().long(), t.ceil().long(), t.frac()
        log_sigma = (1 - w) * self.log_sigmas[low] + w * self.log_sigmas[high]
        return log_sigma.exp()


def append_zero(x: torch.Tensor) -> torch.Tensor:
    return torch.cat([x, x.new_zeros([1])])


def _append_dims(x: torch.Tensor, target_dims: int) -> torch.Tensor:
    return x[(...,) + (None,) * (target_dims - x.ndim)]


class DiscreteDenoiser(DiscreteSchedule):
    """D(x, sigma) for a discrete-time model predicting eps ("epsilon") or v ("v_prediction").

    `unet(x_scaled, t, cond)` is called with the continuous (interpolated) timestep, as
    A1111 does; `quantize=True` rounds it to the nearest training step instead.
    """

    def __init__(self, unet: UNetFn, alphas_cumprod: torch.Tensor,
                 prediction_type: str = "epsilon", quantize: bool = False):
        super().__init__(((1 - alphas_cumprod) / alphas_cumprod) ** 0.5)
        if prediction_type not in ("epsilon", "v_prediction"):
            raise ValueError(f"unsupported prediction type {prediction_type!r}")
        self.unet = unet
        self.prediction_type = prediction_type
        self.quantize = quantize
        self.sigma_data = 1.0

    def __call__(self, x: torch.Tensor, sigma: torch.Tensor, cond: torch.Tensor) -> torch.Tensor:
        t = self.sigma_to_t(sigma, quantize=self.quantize)
        if self.prediction_type == "epsilon":
            c_out = -sigma
            c_in = 1 / (sigma ** 2 + self.sigma_data ** 2) ** 0.5
            c_out, c_in = _append_dims(c_out, x.ndim), _append_dims(c_in, x.ndim)
            eps = self.unet(x * c_in, t, cond)
            return x + eps * c_out
        c_skip = self.sigma_data ** 2 / (sigma ** 2 + self.sigma_data ** 2)
        c_out = -sigma * self.sigma_data / (sigma ** 2 + self.sigma_data ** 2) ** 0.5
        c_in = 1 / (sigma ** 2 + self.sigma_data ** 2) ** 0.5
        c_skip, c_out, c_in = (_append_dims(c, x.ndim) for c in (c_skip, c_out, c_in))
        return self.unet(x * c_in, t, cond) * c_out + x * c_skip


def diffusers_unet_fn(unet) -> UNetFn:
    """Adapts a diffusers UNet2DConditionModel to the (x, t, cond) -> output call."""

    def call(x: torch.Tensor, t: torch.Tensor, cond: torch.Tensor) -> torch.Tensor:
        return unet(x, t, encoder_hidden_states=cond, return_dict=False)[0]

    return call


def cfg_denoiser(denoiser: DiscreteDenoiser, cond: torch.Tensor, uncond: torch.Tensor,
                 scale: float) -> Callable[[torch.Tensor, torch.Tensor], torch.Tensor]:
    """Classifier-free guidance as A1111's CFGDenoiser combines a single cond with the
    uncond: one batch [cond..., uncond...], then uncond + (cond - uncond) * scale."""

    def call(x: torch.Tensor, sigma: torch.Tensor) -> torch.Tensor:
        n = x.shape[0]
        x_in = torch.cat([x, x])
        sigma_in = torch.cat([sigma, sigma])
        out = denoiser(x_in, sigma_in, torch.cat([cond, uncond]))
        out_cond, out_uncond = out[:n], out[n:]
        denoised = torch.clone(out_uncond)
        for i in range(n):
            denoised[i] += (out_cond[i] - out_uncond[i]) * (1.0 * scale)
        return denoised

    return call


class LCMDenoiser(DiscreteDenoiser):
    """A1111's LCM wrapper (sd_samplers_lcm.LCMCompVisDenoiser): the model seen through the 50
    "original" timesteps a Latent Consistency Model was distilled on (19, 39, ..., 999), with
    timesteps always quantized to them and the consistency-model output scaling
    (c_skip, c_out over 10 * timestep, sigma_data 0.5) on top of the eps prediction."""

    ORIGINAL_STEPS = 50

    def __init__(self, unet: UNetFn, alphas_cumprod: torch.Tensor):
        train_steps = len(alphas_cumprod)
        self.skip = train_steps // self.ORIGINAL_STEPS
        picked = torch.zeros(self.ORIGINAL_STEPS, dtype=torch.float32)
        for k in range(self.ORIGINAL_STEPS):
            picked[self.ORIGINAL_STEPS - 1 - k] = alphas_cumprod[train_steps - 1 - k * self.skip]
        super().__init__(unet, picked, prediction_type="epsilon", quantize=True)

    def get_sigmas(self, n: int | None = None) -> torch.Tensor:
        if n is None:
            return append_zero(self.sigmas.flip(0))
        start, end = self.sigma_to_t(self.sigma_max), self.sigma_to_t(self.sigma_min)
        return append_zero(self.t_to_sigma(torch.linspace(start, end, n)))

    def sigma_to_t(self, sigma: torch.Tensor, quantize: bool = True) -> torch.Tensor:
        dists = sigma.log() - self.log_sigmas[:, None]
        return dists.abs().argmin(dim=0).view(sigma.shape) * self.skip + (self.skip - 1)

    def t_to_sigma(self, t: torch.Tensor) -> torch.Tensor:
        index = torch.clamp(((t - (self.skip - 1)) / self.skip).float(), min=0, max=len(self.sigmas) - 1)
        return super().t_to_sigma(index)

    def __call__(self, x: torch.Tensor, sigma: torch.Tensor, cond: torch.Tensor) -> torch.Tensor:
        c_out = _append_dims(-sigma, x.ndim)
        c_in = _append_dims(1 / (sigma ** 2 + self.sigma_data ** 2) ** 0.5, x.ndim)
        t = self.sigma_to_t(sigma)
        denoised = x + self.unet(x * c_in, t, cond) * c_out
        sigma_data = 0.5
        scaled_t = _append_dims(t, x.ndim) * 10.0
        c_skip = sigma_data ** 2 / (scaled_t ** 2 + sigma_data ** 2)
        c_out = scaled_t / (scaled_t ** 2 + sigma_data ** 2) ** 0.5
        return c_out * denoised + c_skip * x
