"""Make tests/goldens/kdiffusion/timesteps.json by running A1111's own timestep samplers on tiny-sd.

    python tools/goldens/kdiffusion_timesteps.py --a1111 DIR --kdiffusion DIR -o OUT.json

--a1111 DIR holds a `modules` package whose sampler files are A1111 v1.10.1's, unmodified
(tag v1.10.1, commit 82a973c04367123ae98bd9abdf80d9eda9b910e2): `sd_samplers_timesteps_impl.py`,
`sd_samplers_timesteps.py`, `sd_samplers_cfg_denoiser.py`, `prompt_parser.py`, `torch_utils.py`,
`models/diffusion/uni_pc/uni_pc.py`; beside them stand-ins for the webui's globals only
(`shared` with every literal default of v1.10.1's `shared_options.py`, `devices`,
`sd_samplers_common`, `script_callbacks` with no callbacks, an empty `uni_pc/__init__.py`);
tests/goldens/kdiffusion/README.md, "timesteps.json", lists them.  --kdiffusion is k-diffusion
v0.0.16 (A1111's DDIM draws its noise through `k_diffusion.sampling.torch.randn_like`).
A1111's real `CompVisSampler.get_timesteps`, `CFGDenoiserTimesteps` (with `CFGDenoiser.forward`)
and `ddim`/`ddim_cfgpp`/`plms`/`unipc` run as they are; the DDIM schedule table is the opening
statements of the real `ddim`, taken from its source at run time.
The scene (UNet, VAE, conditioning, seeds) is tests/diffusion/kdiffusion/test_kdiffusion_samplers.py's, imported from
there; the case list is tests/diffusion/kdiffusion/test_kdiffusion_timesteps.py's CASES.  No peer code is in this file.
"""

from __future__ import annotations

import argparse
import ast
import inspect
import json
import sys
import textwrap
import types
from pathlib import Path

import _numerics  # noqa: E402,F401  (loads torch under portable CPU numerics)

REPO = Path(__file__).resolve().parents[2]
DDIM_SCHEDULE_NAMES = ("alphas_cumprod", "alphas", "alphas_prev", "sqrt_one_minus_alphas", "sigmas")


