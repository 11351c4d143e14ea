"""Make tests/goldens/kdiffusion/timesteps.json by running A1111's own timestep samplers on tiny-sd.

    python tools/goldens/kdiffusion_timesteps.py --a1111-ts DIR --kdiffusion DIR -o OUT.json

DIR for --a1111-ts holds A1111 v1.10's `modules/sd_samplers_timesteps_impl.py` and
`modules/models/diffusion/uni_pc/uni_pc.py`, with `get_timesteps` and the CFG denoiser's
forward extracted for the txt2img path and stand-ins for `modules.shared` / `modules.torch_utils`
(tests/goldens/kdiffusion/README.md, "timesteps.json"); --kdiffusion is k-diffusion v0.0.16
(A1111's DDIM draws its noise through `k_diffusion.sampling.torch.randn_like`).
The scene (UNet, VAE, conditioning, seeds) is tests/test_kdiffusion_samplers.py's, imported from
there; the case list is tests/test_kdiffusion_timesteps.py's CASES.  No peer code is in this file.
"""

from __future__ import annotations

import argparse
import json
import sys
import types
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--a1111-ts", required=True)
    ap.add_argument("--kdiffusion", required=True)
    ap.add_argument("-o", "--out", required=True)
    args = ap.parse_args()
    for p in (args.kdiffusion, args.a1111_ts):
        sys.path.insert(0, p)
    sys.path.insert(0, str(REPO / "tests"))
    sys.path.insert(0, str(REPO))

    import numpy as np
    import torch
    from modules import cfg_extract, ddim_sigmas_extract, sd_samplers_timesteps_impl as impl, shared, timesteps_extract

    import test_kdiffusion_samplers as S
    import test_kdiffusion_timesteps as T
    from aigif.diffusion.kdiffusion.model import ldm_alphas_cumprod  # checked against LDM in schedules.json

    torch.set_num_threads(1)
    scene = S.SCENE
    unet, vae = S.load_tiny_sd()
    cfg = json.loads((REPO / "registry/embedded/tiny-sd/scheduler/scheduler_config.json").read_text())
    alphas_cumprod = ldm_alphas_cumprod(cfg["beta_start"], cfg["beta_end"], cfg["num_train_timesteps"],
                                        cfg["beta_schedule"])

    def apply_model(x, t, cond):
        return unet(x, t, encoder_hidden_states=cond, return_dict=False)[0]

    sd_model = types.SimpleNamespace(alphas_cumprod=alphas_cumprod, apply_model=apply_model)
    cond, uncond = S.conditioning()
    funcs = {"DDIM": impl.ddim, "DDIM CFG++": impl.ddim_cfgpp, "PLMS": impl.plms, "UniPC": impl.unipc}
    defaults = dict(vars(shared.opts))

    steps_table = {}
    for steps in T.TIMESTEP_COUNTS:
        p = types.SimpleNamespace(extra_generation_params={})
        steps_table[str(steps)] = timesteps_extract.get_timesteps({}, p, steps).tolist()
    shared.opts.always_discard_next_to_last_sigma = True
    p = types.SimpleNamespace(extra_generation_params={})
    discarded = {"12": timesteps_extract.get_timesteps({}, p, 12).tolist(), "infotext": p.extra_generation_params}
    shared.opts.always_discard_next_to_last_sigma = False

    ddim_schedules = {}
    for steps in T.DDIM_SCHEDULE_STEPS:
        timesteps = timesteps_extract.get_timesteps({}, types.SimpleNamespace(extra_generation_params={}), steps)
        for eta in T.DDIM_SCHEDULE_ETAS:
            parts = ddim_sigmas_extract.ddim_schedule(alphas_cumprod, timesteps, eta, S.initial_noise())
            ddim_schedules[f"{steps} {eta:g}"] = [[float(v).hex() for v in np.asarray(part).tolist()] for part in parts]

    cases = []
    for case in T.CASES:
        vars(shared.opts).update(defaults)
        vars(shared.opts).update(case.get("options", {}))
        p = types.SimpleNamespace(extra_generation_params={})
        timesteps = timesteps_extract.get_timesteps({}, p, scene["steps"])
        model = cfg_extract.CFGDenoiserTimesteps(sd_model)
        x = S.initial_noise()
        kwargs = {"eta": case["eta"]} if "eta" in case else {}
        calls = []
        inner = model.model_wrap.inner_model

        def counting_apply(x_in, t_in, cond, _apply=apply_model):
            calls.append([float(v).hex() for v in t_in[:1].tolist()][0])
            return _apply(x_in, t_in, cond)

        inner.apply_model = counting_apply
        torch.manual_seed(scene["step_noise_seed"])
        with torch.no_grad():
            latent = funcs[case["sampler"]](model, x, timesteps,
                                            extra_args={"cond": cond, "uncond": uncond, "cond_scale": case["cfg"]},
                                            callback=lambda _d: None, disable=True, **kwargs)
            record = S.summarise(latent, vae)
        inner.apply_model = apply_model
        record.update(id=T.case_id(case), model_timesteps=calls)
        cases.append(record)
        print(record["id"], len(calls), record["latent_sha256"][:12], record["pixels_sha256"][:12])

    out = {"scene": scene, "numpy": np.__version__, "torch": torch.__version__,
           "timesteps": steps_table, "discard_penultimate": discarded,
           "ddim_schedules": ddim_schedules, "cases": cases}
    Path(args.out).write_text(json.dumps(out, indent=1) + "\n")
    print(f"{len(cases)} timestep-sampler cases -> {args.out}")


if __name__ == "__main__":
    main()
