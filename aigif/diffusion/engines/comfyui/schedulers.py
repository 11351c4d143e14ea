"""ComfyUI's schedulers (comfy.samplers.SCHEDULER_HANDLERS / calculate_sigmas) and how its
KSampler / KSamplerAdvanced nodes cut the schedule (denoise, start/end steps).

Every schedule is a float32 tensor ending in 0 (kl_optimal: ending in 0 too, ComfyUI's
own version appends it), computed in the peer's order of operations: Python floats where
ComfyUI builds a list and calls torch.FloatTensor, float32 torch ops where it uses torch.
The model's levels and maps are ModelSamplingDiscrete's (model_sampling.py): its
timestep() is quantized, so "normal" and "sgm_uniform" interpolate between *integer*
end points.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import torch

from aigif.diffusion.kdiffusion import schedules as kd_schedules
from aigif.diffusion.kdiffusion.schedules import beta_ppf

from .model_sampling import ModelSamplingDiscrete

SCHEDULER_NAMES = ("simple", "sgm_uniform", "karras", "exponential", "ddim_uniform", "beta",
                   "normal", "linear_quadratic", "kl_optimal")
# KSampler.DISCARD_PENULTIMATE_SIGMA_SAMPLERS: one step more, then the next-to-last level dropped
DISCARD_PENULTIMATE_SAMPLERS = frozenset(("dpm_2", "dpm_2_ancestral", "uni_pc", "uni_pc_bh2"))


def _check_steps(steps: int) -> None:
    if isinstance(steps, bool) or not isinstance(steps, int) or steps < 1:
        raise ValueError(f"the number of steps must be a positive integer, not {steps!r}")


def simple(ms: ModelSamplingDiscrete, steps: int) -> torch.Tensor:
    stride = len(ms.sigmas) / steps
    values = [float(ms.sigmas[-(1 + int(x * stride))]) for x in range(steps)] + [0.0]
    return torch.tensor(values, dtype=torch.float32)


def ddim_uniform(ms: ModelSamplingDiscrete, steps: int) -> torch.Tensor:
    x = 1
    if math.isclose(float(ms.sigmas[x]), 0, abs_tol=0.00001):
        steps += 1
        values = []
    else:
        values = [0.0]
    stride = max(len(ms.sigmas) // steps, 1)
    while x < len(ms.sigmas):
        values.append(float(ms.sigmas[x]))
        x += stride
    return torch.tensor(values[::-1], dtype=torch.float32)


def normal(ms: ModelSamplingDiscrete, steps: int, sgm: bool = False) -> torch.Tensor:
    start = ms.timestep(ms.sigma_max)
    end = ms.timestep(ms.sigma_min)
    append_zero = True
    if sgm:
        timesteps = torch.linspace(start, end, steps + 1)[:-1]
    else:
        if math.isclose(float(ms.sigma(end)), 0, abs_tol=0.00001):
            steps += 1
            append_zero = False
        timesteps = torch.linspace(start, end, steps)
    values = [float(ms.sigma(t)) for t in timesteps]
    if append_zero:
        values.append(0.0)
    return torch.tensor(values, dtype=torch.float32)


def sgm_uniform(ms: ModelSamplingDiscrete, steps: int) -> torch.Tensor:
    return normal(ms, steps, sgm=True)


def beta(ms: ModelSamplingDiscrete, steps: int, alpha: float = 0.6, beta_: float = 0.6) -> torch.Tensor:
    """Training levels at the rounded Beta(alpha, beta) quantiles of the timestep range,
    repeats dropped (ComfyUI maps in timestep, A1111 in sigma)."""
    total = len(ms.sigmas) - 1
    fractions = 1 - np.linspace(0, 1, steps, endpoint=False)
    ts = np.rint(np.array([_beta_quantile(float(p), alpha, beta_) for p in fractions]) * total)
    values, last = [], -1
    for t in ts:
        if t != last:
            values.append(float(ms.sigmas[int(t)]))
        last = t
    values.append(0.0)
    return torch.tensor(values, dtype=torch.float32)


# scipy.stats.beta.ppf(0.5, a, a) as ComfyUI gets it (scipy 1.17.1): for ComfyUI's a = 0.6 one
# ulp above 0.5, for most others 0.5 itself.  It decides the rounding tie at an odd number of
# levels: 0.5 * 49 (LCM's 50 levels) is 24.5 -> 24 by rint, scipy's value gives 25.
SCIPY_SYMMETRIC_MEDIAN = {0.6: 0.5000000000000001}


def _beta_quantile(p: float, alpha: float, beta_: float) -> float:
    # bisection lands an ulp or so away from scipy's median, where the rint tie is decided
    if alpha == beta_ and p == 0.5:
        return SCIPY_SYMMETRIC_MEDIAN.get(alpha, 0.5)
    return beta_ppf(p, alpha, beta_)


def linear_quadratic(ms: ModelSamplingDiscrete, steps: int, threshold_noise: float = 0.025,
                     linear_steps: int | None = None) -> torch.Tensor:
    if steps == 1:
        schedule = [1.0, 0.0]
    else:
        if linear_steps is None:
            linear_steps = steps // 2
        linear = [i * threshold_noise / linear_steps for i in range(linear_steps)]
        step_diff = linear_steps - threshold_noise * steps
        quadratic_steps = steps - linear_steps
        quadratic_coef = step_diff / (linear_steps * quadratic_steps ** 2)
        linear_coef = threshold_noise / linear_steps - 2 * step_diff / (quadratic_steps ** 2)
        const = quadratic_coef * (linear_steps ** 2)
        quadratic = [quadratic_coef * (i ** 2) + linear_coef * i + const for i in range(linear_steps, steps)]
        schedule = [1.0 - x for x in linear + quadratic + [1.0]]
    return torch.tensor(schedule, dtype=torch.float32) * ms.sigma_max.cpu()


def kl_optimal(steps: int, sigma_min: float, sigma_max: float) -> torch.Tensor:
    """ComfyUI's own kl_optimal: `steps` levels evenly spaced in arctan(sigma) from sigma_max
    to sigma_min, then 0 (A1111's version has steps + 1 levels and no final 0)."""
    idx = torch.arange(steps, dtype=torch.float).div_(steps - 1)
    sigmas = idx.new_zeros(steps + 1)
    sigmas[:-1] = (idx * math.atan(sigma_min) + (1 - idx) * math.atan(sigma_max)).tan_()
    return sigmas


def calculate_sigmas(ms: ModelSamplingDiscrete, scheduler: str, steps: int) -> torch.Tensor:
    """comfy.samplers.calculate_sigmas(model_sampling, scheduler_name, steps)."""
    _check_steps(steps)
    if scheduler == "simple":
        return simple(ms, steps)
    if scheduler == "sgm_uniform":
        return sgm_uniform(ms, steps)
    if scheduler == "ddim_uniform":
        return ddim_uniform(ms, steps)
    if scheduler == "beta":
        return beta(ms, steps)
    if scheduler == "normal":
        return normal(ms, steps)
    if scheduler == "linear_quadratic":
        return linear_quadratic(ms, steps)
    sigma_min, sigma_max = float(ms.sigma_min), float(ms.sigma_max)
    if scheduler == "karras":
        return kd_schedules.karras(steps, sigma_min, sigma_max)
    if scheduler == "exponential":
        return kd_schedules.exponential(steps, sigma_min, sigma_max)
    if scheduler == "kl_optimal":
        return kl_optimal(steps, sigma_min, sigma_max)
    raise ValueError(f"unknown ComfyUI scheduler {scheduler!r}; known: {', '.join(SCHEDULER_NAMES)}")


def ksampler_sigmas(ms: ModelSamplingDiscrete, sampler: str, scheduler: str, steps: int,
                    denoise: float | None = 1.0) -> torch.Tensor:
    """KSampler.set_steps: the schedule for `steps`, or with denoise < 1 the last steps + 1
    levels of the schedule for int(steps / denoise) steps; denoise <= 0 gives no levels."""
    _check_steps(steps)

    def full(n: int) -> torch.Tensor:
        if sampler in DISCARD_PENULTIMATE_SAMPLERS:
            sigmas = calculate_sigmas(ms, scheduler, n + 1)
            return torch.cat([sigmas[:-2], sigmas[-1:]])
        return calculate_sigmas(ms, scheduler, n)

    if denoise is None or denoise > 0.9999:
        return full(steps)
    if denoise <= 0.0:
        return torch.zeros(0, dtype=torch.float32)
    return full(int(steps / denoise))[-(steps + 1):]


@dataclass(frozen=True)
class StepWindow:
    """What KSampler.sample makes of start_step / last_step: the levels to run, or, when
    start_step is past the end, `skip` (the latent is returned as it is, unsampled)."""
    sigmas: torch.Tensor
    skip: bool


def step_window(sigmas: torch.Tensor, start_step: int | None = None, last_step: int | None = None,
                force_full_denoise: bool = False) -> StepWindow:
    """KSampler.sample's slicing: sigmas[:last_step + 1] (its last level set to 0 with
    force_full_denoise, i.e. KSamplerAdvanced's return_with_leftover_noise "disable"), then
    sigmas[start_step:].  ComfyUI zeroes that level in place in its cached schedule; a copy
    is changed here."""
    if last_step is not None and last_step < len(sigmas) - 1:
        sigmas = sigmas[:last_step + 1].clone()
        if force_full_denoise:
            sigmas[-1] = 0
    if start_step is not None:
        if start_step < len(sigmas) - 1:
            sigmas = sigmas[start_step:]
        else:
            return StepWindow(sigmas, True)
    return StepWindow(sigmas, False)
