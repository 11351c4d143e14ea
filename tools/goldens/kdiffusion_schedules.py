"""Make tests/goldens/kdiffusion/schedules.json by running A1111's and k-diffusion's own code.

    python tools/goldens/kdiffusion_schedules.py --kdiffusion DIR --a1111 DIR --ldm DIR -o OUT.json

DIR are checkouts/extracts of the peers outside this repository (see
tests/goldens/kdiffusion/README.md for which commits and files):
  --kdiffusion  contains the package k_diffusion (sampling.py, external.py, utils.py)
  --a1111       contains a `modules` package with A1111 v1.10.1's own sd_schedulers.py,
                sd_samplers_kdiffusion.py (sampler list, KDiffusionSampler.get_sigmas) and the
                files they import, unmodified, beside stand-ins for the webui's globals
                (shared, devices, sd_samplers_common, script_callbacks)
  --ldm         contains ldm_beta.py with LDM's make_beta_schedule
No peer code is in this file: it only builds the inputs, calls the peers, and records numbers.
"""

from __future__ import annotations

import argparse
import json
import sys
import types
from pathlib import Path

import _numerics  # noqa: E402,F401  (loads torch under portable CPU numerics)

REPO = Path(__file__).resolve().parents[2]
STEPS = (10, 20, 30)
SCHEDULE_TYPES = ("Automatic", "Uniform", "Karras", "Exponential", "Polyexponential", "SGM Uniform",
                  "KL Optimal", "Align Your Steps", "Simple", "Normal", "DDIM", "Beta")


