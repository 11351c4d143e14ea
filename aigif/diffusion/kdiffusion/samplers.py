"""k-diffusion's sampling algorithms (v0.0.16, the version A1111 v1.10 pins), written here.

Every sampler has the signature

    sample_x(denoise, x, sigmas, *, noise_sampler=None, callback=None, **options) -> x

- `denoise(x, sigma_batch)` is the (guided) denoiser D(x, sigma), e.g. model.cfg_denoiser;
- `x` is the initial latent already scaled to sigmas[0];
- `noise_sampler(sigma, sigma_next)` returns fresh unit noise shaped like x.  It is how each
  engine supplies its noise: A1111's per-image generators (with ENSD), a Brownian tree for
  the SDE samplers, ComfyUI's seeding.  Stochastic samplers require it (no hidden global
  RNG); the churn-capable Euler/Heun/DPM2 call it once per step, as k-diffusion draws
  `randn_like` once per step, so a shared noise stream advances the same way;
- `callback(info)` gets {'x', 'i', 'sigma', 'sigma_hat', 'denoised'} after each model call.

The tensor arithmetic keeps k-diffusion's order of operations so float32 results can match
bit for bit; A1111 replaces k-diffusion's `to_d` with one that divides by the 0-d sigma
directly, which gives the same numbers.
"""

from __future__ import annotations

from typing import Callable

import numpy as np
import torch

Denoiser = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]
NoiseSampler = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]


def to_d(x: torch.Tensor, sigma: torch.Tensor, denoised: torch.Tensor) -> torch.Tensor:
    """The Karras ODE derivative dx/dsigma."""
    return (x - denoised) / sigma


def get_ancestral_step(sigma_from, sigma_to, eta: float = 1.0):
    """(sigma_down, sigma_up): deterministic step to sigma_down, then noise of sigma_up."""
    if not eta:
        return sigma_to, 0.0
    sigma_up = min(sigma_to, eta * (sigma_to ** 2 * (sigma_from ** 2 - sigma_to ** 2) / sigma_from ** 2) ** 0.5)
    sigma_down = (sigma_to ** 2 - sigma_up ** 2) ** 0.5
    return sigma_down, sigma_up


def _need_noise(noise_sampler, name: str) -> NoiseSampler:
    if noise_sampler is None:
        raise ValueError(f"{name} is stochastic: pass a noise_sampler")
    return noise_sampler


def _report(callback, x, i, sigma, sigma_hat, denoised):
    if callback is not None:
        callback({"x": x, "i": i, "sigma": sigma, "sigma_hat": sigma_hat, "denoised": denoised})


def _churn(x, sigmas, i, noise_sampler, s_churn, s_tmin, s_tmax, s_noise):
    """Karras et al.'s optional noise injection (gamma > 0 only with s_churn > 0)."""
    gamma = min(s_churn / (len(sigmas) - 1), 2 ** 0.5 - 1) if s_tmin <= sigmas[i] <= s_tmax else 0.0
    if noise_sampler is None:
        if gamma > 0:
            raise ValueError("s_churn > 0 adds noise: pass a noise_sampler")
        eps = None
    else:
        eps = noise_sampler(sigmas[i], sigmas[i + 1]) * s_noise
    sigma_hat = sigmas[i] * (gamma + 1)
    if gamma > 0:
        x = x + eps * (sigma_hat ** 2 - sigmas[i] ** 2) ** 0.5
    return x, sigma_hat


@torch.no_grad()
def sample_euler(denoise: Denoiser, x, sigmas, *, noise_sampler=None, callback=None,
                 s_churn=0.0, s_tmin=0.0, s_tmax=float("inf"), s_noise=1.0):
    s_in = x.new_ones([x.shape[0]])
    for i in range(len(sigmas) - 1):
        x, sigma_hat = _churn(x, sigmas, i, noise_sampler, s_churn, s_tmin, s_tmax, s_noise)
        denoised = denoise(x, sigma_hat * s_in)
        d = to_d(x, sigma_hat, denoised)
        _report(callback, x, i, sigmas[i], sigma_hat, denoised)
        x = x + d * (sigmas[i + 1] - sigma_hat)
    return x


