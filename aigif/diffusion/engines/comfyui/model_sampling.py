"""ComfyUI's view of a discrete-time SD model: its ModelSamplingDiscrete and the EPS / V
scalings its model wrapper applies around the UNet.

What differs from A1111's (aigif.diffusion.kdiffusion.model) and changes the bits:
- the training sigmas: the betas in float64 (as LDM), but the cumulative product and the
  sigmas are computed in float64 by torch and only then rounded to float32 (A1111 rounds
  alphas_cumprod to float32 first and takes the sigmas in float32);
- log_sigmas is log of the float64 sigmas, rounded to float32;
- sigma -> timestep is *quantized* (nearest training level in log sigma): the UNet always
  sees integer timesteps, and the schedulers' timestep arithmetic runs on those integers;
- the UNet input is x / sqrt(sigma^2 + 1) (a division, not a multiply by the reciprocal);
- the first latent is noise * sqrt(1 + sigma^2) when sampling starts at the top sigma
  ("max_denoise"), noise * sigma + latent otherwise.

The ModelSamplingDiscrete node (comfy_extras/nodes_model_advanced.py) rebuilds these for a
model from the same training betas with another prediction ("eps", "v_prediction", "x0",
"img_to_img", "lcm") and optionally zero terminal SNR (patched(), below):
- zsnr: the float64 sigmas go through ComfyUI's rescale_zero_terminal_snr_sigmas (sqrt of
  alphas_cumprod shifted so the last is 0 and scaled so the first is kept, the last
  alphas_cumprod then set to 4.8973451890853435e-08: sigma_max about 4.5e3, not infinity);
- x0: the UNet's output is the denoised latent; img_to_img: that, and the UNet input is x
  itself (no 1 / sqrt(sigma^2 + 1));
- lcm: ModelSamplingDiscreteDistilled keeps 50 of the 1000 levels (every 20th from the top,
  as float32, whose log is then taken in float32), timestep = 20 * level + 19, and
  denoised = c_out * (x - eps * sigma) + c_skip * x with ComfyUI's LCM boundary condition
  at t = 10 * timestep, sigma_data 0.5: c_skip = 0.25 / (t^2 + 0.25), c_out = t / sqrt(t^2 + 0.25).
"""

from __future__ import annotations

import math

import torch

SIGMA_DATA = 1.0


def training_betas(beta_start: float = 0.00085, beta_end: float = 0.012, timesteps: int = 1000,
                   beta_schedule: str = "linear") -> torch.Tensor:
    """The betas as ComfyUI's make_beta_schedule builds them (float64).  ComfyUI uses LDM's
    names: "linear" is evenly spaced in sqrt(beta) (diffusers' "scaled_linear"),
    "sqrt_linear" evenly spaced in beta (diffusers' "linear")."""
    if timesteps < 2:
        raise ValueError("timesteps must be at least 2")
    if beta_schedule == "linear":
        return torch.linspace(beta_start ** 0.5, beta_end ** 0.5, timesteps, dtype=torch.float64) ** 2
    if beta_schedule == "sqrt_linear":
        return torch.linspace(beta_start, beta_end, timesteps, dtype=torch.float64)
    raise ValueError(f"unsupported beta schedule {beta_schedule!r}")


def comfy_beta_schedule(diffusers_schedule: str) -> str:
    """ComfyUI's name for a diffusers scheduler_config beta_schedule."""
    names = {"scaled_linear": "linear", "linear": "sqrt_linear"}
    if diffusers_schedule not in names:
        raise ValueError(f"unsupported beta schedule {diffusers_schedule!r}")
    return names[diffusers_schedule]


SAMPLINGS = ("eps", "v_prediction", "lcm", "x0", "img_to_img")  # the ModelSamplingDiscrete node's choices
ZSNR_LAST_ALPHA_CUMPROD = 4.8973451890853435e-08  # ComfyUI's value for the last level under zsnr


def rescale_zero_terminal_snr(sigmas: torch.Tensor) -> torch.Tensor:
    """Zero-terminal-SNR sigmas (float64 in, float64 out), in ComfyUI's order of operations."""
    root = (1 / (sigmas * sigmas + 1)).sqrt()
    first, last = root[0].clone(), root[-1].clone()
    root -= last
    root *= first / (first - last)
    alphas_cumprod = root ** 2
    alphas_cumprod[-1] = ZSNR_LAST_ALPHA_CUMPROD
    return ((1 - alphas_cumprod) / alphas_cumprod) ** 0.5


