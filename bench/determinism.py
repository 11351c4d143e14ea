#!/usr/bin/env python3
"""Repeat determinism of aigif.diffusion on the embedded models.

For each model and scheduler, the same syntax is regenerated N times - each time with a
freshly loaded pipeline (new PipelineCache), so loading is covered too - plus once in
each of two fresh Python processes; the table counts distinct image sha256s (1 = every
run byte-identical).

    nice -n 10 python bench/determinism.py [--n 10] [--threads 1] [--models shapes-sd]
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

MODELS = ("tiny-sd", "tiny-sdxl")
SCHEDULERS = ("euler", "euler_a", "dpmpp_2m_karras", "ddim")
SYNTAX = {"prompt": "a lighthouse on a cliff at sunset, oil painting", "negative_prompt": "blurry", "seed": 1234567}
PROMPT_FOR = {"shapes-sd": "a red circle on a blue background"}  # the trained model's vocabulary


def image_sha(model: str, scheduler: str, threads: int, cache=None) -> str:
    import aigif
    from aigif.diffusion import generate

    prompt = PROMPT_FOR.get(model, SYNTAX["prompt"])
    r = aigif.resolve(aigif.from_dict({**SYNTAX, "prompt": prompt, "model": model, "scheduler": scheduler}))
    image, _ = generate(r, threads=threads, cache=cache)
    return hashlib.sha256(image.tobytes()).hexdigest()


def child(threads: int, models) -> None:
    print(json.dumps({f"{m}/{s}": image_sha(m, s, threads) for m in models for s in SCHEDULERS}))


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--n", type=int, default=10)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--models", default=",".join(MODELS), help="comma-separated registry names (e.g. shapes-sd)")
    ap.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    args = ap.parse_args()
    models = args.models.split(",")
    if args.child:
        child(args.threads, models)
        return 0
    import torch

    torch.set_num_threads(args.threads)
    from aigif.diffusion import PipelineCache

    start = time.time()
    procs = []
    for _ in range(2):
        out = subprocess.run(
            [sys.executable, __file__, "--child", "--threads", str(args.threads), "--models", args.models],
            capture_output=True, text=True, check=True, env={**os.environ, "HF_HUB_OFFLINE": "1"},
        )
        procs.append(json.loads(out.stdout.strip().splitlines()[-1]))
    print("| model | scheduler | runs | distinct sha256 in-process (reloaded each run) | + 2 fresh processes | sha256 (first 16) |")
    print("|---|---|---|---|---|---|")
    all_same = True
    for m in models:
        for s in SCHEDULERS:
            shas = [image_sha(m, s, args.threads, cache=PipelineCache()) for _ in range(args.n)]
            with_procs = set(shas) | {p[f"{m}/{s}"] for p in procs}
            all_same &= len(with_procs) == 1
            print(f"| {m} | {s} | {args.n} | {len(set(shas))} | {len(with_procs)} | {shas[0][:16]} |")
    print(f"\nall byte-identical: {all_same}; threads={args.threads}; wall {time.time() - start:.1f} s")
    return 0 if all_same else 1


if __name__ == "__main__":
    sys.exit(main())