@torch.no_grad()
def sample_euler_ancestral(denoise: Denoiser, x, sigmas, *, noise_sampler=None, callback=None,
                           eta=1.0, s_noise=1.0, denoised_last: bool = False):
    """denoised_last: a step down to sigma 0 returns the denoised estimate itself, as ComfyUI's
    copy of k-diffusion does, instead of x + d * (0 - sigma) (the same in exact arithmetic)."""
    noise_sampler = _need_noise(noise_sampler, "Euler a")
    s_in = x.new_ones([x.shape[0]])
    for i in range(len(sigmas) - 1):
        denoised = denoise(x, sigmas[i] * s_in)
        sigma_down, sigma_up = get_ancestral_step(sigmas[i], sigmas[i + 1], eta=eta)
        _report(callback, x, i, sigmas[i], sigmas[i], denoised)
        if denoised_last and sigma_down == 0:
            x = denoised
            continue
        d = to_d(x, sigmas[i], denoised)
        x = x + d * (sigma_down - sigmas[i])
        if sigmas[i + 1] > 0:
            x = x + noise_sampler(sigmas[i], sigmas[i + 1]) * s_noise * sigma_up
    return x


@torch.no_grad()
def sample_heun(denoise: Denoiser, x, sigmas, *, noise_sampler=None, callback=None,
                s_churn=0.0, s_tmin=0.0, s_tmax=float("inf"), s_noise=1.0):
    s_in = x.new_ones([x.shape[0]])
    for i in range(len(sigmas) - 1):
        x, sigma_hat = _churn(x, sigmas, i, noise_sampler, s_churn, s_tmin, s_tmax, s_noise)
        denoised = denoise(x, sigma_hat * s_in)
        d = to_d(x, sigma_hat, denoised)
        _report(callback, x, i, sigmas[i], sigma_hat, denoised)
        dt = sigmas[i + 1] - sigma_hat
        if sigmas[i + 1] == 0:
            x = x + d * dt  # the last step is plain Euler: D at sigma 0 is undefined
        else:
            x_2 = x + d * dt
            denoised_2 = denoise(x_2, sigmas[i + 1] * s_in)
            d_2 = to_d(x_2, sigmas[i + 1], denoised_2)
            x = x + (d + d_2) / 2 * dt
    return x


@torch.no_grad()
def sample_dpm_2(denoise: Denoiser, x, sigmas, *, noise_sampler=None, callback=None,
                 s_churn=0.0, s_tmin=0.0, s_tmax=float("inf"), s_noise=1.0):
    s_in = x.new_ones([x.shape[0]])
    for i in range(len(sigmas) - 1):
        x, sigma_hat = _churn(x, sigmas, i, noise_sampler, s_churn, s_tmin, s_tmax, s_noise)
        denoised = denoise(x, sigma_hat * s_in)
        d = to_d(x, sigma_hat, denoised)
        _report(callback, x, i, sigmas[i], sigma_hat, denoised)
        if sigmas[i + 1] == 0:
            x = x + d * (sigmas[i + 1] - sigma_hat)
        else:
            # midpoint in log sigma
            sigma_mid = sigma_hat.log().lerp(sigmas[i + 1].log(), 0.5).exp()
            x_2 = x + d * (sigma_mid - sigma_hat)
            denoised_2 = denoise(x_2, sigma_mid * s_in)
            d_2 = to_d(x_2, sigma_mid, denoised_2)
            x = x + d_2 * (sigmas[i + 1] - sigma_hat)
    return x


@torch.no_grad()
def sample_dpm_2_ancestral(denoise: Denoiser, x, sigmas, *, noise_sampler=None, callback=None,
                           eta=1.0, s_noise=1.0):
    noise_sampler = _need_noise(noise_sampler, "DPM2 a")
    s_in = x.new_ones([x.shape[0]])
    for i in range(len(sigmas) - 1):
        denoised = denoise(x, sigmas[i] * s_in)
        sigma_down, sigma_up = get_ancestral_step(sigmas[i], sigmas[i + 1], eta=eta)
        _report(callback, x, i, sigmas[i], sigmas[i], denoised)
        d = to_d(x, sigmas[i], denoised)
        if sigma_down == 0:
            x = x + d * (sigma_down - sigmas[i])
        else:
            sigma_mid = sigmas[i].log().lerp(sigma_down.log(), 0.5).exp()
            x_2 = x + d * (sigma_mid - sigmas[i])
            denoised_2 = denoise(x_2, sigma_mid * s_in)
            d_2 = to_d(x_2, sigma_mid, denoised_2)
            x = x + d_2 * (sigma_down - sigmas[i])
            # k-diffusion adds this step's noise only on the second-order branch
            x = x + noise_sampler(sigmas[i], sigmas[i + 1]) * s_noise * sigma_up
    return x


# --- LMS: the linear multistep coefficients by Gauss-Kronrod quadrature -----------------------