class ModelSamplingDiscrete:
    """The training noise levels of a discrete-time model and ComfyUI's maps sigma <-> timestep."""

    def __init__(self, beta_start: float = 0.00085, beta_end: float = 0.012, timesteps: int = 1000,
                 beta_schedule: str = "linear", prediction: str = "eps", zsnr: bool = False):
        if prediction not in ("eps", "v_prediction", "x0", "img_to_img"):
            raise ValueError(f"unsupported prediction {prediction!r}")
        self.prediction = prediction
        self.training = (beta_start, beta_end, timesteps, beta_schedule)
        self.zsnr = zsnr
        betas = training_betas(beta_start, beta_end, timesteps, beta_schedule)
        alphas_cumprod = torch.cumprod(1.0 - betas, dim=0)
        sigmas = ((1 - alphas_cumprod) / alphas_cumprod) ** 0.5
        if zsnr:
            sigmas = rescale_zero_terminal_snr(sigmas)
        self.sigmas = sigmas.float()
        self.log_sigmas = sigmas.log().float()

    def patched(self, sampling: str, zsnr: bool) -> "ModelSamplingDiscrete":
        """What the ModelSamplingDiscrete node puts in the model's place: the same training betas
        (ComfyUI reads them from the model config; SD 1.x's are tiny-sd's), another prediction."""
        if sampling not in SAMPLINGS:
            raise ValueError(f"unsupported sampling {sampling!r}")
        if sampling == "lcm":
            return ModelSamplingLCM(*self.training, zsnr=zsnr)
        return ModelSamplingDiscrete(*self.training, prediction=sampling, zsnr=zsnr)

    @property
    def sigma_min(self) -> torch.Tensor:
        return self.sigmas[0]

    @property
    def sigma_max(self) -> torch.Tensor:
        return self.sigmas[-1]

    def timestep(self, sigma: torch.Tensor) -> torch.Tensor:
        """The nearest training step in log sigma (int64, shaped like sigma)."""
        log_sigma = sigma.log()
        dists = log_sigma.to(self.log_sigmas.device) - self.log_sigmas[:, None]
        return dists.abs().argmin(dim=0).view(sigma.shape).to(sigma.device)

    def sigma(self, timestep: torch.Tensor) -> torch.Tensor:
        """Log-linear interpolation between the training levels around a (real) timestep."""
        t = torch.clamp(timestep.float().to(self.log_sigmas.device), min=0, max=len(self.sigmas) - 1)
        low, high, w = t.floor().long(), t.ceil().long(), t.frac()
        log_sigma = (1 - w) * self.log_sigmas[low] + w * self.log_sigmas[high]
        return log_sigma.exp().to(timestep.device)

    def percent_to_sigma(self, percent: float) -> float:
        if percent <= 0.0:
            return 999999999.9
        if percent >= 1.0:
            return 0.0
        return self.sigma(torch.tensor((1.0 - percent) * 999.0)).item()

    # --- the model wrapper's scalings (comfy.model_sampling.EPS / V_PREDICTION) -------------

    @staticmethod
    def _batch_view(sigma: torch.Tensor, ndim: int) -> torch.Tensor:
        return sigma.view(sigma.shape[:1] + (1,) * (ndim - 1))

    def calculate_input(self, sigma: torch.Tensor, noise: torch.Tensor) -> torch.Tensor:
        if self.prediction == "img_to_img":
            return noise
        sigma = self._batch_view(sigma, noise.ndim)
        return noise / (sigma ** 2 + SIGMA_DATA ** 2) ** 0.5

    def calculate_denoised(self, sigma: torch.Tensor, model_output: torch.Tensor,
                           model_input: torch.Tensor) -> torch.Tensor:
        if self.prediction in ("x0", "img_to_img"):
            return model_output
        sigma = self._batch_view(sigma, model_output.ndim)
        if self.prediction == "eps":
            return model_input - model_output * sigma
        return (model_input * SIGMA_DATA ** 2 / (sigma ** 2 + SIGMA_DATA ** 2)
                - model_output * sigma * SIGMA_DATA / (sigma ** 2 + SIGMA_DATA ** 2) ** 0.5)

    def noise_scaling(self, sigma: torch.Tensor, noise: torch.Tensor, latent_image: torch.Tensor,
                      max_denoise: bool = False) -> torch.Tensor:
        sigma = self._batch_view(sigma, noise.ndim)
        if max_denoise:
            noise = noise * torch.sqrt(1.0 + sigma ** 2.0)
        else:
            noise = noise * sigma
        return noise + latent_image

    def is_max_denoise(self, sigmas: torch.Tensor) -> bool:
        """ComfyUI's Sampler.max_denoise: the schedule starts at (or above) the top level."""
        max_sigma, sigma = float(self.sigma_max), float(sigmas[0])
        return math.isclose(max_sigma, sigma, rel_tol=1e-05) or sigma > max_sigma


class ModelSamplingLCM(ModelSamplingDiscrete):
    """ModelSamplingDiscreteDistilled with ComfyUI's LCM denoiser (sampling "lcm")."""

    ORIGINAL_TIMESTEPS = 50
    SIGMA_DATA = 0.5
    TIMESTEP_SCALING = 10.0

    def __init__(self, beta_start: float = 0.00085, beta_end: float = 0.012, timesteps: int = 1000,
                 beta_schedule: str = "linear", zsnr: bool = False):
        super().__init__(beta_start, beta_end, timesteps, beta_schedule, "eps", zsnr)
        self.prediction = "lcm"
        self.skip_steps = timesteps // self.ORIGINAL_TIMESTEPS
        kept = torch.zeros(self.ORIGINAL_TIMESTEPS, dtype=torch.float32)
        for i in range(self.ORIGINAL_TIMESTEPS):
            kept[self.ORIGINAL_TIMESTEPS - 1 - i] = self.sigmas[timesteps - 1 - i * self.skip_steps]
        self.sigmas = kept
        self.log_sigmas = kept.log()

    def timestep(self, sigma: torch.Tensor) -> torch.Tensor:
        level = super().timestep(sigma)
        return level * self.skip_steps + (self.skip_steps - 1)

    def sigma(self, timestep: torch.Tensor) -> torch.Tensor:
        level = ((timestep.float().to(self.log_sigmas.device) - (self.skip_steps - 1)) / self.skip_steps).float()
        return super().sigma(level).to(timestep.device)

    def calculate_denoised(self, sigma: torch.Tensor, model_output: torch.Tensor,
                           model_input: torch.Tensor) -> torch.Tensor:
        t = self._batch_view(self.timestep(sigma), model_output.ndim)
        sigma = self._batch_view(sigma, model_output.ndim)
        x0 = model_input - model_output * sigma
        scaled = t * self.TIMESTEP_SCALING
        c_skip = self.SIGMA_DATA ** 2 / (scaled ** 2 + self.SIGMA_DATA ** 2)
        c_out = scaled / (scaled ** 2 + self.SIGMA_DATA ** 2) ** 0.5
        return c_out * x0 + c_skip * model_input
