"""Sigma schedules: the noise levels a sampler steps through, ending in 0.

Two families live here:
- k-diffusion's closed forms (karras, exponential, polyexponential, vp), parametrised by
  sigma_min/sigma_max only;
- the schedules A1111 v1.10 adds over a model's discrete training levels (uniform,
  sgm_uniform, simple, normal, ddim, kl_optimal, beta, align_your_steps).

Each returns a float32 tensor of n+1 values.  The arithmetic follows the peers' order of
operations (float32 torch ops where they use torch, float64 where they use numpy/Python),
because a schedule that differs in the last bit changes every pixel downstream.
Which schedule A1111 picks for a sampler, and its overrides, is
aigif/diffusion/engines/a1111/schedules.py's business.
"""

from __future__ import annotations

import math

import numpy as np
import torch

from .model import DiscreteSchedule, append_zero

# Align Your Steps (Sabour et al., 2024, NVIDIA's published 10-step tables), in sigma.
AYS_SD15 = (14.615, 6.475, 3.861, 2.697, 1.886, 1.396, 0.963, 0.652, 0.399, 0.152, 0.029)
AYS_SDXL = (14.615, 6.315, 3.771, 2.181, 1.342, 0.862, 0.555, 0.380, 0.234, 0.113, 0.029)


def _check_n(n: int) -> None:
    if not isinstance(n, int) or n < 1:
        raise ValueError(f"the number of steps must be a positive integer, not {n!r}")


# --- k-diffusion's closed forms ------------------------------------------------------------

def karras(n: int, sigma_min: float, sigma_max: float, rho: float = 7.0) -> torch.Tensor:
    """Karras et al. (2022): evenly spaced in sigma^(1/rho)."""
    _check_n(n)
    ramp = torch.linspace(0, 1, n)
    min_inv_rho = sigma_min ** (1 / rho)
    max_inv_rho = sigma_max ** (1 / rho)
    return append_zero((max_inv_rho + ramp * (min_inv_rho - max_inv_rho)) ** rho)


def exponential(n: int, sigma_min: float, sigma_max: float) -> torch.Tensor:
    """Evenly spaced in log sigma."""
    _check_n(n)
    return append_zero(torch.linspace(math.log(sigma_max), math.log(sigma_min), n).exp())


def polyexponential(n: int, sigma_min: float, sigma_max: float, rho: float = 1.0) -> torch.Tensor:
    """log sigma a polynomial (degree rho) in the step fraction."""
    _check_n(n)
    ramp = torch.linspace(1, 0, n) ** rho
    log_min = math.log(sigma_min)
    return append_zero(torch.exp(ramp * (math.log(sigma_max) - log_min) + log_min))


def vp(n: int, beta_d: float = 19.9, beta_min: float = 0.1, eps_s: float = 1e-3) -> torch.Tensor:
    """The continuous VP-SDE schedule."""
    _check_n(n)
    t = torch.linspace(1, eps_s, n)
    return append_zero(torch.sqrt(torch.exp(beta_d * t ** 2 / 2 + beta_min * t) - 1))


# --- schedules over the model's training levels (A1111 v1.10) -------------------------------

def uniform(model: DiscreteSchedule, n: int) -> torch.Tensor:
    _check_n(n)
    return model.get_sigmas(n)


def _timestep_spaced(model: DiscreteSchedule, n: int, sigma_min: float, sigma_max: float,
                     drop_last: bool) -> torch.Tensor:
    start = model.sigma_to_t(torch.tensor(sigma_max))
    end = model.sigma_to_t(torch.tensor(sigma_min))
    ts = torch.linspace(start, end, n + 1)[:-1] if drop_last else torch.linspace(start, end, n)
    values = [float(model.t_to_sigma(t)) for t in ts] + [0.0]
    return torch.tensor(values, dtype=torch.float32)


def sgm_uniform(model: DiscreteSchedule, n: int, sigma_min: float, sigma_max: float) -> torch.Tensor:
    """n timesteps evenly spaced from sigma_max's down to (not including) sigma_min's."""
    _check_n(n)
    return _timestep_spaced(model, n, sigma_min, sigma_max, drop_last=True)


def normal(model: DiscreteSchedule, n: int, sigma_min: float, sigma_max: float) -> torch.Tensor:
    """n timesteps evenly spaced from sigma_max's to sigma_min's, both included."""
    _check_n(n)
    return _timestep_spaced(model, n, sigma_min, sigma_max, drop_last=False)


def simple(model: DiscreteSchedule, n: int) -> torch.Tensor:
    """Every len/n-th training level from the top, by truncating the fractional stride."""
    _check_n(n)
    stride = len(model.sigmas) / n
    values = [float(model.sigmas[-(1 + int(i * stride))]) for i in range(n)] + [0.0]
    return torch.tensor(values, dtype=torch.float32)


