"""A1111 v1.10's own timestep samplers: DDIM, DDIM CFG++, PLMS and UniPC, written here.

A1111 runs these four outside k-diffusion (modules/sd_samplers_timesteps*.py and its vendored
UniPC): they work on the model's integer training timesteps, not on sigmas, and the model
predicts the noise eps directly.  They live with the A1111 engine rather than with the shared
k-diffusion algorithms because what makes them reproduce A1111's pixels is A1111-specific:
which timesteps it picks (`timesteps_for`), that the last DDIM/PLMS step lands on timestep 1
(its `alphas_prev` for the first entry is alphas_cumprod[0]), the float64 detour of the DDIM
eta sigmas, CFG combined in eps space with CFG++'s 1/12.5 scale, and UniPC run over its own
continuous-time grid with A1111's options (variant bh1/bh2/vary_coeff, skip type, order,
lower order final).  ComfyUI and diffusers implement the same papers with other numbers.

Every sampler has the signature

    sampler(model, x, timesteps, *, callback=None, **options) -> x

- `model(x, t_batch) -> eps` is the guided noise prediction (`GuidedEps`); it also carries
  the model's `alphas_cumprod`;
- `x` is the initial latent, unit noise (no sigma scaling, unlike the k-diffusion samplers);
- `timesteps` are the integer training steps from `timesteps_for` (img2img passes a prefix);
- DDIM draws per-step noise scaled by eta: `noise_sampler(t, t_prev)` returns unit noise
  shaped like x (A1111's per-image generators).  As in A1111 it is drawn at every step even
  when eta is 0, so a shared stream advances the same way; it is required only when eta > 0.

The arithmetic keeps A1111's order of operations and dtypes (float32 tensors, the DDIM sigmas in
float64) so float32 results can match bit for bit (tests/goldens/kdiffusion/timesteps.json).
"""

from __future__ import annotations

import dataclasses
from typing import Callable

import numpy as np
import torch

from ...kdiffusion.model import UNetFn

NoiseSampler = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]

# A1111 hard-codes the 1000 training steps of the SD checkpoints when picking timesteps.
TRAIN_STEPS = 1000
# CFG++ maps the usual CFG range [0, 12.5] onto its guidance range [0, 1].
CFGPP_SCALE_MULTIPLIER = 1 / 12.5
UNIPC_VARIANTS = ("bh1", "bh2", "vary_coeff")
UNIPC_SKIP_TYPES = ("time_uniform", "time_quadratic", "logSNR")


