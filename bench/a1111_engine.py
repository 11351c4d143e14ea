#!/usr/bin/env python3
"""Time of the A1111 engine over a bare diffusers call for the same sampler.

Both sides run the embedded tiny-sd (the same loaded UNet, VAE and CLIP), the same prompt,
negative prompt, seed, steps, CFG scale and size:
- engine: aigif.diffusion.engines.a1111 A1111Engine.generate (A1111's conditioning with
  emphasis/chunking, per-image noise, k-diffusion sampler over A1111's sigmas, A1111's CFG
  denoiser, per-image decode, 8-bit), with CPU noise and with A1111's default GPU noise
  (emulated by NV = Philox in NumPy on a CPU-only machine);
- diffusers: StableDiffusionPipeline(...)(output_type="np") with the scheduler diffusers users
  pick for that sampler name (Euler a: EulerAncestralDiscreteScheduler; DPM++ 2M Karras:
  DPMSolverMultistepScheduler(use_karras_sigmas=True)).
Calls are interleaved (diffusers, engine CPU, engine NV, ...) so load from other processes
hits all alike; the ratio of medians and the median of the per-round ratios are reported
(the second is the sturdier one on a shared machine).

    nice -n 10 python bench/a1111_engine.py [--rounds 7] [--threads 1] [--sizes 64,256] [--steps 20]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
TINY = ROOT / "registry" / "embedded" / "tiny-sd"
PROMPT = "a lighthouse on a cliff at sunset, (dramatic sky:1.2)"
NEGATIVE = "fog, grain"  # "blurry, lowres" gives NaN with tiny-sd's CLIP (a zero mean under "Original" emphasis)
SAMPLERS = (("Euler a", "Automatic"), ("DPM++ 2M", "Karras"))


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--rounds", type=int, default=7)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--steps", type=int, default=20)
    ap.add_argument("--sizes", default="64,256")
    args = ap.parse_args()

    import torch
    from diffusers import DPMSolverMultistepScheduler, EulerAncestralDiscreteScheduler, StableDiffusionPipeline

    from aigif.diffusion.engines.a1111.engine import A1111Engine, A1111Model, A1111Params

    torch.set_num_threads(args.threads)
    model = A1111Model.from_pretrained(TINY, name="tiny-sd")
    engine = A1111Engine(model)
    pipe = StableDiffusionPipeline.from_pretrained(
        str(TINY), unet=model.unet, vae=model.vae, text_encoder=model.text_encoder, tokenizer=model.tokenizer,
        safety_checker=None, feature_extractor=None, requires_safety_checker=False, local_files_only=True)
    pipe.set_progress_bar_config(disable=True)
    base_config = pipe.scheduler.config
    schedulers = {
        "Euler a": EulerAncestralDiscreteScheduler.from_config(base_config),
        "DPM++ 2M": DPMSolverMultistepScheduler.from_config(base_config, use_karras_sigmas=True,
                                                             algorithm_type="dpmsolver++", solver_order=2),
    }

    print(f"tiny-sd, {args.steps} steps, cfg 7, threads={args.threads}, {args.rounds} interleaved rounds, "
          f"torch {torch.__version__}\n")
    print("| sampler | size | diffusers median ms | engine, CPU noise: median ms | ratio of medians | median per-round ratio "
          "| engine, GPU noise as NV: median ms | ratio of medians | median per-round ratio |")
    print("|---|---|---:|---:|---:|---:|---:|---:|---:|")
    for size in (int(s) for s in args.sizes.split(",")):
        for sampler, schedule in SAMPLERS:
            pipe.scheduler = schedulers[sampler]
            times = {"diffusers": [], "CPU": [], "NV": []}

            def run_diffusers(seed):
                pipe(PROMPT, negative_prompt=NEGATIVE, num_inference_steps=args.steps, guidance_scale=7.0,
                     height=size, width=size, generator=torch.Generator().manual_seed(seed), output_type="np")

            def run_engine(seed, source):
                engine.generate(A1111Params(prompt=PROMPT, negative_prompt=NEGATIVE, steps=args.steps, sampler=sampler,
                                            schedule_type=schedule, cfg_scale=7.0, seed=seed, width=size, height=size,
                                            rng_source=source))

            run_diffusers(0), run_engine(0, "CPU"), run_engine(0, None)  # warm-up
            for round_index in range(args.rounds):
                for label, call in (("diffusers", lambda: run_diffusers(round_index)),
                                    ("CPU", lambda: run_engine(round_index, "CPU")),
                                    ("NV", lambda: run_engine(round_index, None))):
                    start = time.perf_counter()
                    call()
                    times[label].append(time.perf_counter() - start)
            med = {k: statistics.median(v) * 1000 for k, v in times.items()}
            pair = {k: statistics.median(e / d for e, d in zip(times[k], times["diffusers"])) for k in ("CPU", "NV")}
            name = sampler if schedule == "Automatic" else f"{sampler} {schedule}"
            print(f"| {name} | {size}x{size} | {med['diffusers']:.1f} | {med['CPU']:.1f} | "
                  f"{med['CPU'] / med['diffusers']:.2f} | {pair['CPU']:.2f} | {med['NV']:.1f} | "
                  f"{med['NV'] / med['diffusers']:.2f} | {pair['NV']:.2f} |", flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