# QUADPACK's 21-point Kronrod rule (abscissae, weights) and its embedded 10-point Gauss
# weights, the rule scipy.integrate.quad applies first; for the polynomials of degree <= 3
# integrated here it is exact and quad stops after it, so one application reproduces quad.
_XGK = (0.995657163025808080735527280689003, 0.973906528517171720077964012084452,
        0.930157491355708226001207180059508, 0.865063366688984510732096688423493,
        0.780817726586416897063717578345042, 0.679409568299024406234327365114874,
        0.562757134668604683339000099272694, 0.433395394129247190799265943165784,
        0.294392862701460198131126603103866, 0.148874338981631210884826001129720,
        0.000000000000000000000000000000000)
_WGK = (0.011694638867371874278064396062192, 0.032558162307964727478818972459390,
        0.054755896574351996031381300244580, 0.075039674810919952767043140916190,
        0.093125454583697605535065465083366, 0.109387158802297641899210590325805,
        0.123491976262065851077208649393430, 0.134709217311473325928054001771707,
        0.142775938577060080797094273138717, 0.147739104901338491374841515972068,
        0.149445554002916905664936468389821)


def _kronrod21(f, a: float, b: float) -> float:
    centre, half = 0.5 * (a + b), 0.5 * (b - a)
    total = _WGK[10] * f(centre)
    # QUADPACK sums the Gauss abscissae (odd 0-based indices) first, then the others
    for j in list(range(1, 10, 2)) + list(range(0, 10, 2)):
        offset = half * _XGK[j]
        total = total + _WGK[j] * (f(centre - offset) + f(centre + offset))
    return total * half


def linear_multistep_coeff(order: int, t, i: int, j: int, float32_basis: bool = False) -> float:
    """The integral over [t[i], t[i+1]] of the j-th Lagrange basis polynomial on the last
    `order` sigmas.  `float32_basis` evaluates the polynomial in float32, as k-diffusion does
    under NumPy >= 2 (its sigmas are a float32 array and Python floats no longer promote);
    A1111 v1.10 pins NumPy 1.26, where the same code evaluates in float64."""
    if order - 1 > i:
        raise ValueError(f"order {order} too high for step {i}")
    if float32_basis:
        ts = [np.float32(v) for v in t]
        conv = np.float32
    else:
        ts = [float(v) for v in t]
        conv = float

    def basis(tau: float) -> float:
        tau = conv(tau)
        prod = conv(1.0)
        for k in range(order):
            if k != j:
                prod *= (tau - ts[i - k]) / (ts[i - j] - ts[i - k])
        return float(prod)

    return _kronrod21(basis, float(ts[i]), float(ts[i + 1]))


@torch.no_grad()
def sample_lms(denoise: Denoiser, x, sigmas, *, noise_sampler=None, callback=None, order=4,
               float32_basis: bool = False, denoised_last: bool = False):
    """float32_basis: the Lagrange basis in float32, as k-diffusion evaluates it under NumPy >= 2;
    denoised_last: as in sample_euler_ancestral (ComfyUI's form)."""
    s_in = x.new_ones([x.shape[0]])
    sigmas_cpu = sigmas.detach().cpu().numpy()
    ds = []
    for i in range(len(sigmas) - 1):
        denoised = denoise(x, sigmas[i] * s_in)
        ds.append(to_d(x, sigmas[i], denoised))
        if len(ds) > order:
            ds.pop(0)
        _report(callback, x, i, sigmas[i], sigmas[i], denoised)
        if denoised_last and sigmas[i + 1] == 0:
            x = denoised
            continue
        cur_order = min(i + 1, order)
        coeffs = [linear_multistep_coeff(cur_order, sigmas_cpu, i, j, float32_basis) for j in range(cur_order)]
        x = x + sum(coeff * d for coeff, d in zip(coeffs, reversed(ds)))
    return x


# --- DPM-Solver++ family ------------------------------------------------------------------------

def _sigma_fn(t):
    return t.neg().exp()


def _t_fn(sigma):
    return sigma.log().neg()


