#!/usr/bin/env python3
"""How much the platform changes the pixels: the "platform factor" of the AIGIF paper,
measured on the embedded models (CPU).

Reference run: float32, 1 torch thread, default SDPA attention.  Each variant changes
one factor.  Per variant, over P prompts x S seeds: max |float difference| of the
pipeline's [0, 1] output, PSNR of the 8-bit images (inf = identical), and the fraction
of 8-bit pixels (any channel) that differ.

    nice -n 10 python bench/platform_factor.py [--prompts 4] [--seeds 3] [--models shapes-sd] [--steps N]
"""

from __future__ import annotations

import argparse
import math
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

MODELS = ("tiny-sd", "tiny-sdxl")
PROMPTS = (
    "a lighthouse on a cliff at sunset, oil painting",
    "portrait of an old man with a beard, dramatic lighting, highly detailed",
    "a cat sitting on a window sill, watercolor",
    "futuristic city at night, neon lights, cyberpunk, 8k",
    "a bowl of fruit on a wooden table, still life",
    "mountain lake reflecting snowy peaks, photograph",
)
# the trained default model knows only its shape vocabulary (README "The default model")
SHAPES_PROMPTS = (
    "a red circle on a blue background",
    "a yellow star on a black background",
    "a small blue square on the left",
    "a pink circle on the right on a gray background",
    "a big brown square on a green background",
    "a cyan heart on a purple background",
)
REFERENCE = dict(threads=1, dtype="float32", attention="default")
VARIANTS = {
    "threads 2": dict(threads=2),
    "attention math": dict(attention="math"),
    "bfloat16": dict(dtype="bfloat16"),
    "float16": dict(dtype="float16"),
}


def quantise(x: np.ndarray) -> np.ndarray:
    return (x * 255).round().astype(np.uint8)  # exactly diffusers' numpy_to_pil


def psnr(a: np.ndarray, b: np.ndarray) -> float:
    mse = np.mean((a.astype(np.float64) - b.astype(np.float64)) ** 2)
    return math.inf if mse == 0 else 10 * math.log10(255**2 / mse)


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--prompts", type=int, default=4)
    ap.add_argument("--seeds", type=int, default=3)
    ap.add_argument("--scheduler", default="euler")
    ap.add_argument("--models", default=",".join(MODELS), help="comma-separated registry names (e.g. shapes-sd)")
    ap.add_argument("--steps", type=int, help="override the model's default steps")
    args = ap.parse_args()

    import aigif
    from aigif.errors import AigifError
    from aigif.diffusion import PipelineCache, generate_array

    cache = PipelineCache()
    start = time.time()
    print(f"scheduler {args.scheduler}, {args.prompts} prompts x {args.seeds} seeds; reference: {REFERENCE}\n")
    print("| model | variant | max abs float diff | min PSNR dB (8-bit) | mean PSNR dB | mean % of pixels differing (8-bit) | max % |")
    print("|---|---|---|---|---|---|---|")
    extra = {"steps": args.steps} if args.steps else {}
    print(f"steps: {args.steps or 'model default'}\n")
    for model in args.models.split(","):
        prompts = SHAPES_PROMPTS if model == "shapes-sd" else PROMPTS
        cases = [
            aigif.resolve(aigif.from_dict({"model": model, "prompt": p, "seed": 1000 + s, "scheduler": args.scheduler, **extra}))
            for p in prompts[: args.prompts]
            for s in range(args.seeds)
        ]
        refs = [generate_array(r, cache=cache, **REFERENCE)[0] for r in cases]
        for name, change in VARIANTS.items():
            opts = {**REFERENCE, **change}
            try:
                outs = [generate_array(r, cache=cache, **opts)[0] for r in cases]
            except AigifError as e:
                print(f"| {model} | {name} | not runnable: {e} | | | | |")
                continue
            maxdiff = max(float(np.max(np.abs(o.astype(np.float64) - f))) for o, f in zip(outs, refs))
            psnrs = [psnr(quantise(o), quantise(f)) for o, f in zip(outs, refs)]
            fracs = [float(np.mean(np.any(quantise(o) != quantise(f), axis=-1))) for o, f in zip(outs, refs)]
            finite = [p for p in psnrs if math.isfinite(p)]
            mean_psnr = f"{sum(finite) / len(finite):.1f}" + (f" ({len(psnrs) - len(finite)} identical)" if len(finite) < len(psnrs) else "") if finite else "inf"
            print(
                f"| {model} | {name} | {maxdiff:.3g} | {min(psnrs):.1f} | {mean_psnr} | {100 * sum(fracs) / len(fracs):.4f} | {100 * max(fracs):.4f} |"
            )
    print(f"\nwall {time.time() - start:.1f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
