"""Make tests/goldens/kdiffusion/samplers.json by running k-diffusion's own samplers on tiny-sd.

    python tools/goldens/kdiffusion_samplers.py --kdiffusion DIR --a1111 DIR --ldm DIR -o OUT.json

The peer directories are as for kdiffusion_schedules.py (tests/goldens/kdiffusion/README.md).
k-diffusion's `CompVisDenoiser` wraps the embedded tiny-sd UNet (diffusers) through a small
object exposing what it reads (`alphas_cumprod`, `apply_model`); A1111's get_sigmas gives the
sigmas; k-diffusion's `sample_*` functions run with their default noise (torch.randn_like
under torch.manual_seed) or, for the SDE samplers, k-diffusion's BrownianTreeNoiseSampler
seeded as A1111 seeds it (the list of image seeds).  The scene (shapes, seeds, conditioning)
is tests/diffusion/kdiffusion/test_kdiffusion_samplers.py's SCENE, imported from there so both sides agree.
No peer code is in this file.
"""

from __future__ import annotations

import argparse
import json
import sys
import types
from pathlib import Path

import _numerics  # noqa: E402,F401  (loads torch under portable CPU numerics)

REPO = Path(__file__).resolve().parents[2]


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--kdiffusion", required=True)
    ap.add_argument("--a1111", required=True)
    ap.add_argument("--ldm", required=True)
    ap.add_argument("-o", "--out", required=True)
    args = ap.parse_args()
    for p in (args.kdiffusion, args.a1111, args.ldm):
        sys.path.insert(0, p)
    sys.path.insert(0, str(REPO / "tests"))                        # tiny_sd_scene
    sys.path.insert(0, str(REPO / "tests/diffusion/kdiffusion"))   # the test modules
    sys.path.insert(0, str(REPO))

    import numpy as np
    import torch
    import k_diffusion
    from ldm_beta import make_beta_schedule
    from modules import sd_samplers_kdiffusion, sd_samplers_lcm, shared, sd_schedulers  # noqa: F401  (sd_schedulers patches to_d)

    import test_kdiffusion_samplers as T

    torch.set_num_threads(1)
    numerics = _numerics.describe(torch)   # as the run uses them (one thread)
    scene = T.SCENE
    unet, vae = T.load_tiny_sd()
    cfg = json.loads((REPO / "registry/embedded/tiny-sd/scheduler/scheduler_config.json").read_text())
    betas = make_beta_schedule("linear", cfg["num_train_timesteps"], linear_start=cfg["beta_start"],
                               linear_end=cfg["beta_end"])
    alphas_cumprod = torch.tensor(np.cumprod(1.0 - betas, axis=0), dtype=torch.float32)

    def apply_model(x, t, cond):
        return unet(x, t, encoder_hidden_states=cond, return_dict=False)[0]

    ldm_like = types.SimpleNamespace(alphas_cumprod=alphas_cumprod, apply_model=apply_model,
                                     device=torch.device("cpu"))
    kd_wrap = k_diffusion.external.CompVisDenoiser(ldm_like, quantize=False)
    shared.sd_model.device = torch.device("cpu")   # LCMCompVisDenoiser.get_sigmas reads it
    lcm_wrap = sd_samplers_lcm.LCMCompVisDenoiser(ldm_like)
    cond, uncond = T.conditioning()
    options = {name: o for name, _f, _a, o in sd_samplers_kdiffusion.samplers_k_diffusion}
    funcs = {name: getattr(k_diffusion.sampling, f) for name, f, _a, _o in sd_samplers_kdiffusion.samplers_k_diffusion
             if isinstance(f, str) and name not in ("DPM fast", "DPM adaptive")}
    # A1111's sd_samplers_lcm: samplers_lcm = [('LCM', sample_lcm, ['k_lcm'], {})], run by a
    # KDiffusionSampler whose model wrapper is LCMCompVisDenoiser
    (label, fn, _aliases, lcm_options), = sd_samplers_lcm.samplers_lcm
    options[label], funcs[label] = lcm_options, fn
    wrap = kd_wrap

    class CFG:
        """A1111's CFGDenoiser arithmetic for one cond and the uncond, batched together."""

        def __init__(self, scale):
            self.scale = scale

        def __call__(self, x, sigma):
            x_in = torch.cat([x, x])
            sigma_in = torch.cat([sigma, sigma])
            out = wrap(x_in, sigma_in, cond=torch.cat([cond, uncond]))
            n = x.shape[0]
            denoised = torch.clone(out[n:])
            for i in range(n):
                denoised[i] += (out[i] - out[n + i]) * (1.0 * self.scale)
            return denoised

    cases = []
    for name in T.SAMPLER_NAMES:
        wrap = lcm_wrap if name == "LCM" else kd_wrap
        for scale in scene["cfg"]:
            self = types.SimpleNamespace(config=types.SimpleNamespace(options=options[name]), model_wrap=wrap)
            p = types.SimpleNamespace(scheduler="Automatic", hr_scheduler=None, is_hr_pass=False,
                                      sampler_noise_scheduler_override=None, extra_generation_params={})
            sigmas = sd_samplers_kdiffusion.KDiffusionSampler.get_sigmas(self, p, scene["steps"])
            x = T.initial_noise() * sigmas[0]
            kwargs = {}
            if options[name].get("brownian_noise"):
                smin, smax = sigmas[sigmas > 0].min(), sigmas.max()
                kwargs["noise_sampler"] = k_diffusion.sampling.BrownianTreeNoiseSampler(
                    x, smin, smax, seed=[scene["seed"]])
            if options[name].get("solver_type") == "heun":
                kwargs["solver_type"] = "heun"
            torch.manual_seed(scene["step_noise_seed"])
            with torch.no_grad():
                latent = funcs[name](CFG(scale), x, sigmas, disable=True, **kwargs)
                record = T.summarise(latent, vae)
            record.update(sampler=name, cfg=scale, sigmas=[float(v).hex() for v in sigmas.tolist()])
            cases.append(record)
            print(name, scale, record["latent_sha256"][:12], record["pixels_sha256"][:12])

    out = {"scene": scene, "numpy": np.__version__, "torch": torch.__version__, "numerics": numerics, "cases": cases}
    Path(args.out).write_text(json.dumps(out, indent=1) + "\n")
    print(f"{len(cases)} sampler cases -> {args.out}")


if __name__ == "__main__":
    main()
