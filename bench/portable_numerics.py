#!/usr/bin/env python3
"""What portable CPU numerics (aigif/diffusion/portable.py) cost, and what they change.

Each round starts two fresh Python processes side by side, one with the machine's own
kernels ("native") and one under the profile ("portable"), in alternating order; each
loads the pipeline, generates once to warm up, then times `--repeats` generations of the
same syntax.  The table gives the median per-image time of each, their ratio per round
(portable / native, measured in the same round), and how far the two images are apart.

    nice -n 10 python bench/portable_numerics.py [--rounds 3] [--repeats 3] [--models tiny-sd,shapes-sd]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from aigif.diffusion import portable  # noqa: E402  (no torch: only the profile's variables)
PROMPT_FOR = {"shapes-sd": "a red circle on a blue background"}
SYNTAX = {"prompt": "a lighthouse on a cliff at sunset, oil painting", "negative_prompt": "blurry",
          "seed": 1234567, "scheduler": "dpmpp_2m_karras"}

CHILD = r"""
import json, sys, time
if sys.argv[1] == "portable":
    from aigif.diffusion import portable
    torch = portable.load_torch()
else:
    import torch
import aigif
from aigif.diffusion import generate
from aigif.diffusion.pipelines import PipelineCache
syntax = json.loads(sys.argv[2]); repeats = int(sys.argv[3]); out = sys.argv[4]
r = aigif.resolve(aigif.from_dict(syntax))
cache = PipelineCache()
image, _ = generate(r, threads=2, cache=cache)
times = []
for _ in range(repeats):
    t0 = time.perf_counter(); image, _ = generate(r, threads=2, cache=cache); times.append(time.perf_counter() - t0)
image.save(out)
print(json.dumps({"times": times, "capability": torch.backends.cpu.get_cpu_capability()}))
"""


def run_child(mode: str, syntax: dict, repeats: int, out: Path) -> dict:
    env = {k: v for k, v in os.environ.items() if k not in portable.ENVIRONMENT}
    done = subprocess.run([sys.executable, "-c", CHILD, mode, json.dumps(syntax), str(repeats), str(out)],
                          cwd=REPO, env=env, capture_output=True, text=True, check=True)
    return json.loads(done.stdout.strip().splitlines()[-1])


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--models", default="tiny-sd,shapes-sd")
    args = ap.parse_args()
    import numpy as np
    from PIL import Image

    print("| model | native s/image | portable s/image | portable / native (per round) | max abs pixel diff | pixels differing |")
    print("|---|---:|---:|---|---:|---:|")
    with tempfile.TemporaryDirectory() as tmp:
        for model in args.models.split(","):
            syntax = {**SYNTAX, "model": model, "prompt": PROMPT_FOR.get(model, SYNTAX["prompt"])}
            medians = {"native": [], "portable": []}
            ratios = []
            for k in range(args.rounds):
                order = ("native", "portable") if k % 2 == 0 else ("portable", "native")
                got = {m: run_child(m, syntax, args.repeats, Path(tmp) / f"{m}.png") for m in order}
                for m in order:
                    medians[m].append(statistics.median(got[m]["times"]))
                ratios.append(medians["portable"][-1] / medians["native"][-1])
            a = np.asarray(Image.open(Path(tmp) / "native.png")).astype(int)
            b = np.asarray(Image.open(Path(tmp) / "portable.png")).astype(int)
            diff = np.abs(a - b)
            print(f"| {model} | {statistics.median(medians['native']):.3f} | {statistics.median(medians['portable']):.3f} | "
                  f"{', '.join(f'{r:.2f}' for r in ratios)} | {int(diff.max())} | "
                  f"{int((diff.max(axis=-1) > 0).sum())} of {diff.shape[0] * diff.shape[1]} |")
    print(f"\nnative ATen capability: {got['native']['capability']}; portable: {got['portable']['capability']}")


if __name__ == "__main__":
    main()
