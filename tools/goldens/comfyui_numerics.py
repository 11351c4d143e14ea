"""Make tests/goldens/comfyui/numerics.json by running ComfyUI's own noise and scheduler code.

    python tools/goldens/comfyui_numerics.py --comfyui DIR -o OUT.json

DIR is a ComfyUI checkout (the commit is in tests/goldens/comfyui/README.md); its
dependencies must be importable (einops besides torch/numpy/scipy/safetensors/psutil/
torchsde/tqdm/PIL).  ComfyUI's modules are imported unmodified, with its command line
forced to "--cpu".  Cases (seeds, shapes, batch indexes, schedulers, steps, denoise,
start/end steps) are tests/diffusion/engines/comfyui/test_comfyui_numerics.py's, imported from there so both sides
agree.  No ComfyUI code is in this file.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import sys
import types
from pathlib import Path

import _numerics  # noqa: E402,F401  (loads torch under portable CPU numerics)

REPO = Path(__file__).resolve().parents[2]


def import_comfy(path: str):
    sys.argv = [sys.argv[0], "--cpu"]
    sys.path.insert(0, path)
    import comfy.options
    comfy.options.enable_args_parsing()
    import comfy.model_base
    import comfy.sample
    import comfy.samplers
    import comfy.supported_models
    return comfy


def sd15_model_sampling(comfy):
    """What ComfyUI builds for an SD 1.x checkpoint: model_base.model_sampling(SD15 config, EPS)."""
    config = comfy.supported_models.SD15({})
    return comfy.model_base.model_sampling(config, comfy.model_base.ModelType.EPS)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--comfyui", required=True)
    ap.add_argument("-o", "--out", required=True)
    args = ap.parse_args()
    comfy = import_comfy(args.comfyui)
    sys.path.insert(0, str(REPO / "tests"))
    sys.path.insert(0, str(REPO / "tests/diffusion/engines/comfyui"))
    import numpy as np
    import torch
    import test_comfyui_numerics as T

    def sha(t):
        return hashlib.sha256(t.contiguous().float().numpy().tobytes()).hexdigest()

    def hexes(t):
        return [float(v).hex() for v in t.reshape(-1).tolist()]

    # --- prepare_noise
    noise = []
    for seed, shape, batch_index in T.NOISE_CASES:
        latent = torch.zeros(shape, dtype=torch.float32)
        n = comfy.sample.prepare_noise(latent, seed, batch_index)
        noise.append({"seed": seed, "shape": shape, "batch_index": batch_index,
                      "out_shape": list(n.shape), "sha256": sha(n), "head": hexes(n.reshape(-1)[:8])})

    # --- the model's levels and maps
    ms = sd15_model_sampling(comfy)
    probes = torch.tensor(T.SIGMA_PROBES, dtype=torch.float32)
    t_probes = torch.tensor(T.TIMESTEP_PROBES, dtype=torch.float32)
    model = {"class": [c.__name__ for c in type(ms).__mro__[:3]],
             "sigmas_sha256": sha(ms.sigmas), "log_sigmas_sha256": sha(ms.log_sigmas),
             "sigmas_head": hexes(ms.sigmas[:4]), "sigmas_tail": hexes(ms.sigmas[-4:]),
             "timestep": [int(v) for v in ms.timestep(probes).tolist()],
             "sigma": hexes(ms.sigma(t_probes)),
             "percent_to_sigma": [float(ms.percent_to_sigma(p)).hex() for p in T.PERCENT_PROBES]}

    # --- calculate_sigmas
    schedules = []
    for name in comfy.samplers.SCHEDULER_NAMES:
        for steps in T.SCHEDULE_STEPS:
            s = comfy.samplers.calculate_sigmas(ms, name, steps)
            schedules.append({"scheduler": name, "steps": steps, "sigmas": hexes(s)})

    # --- KSampler: denoise (set_steps) and KSamplerAdvanced's start/end (sample's slicing);
    # comfy.samplers.sample is replaced by a recorder, so KSampler.sample's own code cuts
    # the schedule and hands over what it would sample with.
    patcher = types.SimpleNamespace(get_model_object=lambda name: {"model_sampling": ms}[name])
    captured = {}

    def record(model, noise, positive, negative, cfg, device, sampler, sigmas, *a, **k):
        captured["sigmas"] = sigmas.clone()
        return "sampled"

    comfy.samplers.sample = record
    ksampler = []
    for sampler, scheduler, steps, denoise, start, last, force in T.KSAMPLER_CASES:
        ks = comfy.samplers.KSampler(patcher, steps=steps, device="cpu", sampler=sampler,
                                     scheduler=scheduler, denoise=denoise)
        set_steps_sigmas = hexes(ks.sigmas)  # before sample(), which may zero a level in place
        latent = torch.zeros(T.LATENT_SHAPE)
        captured.clear()
        out = ks.sample(torch.zeros(T.LATENT_SHAPE), None, None, 5.0, latent_image=latent,
                        start_step=start, last_step=last, force_full_denoise=force)
        ksampler.append({"sampler": sampler, "scheduler": scheduler, "steps": steps, "denoise": denoise,
                         "start_step": start, "last_step": last, "force_full_denoise": force,
                         "skipped": out is latent, "set_steps_sigmas": set_steps_sigmas,
                         "sampled_sigmas": hexes(captured["sigmas"]) if "sigmas" in captured else None})

    out = {"torch": torch.__version__, "numpy": np.__version__,
           "numerics": _numerics.describe(torch), "noise": noise, "model": model,
           "schedules": schedules, "ksampler": ksampler}
    Path(args.out).write_text(json.dumps(out, indent=1) + "\n")
    print(f"{len(noise)} noise, {len(schedules)} schedules, {len(ksampler)} KSampler cases -> {args.out}")


if __name__ == "__main__":
    main()