def ddim(model: DiscreteSchedule, n: int) -> torch.Tensor:
    """The training levels 1, 1+k, 1+2k, ... (k = len // n), highest first."""
    _check_n(n)
    stride = max(len(model.sigmas) // n, 1)
    values = [float(model.sigmas[i]) for i in range(1, len(model.sigmas), stride)]
    return torch.tensor(values[::-1] + [0.0], dtype=torch.float32)


def kl_optimal(n: int, sigma_min: float, sigma_max: float) -> torch.Tensor:
    """Evenly spaced in arctan(sigma) (Sabour et al.'s KL-optimal schedule); no final 0
    is appended: the last value is sigma_min itself."""
    _check_n(n)
    alpha_min = torch.arctan(torch.tensor(sigma_min))
    alpha_max = torch.arctan(torch.tensor(sigma_max))
    idx = torch.arange(n + 1)
    return torch.tan(idx / n * alpha_min + (1.0 - idx / n) * alpha_max)


def align_your_steps(n: int, sdxl: bool = False) -> torch.Tensor:
    """NVIDIA's 10-step tables, log-linearly resampled to n steps when n != 11 (A1111 compares
    n with the table length, 11, so 10 steps are resampled and 11 are used as they are)."""
    _check_n(n)
    table = AYS_SDXL if sdxl else AYS_SD15
    if n == len(table):
        return torch.tensor(list(table) + [0.0], dtype=torch.float32)
    xs = np.linspace(0, 1, len(table))
    ys = np.log(np.array(table[::-1]))
    resampled = np.exp(np.interp(np.linspace(0, 1, n), xs, ys))[::-1]
    return torch.tensor(np.append(resampled, [0.0]), dtype=torch.float32)


def beta(n: int, sigma_min: float, sigma_max: float, alpha: float = 0.6,
         beta_: float = 0.6) -> torch.Tensor:
    """Lee et al. (2024): timesteps at the quantiles of a Beta(alpha, beta) distribution,
    mapped linearly onto [sigma_min, sigma_max] (A1111 maps in sigma, not in timestep)."""
    _check_n(n)
    fractions = 1 - np.linspace(0, 1, n)
    values = [sigma_min + beta_ppf(float(p), alpha, beta_) * (sigma_max - sigma_min) for p in fractions]
    return torch.tensor(values + [0.0], dtype=torch.float32)


# --- the Beta quantile function, without scipy ---------------------------------------------

def _betacf(x: float, a: float, b: float) -> float:
    """The continued fraction of the regularised incomplete beta function (modified Lentz)."""
    tiny = 1e-300
    qab, qap, qam = a + b, a + 1.0, a - 1.0
    c, d = 1.0, 1.0 - qab * x / qap
    d = 1.0 / (d if abs(d) > tiny else tiny)
    h = d
    for m in range(1, 1000):
        m2 = 2 * m
        aa = m * (b - m) * x / ((qam + m2) * (a + m2))
        d = 1.0 + aa * d
        d = 1.0 / (d if abs(d) > tiny else tiny)
        c = 1.0 + aa / c
        c = c if abs(c) > tiny else tiny
        h *= d * c
        aa = -(a + m) * (qab + m) * x / ((a + m2) * (qap + m2))
        d = 1.0 + aa * d
        d = 1.0 / (d if abs(d) > tiny else tiny)
        c = 1.0 + aa / c
        c = c if abs(c) > tiny else tiny
        delta = d * c
        h *= delta
        if abs(delta - 1.0) < 1e-16:
            break
    return h


def beta_cdf(x: float, a: float, b: float) -> float:
    """The regularised incomplete beta function I_x(a, b)."""
    if x <= 0.0:
        return 0.0
    if x >= 1.0:
        return 1.0
    log_front = (math.lgamma(a + b) - math.lgamma(a) - math.lgamma(b)
                 + a * math.log(x) + b * math.log1p(-x))
    front = math.exp(log_front)
    if x < (a + 1.0) / (a + b + 2.0):
        return front * _betacf(x, a, b) / a
    return 1.0 - front * _betacf(1.0 - x, b, a) / b


def beta_ppf(p: float, a: float, b: float) -> float:
    """The Beta(a, b) quantile, by bisection to the last representable bit: the result is
    the double x whose CDF brackets p, accurate to a few ulps of the CDF's own precision."""
    if not (a > 0 and b > 0):
        raise ValueError("Beta parameters must be positive")
    if p <= 0.0:
        return 0.0
    if p >= 1.0:
        return 1.0
    lo, hi = 0.0, 1.0
    for _ in range(1100):  # enough to reach adjacent doubles anywhere in (0, 1)
        mid = 0.5 * (lo + hi)
        if mid <= lo or mid >= hi:
            break
        if beta_cdf(mid, a, b) < p:
            lo = mid
        else:
            hi = mid
    return 0.5 * (lo + hi)
