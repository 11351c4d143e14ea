"""ComfyUI's samplers (comfy/k_diffusion/sampling.py, comfy/extra_samplers/uni_pc.py and
comfy.samplers.sampler_object), for eps / v models (not the flow-matching "CONST" ones).

ComfyUI's copy of k-diffusion has drifted from the v0.0.16 that A1111 pins
(aigif.diffusion.kdiffusion.samplers); where the arithmetic is still the same, the shared
function is used, otherwise the ComfyUI form is written here:

- same as v0.0.16: euler, heun, dpm_2, dpm_2_ancestral, dpmpp_2s_ancestral, dpmpp_2m, lcm
  (ComfyUI's noise_scaling(sigma, noise, x) = noise * sigma + x, the same float32 numbers);
- euler_ancestral, lms: the shared functions with denoised_last (the last step, to sigma 0,
  returns the denoised estimate itself instead of x + d * (0 - sigma));
- dpmpp_sde, dpmpp_2m_sde(_heun), dpmpp_3m_sde: rewritten over half-log-SNR with explicit
  alpha_t = sigma * exp(lambda) factors (1 only in exact arithmetic), the final step returns
  the denoised estimate, the first stage's noise is queried at (sigma, sigma_s);
- ddim: euler (inpainting draws its own noise; not used without a mask);
- res_multistep, uni_pc, uni_pc_bh2: ComfyUI's own.

Noise: each stochastic sampler makes its noise from the KSampler's seed at every call
(noise.default_noise_sampler / noise.brownian_noise_sampler), unless given a noise_sampler.
"""

from __future__ import annotations

from typing import Callable

import torch

from aigif.diffusion.kdiffusion import samplers as kd
from aigif.diffusion.kdiffusion.samplers import get_ancestral_step, to_d

from .noise import brownian_noise_sampler, default_noise_sampler
from .unipc import sample_unipc, sample_unipc_bh2

Denoiser = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]


def _report(callback, x, i, sigma, sigma_hat, denoised):
    if callback is not None:
        callback({"x": x, "i": i, "sigma": sigma, "sigma_hat": sigma_hat, "denoised": denoised})


def _default_noise(noise_sampler, x, seed):
    return default_noise_sampler(x, seed) if noise_sampler is None else noise_sampler


def _brownian_noise(noise_sampler, x, sigmas, seed, cpu):
    if noise_sampler is not None:
        return noise_sampler
    if seed is None:
        raise ValueError("the SDE samplers need the seed (ComfyUI would draw a random one)")
    return brownian_noise_sampler(x, sigmas, seed, cpu=cpu)


# --- the SDE samplers over half-log-SNR lambda = -log(sigma) (eps / v models) --------------

def _lambda(sigma):
    return sigma.log().neg()


def _sigma(half_log_snr):
    return half_log_snr.neg().exp()


@torch.no_grad()
def sample_dpmpp_sde(model: Denoiser, x, sigmas, *, seed=None, noise_sampler=None, callback=None,
                     eta=1.0, s_noise=1.0, r=1 / 2, cpu_tree=True):
    if len(sigmas) <= 1:
        return x
    noise_sampler = _brownian_noise(noise_sampler, x, sigmas, seed, cpu_tree)
    s_in = x.new_ones([x.shape[0]])
    for i in range(len(sigmas) - 1):
        denoised = model(x, sigmas[i] * s_in)
        _report(callback, x, i, sigmas[i], sigmas[i], denoised)
        if sigmas[i + 1] == 0:
            x = denoised
            continue
        lambda_s, lambda_t = _lambda(sigmas[i]), _lambda(sigmas[i + 1])
        h = lambda_t - lambda_s
        lambda_s_1 = lambda_s + r * h
        fac = 1 / (2 * r)
        sigma_s_1 = _sigma(lambda_s_1)
        alpha_s = sigmas[i] * lambda_s.exp()
        alpha_s_1 = sigma_s_1 * lambda_s_1.exp()
        alpha_t = sigmas[i + 1] * lambda_t.exp()
        # step 1, to the intermediate level
        sd, su = get_ancestral_step(lambda_s.neg().exp(), lambda_s_1.neg().exp(), eta)
        lambda_s_1_ = sd.log().neg()
        h_ = lambda_s_1_ - lambda_s
        x_2 = (alpha_s_1 / alpha_s) * (-h_).exp() * x - alpha_s_1 * (-h_).expm1() * denoised
        if eta > 0 and s_noise > 0:
            x_2 = x_2 + alpha_s_1 * noise_sampler(sigmas[i], sigma_s_1) * s_noise * su
        denoised_2 = model(x_2, sigma_s_1 * s_in)
        # step 2, the full step with the blended estimate
        sd, su = get_ancestral_step(lambda_s.neg().exp(), lambda_t.neg().exp(), eta)
        lambda_t_ = sd.log().neg()
        h_ = lambda_t_ - lambda_s
        denoised_d = (1 - fac) * denoised + fac * denoised_2
        x = (alpha_t / alpha_s) * (-h_).exp() * x - alpha_t * (-h_).expm1() * denoised_d
        if eta > 0 and s_noise > 0:
            x = x + alpha_t * noise_sampler(sigmas[i], sigmas[i + 1]) * s_noise * su
    return x


