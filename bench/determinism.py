#!/usr/bin/env python3
"""Repeat determinism of aigif.diffusion on the embedded models.

For each model and scheduler, the same syntax is regenerated N times - each time with a
freshly loaded pipeline (new PipelineCache), so loading is covered too - plus once in
each of two fresh Python processes; the table counts distinct image sha256s (1 = every
run byte-identical).

    nice -n 10 python bench/determinism.py [--n 10] [--threads 1]
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


def image_sha(model: str, scheduler: str, threads: int, cache=None) -> str:
    import aigif
    from aigif.diffusion import generate

    r = aigif.resolve(aigif.from_dict({**SYNTAX, "model": model, "scheduler": scheduler}))
    image, _ = generate(r, threads=threads, cache=cache)
    return hashlib.sha256(image.tobytes()).hexdigest()


def child(threads: int) -> None:
    print(json.dumps({f"{m}/{s}": image_sha(m, s, threads) for m in MODELS for s in SCHEDULERS}))


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--n", type=int, default=10)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.child:
        child(args.threads)
        return 0
    import torch

    torch.set_num_threads(args.threads)
    from aigif.diffusion import PipelineCache

    start = time.time()
    procs = []
    for _ in range(2):
        out = subprocess.run(
            [sys.executable, __file__, "--child", "--threads", str(args.threads)],
            capture_output=True, text=True, check=True, env={**os.environ, "HF_HUB_OFFLINE": "1"},
        )
        procs.append(json.loads(out.stdout.strip().splitlines()[-1]))
    print("| model | scheduler | runs | distinct sha256 in-process (reloaded each run) | + 2 fresh processes | sha256 (first 16) |")
    print("|---|---|---|---|---|---|")
    all_same = True
    for m in MODELS:
        for s in SCHEDULERS:
            shas = [image_sha(m, s, args.threads, cache=PipelineCache()) for _ in range(args.n)]
            with_procs = set(shas) | {p[f"{m}/{s}"] for p in procs}
            all_same &= len(with_procs) == 1
            print(f"| {m} | {s} | {args.n} | {len(set(shas))} | {len(with_procs)} | {shas[0][:16]} |")
    print(f"\nall byte-identical: {all_same}; threads={args.threads}; wall {time.time() - start:.1f} s")
    return 0 if all_same else 1


if __name__ == "__main__":
    sys.exit(main())
