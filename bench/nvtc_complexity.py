"""NVTC's rate-distortion-complexity knob on Kodak-24: decode time against rate, one run.

Settings, all with the fine-tune of Q's band at the same Q:
  nvtc:Q        every layer, adaptive entropy model (the default since bitstream version 2)
  nvtc:Q/D      the last D layers (stage 0's) not coded: fewer symbols, fewer projections
  static        every layer, adaptation off (A_j = 0): the cheapest entropy decode

Each image is decoded by every setting back to back (interleaved, so machine load hits
all settings alike), with torch at one thread; decode CPU time (time.process_time) is
summed per setting and reported as a ratio to nvtc:Q.

  nice -n 10 python bench/nvtc_complexity.py --q 80 --out /tmp/nvtc-complexity.json
"""

from __future__ import annotations

import argparse
import json
import math
import os
import sys
import time
from pathlib import Path

import numpy as np
from PIL import Image

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))
DATA = Path(os.environ.get("AIGIF_SHARED_DATA", REPO.parent / "shared" / "data"))


def main() -> int:
    import torch

    import aigif_codecs
    from aigif_codecs.nvtc import codec, parse_rate

    ap = argparse.ArgumentParser()
    ap.add_argument("--q", type=int, default=80)
    ap.add_argument("--images", type=int, default=24)
    ap.add_argument("--repeats", type=int, default=2, help="decodes per image and setting (the minimum is kept)")
    ap.add_argument("--out", type=Path)
    args = ap.parse_args()
    torch.set_num_threads(1)
    settings = {f"nvtc:{args.q}": {"q": args.q}, **{f"nvtc:{args.q}/{d}": {"q": args.q, "drop": d} for d in (1, 2, 3)},
                f"nvtc:{args.q} static": {"q": args.q, "adapt": False}}
    tot = {k: {"bits": 0, "pixels": 0, "dec_cpu_s": 0.0, "sse": 0.0, "psnr_sum": 0.0} for k in settings}
    model = parse_rate(str(args.q))["model"]
    codec.load(model)  # weights load outside the timing
    for i in range(1, args.images + 1):
        img = Image.open(DATA / "kodak" / f"kodim{i:02d}.png").convert("RGB")
        ref = np.asarray(img, np.float64)
        payloads = {k: codec.encode(img, model, **kw) for k, kw in settings.items()}
        for k, data in payloads.items():
            best = math.inf
            for _ in range(args.repeats):
                t = time.process_time()
                out = codec.decode(data, max_pixels=1 << 26)
                best = min(best, time.process_time() - t)
            err = ((np.asarray(out, np.float64) - ref) ** 2).mean()
            r = tot[k]
            r["bits"] += 8 * len(data)
            r["pixels"] += img.width * img.height
            r["dec_cpu_s"] += best
            r["psnr_sum"] += 10 * math.log10(255**2 / err)
        print(i, flush=True)
    base = tot[f"nvtc:{args.q}"]["dec_cpu_s"]
    rows = [{"setting": k, "bpp": round(r["bits"] / r["pixels"], 4), "psnr": round(r["psnr_sum"] / args.images, 3),
             "dec_cpu_s_per_image": round(r["dec_cpu_s"] / args.images, 4), "dec_time_ratio": round(r["dec_cpu_s"] / base, 3)}
            for k, r in tot.items()]
    for row in rows:
        print(json.dumps(row))
    if args.out:
        args.out.write_text(json.dumps(rows, indent=1) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