@torch.no_grad()
def sample_dpmpp_2m_sde(model: Denoiser, x, sigmas, *, seed=None, noise_sampler=None, callback=None,
                        eta=1.0, s_noise=1.0, solver_type="midpoint", cpu_tree=True):
    if len(sigmas) <= 1:
        return x
    if solver_type not in ("heun", "midpoint"):
        raise ValueError("solver_type must be 'heun' or 'midpoint'")
    noise_sampler = _brownian_noise(noise_sampler, x, sigmas, seed, cpu_tree)
    s_in = x.new_ones([x.shape[0]])
    old_denoised = None
    h = h_last = None
    for i in range(len(sigmas) - 1):
        denoised = model(x, sigmas[i] * s_in)
        _report(callback, x, i, sigmas[i], sigmas[i], denoised)
        if sigmas[i + 1] == 0:
            x = denoised
        else:
            lambda_s, lambda_t = _lambda(sigmas[i]), _lambda(sigmas[i + 1])
            h = lambda_t - lambda_s
            h_eta = h * (eta + 1)
            alpha_t = sigmas[i + 1] * lambda_t.exp()
            x = sigmas[i + 1] / sigmas[i] * (-h * eta).exp() * x + alpha_t * (-h_eta).expm1().neg() * denoised
            if old_denoised is not None:
                r = h_last / h
                if solver_type == "heun":
                    x = x + alpha_t * ((-h_eta).expm1().neg() / (-h_eta) + 1) * (1 / r) * (denoised - old_denoised)
                else:
                    x = x + 0.5 * alpha_t * (-h_eta).expm1().neg() * (1 / r) * (denoised - old_denoised)
            if eta > 0 and s_noise > 0:
                x = x + noise_sampler(sigmas[i], sigmas[i + 1]) * sigmas[i + 1] * (-2 * h * eta).expm1().neg().sqrt() * s_noise
        old_denoised = denoised
        h_last = h
    return x


@torch.no_grad()
def sample_dpmpp_3m_sde(model: Denoiser, x, sigmas, *, seed=None, noise_sampler=None, callback=None,
                        eta=1.0, s_noise=1.0, cpu_tree=True):
    if len(sigmas) <= 1:
        return x
    noise_sampler = _brownian_noise(noise_sampler, x, sigmas, seed, cpu_tree)
    s_in = x.new_ones([x.shape[0]])
    denoised_1 = denoised_2 = None
    h = h_1 = h_2 = None
    for i in range(len(sigmas) - 1):
        denoised = model(x, sigmas[i] * s_in)
        _report(callback, x, i, sigmas[i], sigmas[i], denoised)
        if sigmas[i + 1] == 0:
            x = denoised
        else:
            lambda_s, lambda_t = _lambda(sigmas[i]), _lambda(sigmas[i + 1])
            h = lambda_t - lambda_s
            h_eta = h * (eta + 1)
            alpha_t = sigmas[i + 1] * lambda_t.exp()
            x = sigmas[i + 1] / sigmas[i] * (-h * eta).exp() * x + alpha_t * (-h_eta).expm1().neg() * denoised
            if h_2 is not None:
                r0 = h_1 / h
                r1 = h_2 / h
                d1_0 = (denoised - denoised_1) / r0
                d1_1 = (denoised_1 - denoised_2) / r1
                d1 = d1_0 + (d1_0 - d1_1) * r0 / (r0 + r1)
                d2 = (d1_0 - d1_1) / (r0 + r1)
                phi_2 = h_eta.neg().expm1() / h_eta + 1
                phi_3 = phi_2 / h_eta - 0.5
                x = x + (alpha_t * phi_2) * d1 - (alpha_t * phi_3) * d2
            elif h_1 is not None:
                r = h_1 / h
                d = (denoised - denoised_1) / r
                phi_2 = h_eta.neg().expm1() / h_eta + 1
                x = x + (alpha_t * phi_2) * d
            if eta > 0 and s_noise > 0:
                x = x + noise_sampler(sigmas[i], sigmas[i + 1]) * sigmas[i + 1] * (-2 * h * eta).expm1().neg().sqrt() * s_noise
        denoised_1, denoised_2 = denoised, denoised_1
        h_1, h_2 = h, h_1
    return x


# --- res_multistep (Zhang et al.'s second-order multistep exponential integrator) --------