@torch.no_grad()
def sample_dpmpp_2s_ancestral(denoise: Denoiser, x, sigmas, *, noise_sampler=None, callback=None,
                              eta=1.0, s_noise=1.0):
    noise_sampler = _need_noise(noise_sampler, "DPM++ 2S a")
    s_in = x.new_ones([x.shape[0]])
    for i in range(len(sigmas) - 1):
        denoised = denoise(x, sigmas[i] * s_in)
        sigma_down, sigma_up = get_ancestral_step(sigmas[i], sigmas[i + 1], eta=eta)
        _report(callback, x, i, sigmas[i], sigmas[i], denoised)
        if sigma_down == 0:
            d = to_d(x, sigmas[i], denoised)
            x = x + d * (sigma_down - sigmas[i])
        else:
            t, t_next = _t_fn(sigmas[i]), _t_fn(sigma_down)
            r = 1 / 2
            h = t_next - t
            s = t + r * h
            x_2 = (_sigma_fn(s) / _sigma_fn(t)) * x - (-h * r).expm1() * denoised
            denoised_2 = denoise(x_2, _sigma_fn(s) * s_in)
            x = (_sigma_fn(t_next) / _sigma_fn(t)) * x - (-h).expm1() * denoised_2
        if sigmas[i + 1] > 0:
            x = x + noise_sampler(sigmas[i], sigmas[i + 1]) * s_noise * sigma_up
    return x


@torch.no_grad()
def sample_dpmpp_sde(denoise: Denoiser, x, sigmas, *, noise_sampler=None, callback=None,
                     eta=1.0, s_noise=1.0, r=1 / 2):
    noise_sampler = _need_noise(noise_sampler, "DPM++ SDE")
    s_in = x.new_ones([x.shape[0]])
    for i in range(len(sigmas) - 1):
        denoised = denoise(x, sigmas[i] * s_in)
        _report(callback, x, i, sigmas[i], sigmas[i], denoised)
        if sigmas[i + 1] == 0:
            d = to_d(x, sigmas[i], denoised)
            x = x + d * (sigmas[i + 1] - sigmas[i])
            continue
        t, t_next = _t_fn(sigmas[i]), _t_fn(sigmas[i + 1])
        h = t_next - t
        s = t + h * r
        fac = 1 / (2 * r)
        # first stage: to the intermediate time s
        sd, su = get_ancestral_step(_sigma_fn(t), _sigma_fn(s), eta)
        s_ = _t_fn(sd)
        x_2 = (_sigma_fn(s_) / _sigma_fn(t)) * x - (t - s_).expm1() * denoised
        x_2 = x_2 + noise_sampler(_sigma_fn(t), _sigma_fn(s)) * s_noise * su
        denoised_2 = denoise(x_2, _sigma_fn(s) * s_in)
        # second stage: the full step with the blended denoised estimate
        sd, su = get_ancestral_step(_sigma_fn(t), _sigma_fn(t_next), eta)
        t_next_ = _t_fn(sd)
        denoised_d = (1 - fac) * denoised + fac * denoised_2
        x = (_sigma_fn(t_next_) / _sigma_fn(t)) * x - (t - t_next_).expm1() * denoised_d
        x = x + noise_sampler(_sigma_fn(t), _sigma_fn(t_next)) * s_noise * su
    return x


@torch.no_grad()
def sample_dpmpp_2m(denoise: Denoiser, x, sigmas, *, noise_sampler=None, callback=None):
    s_in = x.new_ones([x.shape[0]])
    old_denoised = None
    for i in range(len(sigmas) - 1):
        denoised = denoise(x, sigmas[i] * s_in)
        _report(callback, x, i, sigmas[i], sigmas[i], denoised)
        t, t_next = _t_fn(sigmas[i]), _t_fn(sigmas[i + 1])
        h = t_next - t
        if old_denoised is None or sigmas[i + 1] == 0:
            x = (_sigma_fn(t_next) / _sigma_fn(t)) * x - (-h).expm1() * denoised
        else:
            h_last = t - _t_fn(sigmas[i - 1])
            r = h_last / h
            denoised_d = (1 + 1 / (2 * r)) * denoised - (1 / (2 * r)) * old_denoised
            x = (_sigma_fn(t_next) / _sigma_fn(t)) * x - (-h).expm1() * denoised_d
        old_denoised = denoised
    return x