def ddim_schedule_fn(impl):
    """The first statements of A1111's `ddim` (its schedule), compiled from the real source."""
    fn = ast.parse(textwrap.dedent(inspect.getsource(impl.ddim))).body[0]
    head = fn.body[:len(DDIM_SCHEDULE_NAMES)]
    assert [s.targets[0].id for s in head] == list(DDIM_SCHEDULE_NAMES), "ddim's opening lines changed"
    ret = ast.parse("return " + ", ".join(DDIM_SCHEDULE_NAMES[1:])).body[0]
    fn.body = head + [ret]
    fn.decorator_list = []
    namespace = dict(vars(impl))
    exec(compile(ast.fix_missing_locations(ast.Module(body=[fn], type_ignores=[])), "ddim-schedule", "exec"),
         namespace)
    return namespace["ddim"]


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--a1111", required=True)
    ap.add_argument("--kdiffusion", required=True)
    ap.add_argument("-o", "--out", required=True)
    args = ap.parse_args()
    for p in (args.kdiffusion, args.a1111):
        sys.path.insert(0, p)
    sys.path.insert(0, str(REPO / "tests"))                        # tiny_sd_scene
    sys.path.insert(0, str(REPO / "tests/diffusion/kdiffusion"))   # the test modules
    sys.path.insert(0, str(REPO))

    import numpy as np
    import torch
    from modules import prompt_parser, sd_samplers_timesteps, sd_samplers_timesteps_impl as impl, shared

    import test_kdiffusion_samplers as S
    import test_kdiffusion_timesteps as T
    from aigif.diffusion.kdiffusion.model import ldm_alphas_cumprod  # checked against LDM in schedules.json

    torch.set_num_threads(1)
    numerics = _numerics.describe(torch)   # as the run uses them (one thread)
    scene = S.SCENE
    unet, vae = S.load_tiny_sd()
    cfg = json.loads((REPO / "registry/embedded/tiny-sd/scheduler/scheduler_config.json").read_text())
    alphas_cumprod = ldm_alphas_cumprod(cfg["beta_start"], cfg["beta_end"], cfg["num_train_timesteps"],
                                        cfg["beta_schedule"])

    def apply_model(x, t, cond):
        # LDM's DDPM.apply_model for a "crossattn" model: the UNet sees torch.cat(c_crossattn, 1).
        return unet(x, t, encoder_hidden_states=torch.cat(cond["c_crossattn"], 1), return_dict=False)[0]

    shared.sd_model = types.SimpleNamespace(
        alphas_cumprod=alphas_cumprod, apply_model=apply_model, parameterization="eps",
        cond_stage_key="crossattn", model=types.SimpleNamespace(conditioning_key="crossattn"), is_sdxl=False)
    configs = {d.name: d for d in sd_samplers_timesteps.samplers_data_timesteps}
    # A1111's own sampler table: label -> function
    funcs = {label: fn for label, fn, _aliases, _options in sd_samplers_timesteps.samplers_timesteps}
    defaults = dict(vars(shared.opts))

    def get_timesteps(sampler, steps, p):
        this = types.SimpleNamespace(config=configs[sampler])
        return sd_samplers_timesteps.CompVisSampler.get_timesteps(this, p, steps)

    def new_p():
        return types.SimpleNamespace(extra_generation_params={})

    steps_table = {str(steps): get_timesteps("DDIM", steps, new_p()).tolist() for steps in T.TIMESTEP_COUNTS}
    shared.opts.always_discard_next_to_last_sigma = True
    p = new_p()
    discarded = {"12": get_timesteps("DDIM", 12, p).tolist(), "infotext": p.extra_generation_params}
    shared.opts.always_discard_next_to_last_sigma = False

    schedule = ddim_schedule_fn(impl)
    model_for_schedule = types.SimpleNamespace(inner_model=types.SimpleNamespace(
        inner_model=types.SimpleNamespace(alphas_cumprod=alphas_cumprod)))
    ddim_schedules = {}
    for steps in T.DDIM_SCHEDULE_STEPS:
        timesteps = get_timesteps("DDIM", steps, new_p())
        for eta in T.DDIM_SCHEDULE_ETAS:
            parts = schedule(model_for_schedule, S.initial_noise(), timesteps, eta=eta)
            ddim_schedules[f"{steps} {eta:g}"] = [[float(v).hex() for v in np.asarray(part).tolist()] for part in parts]

    cond_t, uncond_t = S.conditioning()
    cases = []
    for case in T.CASES:
        vars(shared.opts).update(defaults)
        vars(shared.opts).update(case.get("options", {}))
        timesteps = get_timesteps(case["sampler"], scene["steps"], new_p())
        sampler = types.SimpleNamespace(last_latent=None, sampler_extra_args={})
        model = sd_samplers_timesteps.CFGDenoiserTimesteps(sampler)
        # What A1111's txt2img hands the sampler for one prompt without schedules or AND:
        # prompt_parser's learned conditionings, and the dummy image conditioning of a non-inpainting model.
        cond = prompt_parser.MulticondLearnedConditioning(shape=(1,), batch=[[
            prompt_parser.ComposableScheduledPromptConditioning(
                [prompt_parser.ScheduledPromptConditioning(scene["steps"], cond_t[0])], 1.0)]])
        uncond = [[prompt_parser.ScheduledPromptConditioning(scene["steps"], uncond_t[0])]]
        x = S.initial_noise()
        image_cond = x.new_zeros(x.shape[0], 5, 1, 1, dtype=x.dtype, device=x.device)
        kwargs = {"eta": case["eta"]} if "eta" in case else {}
        calls = []
        inner = model.inner_model.inner_model     # CompVisTimestepsDenoiser -> shared.sd_model

        def counting_apply(x_in, t_in, cond, _apply=apply_model):
            calls.append([float(v).hex() for v in t_in[:1].tolist()][0])
            return _apply(x_in, t_in, cond)

        inner.apply_model = counting_apply
        torch.manual_seed(scene["step_noise_seed"])
        with torch.no_grad():
            latent = funcs[case["sampler"]](
                model, x, timesteps,
                extra_args={"cond": cond, "image_cond": image_cond, "uncond": uncond,
                            "cond_scale": case["cfg"], "s_min_uncond": shared.opts.s_min_uncond},
                callback=lambda _d: None, disable=True, **kwargs)
            record = S.summarise(latent, vae)
        inner.apply_model = apply_model
        record.update(id=T.case_id(case), model_timesteps=calls)
        cases.append(record)
        print(record["id"], len(calls), record["latent_sha256"][:12], record["pixels_sha256"][:12])

    out = {"scene": scene, "numpy": np.__version__, "torch": torch.__version__, "numerics": numerics,
           "timesteps": steps_table, "discard_penultimate": discarded,
           "ddim_schedules": ddim_schedules, "cases": cases}
    Path(args.out).write_text(json.dumps(out, indent=1) + "\n")
    print(f"{len(cases)} timestep-sampler cases -> {args.out}")


if __name__ == "__main__":
    main()