@torch.no_grad()
def sample_res_multistep(model: Denoiser, x, sigmas, *, seed=None, noise_sampler=None, callback=None,
                         s_noise=1.0, eta=0.0):
    """ComfyUI's res_multistep (eta 0) and res_multistep_ancestral (eta 1); no CFG++."""
    noise_sampler = _default_noise(noise_sampler, x, seed)
    s_in = x.new_ones([x.shape[0]])

    def phi1(t):
        return torch.expm1(t) / t

    def phi2(t):
        return (phi1(t) - 1.0) / t

    old_sigma_down = old_denoised = None
    for i in range(len(sigmas) - 1):
        denoised = model(x, sigmas[i] * s_in)
        sigma_down, sigma_up = get_ancestral_step(sigmas[i], sigmas[i + 1], eta=eta)
        _report(callback, x, i, sigmas[i], sigmas[i], denoised)
        if sigma_down == 0 or old_denoised is None:
            d = to_d(x, sigmas[i], denoised)
            dt = sigma_down - sigmas[i]
            x = x + d * dt
        else:
            t, t_old, t_next, t_prev = (_lambda(sigmas[i]), _lambda(old_sigma_down), _lambda(sigma_down),
                                        _lambda(sigmas[i - 1]))
            h = t_next - t
            c2 = (t_prev - t_old) / h
            phi1_val, phi2_val = phi1(-h), phi2(-h)
            b1 = torch.nan_to_num(phi1_val - phi2_val / c2, nan=0.0)
            b2 = torch.nan_to_num(phi2_val / c2, nan=0.0)
            x = _sigma(h) * x + h * (b1 * denoised + b2 * old_denoised)
        if sigmas[i + 1] > 0:
            x = x + noise_sampler(sigmas[i], sigmas[i + 1]) * s_noise * sigma_up
        old_denoised = denoised
        old_sigma_down = sigma_down
    return x


# --- the shared k-diffusion algorithms, with ComfyUI's seeding -----------------------------

def _with(fn, **fixed):
    def run(model, x, sigmas, **options):
        return fn(model, x, sigmas, **fixed, **options)

    run.__name__ = fn.__name__
    return run


def _shared(fn, stochastic: bool):
    def run(model: Denoiser, x, sigmas, *, seed=None, noise_sampler=None, callback=None, **options):
        if stochastic:
            noise_sampler = _default_noise(noise_sampler, x, seed)
        return fn(model, x, sigmas, noise_sampler=noise_sampler, callback=callback, **options)

    run.__name__ = fn.__name__
    run.__doc__ = f"k-diffusion's {fn.__name__} (aigif.diffusion.kdiffusion.samplers) with ComfyUI's seeding."
    return run


sample_euler = _shared(kd.sample_euler, stochastic=False)
# the last step (to sigma 0) returns the denoised estimate; LMS's basis in float32, as
# ComfyUI's code evaluates it under NumPy >= 2 (its float32 sigma array no longer promotes
# Python floats)
sample_euler_ancestral = _shared(_with(kd.sample_euler_ancestral, denoised_last=True), stochastic=True)
sample_lms = _shared(_with(kd.sample_lms, float32_basis=True, denoised_last=True), stochastic=False)
sample_heun = _shared(kd.sample_heun, stochastic=False)
sample_dpm_2 = _shared(kd.sample_dpm_2, stochastic=False)
sample_dpm_2_ancestral = _shared(kd.sample_dpm_2_ancestral, stochastic=True)
sample_dpmpp_2s_ancestral = _shared(kd.sample_dpmpp_2s_ancestral, stochastic=True)
sample_dpmpp_2m = _shared(kd.sample_dpmpp_2m, stochastic=False)
sample_lcm = _shared(kd.sample_lcm, stochastic=True)


# KSampler sampler_name -> function(model, x, sigmas, *, seed, noise_sampler, callback)
SAMPLERS: dict[str, Callable] = {
    "euler": sample_euler,
    "euler_ancestral": sample_euler_ancestral,
    "heun": sample_heun,
    "dpm_2": sample_dpm_2,
    "dpm_2_ancestral": sample_dpm_2_ancestral,
    "lms": sample_lms,
    "dpmpp_2s_ancestral": sample_dpmpp_2s_ancestral,
    "dpmpp_sde": sample_dpmpp_sde,
    "dpmpp_sde_gpu": _with(sample_dpmpp_sde, cpu_tree=False),
    "dpmpp_2m": sample_dpmpp_2m,
    "dpmpp_2m_sde": sample_dpmpp_2m_sde,
    "dpmpp_2m_sde_gpu": _with(sample_dpmpp_2m_sde, cpu_tree=False),
    "dpmpp_2m_sde_heun": _with(sample_dpmpp_2m_sde, solver_type="heun"),
    "dpmpp_2m_sde_heun_gpu": _with(sample_dpmpp_2m_sde, solver_type="heun", cpu_tree=False),
    "dpmpp_3m_sde": sample_dpmpp_3m_sde,
    "dpmpp_3m_sde_gpu": _with(sample_dpmpp_3m_sde, cpu_tree=False),
    "ddim": sample_euler,
    "lcm": sample_lcm,
    "res_multistep": sample_res_multistep,
    "res_multistep_ancestral": _with(sample_res_multistep, eta=1.0),
    "uni_pc": sample_unipc,
    "uni_pc_bh2": sample_unipc_bh2,
}