def hexes(t) -> list[str]:
    return [float(v).hex() for v in t.reshape(-1).tolist()]


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--kdiffusion", required=True)
    ap.add_argument("--a1111", required=True)
    ap.add_argument("--ldm", required=True)
    ap.add_argument("-o", "--out", required=True)
    args = ap.parse_args()
    for p in (args.kdiffusion, args.a1111, args.ldm):
        sys.path.insert(0, p)

    import numpy as np
    import torch
    import k_diffusion
    from ldm_beta import make_beta_schedule
    from modules import sd_samplers_kdiffusion, shared, sd_schedulers  # noqa: F401  (sd_schedulers patches to_d)

    cfg = json.loads((REPO / "registry/embedded/tiny-sd/scheduler/scheduler_config.json").read_text())
    assert cfg["beta_schedule"] == "scaled_linear"  # LDM calls it "linear"
    betas = make_beta_schedule("linear", cfg["num_train_timesteps"], linear_start=cfg["beta_start"],
                               linear_end=cfg["beta_end"])
    # LDM's DDPM.register_schedule: alphas_cumprod = cumprod(1 - betas) in float64, stored float32.
    alphas_cumprod = torch.tensor(np.cumprod(1.0 - betas, axis=0), dtype=torch.float32)
    fake_ldm = types.SimpleNamespace(alphas_cumprod=alphas_cumprod)
    wrap = k_diffusion.external.CompVisDenoiser(fake_ldm, quantize=False)

    # v1.10.1's list; DPM fast/adaptive make their own schedules, and Restart is not in this project
    samplers = {name: opts for name, _f, _a, opts in sd_samplers_kdiffusion.samplers_k_diffusion
                if name not in ("DPM fast", "DPM adaptive", "Restart")}
    base_opts = dict(vars(shared.opts))

    def run(sampler, schedule, steps, **overrides):
        for k, v in base_opts.items():
            setattr(shared.opts, k, v)
        sdxl = overrides.pop("sdxl", False)
        shared.sd_model.is_sdxl = sdxl
        for k, v in overrides.items():
            assert hasattr(shared.opts, k), k
            setattr(shared.opts, k, v)
        self = types.SimpleNamespace(config=types.SimpleNamespace(options=samplers[sampler]), model_wrap=wrap)
        p = types.SimpleNamespace(scheduler=schedule, hr_scheduler=None, is_hr_pass=False,
                                  sampler_noise_scheduler_override=None, extra_generation_params={})
        sig = sd_samplers_kdiffusion.KDiffusionSampler.get_sigmas(self, p, steps)
        assert sig.dtype == torch.float32
        return {"sampler": sampler, "schedule": schedule, "steps": steps,
                "options": dict(overrides, **({"sdxl": True} if sdxl else {})),
                "infotext": {k: v for k, v in p.extra_generation_params.items()},
                "sigmas": hexes(sig)}

    cases = []
    # every schedule type, with and without the discarded penultimate sigma
    for schedule in SCHEDULE_TYPES:
        for steps in STEPS:
            cases.append(run("Euler", schedule, steps))
            cases.append(run("DPM2", schedule, steps))
    # Automatic for every sampler (what it resolves to is per sampler)
    for sampler in samplers:
        for steps in STEPS:
            cases.append(run(sampler, "Automatic", steps))
    # the overrides
    for steps in (10, 20):
        cases.append(run("Euler", "Karras", steps, rho=5.0))
        cases.append(run("Euler", "Karras", steps, rho=7.0))  # equal to the default: no override
        cases.append(run("Euler", "Polyexponential", steps, rho=2.5))
        cases.append(run("Euler", "Exponential", steps, sigma_min=0.05, sigma_max=8.0))
        cases.append(run("Euler", "Karras", steps, sigma_min=0.3))
        cases.append(run("Euler", "Normal", steps, sigma_max=10.0))
        cases.append(run("Euler", "SGM Uniform", steps, sigma_min=0.1, sigma_max=12.0))
        cases.append(run("Euler", "KL Optimal", steps, sigma_max=9.0))
        cases.append(run("Euler", "Beta", steps, beta_dist_alpha=0.5, beta_dist_beta=0.7))
        cases.append(run("Euler", "Beta", steps, sigma_min=0.2, beta_dist_alpha=1.3, beta_dist_beta=2.0))
        cases.append(run("Euler", "Align Your Steps", steps, sdxl=True))
        cases.append(run("Euler", "Uniform", steps, sigma_min=0.5, rho=3.0))  # ignored by Uniform
        cases.append(run("Euler", "Karras", steps, use_old_karras_scheduler_sigmas=True))
        cases.append(run("Euler", "Exponential", steps, use_old_karras_scheduler_sigmas=True))
        cases.append(run("Euler", "Karras", steps, always_discard_next_to_last_sigma=True))
        cases.append(run("Euler a", "Automatic", steps, always_discard_next_to_last_sigma=True))
    cases.append(run("Euler", "Align Your Steps", 11))
    cases.append(run("Euler", "Align Your Steps", 11, sdxl=True))
    for steps in (1, 2, 3, 7):
        for schedule in SCHEDULE_TYPES:
            cases.append(run("Euler", schedule, steps))

    # The model's own maps, at a few points.
    probe_sigmas = torch.tensor([0.0292, 0.05, 0.1, 0.5, 1.0, 2.5, 7.3, 14.6], dtype=torch.float32)
    probe_t = torch.tensor([0.0, 0.25, 1.5, 10.0, 499.5, 998.75, 999.0], dtype=torch.float32)
    model = {
        "alphas_cumprod": hexes(alphas_cumprod),
        "sigmas": hexes(wrap.sigmas),
        "probe_sigmas": hexes(probe_sigmas),
        "sigma_to_t": hexes(wrap.sigma_to_t(probe_sigmas)),
        "sigma_to_t_quantized": [int(v) for v in wrap.sigma_to_t(probe_sigmas, quantize=True).tolist()],
        "probe_t": hexes(probe_t),
        "t_to_sigma": hexes(wrap.t_to_sigma(probe_t)),
    }
    closed = []
    for n in STEPS:
        closed.append({"fn": "get_sigmas_karras", "n": n, "args": [0.0292, 14.6146, 7.0],
                       "sigmas": hexes(k_diffusion.sampling.get_sigmas_karras(n, 0.0292, 14.6146, 7.0))})
        closed.append({"fn": "get_sigmas_exponential", "n": n, "args": [0.0292, 14.6146],
                       "sigmas": hexes(k_diffusion.sampling.get_sigmas_exponential(n, 0.0292, 14.6146))})
        closed.append({"fn": "get_sigmas_polyexponential", "n": n, "args": [0.0292, 14.6146, 1.7],
                       "sigmas": hexes(k_diffusion.sampling.get_sigmas_polyexponential(n, 0.0292, 14.6146, 1.7))})
        closed.append({"fn": "get_sigmas_vp", "n": n, "args": [],
                       "sigmas": hexes(k_diffusion.sampling.get_sigmas_vp(n))})

    out = {"model_config": {k: cfg[k] for k in ("beta_start", "beta_end", "num_train_timesteps", "beta_schedule")},
           "numpy": np.__version__, "torch": torch.__version__, "numerics": _numerics.describe(torch),
           "model": model, "closed_forms": closed, "cases": cases}
    Path(args.out).write_text(json.dumps(out, indent=0) + "\n")
    print(f"{len(cases)} schedule cases, {len(closed)} closed-form cases -> {args.out}")


if __name__ == "__main__":
    main()