@torch.no_grad()
def sample_dpmpp_2m_sde(denoise: Denoiser, x, sigmas, *, noise_sampler=None, callback=None,
                        eta=1.0, s_noise=1.0, solver_type="midpoint"):
    if solver_type not in ("heun", "midpoint"):
        raise ValueError("solver_type must be 'heun' or 'midpoint'")
    if eta:
        noise_sampler = _need_noise(noise_sampler, "DPM++ 2M SDE")
    s_in = x.new_ones([x.shape[0]])
    old_denoised = None
    h_last = None
    h = None
    for i in range(len(sigmas) - 1):
        denoised = denoise(x, sigmas[i] * s_in)
        _report(callback, x, i, sigmas[i], sigmas[i], denoised)
        if sigmas[i + 1] == 0:
            x = denoised
        else:
            t, s = -sigmas[i].log(), -sigmas[i + 1].log()
            h = s - t
            eta_h = eta * h
            x = sigmas[i + 1] / sigmas[i] * (-eta_h).exp() * x + (-h - eta_h).expm1().neg() * denoised
            if old_denoised is not None:
                r = h_last / h
                if solver_type == "heun":
                    x = x + ((-h - eta_h).expm1().neg() / (-h - eta_h) + 1) * (1 / r) * (denoised - old_denoised)
                else:
                    x = x + 0.5 * (-h - eta_h).expm1().neg() * (1 / r) * (denoised - old_denoised)
            if eta:
                x = x + noise_sampler(sigmas[i], sigmas[i + 1]) * sigmas[i + 1] * (-2 * eta_h).expm1().neg().sqrt() * s_noise
        old_denoised = denoised
        h_last = h
    return x


@torch.no_grad()
def sample_dpmpp_3m_sde(denoise: Denoiser, x, sigmas, *, noise_sampler=None, callback=None,
                        eta=1.0, s_noise=1.0):
    if eta:
        noise_sampler = _need_noise(noise_sampler, "DPM++ 3M SDE")
    s_in = x.new_ones([x.shape[0]])
    denoised_1 = denoised_2 = None
    h = h_1 = h_2 = None
    for i in range(len(sigmas) - 1):
        denoised = denoise(x, sigmas[i] * s_in)
        _report(callback, x, i, sigmas[i], sigmas[i], denoised)
        if sigmas[i + 1] == 0:
            x = denoised
        else:
            t, s = -sigmas[i].log(), -sigmas[i + 1].log()
            h = s - t
            h_eta = h * (eta + 1)
            x = torch.exp(-h_eta) * x + (-h_eta).expm1().neg() * denoised
            if h_2 is not None:
                r0 = h_1 / h
                r1 = h_2 / h
                d1_0 = (denoised - denoised_1) / r0
                d1_1 = (denoised_1 - denoised_2) / r1
                d1 = d1_0 + (d1_0 - d1_1) * r0 / (r0 + r1)
                d2 = (d1_0 - d1_1) / (r0 + r1)
                phi_2 = h_eta.neg().expm1() / h_eta + 1
                phi_3 = phi_2 / h_eta - 0.5
                x = x + phi_2 * d1 - phi_3 * d2
            elif h_1 is not None:
                r = h_1 / h
                d = (denoised - denoised_1) / r
                phi_2 = h_eta.neg().expm1() / h_eta + 1
                x = x + phi_2 * d
            if eta:
                x = x + noise_sampler(sigmas[i], sigmas[i + 1]) * sigmas[i + 1] * (-2 * h * eta).expm1().neg().sqrt() * s_noise
        denoised_1, denoised_2 = denoised, denoised_1
        h_1, h_2 = h, h_1
    return x


@torch.no_grad()
def sample_lcm(denoise: Denoiser, x, sigmas, *, noise_sampler=None, callback=None):
    """Latent Consistency Model sampling (A1111's sd_samplers_lcm): jump to the denoised
    estimate, re-noise to the next sigma."""
    noise_sampler = _need_noise(noise_sampler, "LCM")
    s_in = x.new_ones([x.shape[0]])
    for i in range(len(sigmas) - 1):
        denoised = denoise(x, sigmas[i] * s_in)
        _report(callback, x, i, sigmas[i], sigmas[i], denoised)
        x = denoised
        if sigmas[i + 1] > 0:
            x = x + sigmas[i + 1] * noise_sampler(sigmas[i], sigmas[i + 1])
    return x


SAMPLERS = {f.__name__: f for f in (
    sample_euler, sample_euler_ancestral, sample_heun, sample_dpm_2, sample_dpm_2_ancestral,
    sample_lms, sample_dpmpp_2s_ancestral, sample_dpmpp_sde, sample_dpmpp_2m,
    sample_dpmpp_2m_sde, sample_dpmpp_3m_sde, sample_lcm,
)}


def generator_noise(x: torch.Tensor, generator: torch.Generator) -> NoiseSampler:
    """Unit noise shaped like x from one torch.Generator (k-diffusion's default
    `torch.randn_like`, with the generator made explicit)."""
    shape, dtype, device = x.shape, x.dtype, x.device

    def draw(sigma, sigma_next):
        return torch.randn(shape, generator=generator, dtype=dtype, device=device)

    return draw
