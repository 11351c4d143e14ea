#!/usr/bin/env python3
"""NVTC's integer synthesis (bitstream version 3) against the float one (version 2), on Kodak-24.

Each image is encoded once per Q; the payload is decoded as version 3 and, with only its
version byte changed, as version 2 - the same symbols - alternately in one process, one
torch thread.  Reported: mean PSNR of each, the largest pixel difference, the share of
pixel values that differ, and the decode-time ratio (CPU time, side by side).

  OMP_NUM_THREADS=1 python bench/nvtc_intsynth.py [--qs 60,90] [--images 24]
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np
from PIL import Image

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO / "bench"))
import kodak  # noqa: E402  (images, PSNR, the codecs package)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--qs", default="60,90")
    ap.add_argument("--images", type=int, default=24)
    args = ap.parse_args(argv)
    import torch

    from aigif_codecs.nvtc import codec, parse_rate

    torch.set_num_threads(1)
    paths = kodak.images("kodak")[: args.images]
    print("| Q | model | images | PSNR v2 (float) | PSNR v3 (integer) | max pixel diff | values differing | decode CPU v3 / v2 |")
    print("|---:|---:|---:|---:|---:|---:|---:|---:|")
    for q in (int(x) for x in args.qs.split(",")):
        model = parse_rate(str(q))["model"]
        p2 = p3 = t2 = t3 = 0.0
        worst, differ, values = 0, 0, 0
        for path in paths:
            im = Image.open(path).convert("RGB")
            ref = np.asarray(im)
            v3 = codec.encode(im, model, q=q)
            v2 = codec.with_version(v3, 2)
            codec.decode(v3, max_pixels=1 << 28)  # first use builds the integer synthesis: not timed
            t = time.process_time()
            a3 = np.asarray(codec.decode(v3, max_pixels=1 << 28))
            t3 += time.process_time() - t
            t = time.process_time()
            a2 = np.asarray(codec.decode(v2, max_pixels=1 << 28))
            t2 += time.process_time() - t
            p3 += kodak.psnr(ref, a3)
            p2 += kodak.psnr(ref, a2)
            d = np.abs(a3.astype(np.int16) - a2.astype(np.int16))
            worst = max(worst, int(d.max()))
            differ += int((d > 0).sum())
            values += d.size
        n = len(paths)
        print(f"| {q} | {model} | {n} | {p2 / n:.4f} | {p3 / n:.4f} | {worst} | {100 * differ / values:.2f} % | {t3 / t2:.2f} |",
              flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
