#!/usr/bin/env python3
"""Overhead of the aigif.diffusion path over a bare diffusers call on the same pipeline.

Both sides use the same loaded pipeline, seed, steps, guidance, size and scheduler
class; the aigif side additionally resolves nothing (the ResolvedSyntax is built once),
but does everything generate() does per call: determinism switches, thread setting,
scheduler copy, quiet-logging context, 8-bit quantisation and Platform capture.
Calls are interleaved (A B B A ...) so load from other processes hits both alike; the
ratio of medians and the median of per-pair ratios are reported.  Target: <= 1.05.

    nice -n 10 python bench/unpack_overhead.py [--pairs 30] [--threads 1]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

MODELS = ("tiny-sd", "tiny-sdxl")


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--pairs", type=int, default=30)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--steps", type=int, default=None, help="override the model default")
    args = ap.parse_args()

    import torch

    torch.set_num_threads(args.threads)
    import aigif
    from aigif.diffusion import PipelineCache, generate, load_pipeline

    cache = PipelineCache()
    start = time.time()
    print(f"threads={args.threads}, {args.pairs} interleaved pairs per model\n")
    print("| model | steps | bare diffusers median ms | aigif.diffusion median ms | ratio of medians | median per-pair ratio |")
    print("|---|---|---|---|---|---|")
    for model in MODELS:
        fields = {"model": model, "prompt": "a lighthouse on a cliff at sunset", "seed": 7}
        if args.steps:
            fields["steps"] = args.steps
        r = aigif.resolve(aigif.from_dict(fields))
        pipe = load_pipeline(r.model, cache=cache)
        scheduler_cls = type(pipe.scheduler)
        assert scheduler_cls.__name__ == r.scheduler.diffusers_class, "default scheduler must match for a fair comparison"

        def bare():
            g = torch.Generator("cpu").manual_seed(r.seed)
            return pipe(
                r.prompt,
                num_inference_steps=r.steps,
                guidance_scale=float(r.guidance),
                width=r.width,
                height=r.height,
                generator=g,
                output_type="pil",
            ).images[0]

        def ours():
            return generate(r, cache=cache, threads=args.threads)[0]

        assert bare().tobytes() == ours().tobytes(), "both paths must produce the same image"
        t_bare, t_ours = [], []
        for i in range(args.pairs):
            order = (bare, ours) if i % 2 == 0 else (ours, bare)
            for fn in order:
                t0 = time.perf_counter()
                fn()
                (t_bare if fn is bare else t_ours).append(time.perf_counter() - t0)
        mb, mo = statistics.median(t_bare), statistics.median(t_ours)
        pair = statistics.median(o / b for o, b in zip(t_ours, t_bare))
        print(f"| {model} | {r.steps} | {mb * 1000:.1f} | {mo * 1000:.1f} | {mo / mb:.3f} | {pair:.3f} |")
    print(f"\nwall {time.time() - start:.1f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
