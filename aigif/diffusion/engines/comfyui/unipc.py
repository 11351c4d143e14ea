"""ComfyUI's UniPC (comfy/extra_samplers/uni_pc.py: sample_unipc / sample_unipc_bh2).

ComfyUI runs UniPC (Zhao et al., 2023) directly on the KSampler's sigmas, not on A1111's
discrete timestep grid (engines/a1111/timesteps.py): the "time" is sigma itself, with
alpha = 1 / sqrt(sigma^2 + 1) and std = sqrt(1 - alpha^2) ("SigmaConvert"); the final
sigma 0 is replaced by 0.001; data prediction (x0), multistep, order min(3, levels - 2),
lower order at the end, the corrector after every step but the last.  The x0 estimate
is recovered from the guided denoiser through an eps round trip, as ComfyUI does.
"""

from __future__ import annotations

import torch

FINAL_SIGMA = 0.001


def _log_mean_coeff(sigma):
    return 0.5 * torch.log(1 / ((sigma * sigma) + 1))


def _alpha(sigma):
    return torch.exp(_log_mean_coeff(sigma))


def _std(sigma):
    return torch.sqrt(1. - torch.exp(2. * _log_mean_coeff(sigma)))


def _lambda(sigma):
    log_mean_coeff = _log_mean_coeff(sigma)
    log_std = 0.5 * torch.log(1. - torch.exp(2. * log_mean_coeff))
    return log_mean_coeff - log_std


def _expand(v, dims):
    return v[(...,) + (None,) * (dims - 1)]


class _UniPC:
    def __init__(self, model, variant: str):
        if variant not in ("bh1", "bh2"):
            raise ValueError(f"unsupported UniPC variant {variant!r}")
        self.model = model
        self.variant = variant

    def eps(self, x, sigma):
        # predict_eps_sigma: scale x back to the sigma-space latent, eps = (x - D) / sigma
        s = sigma.view(sigma.shape[:1] + (1,) * (x.ndim - 1))
        x_in = x * ((s ** 2 + 1.0) ** 0.5)
        return (x_in - self.model(x_in, sigma)) / s

    def data_prediction(self, x, t):
        noise = self.eps(x, t)
        dims = x.dim()
        return (x - _expand(_std(t), dims) * noise) / _expand(_alpha(t), dims)

    def update(self, x, model_prev_list, t_prev_list, t, order, use_corrector=True):
        if len(t.shape) == 0:
            t = t.view(-1)
        dims = x.dim()
        t_prev_0 = t_prev_list[-1]
        lambda_prev_0 = _lambda(t_prev_0)
        lambda_t = _lambda(t)
        model_prev_0 = model_prev_list[-1]
        sigma_prev_0, sigma_t = _std(t_prev_0), _std(t)
        alpha_t = torch.exp(_log_mean_coeff(t))
        h = lambda_t - lambda_prev_0

        rks, d1s = [], []
        for i in range(1, order):
            t_prev_i = t_prev_list[-(i + 1)]
            model_prev_i = model_prev_list[-(i + 1)]
            rk = ((_lambda(t_prev_i) - lambda_prev_0) / h)[0]
            rks.append(rk)
            d1s.append((model_prev_i - model_prev_0) / rk)
        rks.append(1.)
        rks = torch.tensor(rks, device=x.device)

        hh = -h[0]
        h_phi_1 = torch.expm1(hh)
        h_phi_k = h_phi_1 / hh - 1
        factorial_i = 1
        b_h = hh if self.variant == "bh1" else torch.expm1(hh)
        rows, b = [], []
        for i in range(1, order + 1):
            rows.append(torch.pow(rks, i - 1))
            b.append(h_phi_k * factorial_i / b_h)
            factorial_i *= (i + 1)
            h_phi_k = h_phi_k / hh - 1 / factorial_i
        R = torch.stack(rows)
        b = torch.tensor(b, device=x.device)

        use_predictor = len(d1s) > 0
        if d1s:
            d1s = torch.stack(d1s, dim=1)
            rhos_p = torch.tensor([0.5], device=b.device) if order == 2 else torch.linalg.solve(R[:-1, :-1], b[:-1])
        else:
            d1s = None
        if use_corrector:
            rhos_c = torch.tensor([0.5], device=b.device) if order == 1 else torch.linalg.solve(R, b)

        x_t_ = _expand(sigma_t / sigma_prev_0, dims) * x - _expand(alpha_t * h_phi_1, dims) * model_prev_0
        pred_res = torch.tensordot(d1s, rhos_p, dims=([1], [0])) if use_predictor else 0
        x_t = x_t_ - _expand(alpha_t * b_h, dims) * pred_res
        model_t = None
        if use_corrector:
            model_t = self.data_prediction(x_t, t)
            corr_res = torch.tensordot(d1s, rhos_c[:-1], dims=([1], [0])) if d1s is not None else 0
            d1_t = model_t - model_prev_0
            x_t = x_t_ - _expand(alpha_t * b_h, dims) * (corr_res + rhos_c[-1] * d1_t)
        return x_t, model_t

    def sample(self, x, timesteps, order, callback=None):
        steps = len(timesteps) - 1
        if steps < order:
            raise ValueError("UniPC needs at least `order` steps")
        model_prev_list = t_prev_list = None
        for step_index in range(steps):
            if step_index == 0:
                vec_t = timesteps[0].expand((x.shape[0]))
                model_prev_list = [self.data_prediction(x, vec_t)]
                t_prev_list = [vec_t]
            elif step_index < order:
                init_order = step_index
                vec_t = timesteps[init_order].expand(x.shape[0])
                x, model_x = self.update(x, model_prev_list, t_prev_list, vec_t, init_order, use_corrector=True)
                if model_x is None:
                    model_x = self.data_prediction(x, vec_t)
                model_prev_list.append(model_x)
                t_prev_list.append(vec_t)
            else:
                extra_final_step = 1 if step_index == steps - 1 else 0
                for step in range(step_index, step_index + 1 + extra_final_step):
                    vec_t = timesteps[step].expand(x.shape[0])
                    step_order = min(order, steps + 1 - step)
                    use_corrector = step != steps
                    x, model_x = self.update(x, model_prev_list, t_prev_list, vec_t, step_order,
                                             use_corrector=use_corrector)
                    for i in range(order - 1):
                        t_prev_list[i] = t_prev_list[i + 1]
                        model_prev_list[i] = model_prev_list[i + 1]
                    t_prev_list[-1] = vec_t
                    if step < steps:
                        if model_x is None:
                            model_x = self.data_prediction(x, vec_t)
                        model_prev_list[-1] = model_x
            if callback is not None:
                callback({"x": x, "i": step_index, "denoised": model_prev_list[-1]})
        return x


@torch.no_grad()
def sample_unipc(model, x, sigmas, *, seed=None, noise_sampler=None, callback=None, variant="bh1"):
    """x: the initial latent at sigmas[0] (as every KSampler sampler receives it)."""
    timesteps = sigmas.clone()
    if sigmas[-1] == 0:
        timesteps[-1] = FINAL_SIGMA
    x = x / torch.sqrt(1.0 + timesteps[0] ** 2.0)
    order = min(3, len(timesteps) - 2)
    x = _UniPC(model, variant).sample(x, timesteps, order, callback)
    return x / _alpha(timesteps[-1])


def sample_unipc_bh2(model, x, sigmas, **options):
    return sample_unipc(model, x, sigmas, variant="bh2", **options)