def timesteps_for(steps: int, discard_penultimate: bool = False, device=None) -> torch.Tensor:
    """The training timesteps A1111's CompVisSampler.get_timesteps gives `steps` steps.

    Every (1000 // steps)-th step from 0, shifted by one and clipped to 999, so there are
    ceil(1000 / (1000 // steps)) of them (13 for 12 steps, 10 for 10); the samplers step
    between consecutive entries.  "Discard penultimate sigma" asks for one step more.
    """
    if discard_penultimate:
        steps += 1
    if not 1 <= steps <= TRAIN_STEPS:
        raise ValueError(f"A1111's timestep samplers take 1..{TRAIN_STEPS} steps, not {steps}")
    picked = torch.asarray(list(range(0, TRAIN_STEPS, TRAIN_STEPS // steps)), device=device)
    return torch.clip(picked + 1, 0, TRAIN_STEPS - 1)


class TimestepModel:
    """The UNet as A1111's CompVisTimestepsDenoiser/VDenoiser sees it: eps(x, t, cond).

    A v-prediction model's output is turned into eps with the alphas at the integer part of t.
    """

    def __init__(self, unet: UNetFn, alphas_cumprod: torch.Tensor, prediction_type: str = "epsilon"):
        if prediction_type not in ("epsilon", "v_prediction"):
            raise ValueError(f"unsupported prediction type {prediction_type!r}")
        self.unet = unet
        self.alphas_cumprod = alphas_cumprod
        self.prediction_type = prediction_type

    def __call__(self, x: torch.Tensor, t: torch.Tensor, cond: torch.Tensor) -> torch.Tensor:
        out = self.unet(x, t, cond)
        if self.prediction_type == "epsilon":
            return out
        index = t.to(torch.int)
        return (torch.sqrt(self.alphas_cumprod)[index, None, None, None] * out
                + torch.sqrt(1 - self.alphas_cumprod)[index, None, None, None] * x)


@dataclasses.dataclass
class GuidedEps:
    """A1111's CFGDenoiser for the timestep samplers, one cond per image: one UNet batch
    [cond..., uncond...], then eps = uncond + (cond - uncond) * (1.0 * scale * multiplier).

    `keep_uncond` stores the unguided eps of the last call in `last_uncond` (CFG++ steers
    with it); `for_cfgpp` gives the copy A1111's DDIM CFG++ configures.
    """
    model: TimestepModel
    cond: torch.Tensor
    uncond: torch.Tensor
    scale: float
    scale_multiplier: float = 1.0
    keep_uncond: bool = False
    last_uncond: torch.Tensor | None = None

    @property
    def alphas_cumprod(self) -> torch.Tensor:
        return self.model.alphas_cumprod

    def for_cfgpp(self) -> "GuidedEps":
        return dataclasses.replace(self, scale_multiplier=CFGPP_SCALE_MULTIPLIER, keep_uncond=True,
                                   last_uncond=None)

    def __call__(self, x: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        n = x.shape[0]
        out = self.model(torch.cat([x, x]), torch.cat([t, t]), torch.cat([self.cond, self.uncond]))
        out_cond, out_uncond = out[:n], out[n:]
        if self.keep_uncond:
            self.last_uncond = torch.clone(out_uncond)
        weight = 1.0 * (self.scale * self.scale_multiplier)
        eps = torch.clone(out_uncond)
        for i in range(n):
            eps[i] += (out_cond[i] - out_uncond[i]) * weight
        return eps


def _report(callback, x, i, t, denoised):
    if callback is not None:
        callback({"x": x, "i": i, "t": t, "denoised": denoised})


def _per_image(x: torch.Tensor, value: float) -> torch.Tensor:
    """A schedule value as A1111 applies it: a Python float times ones of shape (B, 1, 1, 1)."""
    return torch.full((x.shape[0], 1, 1, 1), value, dtype=x.dtype, device=x.device)


def _ddim_schedule(alphas_cumprod: torch.Tensor, timesteps: torch.Tensor, eta: float):
    """alphas at each timestep (float32), at the previous one (float64; alphas_cumprod[0]
    before the first), sqrt(1 - alphas) (float32) and the eta sigmas (float64)."""
    alphas = alphas_cumprod[timesteps]
    previous = torch.nn.functional.pad(timesteps[:-1], pad=(1, 0))
    alphas_prev = alphas_cumprod[previous].to(torch.float64)
    sqrt_one_minus_alphas = torch.sqrt(1 - alphas)
    # A1111 writes (1 - alphas_prev) as a NumPy array over (1 - alphas) as a float32 tensor:
    # NumPy defers to torch, whose reflected division is reciprocal() * other, so the
    # reciprocal is rounded to float32 before the float64 product.
    ratio = (1 - alphas).reciprocal() * (1 - alphas_prev)
    product = (ratio * (1 - alphas.to(torch.float64) / alphas_prev)).cpu().numpy()
    # NumPy's float64 sqrt (correctly rounded), as A1111 takes it: torch's vectorised float64
    # sqrt can be one ulp off on some CPUs (AVX-512 here).
    sigmas = eta * torch.from_numpy(np.sqrt(product))
    return alphas, alphas_prev, sqrt_one_minus_alphas, sigmas


def _ddim_loop(model, x, timesteps, eta, noise_sampler, callback, direction_of):
    if eta and noise_sampler is None:
        raise ValueError("DDIM with eta > 0 adds noise: pass a noise_sampler")
    alphas, alphas_prev, sqrt_one_minus_alphas, sigmas = _ddim_schedule(model.alphas_cumprod, timesteps, eta)
    s_in = x.new_ones((x.shape[0],))
    count = len(timesteps)
    for i in range(count - 1):
        index = count - 1 - i
        t = timesteps[index].item() * s_in
        e_t = model(x, t)
        a_t = _per_image(x, alphas[index].item())
        a_prev = _per_image(x, alphas_prev[index].item())
        sigma_t = _per_image(x, sigmas[index].item())
        sqrt_one_minus_at = _per_image(x, sqrt_one_minus_alphas[index].item())

        pred_x0 = (x - sqrt_one_minus_at * e_t) / a_t.sqrt()
        dir_xt = (1. - a_prev - sigma_t ** 2).sqrt() * direction_of(e_t)
        x = a_prev.sqrt() * pred_x0 + dir_xt
        if noise_sampler is not None:
            x = x + sigma_t * noise_sampler(timesteps[index], timesteps[index - 1])
        _report(callback, x, i, timesteps[index], pred_x0)
    return x


@torch.no_grad()
def ddim(model: GuidedEps, x: torch.Tensor, timesteps: torch.Tensor, *, eta: float = 0.0,
         noise_sampler: NoiseSampler | None = None, callback=None) -> torch.Tensor:
    """DDIM (A1111's `ddim`); eta > 0 mixes in fresh noise ("Eta DDIM")."""
    return _ddim_loop(model, x, timesteps, eta, noise_sampler, callback, lambda e_t: e_t)


@torch.no_grad()
def ddim_cfgpp(model: GuidedEps, x: torch.Tensor, timesteps: torch.Tensor, *, eta: float = 0.0,
               noise_sampler: NoiseSampler | None = None, callback=None) -> torch.Tensor:
    """DDIM CFG++ (A1111's `ddim_cfgpp`): guidance scaled by 1/12.5, and the step's direction
    taken from the unguided eps instead of the guided one."""
    if not isinstance(model, GuidedEps):
        raise TypeError("DDIM CFG++ needs the unguided eps: pass a GuidedEps")
    guided = model.for_cfgpp()
    return _ddim_loop(guided, x, timesteps, eta, noise_sampler, callback, lambda _e_t: guided.last_uncond)


@torch.no_grad()
def plms(model: GuidedEps, x: torch.Tensor, timesteps: torch.Tensor, *, callback=None) -> torch.Tensor:
    """PLMS (A1111's `plms`): a pseudo improved-Euler first step (two model calls), then
    Adams-Bashforth on the last eps values, up to fourth order."""
    alphas, alphas_prev, sqrt_one_minus_alphas, _sigmas = _ddim_schedule(model.alphas_cumprod, timesteps, 0.0)
    s_in = x.new_ones((x.shape[0],))
    old_eps: list[torch.Tensor] = []

    def step(x, e_t, index):
        a_t = _per_image(x, alphas[index].item())
        a_prev = _per_image(x, alphas_prev[index].item())
        sqrt_one_minus_at = _per_image(x, sqrt_one_minus_alphas[index].item())
        pred_x0 = (x - sqrt_one_minus_at * e_t) / a_t.sqrt()
        dir_xt = (1. - a_prev).sqrt() * e_t
        return a_prev.sqrt() * pred_x0 + dir_xt, pred_x0

    count = len(timesteps)
    for i in range(count - 1):
        index = count - 1 - i
        t = timesteps[index].item() * s_in
        t_next = timesteps[max(index - 1, 0)].item() * s_in
        e_t = model(x, t)
        if not old_eps:
            x_prev, _pred = step(x, e_t, index)
            e_t_prime = (e_t + model(x_prev, t_next)) / 2
        elif len(old_eps) == 1:
            e_t_prime = (3 * e_t - old_eps[-1]) / 2
        elif len(old_eps) == 2:
            e_t_prime = (23 * e_t - 16 * old_eps[-1] + 5 * old_eps[-2]) / 12
        else:
            e_t_prime = (55 * e_t - 59 * old_eps[-1] + 37 * old_eps[-2] - 9 * old_eps[-3]) / 24
        x, pred_x0 = step(x, e_t_prime, index)
        old_eps.append(e_t)
        if len(old_eps) >= 4:
            old_eps.pop(0)
        _report(callback, x, i, timesteps[index], pred_x0)
    return x


# --- UniPC ----------------------------------------------------------------------------------

def _interpolate(x: torch.Tensor, xp: torch.Tensor, yp: torch.Tensor) -> torch.Tensor:
    """Piecewise-linear y(x) through ascending knots (xp, yp), extended linearly past both ends.

    The segment is the one UniPC's reference code picks by sorting x in among the knots (a knot
    equal to x counts as above it), and the value is computed in the same order, so results
    match it bit for bit."""
    k = xp.shape[0]
    above = torch.searchsorted(xp, x.contiguous(), right=False)   # knots strictly below x
    start = (above - 1).clamp(0, k - 2)   # the outermost segments extend past the ends
    start_x, end_x = xp[start], xp[start + 1]
    start_y, end_y = yp[start], yp[start + 1]
    return start_y + (x - start_x) * (end_y - start_y) / (end_x - start_x)


class DiscreteVPSchedule:
    """The model's noise levels as UniPC's continuous time t in (0, 1]: training step n sits at
    t = (n + 1) / N, log alpha_t = log(alphas_cumprod) / 2 interpolated linearly between them."""

    def __init__(self, alphas_cumprod: torch.Tensor):
        self.total_n = len(alphas_cumprod)
        self.t_end = 1.
        self.t_knots = torch.linspace(0., 1., self.total_n + 1, device=alphas_cumprod.device)[1:]
        self.log_alpha_knots = 0.5 * torch.log(alphas_cumprod)

    def log_alpha(self, t: torch.Tensor) -> torch.Tensor:
        return _interpolate(t.reshape(-1), self.t_knots, self.log_alpha_knots)

    def alpha(self, t: torch.Tensor) -> torch.Tensor:
        return torch.exp(self.log_alpha(t))

    def std(self, t: torch.Tensor) -> torch.Tensor:
        return torch.sqrt(1. - torch.exp(2. * self.log_alpha(t)))

    def half_log_snr(self, t: torch.Tensor) -> torch.Tensor:
        log_alpha = self.log_alpha(t)
        return log_alpha - 0.5 * torch.log(1. - torch.exp(2. * log_alpha))

    def t_of_half_log_snr(self, lamb: torch.Tensor) -> torch.Tensor:
        log_alpha = -0.5 * torch.logaddexp(torch.zeros((1,), device=lamb.device), -2. * lamb)
        return _interpolate(log_alpha.reshape(-1), self.log_alpha_knots.flip(0), self.t_knots.flip(0))

    def model_time(self, t: torch.Tensor) -> torch.Tensor:
        """The (continuous) training timestep the UNet is called with."""
        return (t - 1. / self.total_n) * 1000.


class _UniPC:
    """A1111's UniPC (data prediction, multistep, no thresholding) over one schedule."""

    def __init__(self, model: GuidedEps, schedule: DiscreteVPSchedule, variant: str, callback):
        self.model = model
        self.ns = schedule
        self.variant = variant
        self.callback = callback
        self.reported = 0

    def data_prediction(self, x, t):
        eps = self.model(x, self.ns.model_time(t))
        sigma_t, alpha_t = self.ns.std(t), self.ns.alpha(t)
        return (x - sigma_t[:, None, None, None] * eps) / alpha_t[:, None, None, None]

    def grid(self, skip_type: str, t_start, t_end: float, steps: int) -> torch.Tensor:
        device = self.ns.t_knots.device
        if skip_type == "logSNR":
            lambda_start = self.ns.half_log_snr(torch.as_tensor(t_start, device=device))
            lambda_end = self.ns.half_log_snr(torch.as_tensor(t_end, device=device))
            return self.ns.t_of_half_log_snr(
                torch.linspace(lambda_start.item(), lambda_end.item(), steps + 1, device=device))
        if skip_type == "time_uniform":
            return torch.linspace(t_start, t_end, steps + 1, device=device)
        if skip_type == "time_quadratic":
            return torch.linspace(t_start ** (1. / 2), t_end ** (1. / 2), steps + 1, device=device).pow(2)
        raise ValueError(f"unknown UniPC skip type {skip_type!r}")

    def update(self, x, model_prev, t_prev, t, order, use_corrector):
        if self.variant == "vary_coeff":
            return self.vary_coeff_update(x, model_prev, t_prev, t, order, use_corrector)
        return self.bh_update(x, model_prev, t_prev, t, order, use_corrector)

    def bh_update(self, x, model_prev, t_prev, t, order, use_corrector):
        ns = self.ns
        t_prev_0, model_prev_0 = t_prev[-1], model_prev[-1]
        lambda_prev_0, lambda_t = ns.half_log_snr(t_prev_0), ns.half_log_snr(t)
        sigma_prev_0, sigma_t = ns.std(t_prev_0), ns.std(t)
        alpha_t = torch.exp(ns.log_alpha(t))
        h = lambda_t - lambda_prev_0

        rks, d1s = [], []
        for i in range(1, order):
            rk = ((ns.half_log_snr(t_prev[-(i + 1)]) - lambda_prev_0) / h)[0]
            rks.append(rk)
            d1s.append((model_prev[-(i + 1)] - model_prev_0) / rk)
        rks.append(1.)
        rks = torch.tensor(rks, device=x.device)

        hh = -h[0]
        h_phi_1 = torch.expm1(hh)
        h_phi_k = h_phi_1 / hh - 1
        b_h = hh if self.variant == "bh1" else torch.expm1(hh)
        powers, b = [], []
        factorial = 1
        for i in range(1, order + 1):
            powers.append(torch.pow(rks, i - 1))
            b.append(h_phi_k * factorial / b_h)
            factorial *= i + 1
            h_phi_k = h_phi_k / hh - 1 / factorial
        r = torch.stack(powers)
        b = torch.tensor(b, device=x.device)

        if d1s:
            d1s = torch.stack(d1s, dim=1)
            rhos_p = torch.tensor([0.5], device=x.device) if order == 2 else torch.linalg.solve(r[:-1, :-1], b[:-1])
        else:
            d1s = None
        if use_corrector:
            rhos_c = torch.tensor([0.5], device=x.device) if order == 1 else torch.linalg.solve(r, b)

        x_t_ = ((sigma_t / sigma_prev_0)[:, None, None, None] * x
                - (alpha_t * h_phi_1)[:, None, None, None] * model_prev_0)
        step_scale = (alpha_t * b_h)[:, None, None, None]
        pred_res = torch.einsum("k,bkchw->bchw", rhos_p, d1s) if d1s is not None else 0
        x_t = x_t_ - step_scale * pred_res
        model_t = None
        if use_corrector:
            model_t = self.data_prediction(x_t, t)
            corr_res = torch.einsum("k,bkchw->bchw", rhos_c[:-1], d1s) if d1s is not None else 0
            x_t = x_t_ - step_scale * (corr_res + rhos_c[-1] * (model_t - model_prev_0))
        return x_t, model_t

    def vary_coeff_update(self, x, model_prev, t_prev, t, order, use_corrector):
        # A1111's vary_coeff keeps per-image quantities as 1-d tensors broadcast against the
        # latent's last axis, which only works (and only runs there) for one image.
        if x.shape[0] != 1:
            raise ValueError("A1111's UniPC variant vary_coeff works only for batch size 1")
        ns = self.ns
        t_prev_0, model_prev_0 = t_prev[-1], model_prev[-1]
        lambda_prev_0, lambda_t = ns.half_log_snr(t_prev_0), ns.half_log_snr(t)
        sigma_prev_0, sigma_t = ns.std(t_prev_0), ns.std(t)
        alpha_t = torch.exp(ns.log_alpha(t))
        h = lambda_t - lambda_prev_0

        rks, d1s = [], []
        for i in range(1, order):
            rk = (ns.half_log_snr(t_prev[-(i + 1)]) - lambda_prev_0) / h
            rks.append(rk.item())
            d1s.append((model_prev[-(i + 1)] - model_prev_0) / rk)
        rks = torch.tensor(rks + [1.], device=x.device)
        k_count = len(rks)

        columns = []
        col = torch.ones_like(rks)
        for k in range(1, k_count + 1):
            columns.append(col)
            col = col * rks / (k + 1)
        c = torch.stack(columns, dim=1)
        if d1s:
            d1s = torch.stack(d1s, dim=1)
            a_p = torch.linalg.inv(c[:-1, :-1])
        if use_corrector:
            a_c = torch.linalg.inv(c)

        hh = -h
        h_phi_1 = torch.expm1(hh)
        h_phi_ks = []
        factorial = 1
        h_phi_k = h_phi_1
        for k in range(1, k_count + 2):
            h_phi_ks.append(h_phi_k)
            h_phi_k = h_phi_k / hh - 1 / factorial
            factorial *= k + 1

        x_t_ = sigma_t / sigma_prev_0 * x - alpha_t * h_phi_1 * model_prev_0
        x_t = x_t_
        if len(d1s) > 0:
            for k in range(k_count - 1):
                x_t = x_t - alpha_t * h_phi_ks[k + 1] * torch.einsum("bkchw,k->bchw", d1s, a_p[k])
        model_t = None
        if use_corrector:
            model_t = self.data_prediction(x_t, t)
            d1_t = model_t - model_prev_0
            x_t = x_t_
            k = 0
            for k in range(k_count - 1):
                x_t = x_t - alpha_t * h_phi_ks[k + 1] * torch.einsum("bkchw,k->bchw", d1s, a_c[k][:-1])
            # A1111 weights the new difference with the last row reached by the loop above.
            x_t = x_t - alpha_t * h_phi_ks[k_count] * (d1_t * a_c[k][-1])
        return x_t, model_t

    def report(self, x, model_x, t):
        _report(self.callback, x, self.reported, t, model_x)
        self.reported += 1

    def sample(self, x, steps, t_start, order, skip_type, lower_order_final):
        if steps < order:
            raise ValueError(f"UniPC order {order} needs at least as many steps ({steps} here)")
        times = self.grid(skip_type, t_start, 1. / self.ns.total_n, steps)
        batch = x.shape[0]
        vec_t = times[0].expand(batch)
        model_prev = [self.data_prediction(x, vec_t)]
        t_prev = [vec_t]
        # the first order-1 steps warm the history up at increasing order
        for init_order in range(1, order):
            vec_t = times[init_order].expand(batch)
            x, model_x = self.update(x, model_prev, t_prev, vec_t, init_order, use_corrector=True)
            if model_x is None:
                model_x = self.data_prediction(x, vec_t)
            self.report(x, model_x, vec_t)
            model_prev.append(model_x)
            t_prev.append(vec_t)
        for step in range(order, steps + 1):
            vec_t = times[step].expand(batch)
            step_order = min(order, steps + 1 - step) if lower_order_final else order
            # no corrector (and so no model call) on the last step
            x, model_x = self.update(x, model_prev, t_prev, vec_t, step_order, use_corrector=step != steps)
            self.report(x, model_x, vec_t)
            for i in range(order - 1):
                t_prev[i] = t_prev[i + 1]
                model_prev[i] = model_prev[i + 1]
            t_prev[-1] = vec_t
            if step < steps:
                if model_x is None:
                    model_x = self.data_prediction(x, vec_t)
                model_prev[-1] = model_x
        return x


@torch.no_grad()
def unipc(model: GuidedEps, x: torch.Tensor, timesteps: torch.Tensor, *, variant: str = "bh1",
          skip_type: str = "time_uniform", order: int = 3, lower_order_final: bool = True,
          img2img: bool = False, callback=None) -> torch.Tensor:
    """UniPC as A1111 runs it (options: "UniPC variant", "UniPC skip type", "UniPC order",
    "UniPC lower order final"; A1111's defaults here).

    A1111 uses only the number of its timesteps: UniPC makes len(timesteps) steps over its own
    grid from t = 1 down to 1/N (13 steps for 12 requested; one model call per step, the last
    step excepted, plus one to start).  img2img starts at the last given timestep instead.
    """
    if variant not in UNIPC_VARIANTS:
        raise ValueError(f"unknown UniPC variant {variant!r}")
    if skip_type not in UNIPC_SKIP_TYPES:
        raise ValueError(f"unknown UniPC skip type {skip_type!r}")
    if order < 1:
        raise ValueError("UniPC order must be at least 1")
    schedule = DiscreteVPSchedule(model.alphas_cumprod)
    t_start = timesteps[-1] / 1000 + 1 / 1000 if img2img else schedule.t_end
    solver = _UniPC(model, schedule, variant, callback)
    return solver.sample(x, len(timesteps), t_start, order, skip_type, lower_order_final)


SAMPLERS = {"ddim": ddim, "ddim_cfgpp": ddim_cfgpp, "plms": plms, "unipc": unipc}
